"""Fixtures: every real stack evaluated once under Pulumi mocks (no Azure, no CLI)."""

from __future__ import annotations

import gc

import pytest

from offline.evaluate import Evaluation, evaluate_all
from tests.support.evaluations import ENVIRONMENTS, deploy


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once every test module is imported (Pulumi, the provider SDKs, pydantic: millions of
    long-lived objects), move them out of the garbage collector's sight: otherwise each full
    collection walks them all again, about a third of an evaluation's time."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def runs() -> dict[str, Evaluation]:
    """Each stack as a PR preview sees it: no model version passed, none deployed yet."""
    evaluations = evaluate_all()
    for stack, run in evaluations.items():
        assert run.error is None, f"stack {stack} failed to evaluate: {run.error}"
    return evaluations


@pytest.fixture(scope="session")
def shared(runs: dict[str, Evaluation]) -> Evaluation:
    return runs["shared"]


@pytest.fixture(scope="session")
def served(shared: Evaluation) -> dict[str, Evaluation]:
    """The environments deployed with model version MODEL_VERSION."""
    evaluations = {stack: deploy(stack, shared) for stack in ENVIRONMENTS}
    for stack, run in evaluations.items():
        assert run.error is None, f"stack {stack} failed to evaluate with a model version: {run.error}"
    return evaluations


@pytest.fixture(scope="session")
def every_run(runs: dict[str, Evaluation], served: dict[str, Evaluation]) -> list[Evaluation]:
    """Every stack, the environments both with and without a model version."""
    return [*runs.values(), *served.values()]
