"""The JSON depth rule for free-form values we store; the HTTP mapping is `hive.contracts.problems`."""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError

__all__ = [
    "MAX_JSON_DEPTH",
    "JsonTooDeep",
    "json_depth",
    "refuse_deep_json",
]

MAX_JSON_DEPTH = 64
"""How deeply a free-form JSON value we store may nest (checkpoint payloads): deeper
values are refused at intake, so no stored event can ever be too deep to read back."""


def json_depth(value: object) -> int:
    """Nesting depth of a decoded JSON value (iterative: no recursion limit to hit)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


class JsonTooDeep(HiveError):
    """A free-form JSON value nests deeper than MAX_JSON_DEPTH."""

    code = ErrorCode.VALIDATION_FAILED


def refuse_deep_json(value: object, what: str) -> None:
    """Raise JsonTooDeep (validation_failed) when `value` nests deeper than MAX_JSON_DEPTH."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise JsonTooDeep(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
