"""The bounded wait of the post-deploy commands: one attempt after another, a fixed interval
apart, no sleep after the last. Standard library only: it runs wherever `pulumi up` runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

# One attempt, handed its label (`attempt n/N`) for its log lines. It returns True when done,
# False to try again, None to give up at once (an answer no retry can change).
Attempt = Callable[[str], bool | None]


def poll(attempts: int, interval: float, attempt: Attempt, sleep: Callable[[float], None] = time.sleep) -> bool:
    """True as soon as an attempt succeeds; False when one gives up or none is left."""
    for n in range(1, attempts + 1):
        outcome = attempt(f"attempt {n}/{attempts}")
        if outcome is None:
            return False
        if outcome:
            return True
        if n < attempts:
            sleep(interval)
    return False


def bounds(env: Mapping[str, str], prefix: str) -> tuple[int, float] | str:
    """The wait's attempts and interval from <prefix>_ATTEMPTS (default 40) and
    <prefix>_INTERVAL_SECONDS (default 15), or the one line saying what is wrong with them."""
    attempts_name, interval_name = f"{prefix}_ATTEMPTS", f"{prefix}_INTERVAL_SECONDS"
    try:
        attempts = int(env.get(attempts_name, "40"))
        interval = float(env.get(interval_name, "15"))
    except ValueError:
        return f"{attempts_name} and {interval_name} must be numbers"
    if attempts < 1 or interval < 0:
        return f"{attempts_name} must be at least 1 and {interval_name} not negative"
    return attempts, interval
