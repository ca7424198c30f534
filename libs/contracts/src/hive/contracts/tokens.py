"""Task tokens: short-lived, signed, scoped credentials issued by the gateway.

Format: `hvt.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>`. The signing key
is derived from `HIVE_INTERNAL_SECRET`, which the gateway and the sandbox share,
so the sandbox verifies tokens offline; revocation is a `jti` row the gateway
writes (checked by whoever holds a database handle). A token never carries a
vendor key, only who it is for and what it may do.

Scopes: `relay:model` (call the model relay), `sandbox:task:<task_id>` (the
sandbox's routes of that one task), `agent:runtime` (an agent runtime's own
runs and tools through the gateway's internal agent API; the agent is the
token's `agent_id`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import msgspec

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError

PREFIX = "hvt"
SCOPE_RELAY = "relay:model"
SCOPE_AGENT = "agent:runtime"


def sandbox_task_scope(task_id: str) -> str:
    """The scope granting the sandbox routes of one task."""
    return f"sandbox:task:{task_id}"


class TaskTokenClaims(msgspec.Struct, kw_only=True, frozen=True):
    """What a task token asserts."""

    jti: str
    scopes: list[str]
    exp: int
    iat: int
    task_id: str | None = None
    agent_id: str | None = None


class TokenError(HiveError):
    """A token was refused; `code` says why (unauthorized, token_expired, token_scope...)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, code=code)


def _key(secret: str) -> bytes:
    # A derived key, so the raw internal secret never signs anything a client holds.
    return hashlib.sha256(b"openhive task-token v1\x00" + secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    secret: str,
    *,
    scopes: list[str],
    ttl_s: int,
    task_id: str | None = None,
    agent_id: str | None = None,
    now: float | None = None,
) -> tuple[str, TaskTokenClaims]:
    """Sign a new token; return it with its claims."""
    issued = int(now if now is not None else time.time())
    claims = TaskTokenClaims(
        jti=uuid.uuid4().hex,
        scopes=list(scopes),
        exp=issued + ttl_s,
        iat=issued,
        task_id=task_id,
        agent_id=agent_id,
    )
    body = _b64(msgspec.json.encode(claims))
    sig = _b64(hmac.new(_key(secret), f"{PREFIX}.{body}".encode(), hashlib.sha256).digest())
    return f"{PREFIX}.{body}.{sig}", claims


def verify(secret: str, token: str, *, now: float | None = None) -> TaskTokenClaims:
    """Check signature and expiry; raise TokenError (`unauthorized`, `token_expired`)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError(ErrorCode.UNAUTHORIZED, "not a task token")
    expected = hmac.new(_key(secret), f"{PREFIX}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(parts[2])
        claims = msgspec.json.decode(_unb64(parts[1]), type=TaskTokenClaims)
    except (ValueError, msgspec.DecodeError) as exc:
        raise TokenError(ErrorCode.UNAUTHORIZED, "malformed task token") from exc
    if not hmac.compare_digest(expected, given):
        raise TokenError(ErrorCode.UNAUTHORIZED, "bad task token signature")
    if claims.exp <= (now if now is not None else time.time()):
        raise TokenError(ErrorCode.TOKEN_EXPIRED, "task token expired")
    return claims


def require_scope(claims: TaskTokenClaims, scope: str) -> None:
    """Raise TokenError(`token_scope`) unless the token carries `scope`."""
    if scope not in claims.scopes:
        raise TokenError(ErrorCode.TOKEN_SCOPE, f"task token lacks scope {scope}")


def revocation_subjects(task_id: str | None, agent_id: str | None) -> list[str]:
    """The subjects (`task:<id>`, `agent:<id>`) under which a token can be revoked wholesale."""
    out = []
    if task_id is not None:
        out.append(f"task:{task_id}")
    if agent_id is not None:
        out.append(f"agent:{agent_id}")
    return out


def lifetime_of(token: str) -> tuple[int, int] | None:
    """`(iat, exp)` a token claims, read without verifying it (for its holder, to renew in
    time); None when it is not a task token."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        claims = msgspec.json.decode(_unb64(parts[1]), type=TaskTokenClaims)
    except (ValueError, msgspec.DecodeError):
        return None
    return claims.iat, claims.exp
