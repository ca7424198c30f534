"""hive.contracts.retries.backoff: the one retry policy (tenacity underneath)."""

from __future__ import annotations

import asyncio

import pytest

from hive.contracts.retries import backoff


def test_retries_until_it_works_with_doubling_waits() -> None:
    calls: list[int] = []
    waits: list[float] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise OSError("database away")
        return "done"

    async def run() -> str:
        async for attempt in backoff(
            OSError, first_s=0.001, max_s=0.003, on_retry=lambda _e, d: waits.append(d)
        ):
            with attempt:
                return await flaky()
        raise AssertionError("unreachable")

    assert asyncio.run(run()) == "done"
    assert len(calls) == 4
    assert waits == [0.001, 0.002, 0.003]


def test_the_last_error_is_raised_as_itself_after_the_attempts() -> None:
    async def run() -> None:
        async for attempt in backoff(TimeoutError, first_s=0.001, max_s=0.001, attempts=3):
            with attempt:
                raise TimeoutError("still away")

    with pytest.raises(TimeoutError, match="still away"):
        asyncio.run(run())


def test_other_errors_are_not_retried_and_give_up_stops_early() -> None:
    tries: list[int] = []

    async def other() -> None:
        async for attempt in backoff(OSError, first_s=0.001, max_s=0.001):
            with attempt:
                tries.append(1)
                raise KeyError("not transient")

    with pytest.raises(KeyError):
        asyncio.run(other())
    assert len(tries) == 1

    closing = [False]

    async def until_closing() -> None:
        async for attempt in backoff(
            OSError, first_s=0.001, max_s=0.001, give_up=lambda: closing[0]
        ):
            with attempt:
                tries.append(1)
                if len(tries) == 3:
                    closing[0] = True
                raise OSError("away")

    with pytest.raises(OSError):
        asyncio.run(until_closing())
    assert len(tries) == 3
