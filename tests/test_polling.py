"""The bounded wait every post-deploy command shares (commands/polling.py)."""

from __future__ import annotations

from commands.polling import poll


def _run(outcomes: list[bool | None], attempts: int) -> tuple[bool, list[str], list[float]]:
    labels: list[str] = []
    slept: list[float] = []

    def attempt(label: str) -> bool | None:
        labels.append(label)
        return outcomes[len(labels) - 1]

    return poll(attempts, 7.0, attempt, slept.append), labels, slept


def test_stops_at_the_first_success_and_sleeps_only_between_attempts() -> None:
    assert _run([False, False, True, False], attempts=4) == (
        True,
        ["attempt 1/4", "attempt 2/4", "attempt 3/4"],
        [7.0, 7.0],
    )


def test_gives_up_after_the_last_attempt_without_sleeping_after_it() -> None:
    assert _run([False, False], attempts=2) == (False, ["attempt 1/2", "attempt 2/2"], [7.0])


def test_an_attempt_that_gives_up_ends_the_wait_at_once() -> None:
    assert _run([False, None, True], attempts=3) == (False, ["attempt 1/3", "attempt 2/3"], [7.0])
