"""A sandbox app that pauses after every TaskApproved: the crash-during-approval tests' entry point.

Served by granian in place of `hive.sandbox.main:app` (`SandboxServer.start(app=APP)`):
the same `create_app`, with the `after_approve` test seam set, so a test can kill -9
the sandbox between TaskApproved and the apply. Production code never sets the seam.
"""

from __future__ import annotations

import asyncio
import logging

from litestar import Litestar

from hive.sandbox.main import create_app

APP = "tests.support.paused_sandbox:app"
PAUSE_S = 300.0

log = logging.getLogger("hive.sandbox.workruns")


async def pause_after_approve(task_id: str) -> None:
    """Hold the approve of `task_id` long enough for the test to kill this process."""
    log.warning("test seam: pausing %.1f s after TaskApproved of %s", PAUSE_S, task_id)
    await asyncio.sleep(PAUSE_S)


def __getattr__(name: str) -> Litestar:
    # Built on first access, like hive.sandbox.main:app (granian imports `app`).
    if name == "app":
        return create_app(after_approve=pause_after_approve)
    raise AttributeError(name)
