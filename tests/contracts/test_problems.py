"""The one error mapping (hive.contracts.problems), installed as a plugin on a real app."""

from __future__ import annotations

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from hive.contracts.errors import PROBLEM_CONTENT_TYPE, ErrorCode
from hive.contracts.problems import (
    STATUS,
    HiveError,
    ProblemDetails,
    Translation,
    UpstreamAnswer,
)
from hive.events import DRIVER_ERRORS, StreamTooLong, VersionConflict


class Gone(HiveError):
    code = ErrorCode.NOT_FOUND


def _raise(exc: Exception) -> Litestar:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    return Litestar(route_handlers=[boom], plugins=[ProblemDetails(DRIVER_ERRORS)])


def _problem(exc: Exception) -> tuple[int, dict[str, object], dict[str, str]]:
    with TestClient(_raise(exc)) as client:
        resp = client.get("/boom")
    assert resp.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE)
    return resp.status_code, resp.json(), dict(resp.headers)


def test_every_error_code_has_a_status() -> None:
    assert set(STATUS) == set(ErrorCode)


def test_a_domain_error_answers_with_its_codes_status() -> None:
    status, body, _ = _problem(Gone("no such thing"))
    assert (status, body["code"], body["detail"]) == (404, "not_found", "no such thing")
    assert body["instance"] == "/boom"


def test_retry_after_comes_from_the_domain_fact() -> None:
    status, body, headers = _problem(
        HiveError("slow down", code=ErrorCode.RATE_LIMITED, retry_after_s=2.2)
    )
    assert (status, body["code"], headers["retry-after"]) == (429, "rate_limited", "3")


def test_an_upstream_4xx_is_passed_on_and_anything_else_is_502() -> None:
    assert _problem(UpstreamAnswer(409, "sandbox answered 409"))[0] == 409
    status, body, _ = _problem(UpstreamAnswer(200, "sandbox answered 200"))
    assert (status, body["code"]) == (502, "upstream_error")


def test_an_upstreams_own_code_is_passed_on_when_the_enum_knows_it() -> None:
    status, body, _ = _problem(UpstreamAnswer(409, "agent busy", code="agent_busy"))
    assert (status, body["code"]) == (409, "agent_busy")
    status, body, _ = _problem(UpstreamAnswer(503, "restarting", code="unavailable"))
    assert (status, body["code"]) == (503, "unavailable")
    status, body, _ = _problem(UpstreamAnswer(409, "odd", code="made_up_code"))
    assert (status, body["code"]) == (409, "upstream_error")


def test_store_errors_carry_their_codes() -> None:
    status, body, _ = _problem(VersionConflict("s", 1, 2))
    assert (status, body["code"]) == (409, "version_conflict")
    status, body, _ = _problem(StreamTooLong("s", 11, 10))
    assert (status, body["code"]) == (409, "stream_too_long")


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (
            asyncpg.DataError("invalid byte sequence 0x00 in 'secret value'"),
            422,
            "validation_failed",
        ),
        (asyncpg.InterfaceError("pool is closed"), 503, "unavailable"),
        (ConnectionRefusedError("refused"), 503, "unavailable"),
    ],
)
def test_driver_errors_are_translated_without_their_message(
    exc: Exception, status: int, code: str
) -> None:
    got_status, body, _ = _problem(exc)
    assert (got_status, body["code"]) == (status, code)
    assert str(exc) not in str(body)


def test_a_translation_names_a_code_never_a_status() -> None:
    translations = {KeyError: Translation(ErrorCode.CONFLICT, "clash: {name}")}

    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise KeyError("private")

    app = Litestar(route_handlers=[boom], plugins=[ProblemDetails(translations)])
    with TestClient(app) as client:
        resp = client.get("/boom")
    assert (resp.status_code, resp.json()["detail"]) == (409, "clash: KeyError")


def test_an_unexpected_error_is_500_without_its_message() -> None:
    status, body, _ = _problem(RuntimeError("password=hunter2"))
    assert (status, body["code"]) == (500, "internal_error")
    assert "hunter2" not in str(body)


def test_litestars_own_errors_get_codes_from_the_enum() -> None:
    with TestClient(_raise(RuntimeError())) as client:
        missing = client.get("/nowhere")
        wrong_method = client.post("/boom")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")
