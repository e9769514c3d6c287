"""Fixtures: every real stack evaluated once under Pulumi mocks (no Azure, no CLI)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import PROJECT
from offline.evaluate import (
    STACKS,
    Evaluation,
    environment_table,
    evaluate,
    evaluate_all,
    shared_stack_name,
    stack_config,
)

MODEL_VERSION = "7"
ENVIRONMENTS = STACKS[1:]
# The resource that serves the model in each environment, by the platform the shared stack's
# table gives it.
WORKLOAD = {
    env: {"aci": "azure-native:containerinstance:ContainerGroup", "aks": "kubernetes:helm.sh/v3:Release"}[
        spec.serving_platform
    ]
    for env, spec in environment_table().items()
}


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


def deploy(stack: str, shared: Evaluation, version: str | None = MODEL_VERSION, **kwargs) -> Evaluation:
    """An environment evaluated as a deploy pipeline runs it: with `modelVersion` set."""
    overrides = dict(kwargs.pop("overrides", {}))
    if version is not None:
        overrides[f"{PROJECT}:modelVersion"] = version
    references = {shared_stack_name(stack): shared, **kwargs.pop("references", {})}
    run = evaluate(stack, overrides=overrides, references=references, **kwargs)
    return run


def prod_aks(*, keep_file: bool = True, **changes: Any) -> dict[str, str]:
    """An override of prod's `aks` section: `changes` on top of Pulumi.prod.yaml's section, or
    with `keep_file=False` on top of its required `ingress` alone (every other key defaults)."""
    config, _ = stack_config("prod")
    section = json.loads(config[f"{PROJECT}:aks"])
    base = section if keep_file else {"ingress": section["ingress"]}
    return {f"{PROJECT}:aks": json.dumps({**base, **changes})}


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
