"""Operator auth: login, cookies, CSRF, logout, throttling, `hive admin create-user`."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import httpx

from tests.support.gateway_server import GatewayServer


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def test_login_sets_httponly_session_and_readable_csrf_cookie(gateway: GatewayServer) -> None:
    client = gateway.client()
    r = client.post(
        "/api/auth/login", json={"username": "admin", "password": gateway.admin_password}
    )
    assert r.status_code == 200
    cookies = _set_cookies(r)
    session, csrf = cookies["hive_session"].lower(), cookies["csrftoken"].lower()
    assert "httponly" in session and "samesite=lax" in session
    assert "httponly" not in csrf and "samesite=lax" in csrf
    # HIVE_COOKIE_SECURE=false in this gateway (plain HTTP on loopback).
    assert "secure" not in session
    assert r.json()["csrf_token"] == client.cookies["csrftoken"]
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "admin"


def test_wrong_password_and_unknown_user_are_the_same_401(gateway: GatewayServer) -> None:
    client = gateway.client()
    wrong = client.post("/api/auth/login", json={"username": "admin", "password": "nope-nope"})
    unknown = client.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert "hive_session" not in _set_cookies(wrong)


def test_state_changing_request_without_csrf_token_is_refused(gateway: GatewayServer) -> None:
    admin = gateway.login()
    token = admin.headers.pop("X-CSRFToken")
    # A cross-site form post: the browser sends the cookies, but cannot read csrftoken.
    forged = admin.post(
        "/api/projects",
        json={"name": "forged"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403
    assert forged.json()["code"] == "csrf_failed"
    wrong = admin.post("/api/projects", json={"name": "forged"}, headers={"X-CSRFToken": "x" * 43})
    assert wrong.status_code == 403
    # Only the server-derived token of *this* session works, not any cookie value.
    other = gateway.login()
    assert other.headers["X-CSRFToken"] != token
    mixed = admin.post(
        "/api/projects",
        json={"name": "forged"},
        headers={"X-CSRFToken": other.headers["X-CSRFToken"]},
    )
    assert mixed.status_code == 403
    names = [p["name"] for p in admin.get("/api/projects").json()]
    assert "forged" not in names
    ok = admin.post(
        "/api/projects", json={"name": "csrf-ok-project"}, headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 201


def test_logout_ends_the_session_server_side(gateway: GatewayServer) -> None:
    admin = gateway.login()
    stolen_cookie = admin.cookies["hive_session"]
    assert admin.post("/api/auth/logout").status_code == 204
    replay = gateway.client(cookies={"hive_session": stolen_cookie})
    assert replay.get("/api/auth/me").status_code == 401


def test_logout_needs_the_csrf_token(gateway: GatewayServer) -> None:
    admin = gateway.login()
    del admin.headers["X-CSRFToken"]
    assert admin.post("/api/auth/logout").status_code == 403
    assert admin.get("/api/auth/me").status_code == 200


def test_repeated_failures_throttle_the_username(gateway: GatewayServer) -> None:
    client = gateway.client()
    for _ in range(5):
        r = client.post("/api/auth/login", json={"username": "victim", "password": "guess-1234"})
        assert r.status_code == 401
    blocked = client.post("/api/auth/login", json={"username": "victim", "password": "guess-1234"})
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) >= 1
    # Other operators are unaffected.
    assert gateway.login().get("/api/auth/me").status_code == 200


def test_create_user_cli_creates_and_resets_an_operator(
    gateway: GatewayServer, database_url: str
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}

    def create(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hive.cli.main", "admin", "create-user", "ops-alice"],
            input=password + "\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = create("first-password-123")
    assert first.returncode == 0, first.stderr
    alice = gateway.login("ops-alice", "first-password-123")
    assert alice.get("/api/auth/me").json()["username"] == "ops-alice"
    second = create("second-password-456")
    assert second.returncode == 0, second.stderr
    # A reset ends the sessions opened with the old password.
    assert alice.get("/api/auth/me").status_code == 401
    assert gateway.login("ops-alice", "second-password-456").get("/api/auth/me").status_code == 200
    old = gateway.client().post(
        "/api/auth/login", json={"username": "ops-alice", "password": "first-password-123"}
    )
    assert old.status_code == 401


async def test_passwords_are_stored_as_argon2id_hashes(
    gateway: GatewayServer, pool: asyncpg.Pool
) -> None:
    value = await pool.fetchval("SELECT password_hash FROM operators WHERE username = 'admin'")
    assert value.startswith("$argon2id$")
    assert gateway.admin_password not in value
