"""One way to wait: poll until a condition holds or a deadline passes (readiness is polled, never slept).

    poll_until(lambda: requests.get(url).ok, timeout=30)                       # the first truthy result
    poll_until(read_state, done=lambda s: s == "firing", timeout=60, describe=lambda s: f"last: {s}")

`probe()` is called, then `done(result)` decides; at the deadline a TimeoutError names `what` and, through
`describe(last result)`, what was seen. Exceptions from `probe` propagate (a dead process stops the wait).
`backoff` > 1 grows the pause between polls up to `max_interval`.
"""
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(probe: Callable[[], T], done: Callable[[T], bool] = bool, timeout: float = 30.0,
               interval: float = 0.5, what: str = "condition", describe: Callable[[T], str] | None = None,
               backoff: float = 1.0, max_interval: float | None = None) -> T:
    """Call `probe` until `done(result)` is true and return that result; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            seen = describe(result) if describe else f"last result: {result!r}"
            raise TimeoutError(f"{what} not reached within {timeout:g}s; {seen}")
        time.sleep(delay)
        delay = min(delay * backoff, max_interval or delay * backoff)
