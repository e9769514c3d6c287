"""Fixtures: every real stack evaluated once under Pulumi mocks (no Azure, no CLI)."""

from __future__ import annotations

import gc
import itertools
from typing import TYPE_CHECKING

import pytest

# The fixtures import the program on first use: the xdist controller loads this file too, and
# it starts the workers sooner without importing Pulumi and the provider SDKs for nothing.
if TYPE_CHECKING:
    from offline.evaluate import Evaluation
    from tests.support.evaluations import Evaluations
    from tests.support.shelf import Shelf


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> object:
    """No garbage collection while the test modules are imported (Pulumi, the provider SDKs,
    pydantic: millions of long-lived objects, which the collector would walk again and again
    while they are made); once they are, they move out of its sight: otherwise each full
    collection walks them all again, about a third of an evaluation's time."""
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()
        gc.collect()
        gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow_tool` modules first: pytest-xdist hands modules out in this order, so the
    longest start while the other worker takes the short ones. Among them, one that reads the
    shelved evaluations, then one that does not, and so on: the two workers start on different
    work, and the second finds the evaluations made by the time it first needs them."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    slow = [m for m, its in modules.items() if its[0].get_closest_marker("slow_tool")]
    reading = [m for m in slow if any(isinstance(i, pytest.Function) and "shelf" in i.fixturenames for i in modules[m])]
    other = [m for m in slow if m not in reading]
    order = [m for pair in itertools.zip_longest(reading, other) for m in pair if m is not None]
    order += [m for m in modules if m not in slow]
    items[:] = [item for module in order for item in modules[module]]


@pytest.fixture(scope="session")
def shelf(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Shelf:
    """Where the session's evaluations are kept for the other xdist workers: beside their own
    temporary folders (local workers get `<session root>/popen-gwN`), named by this run's id,
    so no other run's values are ever read. Not on an xdist worker: nothing is kept."""
    from tests.support.shelf import Shelf

    worker = getattr(request.config, "workerinput", None)
    if worker is None:
        return Shelf(None)
    return Shelf(tmp_path_factory.getbasetemp().parent / f"shelf-{worker['testrunuid']}")


@pytest.fixture(scope="session")
def declared_in_applies() -> list[str]:
    """Each resource declared inside an `Output.apply` callback while `runs` and `served`
    were evaluated (tests/test_style.py holds it empty)."""
    return []


@pytest.fixture(scope="session")
def runs(declared_in_applies: list[str], shelf: Shelf) -> dict[str, Evaluation]:
    """Each stack as a PR preview sees it: no model version passed, none deployed yet."""
    from offline.evaluate import evaluate_all
    from tests.support.evaluations import succeeded, watching_applies

    def make() -> tuple[dict[str, Evaluation], list[str]]:
        with watching_applies() as found:
            evaluations = evaluate_all()
        return {stack: succeeded(run, f"stack {stack}") for stack, run in evaluations.items()}, found

    evaluations, found = shelf.get("runs", make)
    declared_in_applies.extend(found)
    return evaluations


@pytest.fixture(scope="session")
def shared(runs: dict[str, Evaluation]) -> Evaluation:
    return runs["shared"]


@pytest.fixture(scope="session")
def served(shared: Evaluation, declared_in_applies: list[str], shelf: Shelf) -> dict[str, Evaluation]:
    """The environments deployed with model version MODEL_VERSION."""
    from tests.support.evaluations import ENVIRONMENTS, deploy, succeeded, watching_applies

    def make() -> tuple[dict[str, Evaluation], list[str]]:
        with watching_applies() as found:
            evaluations = {stack: deploy(stack, shared) for stack in ENVIRONMENTS}
        checked = {stack: succeeded(run, f"stack {stack} with a model version") for stack, run in evaluations.items()}
        return checked, found

    evaluations, found = shelf.get("served", make)
    declared_in_applies.extend(found)
    return evaluations


@pytest.fixture(scope="session")
def every_run(runs: dict[str, Evaluation], served: dict[str, Evaluation]) -> list[Evaluation]:
    """Every stack, the environments both with and without a model version."""
    return [*runs.values(), *served.values()]


@pytest.fixture(scope="session")
def customised(shared: Evaluation, shelf: Shelf) -> Evaluations:
    """Each stack with every setting the "comes from config" tests check changed at once
    (tests/support/evaluations.py, CUSTOM_*): one evaluation per stack for all of them,
    made when a test first asks for it."""
    from offline.evaluate import STACKS
    from tests.support.evaluations import Evaluations, customised_stack

    return Evaluations(STACKS, lambda stack: customised_stack(stack, shared), "customised", shelf)


@pytest.fixture(scope="session")
def prod_existing(shared: Evaluation, shelf: Shelf) -> Evaluation:
    """prod on a cluster it looks up instead of creating, with a DNS zone for its entry."""
    from tests.support.evaluations import prod_on_an_existing_cluster, succeeded

    return shelf.get("prod existing", lambda: succeeded(prod_on_an_existing_cluster(shared), "prod existing"))


@pytest.fixture(scope="session")
def prod_preview(shared: Evaluation, shelf: Shelf) -> Evaluation:
    """prod deployed in a preview, where pulumi-command runs no local command."""
    from tests.support.evaluations import deploy, succeeded

    return shelf.get("prod preview", lambda: succeeded(deploy("prod", shared, preview=True), "prod preview"))


@pytest.fixture(scope="session")
def prod_by_someone_else(shared: Evaluation, shelf: Shelf) -> Evaluation:
    """prod's deploy evaluated again, by another identity than the pipelines' (`pulumi up`
    run by hand): the same config must declare the same."""
    from offline import evaluate as offline
    from tests.support.evaluations import deploy, succeeded

    def make() -> Evaluation:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(offline, "DEPLOYER_OBJECT_ID", "99999999-9999-4999-8999-999999999999")
            return succeeded(deploy("prod", shared), "prod by someone else")

    return shelf.get("prod by someone else", make)


@pytest.fixture(scope="session")
def served_next(shared: Evaluation, served: dict[str, Evaluation], shelf: Shelf) -> Evaluations:
    """The environments deployed with model version 8 after `served` (version MODEL_VERSION),
    each made when a test first asks for it."""
    from tests.support.evaluations import ENVIRONMENTS, Evaluations, deploy, self_reference

    def next_deploy(stack: str) -> Evaluation:
        return deploy(stack, shared, version="8", references={self_reference(stack): served[stack]})

    return Evaluations(ENVIRONMENTS, next_deploy, "with version 8", shelf)


@pytest.fixture(scope="session")
def shared_preview(shelf: Shelf) -> Evaluation:
    """The shared stack evaluated in a preview."""
    from offline import evaluate as offline
    from tests.support.evaluations import succeeded

    return shelf.get("shared preview", lambda: succeeded(offline.evaluate("shared", preview=True), "shared preview"))
