"""Deadline polls: wait for a condition, fail naming it at the deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_for(
    what: str, probe: Callable[[], Any], timeout_s: float = 30.0, interval_s: float = 0.05
) -> Any:
    """Poll `probe` until it returns something truthy; that value, or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)


async def await_for(
    what: str,
    probe: Callable[[], Awaitable[Any]],
    timeout_s: float = 30.0,
    interval_s: float = 0.2,
) -> Any:
    """`wait_for` for a coroutine probe, without blocking the event loop between polls."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(interval_s)
