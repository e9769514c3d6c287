"""The shelf that lets pytest-xdist's workers share the session's evaluations
(tests/support/shelf.py): a value is made once, read back equal, and a failure keeps nothing."""

from __future__ import annotations

import pytest

from tests.support.shelf import Shelf


def test_a_value_is_made_once_and_read_back_by_another_worker(tmp_path):
    made = []

    def make() -> dict[str, list[int]]:
        made.append(1)
        return {"resources": [1, 2, 3]}

    first = Shelf(tmp_path / "shelf").get("runs", make)
    # Another worker: its own Shelf on the same session folder.
    second = Shelf(tmp_path / "shelf").get("runs", make)
    assert first == second == {"resources": [1, 2, 3]}
    assert second is not first
    assert len(made) == 1


def test_a_failed_making_keeps_nothing(tmp_path):
    def fail() -> None:
        raise AssertionError("stack prod failed to evaluate")

    with pytest.raises(AssertionError, match="failed to evaluate"):
        Shelf(tmp_path / "shelf").get("served", fail)
    assert Shelf(tmp_path / "shelf").get("served", lambda: "made again") == "made again"
    assert not list((tmp_path / "shelf").glob("*.pickle.*")), "a partial file was left behind"


def test_without_workers_nothing_is_kept():
    made = []
    shelf = Shelf(None)
    shelf.get("runs", lambda: made.append(1))
    shelf.get("runs", lambda: made.append(1))
    assert len(made) == 2
