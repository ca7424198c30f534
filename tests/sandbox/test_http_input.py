"""Odd input to /dev-tasks and /commands is a 4xx problem, never a 500.

PostgreSQL text and jsonb cannot hold NUL and its integers stop at 2**63-1, so
those reach the sandbox's own checks first (422 `validation_failed`). The
Hypothesis part throws near-valid and arbitrary JSON bodies, ids and query
values at every route of a real sandbox process (worker off, a database of
its own) and holds it to "never a 5xx".
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive.sandbox.settings import DEFAULT_COMMAND_ALLOWLIST
from tests.sandbox.workruns.conftest import create_migrated_database, drop_database
from tests.support.sandbox_server import SandboxServer

BIGINT = 2**63 - 1
PLAN = json.dumps({"steps": [{"write": {"path": "a.txt", "content": "a\n"}}]})


@pytest.fixture(scope="module")
async def input_db(server_url: str) -> AsyncIterator[str]:
    """A database of this module's own: fuzzed tasks must not reach other tests' workers."""
    url = await create_migrated_database(server_url)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="module")
def server(input_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A sandbox without a worker: tasks stay `running` with a pending attempt."""
    srv = SandboxServer.start(input_db, root=tmp_path_factory.mktemp("input") / "root")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    """Authenticated client on the module's sandbox."""
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def task_id(http: httpx.Client) -> str:
    """A running task (attempt 1 pending: no worker claims it)."""
    r = http.post(
        "/dev-tasks",
        json={"project_id": "input", "instructions": PLAN, "backend": "deterministic_proof"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["task_id"])


@pytest.fixture(scope="module")
def command_id(http: httpx.Client) -> str:
    """A finished governed command."""
    r = http.post("/commands", json={"argv": ["echo", "hi"]})
    assert r.status_code == 201, r.text
    return str(r.json()["command_id"])


def assert_validation_failed(r: httpx.Response) -> None:
    """422 problem+json with code validation_failed."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "validation_failed"


# -- NUL never reaches PostgreSQL -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"project_id": "input", "instructions": "do\x00it"},
        {"project_id": "in\x00put", "instructions": PLAN},
        {"project_id": "input", "instructions": PLAN, "target_paths": ["a\x00.txt"]},
        {"project_id": "input", "instructions": PLAN, "backend": "deterministic_proof\x00"},
        {"project_id": "input", "instructions": PLAN, "task_id": "wr-\x00"},
        {"project_id": "input", "instructions": PLAN, "workspace": {"requested_path": "/t\x00"}},
        {"project_id": "input", "instructions": PLAN, "workspace": {"archive_b64": "\x00"}},
    ],
)
def test_nul_in_a_new_task_is_422(http: httpx.Client, body: dict[str, Any]) -> None:
    assert_validation_failed(http.post("/dev-tasks", json=body))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/checkpoints", {"checkpoint_payload": {"note": "a\x00b"}}),
        ("/checkpoints", {"checkpoint_payload": {"k\x00": 1}}),
        ("/checkpoints", {"checkpoint_payload": {"deep": [{"x": ["\x00"]}]}}),
        ("/artifacts", {"name": "a.txt", "content": "x", "content_type": "text/\x00"}),
        ("/artifacts", {"name": "a\x00.txt", "content": "x"}),
        ("/cancel", {"reason": "stop\x00now"}),
        ("/cancel", {"actor": "\x00"}),
        ("/reject", {"reason": "\x00"}),
        ("/requeue", {"reason": "\x00"}),
        ("/approve", {"actor": "\x00"}),
    ],
)
def test_nul_in_a_task_action_is_422(
    http: httpx.Client, task_id: str, path: str, body: dict[str, Any]
) -> None:
    assert_validation_failed(http.post(f"/dev-tasks/{task_id}{path}", json=body))


def test_an_escaped_backslash_u0000_is_text_not_nul(http: httpx.Client, task_id: str) -> None:
    # JSON "\\u0000" is six characters of text, not a NUL: accepted.
    r = http.post(
        f"/dev-tasks/{task_id}/checkpoints", json={"checkpoint_payload": {"note": "\\u0000"}}
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "body",
    [
        {"argv": ["echo", "a\x00b"]},
        {"argv": ["echo"], "cwd": "/tmp/\x00"},
        {"argv": ["echo"], "task_id": "t\x00"},
    ],
)
def test_nul_in_a_command_is_422(http: httpx.Client, body: dict[str, Any]) -> None:
    assert_validation_failed(http.post("/commands", json=body))


@pytest.mark.parametrize(
    "path",
    [
        "/dev-tasks/wr-%00",
        "/dev-tasks/%00/events",
        "/dev-tasks/wr-x/artifacts/a%00b",
        "/commands/%00",
        "/commands/abc%00/log",
        "/dev-tasks?project_id=%00",
        "/dev-tasks?state=%00",
        "/commands?task_id=%00",
        "/commands?state=running%00",
    ],
)
def test_nul_in_a_path_id_or_query_is_422(http: httpx.Client, path: str) -> None:
    assert_validation_failed(http.get(path))


# -- events?after=V ---------------------------------------------------------------------------


@pytest.mark.parametrize("after", [str(BIGINT + 1), str(10**30), "-1", "x"])
def test_events_after_outside_bigint_is_422(http: httpx.Client, task_id: str, after: str) -> None:
    assert_validation_failed(http.get(f"/dev-tasks/{task_id}/events", params={"after": after}))


def test_events_after_the_end_of_a_task_is_empty(http: httpx.Client, task_id: str) -> None:
    r = http.get(f"/dev-tasks/{task_id}/events", params={"after": BIGINT})
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize("after", ["0", "3", str(BIGINT)])
def test_events_of_an_unknown_task_are_404(http: httpx.Client, after: str) -> None:
    r = http.get("/dev-tasks/wr-no-such-task/events", params={"after": after})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"


# -- other bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/heartbeat", {"attempt_no": 2**31}),
        ("/heartbeat", {"attempt_no": -(2**31) - 1}),
        ("/artifacts", {"name": "big.txt", "content": "x", "attempt_no": 2**31}),
    ],
)
def test_attempt_numbers_beyond_int4_are_422(
    http: httpx.Client, task_id: str, path: str, body: dict[str, Any]
) -> None:
    assert_validation_failed(http.post(f"/dev-tasks/{task_id}{path}", json=body))


@pytest.mark.parametrize("query", ["offset=" + str(10**30), "limit=" + str(10**30)])
def test_a_log_range_past_the_end_is_empty(http: httpx.Client, command_id: str, query: str) -> None:
    r = http.get(f"/commands/{command_id}/log?{query}")
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.content == b"" or r.content == b"hi\n"
        assert r.headers["X-Log-Size"] == "3"


@pytest.mark.parametrize("limit", [str(10**30), "-5", "0"])
def test_command_list_limits_are_clamped(http: httpx.Client, limit: str) -> None:
    r = http.get("/commands", params={"limit": limit})
    assert r.status_code == 200, r.text
    assert 1 <= len(r.json()) <= 1000


@pytest.mark.parametrize("body", [b"[]", b'"argv"', b"null", b"42", b"[1, 2]", b"{"])
@pytest.mark.parametrize(
    "path",
    ["/dev-tasks", "/commands", "/dev-tasks/{task}/checkpoints", "/dev-tasks/{task}/artifacts"],
)
def test_non_object_bodies_are_4xx(
    http: httpx.Client, task_id: str, path: str, body: bytes
) -> None:
    r = http.post(
        path.format(task=task_id), content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] == "validation_failed"


# -- Hypothesis: never a 5xx ------------------------------------------------------------------

_ALLOWED = {n.strip() for n in DEFAULT_COMMAND_ALLOWLIST.split(",")}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
ids = st.text(max_size=12) | st.integers(min_value=-(2**70), max_value=2**70).map(str)


def near(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid body with any of its fields swapped for arbitrary JSON (or dropped), or any JSON."""
    fields = {k: st.one_of(st.just(v), json_values, st.just(Ellipsis)) for k, v in valid.items()}
    objects = st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not Ellipsis}
    )
    return objects | json_values


