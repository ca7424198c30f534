"""Ids that arrive in URL paths: refused early when no stored id could look like them."""

from __future__ import annotations

from hive.gateway.errors import NotFound


def check_id(value: str, what: str) -> str:
    """`value`, or 404 when it cannot be an id (control characters, not UTF-8, too long)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise NotFound(f"{what} not found") from None
    if not value or len(value) > 256 or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise NotFound(f"{what} not found")
    return value
