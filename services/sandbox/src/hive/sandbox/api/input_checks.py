"""Checks every request passes before a handler sees it: no NUL anywhere.

PostgreSQL text and jsonb cannot hold U+0000, and argv cannot either, so a NUL
in a path id, a query value or any string of a JSON body (keys included) would
otherwise surface as a driver error, i.e. a 500. It is refused here, once, as
422 `validation_failed`. Bytes that may hold NUL travel base64-encoded
(`content_b64`, `archive_b64`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from hive.sandbox.errors import Invalid

# JSON can carry NUL only as this escape (a raw control byte is malformed JSON), so
# a body without it needs no decoding here; one with it is decoded to tell a real
# NUL from the text `\\u0000` (an escaped backslash followed by "u0000").
_ESCAPED_NUL = b"\\u0000"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def holds_nul(value: Any) -> bool:
    """True when a string anywhere in a decoded JSON value (keys too) contains NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def _refuse(where: str) -> Invalid:
    return Invalid(f"the {where} must not contain NUL (U+0000)")


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """before_request hook: 422 when the path, a query value or the JSON body holds NUL."""
    if "\x00" in request.scope["path"]:
        raise _refuse("path")
    if b"%00" in request.scope.get("query_string", b"") and any(
        "\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()
    ):
        raise _refuse("query")
    if request.method in _BODY_METHODS:
        body = await request.body()  # cached: the handler reads the same bytes
        if _ESCAPED_NUL in body:
            try:
                decoded = msgspec.json.decode(body)
            except msgspec.DecodeError:
                return  # malformed JSON: the handler's decoder says so
            if holds_nul(decoded):
                raise _refuse("body")
