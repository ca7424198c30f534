"""problem+json for every Litestar service; the mapping itself is `hive.contracts.problems`.

Kept for its importers: `HiveHTTPError`, `problem_response` and
`EXCEPTION_HANDLERS` (the mapping without translations, for apps that have not
installed the `ProblemDetails` plugin yet), and the JSON depth rule.
"""

from __future__ import annotations

from typing import Any

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import (
    HiveError,
    HiveHTTPError,
    exception_handlers,
    problem_response,
)

__all__ = [
    "EXCEPTION_HANDLERS",
    "MAX_JSON_DEPTH",
    "HiveError",
    "HiveHTTPError",
    "json_depth",
    "problem_response",
    "refuse_deep_json",
]

EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = exception_handlers()

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


def refuse_deep_json(value: object, what: str) -> None:
    """422 validation_failed when `value` nests deeper than MAX_JSON_DEPTH."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise HiveHTTPError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"{what} nests deeper than {MAX_JSON_DEPTH} levels",
        )
