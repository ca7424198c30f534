"""The sandbox refuses a task token the gateway revoked (a row in task_token_revocations),
by jti or by subject, within its short revocation cache."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from hive.contracts.tokens import issue, sandbox_task_scope, verify
from tests.support.sandbox_server import SandboxServer

DEADLINE_S = 15.0  # far above the 2 s cache: a revocation that never lands fails


def token_for(server: SandboxServer, task_id: str, *, issued_at: float | None = None) -> str:
    """A task token scoped to `task_id`, signed with the sandbox's secret."""
    token, _ = issue(
        server.secret,
        scopes=[sandbox_task_scope(task_id)],
        ttl_s=600,
        task_id=task_id,
        now=issued_at,
    )
    return token


def jti_of(server: SandboxServer, token: str) -> str:
    """The jti inside a token."""
    return verify(server.secret, token).jti


def get_task(server: SandboxServer, token: str, task_id: str) -> httpx.Response:
    """GET /dev-tasks/{task_id} with a Bearer task token."""
    with server.client(auth=False) as http:
        return http.get(f"/dev-tasks/{task_id}", headers={"Authorization": f"Bearer {token}"})


def wait_refused(server: SandboxServer, token: str, task_id: str) -> httpx.Response:
    """Poll until the token is refused; fail after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        r = get_task(server, token, task_id)
        if r.status_code == 401:
            return r
        assert time.monotonic() < deadline, f"revoked token still accepted: {r.status_code}"
        time.sleep(0.1)


async def test_a_revoked_jti_is_refused(sandbox_server: SandboxServer, pool: asyncpg.Pool) -> None:
    task_id = f"wr-rev-{uuid.uuid4().hex[:8]}"
    token, other = token_for(sandbox_server, task_id), token_for(sandbox_server, task_id)
    # Accepted before (404: the task does not exist, but the caller got through auth).
    assert get_task(sandbox_server, token, task_id).status_code == 404
    await pool.execute(
        "INSERT INTO task_token_revocations (jti, expires_at, reason) VALUES ($1, $2, 'test')",
        jti_of(sandbox_server, token),
        datetime.now(UTC) + timedelta(hours=1),
    )
    refused = wait_refused(sandbox_server, token, task_id)
    assert refused.json()["code"] == "token_revoked"
    # Only that token: another of the same task and the internal secret still pass.
    assert get_task(sandbox_server, other, task_id).status_code == 404
    with sandbox_server.client() as http:
        assert http.get(f"/dev-tasks/{task_id}").status_code == 404


async def test_a_revoked_subject_refuses_its_earlier_tokens(
    sandbox_server: SandboxServer, pool: asyncpg.Pool
) -> None:
    task_id = f"wr-rev-{uuid.uuid4().hex[:8]}"
    earlier = token_for(sandbox_server, task_id, issued_at=time.time() - 5)
    assert get_task(sandbox_server, earlier, task_id).status_code == 404
    now = datetime.now(UTC)
    await pool.execute(
        "INSERT INTO task_token_revocations (subject, issued_before, expires_at, reason) "
        "VALUES ($1, $2, $3, 'test')",
        f"task:{task_id}",
        now,
        now + timedelta(hours=1),
    )
    assert wait_refused(sandbox_server, earlier, task_id).json()["code"] == "token_revoked"
    # A token issued after the revocation is a new grant.
    later = token_for(sandbox_server, task_id, issued_at=time.time() + 2)
    assert get_task(sandbox_server, later, task_id).status_code == 404
