"""Ending long-lived streams when the server is asked to stop.

granian drains on SIGTERM: it stops accepting and waits for in-flight
requests, and only then runs the lifespan shutdown. A proxied SSE stream of
task events never ends by itself, so the gateway must notice the signal
earlier. granian installs its SIGTERM/SIGINT handlers on the worker's asyncio
loop before lifespan startup; we chain ours in front of them: set the
`draining` event (streams finish their current chunk and end), then run
granian's handler as before. Loops without asyncio's handler table (uvloop)
keep granian's behaviour, and long streams then end at its kill timeout.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


def chain_shutdown_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]) -> bool:
    """Run `on_signal` before the loop's existing SIGTERM/SIGINT handlers; True if chained."""
    handlers = getattr(loop, "_signal_handlers", None)
    if not isinstance(handlers, dict):
        return False
    chained = False
    for sig in (signal.SIGTERM, signal.SIGINT):
        original = handlers.get(sig)
        if original is None:
            continue

        def run(original: asyncio.Handle = original) -> None:
            on_signal()
            original._run()  # asyncio.Handle: granian's handler, called as before

        loop.add_signal_handler(sig, run)
        chained = True
    return chained
