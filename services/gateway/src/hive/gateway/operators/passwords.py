"""Operator password hashing: Argon2id (argon2-cffi's RFC 9106 low-memory profile).

Hashing is deliberately slow, so it runs in a worker thread and never blocks
the event loop. Unknown users are checked against a fixed dummy hash, so a
login for a name that does not exist costs the same as a wrong password.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("openhive: no such user")


def hash_password_sync(password: str) -> str:
    """An Argon2id hash of `password` (blocking)."""
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    """An Argon2id hash of `password`, computed off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; None (unknown user) is always False."""
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    """True when `stored` was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
