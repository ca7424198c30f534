"""Schedules: two gateways on one database fire each firing once, the survivor takes the
lease over when the leader dies, a deposed leader is fenced, and downtime past the catch-up
window is recorded as missed firings, never replayed in a burst.

Real gateways (local pool), a private real database per test; the model is the scripted
OpenAI-compatible server (the test double).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hive.gateway.schedules.lease import LeaderLease
from hive.gateway.schedules.store import Fenced, ScheduleStore
from tests.support.databases import migrated_database
from tests.support.deadline import wait_for
from tests.support.gateway_server import GatewayServer
from tests.support.scripted_model import Hold, Message, ScriptedModelServer
from tests.support.service_process import free_port

LEASE_S = 3.0


@pytest.fixture
async def private_db(server_url: str) -> AsyncIterator[str]:
    async with migrated_database(server_url, "hive_sched") as url:
        yield url


@pytest.fixture
def chatty_model() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(default=Message("scheduled run done"), models=("m",)) as server:
        yield server


def _gateway(db: str, model: ScriptedModelServer, tmp: Path, controller: str) -> GatewayServer:
    port = free_port()
    providers = [{"id": "s", "base_url": model.base_url, "api_key_env": "K", "models": ["m"]}]
    return GatewayServer.start(
        db,
        tmp=tmp,
        port=port,
        env={
            "HIVE_POOL_BACKEND": "local",
            "HIVE_CONTROLLER_ID": controller,
            "HIVE_MODEL_PROVIDERS": json.dumps(providers),
            "K": "sk-sched-key",
            "HIVE_AGENT_GATEWAY_URL": f"http://127.0.0.1:{port}",
            "HIVE_SCHEDULER_TICK_S": "0.2",
            "HIVE_SCHEDULER_LEASE_S": str(LEASE_S),
            "HIVE_RELAY_RATE_LIMIT_PER_MINUTE": "6000",
        },
    )


async def _rows(db: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _wait(what: str, check: Any, timeout_s: float) -> Any:
    return wait_for(what, check, timeout_s, interval_s=0.1)


def _fired(db: str, schedule_id: str) -> list[asyncpg.Record]:
    return asyncio.run(
        _rows(
            db,
            "SELECT fire_time, outcome, run_id, leader_epoch FROM schedule_firings "
            "WHERE schedule_id = $1 ORDER BY fire_time",
            schedule_id,
        )
    )


def test_two_gateways_fire_once_fail_over_and_record_missed_firings(
    private_db: str, chatty_model: ScriptedModelServer, tmp_path: Path
) -> None:
    db = private_db
    gw_a = _gateway(db, chatty_model, tmp_path / "a", "gw-a")
    gw_b = _gateway(db, chatty_model, tmp_path / "b", "gw-b")
    gateways = {"gw-a": gw_a, "gw-b": gw_b}
    try:
        operator = gw_a.login()
        ws = tmp_path / "ws"
        ws.mkdir()
        project = operator.post("/api/projects", json={"name": "s", "workspace_path": str(ws)})
        agent = operator.post(
            "/api/agents",
            json={"project_id": project.json()["project_id"], "role": "scout", "model": "m"},
        ).json()
        base = f"/api/agents/{agent['agent_id']}/schedules"
        bad = operator.post(base, json={"cron": "every day", "input": "x"})
        assert bad.status_code == 422 and "cron" in bad.json()["detail"]
        bad_tz = operator.post(base, json={"cron": "* * * * *", "input": "x", "timezone": "Mars/X"})
        assert bad_tz.status_code == 422
        every_2s = operator.post(
            base, json={"cron": "* * * * * */2", "input": "look around", "timezone": "Europe/Paris"}
        )
        assert every_2s.status_code == 201, every_2s.text
        sid = every_2s.json()["schedule_id"]

        # Both gateways tick; every firing is recorded once and starts exactly one run.
        _wait(
            "3 firings",
            lambda: len([f for f in _fired(db, sid) if f["outcome"] == "fired"]) >= 3,
            30,
        )
        firings = _fired(db, sid)
        runs = asyncio.run(
            _rows(db, "SELECT run_id, status FROM agent_runs WHERE schedule_id = $1", sid)
        )
        fired_ids = [f["run_id"] for f in firings if f["outcome"] == "fired"]
        assert len(set(fired_ids)) == len(fired_ids)
        assert {r["run_id"] for r in runs} <= set(fired_ids)
        assert len(runs) == len({r["run_id"] for r in runs})

        # Kill the leader: the other gateway takes the lease within its lifetime and fires on.
        holder = asyncio.run(_rows(db, "SELECT holder, epoch FROM leader_leases"))[0]
        leader_name = holder["holder"].split(":")[0]
        survivor_name = "gw-b" if leader_name == "gw-a" else "gw-a"
        gateways[leader_name].kill()
        taken = _wait(
            "takeover",
            lambda: [
                r
                for r in asyncio.run(_rows(db, "SELECT holder, epoch FROM leader_leases"))
                if r["holder"].startswith(survivor_name)
            ],
            LEASE_S + 10,
        )
        assert taken[0]["epoch"] > holder["epoch"]
        _wait(
            "a firing by the new leader",
            lambda: [f for f in _fired(db, sid) if f["leader_epoch"] == taken[0]["epoch"]],
            10,
        )
        survivor = gateways[survivor_name]
        operator = survivor.login()
        paused = operator.post(f"{base}/{sid}/pause")
        assert paused.status_code == 200 and paused.json()["paused"] is True

        # Downtime past the catch-up window: missed firings recorded, one run, no burst.
        minutely = operator.post(
            base, json={"cron": "* * * * *", "input": "catch up", "catch_up_s": 90}
        ).json()
        survivor.stop()
        asyncio.run(
            _rows(
                db,
                "UPDATE agent_schedules SET next_fire_at = date_trunc('minute', now()) "
                "- interval '30 minutes' WHERE schedule_id = $1 RETURNING 1",
                minutely["schedule_id"],
            )
        )  # as if every gateway had been down for half an hour
        gateways[survivor_name] = survivor = _gateway(
            db, chatty_model, tmp_path / "c", survivor_name
        )
        later = _wait(
            "the catch-up",
            lambda: [f for f in _fired(db, minutely["schedule_id"]) if f["outcome"] != "missed"],
            LEASE_S + 15,
        )
        firings = _fired(db, minutely["schedule_id"])
        missed = [f for f in firings if f["outcome"] == "missed"]
        assert len(later) == 1 and len(missed) >= 29
        assert later[0]["fire_time"] == max(f["fire_time"] for f in firings)
        assert all(f["run_id"] is None for f in missed)
        runs = asyncio.run(
            _rows(
                db, "SELECT run_id FROM agent_runs WHERE schedule_id = $1", minutely["schedule_id"]
            )
        )
        assert len(runs) == 1
        listed = survivor.login().get(f"{base}/{minutely['schedule_id']}/firings").json()
        assert len(listed) == len(firings)
    finally:
        for gw in gateways.values():
            if gw.proc.poll() is None:
                gw.stop()


async def test_a_deposed_leader_is_fenced(private_db: str) -> None:
    pool = await asyncpg.create_pool(private_db, min_size=1, max_size=4)
    try:
        old = LeaderLease(pool, "fence-test", "old-leader", ttl_s=30)
        new = LeaderLease(pool, "fence-test", "new-leader", ttl_s=30)
        old_epoch = await old.acquire_or_renew()
        assert old_epoch is not None
        assert await new.acquire_or_renew() is None  # the lease is held
        assert await old.acquire_or_renew() == old_epoch  # renewal keeps the epoch
        async with pool.acquire() as conn:  # the old leader stalls past its lease
            await conn.execute(
                "UPDATE leader_leases SET expires_at = now() - interval '1 second' "
                "WHERE name = 'fence-test'"
            )
        new_epoch = await new.acquire_or_renew()
        assert new_epoch == old_epoch + 1
        assert await old.acquire_or_renew() is None
        store = ScheduleStore(pool)
        with pytest.raises(Fenced):
            await store.fire("any-schedule", old, old_epoch)
        with pytest.raises(Fenced):
            await store.promote_queued(old, old_epoch)
        assert await store.fire("no-such-schedule", new, new_epoch) is None
        rows = await pool.fetch("SELECT * FROM schedule_firings")
        assert rows == []
    finally:
        await pool.close()


def test_overlap_skip_drops_and_enqueue_defers_firings_while_a_run_executes(
    private_db: str, chatty_model: ScriptedModelServer, tmp_path: Path
) -> None:
    db = private_db
    gw = _gateway(db, chatty_model, tmp_path / "gw", "gw-overlap")
    try:
        operator = gw.login()
        ws = tmp_path / "ws"
        ws.mkdir()
        project = operator.post("/api/projects", json={"name": "o", "workspace_path": str(ws)})
        agent = operator.post(
            "/api/agents",
            json={"project_id": project.json()["project_id"], "role": "scout", "model": "m"},
        ).json()
        agent_id = agent["agent_id"]
        # An operator's run holds the agent busy until released.
        release = threading.Event()
        chatty_model.script(Hold(release, Message("the long run")))
        held = operator.post(f"/api/agents/{agent_id}/run", json={"input": "hold", "wait_s": 0})
        assert held.json()["status"] == "running", held.text
        base = f"/api/agents/{agent_id}/schedules"
        every_s = {"cron": "* * * * * *", "input": "tick"}
        skip = operator.post(base, json=every_s).json()  # overlap defaults to skip
        assert skip["overlap"] == "skip"
        enqueue = operator.post(base, json={**every_s, "overlap": "enqueue"}).json()
        _wait(
            "two queued firings",
            lambda: (
                len([f for f in _fired(db, enqueue["schedule_id"]) if f["outcome"] == "queued"])
                >= 2
            ),
            20,
        )
        _wait("a skipped firing", lambda: _fired(db, skip["schedule_id"]), 20)
        for s in (skip, enqueue):
            assert operator.post(f"{base}/{s['schedule_id']}/pause").status_code == 200
        skipped = _fired(db, skip["schedule_id"])
        queued = _fired(db, enqueue["schedule_id"])
        assert skipped and all(f["outcome"] == "skipped" for f in skipped)
        assert len(queued) >= 2 and all(f["outcome"] == "queued" for f in queued)
        assert not _runs_of(db, skip["schedule_id"]) and not _runs_of(db, enqueue["schedule_id"])

        # The held run ends: the queue drains oldest first, one run at a time, each once;
        # the skipped firings never run.
        release.set()
        _wait(
            "every queued firing run",
            lambda: (
                (runs := _runs_of(db, enqueue["schedule_id"])) is not None
                and len(runs) == len(queued)
                and all(r["status"] == "completed" for r in runs)
            ),
            60,
        )
        drained = _fired(db, enqueue["schedule_id"])
        assert [f["outcome"] for f in drained] == ["fired"] * len(queued)
        assert {f["run_id"] for f in drained} == {
            r["run_id"] for r in _runs_of(db, enqueue["schedule_id"])
        }
        assert not _runs_of(db, skip["schedule_id"])
        assert all(f["outcome"] == "skipped" for f in _fired(db, skip["schedule_id"]))
        # One run at a time: no scheduled run started before the previous one finished.
        spans = asyncio.run(
            _rows(
                db,
                "SELECT created_at, updated_at FROM agent_runs WHERE agent_id = $1 "
                "ORDER BY created_at",
                agent_id,
            )
        )
        for earlier, later in itertools.pairwise(spans):
            assert later["created_at"] >= earlier["updated_at"], (earlier, later)
    finally:
        release.set()
        gw.stop()


def _runs_of(db: str, schedule_id: str) -> list[asyncpg.Record]:
    return asyncio.run(
        _rows(db, "SELECT run_id, status FROM agent_runs WHERE schedule_id = $1", schedule_id)
    )
