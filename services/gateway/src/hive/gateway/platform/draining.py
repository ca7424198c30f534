"""Ending long-lived streams when the server is asked to stop.

granian drains on SIGTERM: it stops accepting and waits for in-flight
requests, and only then runs the lifespan shutdown. A proxied SSE stream of
task events never ends by itself, so the gateway must notice the signal
earlier. granian's worker handles SIGTERM/SIGINT through its event loop's
`add_signal_handler` (asyncio or uvloop), which learns of a signal from the
interpreter's wakeup fd. The Python-level handler is a separate slot that
loop only fills with a no-op; we put ours there, so the loop still dispatches
granian's own handler exactly as before, and ours also runs: it schedules
`on_signal` on the loop (setting the `draining` event), and streams end.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


def watch_shutdown_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]) -> bool:
    """Run `on_signal` on `loop` when SIGTERM or SIGINT arrives, keeping existing handling.

    False when this is not the main thread (signal handlers cannot be set there).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(on_signal)
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)
    return True
