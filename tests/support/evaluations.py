"""The real stacks as the tests evaluate them under Pulumi mocks: a deploy's evaluation and the
overrides several test modules build on. The session-wide evaluations are fixtures in
tests/conftest.py."""

from __future__ import annotations

import json
from typing import Any

import yaml

from components.types import PROJECT
from offline.evaluate import ROOT, STACKS, Evaluation, environment_table, evaluate, shared_stack_name, stack_config

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


def shared_devops() -> dict[str, Any]:
    """The shared stack's `devops` section as Pulumi.shared.yaml sets it."""
    return yaml.safe_load((ROOT / "Pulumi.shared.yaml").read_text())["config"][f"{PROJECT}:devops"]
