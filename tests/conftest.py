"""Fixtures: every real stack evaluated once under Pulumi mocks (no Azure, no CLI)."""

from __future__ import annotations

import pytest

from components.offline import Evaluation, evaluate_all


@pytest.fixture(scope="session")
def runs() -> dict[str, Evaluation]:
    evaluations = evaluate_all()
    for stack, run in evaluations.items():
        assert run.error is None, f"stack {stack} failed to evaluate: {run.error}"
    return evaluations


@pytest.fixture(scope="session")
def shared(runs: dict[str, Evaluation]) -> Evaluation:
    return runs["shared"]
