"""Fixtures: every real stack evaluated once under Pulumi mocks (no Azure, no CLI)."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import pytest

# The fixtures import the program on first use: the xdist controller loads this file too, and
# it starts the workers sooner without importing Pulumi and the provider SDKs for nothing.
if TYPE_CHECKING:
    from offline.evaluate import Evaluation
    from tests.support.evaluations import Evaluations


def pytest_configure(config: pytest.Config) -> None:
    """No garbage collection while the test modules are imported (below)."""
    gc.disable()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once every test module is imported (Pulumi, the provider SDKs, pydantic: millions of
    long-lived objects, which the collector would otherwise walk again and again while they
    are made), move them out of the garbage collector's sight: otherwise each full
    collection walks them all again, about a third of an evaluation's time."""
    gc.enable()
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow_tool` modules first, in their collection order: pytest-xdist hands modules out
    in this order, so the longest start while the other worker takes the short ones."""
    items.sort(key=lambda item: item.get_closest_marker("slow_tool") is None)


@pytest.fixture(scope="session")
def declared_in_applies() -> list[str]:
    """Each resource declared inside an `Output.apply` callback while `runs` and `served`
    were evaluated (tests/test_style.py holds it empty)."""
    return []


@pytest.fixture(scope="session")
def runs(declared_in_applies: list[str]) -> dict[str, Evaluation]:
    """Each stack as a PR preview sees it: no model version passed, none deployed yet."""
    from offline.evaluate import evaluate_all
    from tests.support.evaluations import watching_applies

    with watching_applies(declared_in_applies):
        evaluations = evaluate_all()
    for stack, run in evaluations.items():
        assert run.error is None, f"stack {stack} failed to evaluate: {run.error}"
    return evaluations


@pytest.fixture(scope="session")
def shared(runs: dict[str, Evaluation]) -> Evaluation:
    return runs["shared"]


@pytest.fixture(scope="session")
def served(shared: Evaluation, declared_in_applies: list[str]) -> dict[str, Evaluation]:
    """The environments deployed with model version MODEL_VERSION."""
    from tests.support.evaluations import ENVIRONMENTS, deploy, watching_applies

    with watching_applies(declared_in_applies):
        evaluations = {stack: deploy(stack, shared) for stack in ENVIRONMENTS}
    for stack, run in evaluations.items():
        assert run.error is None, f"stack {stack} failed to evaluate with a model version: {run.error}"
    return evaluations


@pytest.fixture(scope="session")
def every_run(runs: dict[str, Evaluation], served: dict[str, Evaluation]) -> list[Evaluation]:
    """Every stack, the environments both with and without a model version."""
    return [*runs.values(), *served.values()]


@pytest.fixture(scope="session")
def customised(shared: Evaluation) -> Evaluations:
    """Each stack with every setting the "comes from config" tests check changed at once
    (tests/support/evaluations.py, CUSTOM_*): one evaluation per stack for all of them,
    made when a test first asks for it."""
    from offline.evaluate import STACKS
    from tests.support.evaluations import Evaluations, customised_stack

    return Evaluations(STACKS, lambda stack: customised_stack(stack, shared), "customised")


@pytest.fixture(scope="session")
def prod_existing(shared: Evaluation) -> Evaluation:
    """prod on a cluster it looks up instead of creating, with a DNS zone for its entry."""
    from tests.support.evaluations import prod_on_an_existing_cluster

    run = prod_on_an_existing_cluster(shared)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="session")
def prod_preview(shared: Evaluation) -> Evaluation:
    """prod deployed in a preview, where pulumi-command runs no local command."""
    from tests.support.evaluations import deploy

    run = deploy("prod", shared, preview=True)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="session")
def prod_by_someone_else(shared: Evaluation) -> Evaluation:
    """prod's deploy evaluated again, by another identity than the pipelines' (`pulumi up`
    run by hand): the same config must declare the same."""
    from offline import evaluate as offline
    from tests.support.evaluations import deploy

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(offline, "DEPLOYER_OBJECT_ID", "99999999-9999-4999-8999-999999999999")
        run = deploy("prod", shared)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="session")
def served_next(shared: Evaluation, served: dict[str, Evaluation]) -> Evaluations:
    """The environments deployed with model version 8 after `served` (version MODEL_VERSION),
    each made when a test first asks for it."""
    from tests.support.evaluations import ENVIRONMENTS, Evaluations, deploy, self_reference

    def next_deploy(stack: str) -> Evaluation:
        return deploy(stack, shared, version="8", references={self_reference(stack): served[stack]})

    return Evaluations(ENVIRONMENTS, next_deploy, "with version 8")


@pytest.fixture(scope="session")
def shared_preview() -> Evaluation:
    """The shared stack evaluated in a preview."""
    from offline import evaluate as offline

    run = offline.evaluate("shared", preview=True)
    assert run.error is None, run.error
    return run
