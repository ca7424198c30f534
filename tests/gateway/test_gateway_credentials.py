"""Credentials at rest: encrypted, write-only through the API, used by the relay."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from tests.gateway.conftest import STORED_VENDOR_KEY
from tests.support.gateway_server import GatewayServer
from tests.support.scripted_model import ScriptedModelServer


def _relay(gateway: GatewayServer) -> httpx.Client:
    token = gateway.task_token(task_id=f"cred-{uuid.uuid4().hex[:6]}")["token"]
    return gateway.client(headers={"Authorization": f"Bearer {token}"})


async def test_values_are_encrypted_at_rest_and_never_returned(
    admin: httpx.Client, pool: asyncpg.Pool
) -> None:
    value = f"xoxb-channel-token-{uuid.uuid4().hex}"
    name = f"slack-{uuid.uuid4().hex[:6]}"
    created = admin.post("/api/credentials", json={"kind": "channel", "name": name, "value": value})
    assert created.status_code == 201, created.text
    info = created.json()
    assert value not in created.text
    assert info["hint"] == "…" + value[-4:]
    listed = admin.get("/api/credentials")
    assert value not in listed.text and info["credential_id"] in listed.text
    row = await pool.fetchrow(
        "SELECT ciphertext, key_id FROM credentials WHERE credential_id = $1", info["credential_id"]
    )
    assert value.encode() not in row["ciphertext"]
    assert value[-12:].encode() not in row["ciphertext"]
    assert len(row["ciphertext"]) >= len(value) + 28  # version + nonce + tag
    duplicate = admin.post(
        "/api/credentials", json={"kind": "channel", "name": name, "value": "x" * 20}
    )
    assert duplicate.status_code == 409
    replaced = admin.put(
        f"/api/credentials/{info['credential_id']}", json={"value": "new-value-1234567890"}
    )
    assert replaced.status_code == 200 and replaced.json()["hint"] == "…7890"
    assert admin.delete(f"/api/credentials/{info['credential_id']}").status_code == 204
    assert admin.delete(f"/api/credentials/{info['credential_id']}").status_code == 404


def _store_provider_key(admin: httpx.Client, value: str) -> str:
    for c in admin.get("/api/credentials").json():
        if c["kind"] == "provider" and c["name"] == "stored":
            admin.delete(f"/api/credentials/{c['credential_id']}")
    r = admin.post("/api/credentials", json={"kind": "provider", "name": "stored", "value": value})
    assert r.status_code == 201, r.text
    return str(r.json()["credential_id"])


async def test_a_ciphertext_moved_to_another_row_does_not_open(
    admin: httpx.Client, pool: asyncpg.Pool, gateway: GatewayServer
) -> None:
    # The row's id, kind and name are authenticated with the value: swapping blobs fails.
    stored_id = _store_provider_key(admin, STORED_VENDOR_KEY)
    other = admin.post(
        "/api/credentials",
        json={
            "kind": "provider",
            "name": f"other-{uuid.uuid4().hex[:6]}",
            "value": "sk-" + "1" * 30,
        },
    ).json()
    client = _relay(gateway)
    body = {"model": "stored-model", "messages": []}
    assert client.post("/relay/v1/chat/completions", json=body).status_code == 200
    original = await pool.fetchval(
        "SELECT ciphertext FROM credentials WHERE credential_id = $1", stored_id
    )
    await pool.execute(
        "UPDATE credentials SET ciphertext = (SELECT ciphertext FROM credentials "
        "WHERE credential_id = $1) WHERE credential_id = $2",
        other["credential_id"],
        stored_id,
    )
    try:
        # Unreadable: treated as no key at all, so nothing is sent upstream.
        assert client.post("/relay/v1/chat/completions", json=body).status_code == 502
    finally:
        await pool.execute(
            "UPDATE credentials SET ciphertext = $1 WHERE credential_id = $2", original, stored_id
        )
        admin.delete(f"/api/credentials/{other['credential_id']}")
    assert client.post("/relay/v1/chat/completions", json=body).status_code == 200


def test_relay_uses_a_stored_provider_key_when_the_env_var_is_unset(
    admin: httpx.Client, gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    for c in admin.get("/api/credentials").json():
        if c["kind"] == "provider" and c["name"] == "stored":
            admin.delete(f"/api/credentials/{c['credential_id']}")
    client = _relay(gateway)
    missing = client.post(
        "/relay/v1/chat/completions", json={"model": "stored-model", "messages": []}
    )
    assert missing.status_code == 502 and "UNSET_VENDOR_KEY" in missing.json()["detail"]
    _store_provider_key(admin, STORED_VENDOR_KEY)
    before = len(model_upstream.requests)
    ok = client.post("/relay/v1/chat/completions", json={"model": "stored-model", "messages": []})
    assert ok.status_code == 200, ok.text
    assert model_upstream.requests[before].headers["authorization"] == f"Bearer {STORED_VENDOR_KEY}"
    assert STORED_VENDOR_KEY not in ok.text
    assert STORED_VENDOR_KEY not in gateway.read_log()