def _harmless(body: Any) -> bool:
    """Never let a fuzzed argv name a real program other than echo/true (it would run)."""
    if not isinstance(body, dict) or not isinstance(body.get("argv"), list) or not body["argv"]:
        return True
    first = body["argv"][0]
    return not isinstance(first, str) or os.path.basename(first) not in _ALLOWED - {"echo", "true"}


ROUTES: list[tuple[str, str, st.SearchStrategy[Any]]] = [
    ("POST", "/dev-tasks", near({"project_id": "fuzz", "instructions": PLAN, "backend": "deterministic_proof", "target_paths": ["a.txt"], "workspace": {}, "task_id": None})),
    ("POST", "/dev-tasks/{task}/checkpoints", near({"checkpoint_payload": {"step": 1}, "durable": True})),
    ("POST", "/dev-tasks/{task}/heartbeat", near({"attempt_no": 1})),
    ("POST", "/dev-tasks/{task}/artifacts", near({"name": "f.txt", "content": "x", "content_type": "text/plain", "attempt_no": 1})),
    ("POST", "/dev-tasks/{task}/cancel", near({"reason": "r", "actor": "a"})),
    ("POST", "/dev-tasks/{task}/resume", near({"reason": "r"})),
    ("POST", "/dev-tasks/{task}/requeue", near({"reason": "r"})),
    ("POST", "/dev-tasks/{task}/approve", near({"actor": "a"})),
    ("POST", "/dev-tasks/{task}/reject", near({"reason": "r"})),
    ("POST", "/commands", near({"argv": ["true"], "cwd": None, "task_id": None, "timeout_s": 5}).filter(_harmless)),
]  # fmt: skip


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), data=st.data())
def test_bodies_never_cause_a_5xx(
    http: httpx.Client, task_id: str, route: tuple[str, str, Any], data: st.DataObject
) -> None:
    method, template, bodies = route
    body = data.draw(bodies, label="body")
    task = data.draw(st.just(task_id) | ids, label="task id")
    r = http.request(method, template.format(task=quote(task, safe="")), json=body)
    assert r.status_code < 500, (r.status_code, r.text)


