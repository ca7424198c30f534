"""Retries: one exponential backoff on tenacity, for loops that wait out a dependency.

Used where a service keeps trying until something comes back (the gateway's
startup wiring while the database is away, the sandbox's command records while
PostgreSQL restarts). The first wait is `first_s`, each next one doubles up to
`max_s`; no jitter, since every caller is a single task per process, not a herd.

    async for attempt in backoff(OSError, first_s=0.2, max_s=5.0, attempts=8):
        with attempt:
            await write()

The last error is raised as itself once the attempts run out or `give_up` says so.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    stop_never,
    wait_exponential,
)
from tenacity.stop import stop_base

OnRetry = Callable[[BaseException, float], None]
"""Called before each wait with the error and the seconds about to be slept."""


class _GiveUp(stop_base):
    """Stop when the caller says so (e.g. the service is closing)."""

    def __init__(self, give_up: Callable[[], bool]) -> None:
        self._give_up = give_up

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._give_up()


def backoff(
    on: type[BaseException] | tuple[type[BaseException], ...],
    *,
    first_s: float,
    max_s: float,
    attempts: int | None = None,
    give_up: Callable[[], bool] | None = None,
    on_retry: OnRetry | None = None,
) -> AsyncRetrying:
    """Retry on `on` errors: `attempts` tries in all (None: until it works or `give_up()`)."""
    stops: list[stop_base] = [stop_never if attempts is None else stop_after_attempt(attempts)]
    if give_up is not None:
        stops.append(_GiveUp(give_up))

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None or state.next_action is None:
            return
        error = state.outcome.exception()
        if error is not None:
            on_retry(error, state.next_action.sleep)

    return AsyncRetrying(
        retry=retry_if_exception_type(on),
        wait=wait_exponential(multiplier=first_s, max=max_s),
        stop=stop_any(*stops),
        before_sleep=before_sleep,
        reraise=True,
    )