GETS = [
    "/dev-tasks/{id}",
    "/dev-tasks/{id}/events",
    "/dev-tasks/{id}/artifacts",
    "/dev-tasks/{id}/artifacts/{id}",
    "/dev-tasks/{id}/patch",
    "/commands/{id}",
    "/commands/{id}/log",
]
QUERY_KEYS = ["after", "limit", "offset", "stream", "state", "project_id", "task_id", "timeout_s"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    template=st.sampled_from([*GETS, "/dev-tasks", "/commands", "/commands/{id}/poll"]),
    real_id=st.booleans(),
    any_id=ids,
    query=st.dictionaries(st.sampled_from(QUERY_KEYS), ids, max_size=3),
)
def test_ids_and_queries_never_cause_a_5xx(
    http: httpx.Client,
    task_id: str,
    command_id: str,
    template: str,
    real_id: bool,
    any_id: str,
    query: dict[str, str],
) -> None:
    path_id = any_id
    if real_id:  # the routes past the lookup: a real task or command with odd queries
        path_id = command_id if template.startswith("/commands") else task_id
    if template.endswith("/poll"):
        query["timeout_s"] = "0"  # a real command would otherwise be waited for
    r = http.get(template.format(id=quote(path_id, safe="")), params=query)
    assert r.status_code < 500, (r.status_code, r.text)
