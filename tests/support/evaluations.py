"""The real stacks as the tests evaluate them under Pulumi mocks: a deploy's evaluation and the
overrides several test modules build on. The session-wide evaluations are fixtures in
tests/conftest.py."""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi
import pytest

from components.types import PROJECT
from offline.evaluate import (
    LOCAL_ORGANIZATION,
    SHARED,
    STACKS,
    SUBSCRIPTION_ID,
    Evaluation,
    environment_table,
    evaluate,
    shared_stack_name,
    stack_config,
)
from offline.plan import DOCS_MODEL_VERSION
from tests.support.shelf import Shelf

# The version docs/architecture.md shows the environments serving: the session's deploys are
# then the very evaluations the docs are generated from (tests/test_plan.py reuses them).
MODEL_VERSION = DOCS_MODEL_VERSION
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


def section(stack: str, name: str) -> dict[str, Any]:
    """The `name` section of Pulumi.<stack>.yaml's config ({} when it has none)."""
    config, _ = stack_config(stack)
    return json.loads(config.get(f"{PROJECT}:{name}", "{}"))


def prod_aks(*, keep_file: bool = True, **changes: Any) -> dict[str, str]:
    """An override of prod's `aks` section: `changes` on top of Pulumi.prod.yaml's section, or
    with `keep_file=False` on top of its required `ingress` alone (every other key defaults)."""
    aks = section("prod", "aks")
    base = aks if keep_file else {"ingress": aks["ingress"]}
    return {f"{PROJECT}:aks": json.dumps({**base, **changes})}


def shared_devops() -> dict[str, Any]:
    """The shared stack's `devops` section as Pulumi.shared.yaml sets it."""
    return section(SHARED, "devops")


def self_reference(stack: str) -> str:
    """The stack reference an environment reads its own last deployment through."""
    return f"{LOCAL_ORGANIZATION}/{PROJECT}/{stack}"


# --- one customised evaluation per stack -------------------------------------------------
# Each "X comes from config" test needs the stack evaluated with X set to a value neither its
# default nor the committed stack file has, and asserts only that X reached the resources.
# One evaluation per stack sets them all at once (tests/conftest.py, `customised`): every
# value below differs from both, so each test still fails when its key stops flowing.

PROD_ZONE = (
    f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-digitre-prod/providers/Microsoft.Network/dnszones/digitre.com"
)
CRYPTO_OFFICERS = {"11111111-2222-3333-4444-555555555555": "User", "66666666-7777-8888-9999-000000000000": "Group"}
SECRETS_OFFICERS = {"22222222-3333-4444-5555-666666666666": "User", "77777777-8888-9999-0000-111111111111": "Group"}
APPROVER_GROUPS = ["ML Leads", "Release Managers"]
CUSTOM_SHARED: dict[str, Any] = {
    "location": "swedencentral",
    "prefix": "acme",
    "registry": {"sku": "Standard"},
    "monitoring": {"retentionDays": 90},
    "keyVault": {"softDeleteRetentionDays": 30},
    "amlCompute": {
        "name": "gpu-train",
        "vmSize": "Standard_NC6s_v3",
        "maxNodes": 2,
        "idleSecondsBeforeScaleDown": 900,
        "lowPriority": True,
    },
    # On top of the stack file's own devops section.
    "devops": {
        "createProject": True,
        "approverGroups": APPROVER_GROUPS,
        "keyVaultCryptoOfficers": CRYPTO_OFFICERS,
        "keyVaultSecretsOfficers": SECRETS_OFFICERS,
    },
}

# A non-default image: repository and registered model name (the pipeline derives the same).
CUSTOM_IMAGE = {"repository": "pricing/valuation-engine", "modelName": "Valuation_Model"}
DEPLOYER_USER = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
DEPLOYER_GROUP = "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
ADMIN_GROUP = "2b3c4d5e-6f70-4a8b-9c0d-1e2f3a4b5c6e"
# prod's `aks` section on top of nothing but defaults: a new cluster, every setting changed.
CUSTOM_PROD_AKS: dict[str, Any] = {
    "ingress": {"host": "price.digitre.com", "certificateName": "price-tls", "dnsZoneId": PROD_ZONE},
    "namespace": "engine",
    "accessWait": {"attempts": 60, "intervalSeconds": 10},
    "deployers": [
        {"objectId": DEPLOYER_USER, "principalType": "User"},
        {"objectId": DEPLOYER_GROUP, "principalType": "Group"},
    ],
    "adminGroupObjectIds": [ADMIN_GROUP],
    "userPool": {"minCount": 3, "maxCount": 9},
    "upgradeChannel": "patch",
    "minReplicas": 3,
    "maxReplicas": 10,
    "helmTimeoutSeconds": 900,
}
# The `serving` section of each environment, on top of its stack file's.
CUSTOM_SERVING: dict[str, dict[str, Any]] = {
    "dev": {"port": 8080, "healthPath": "/healthz", "scorePath": "/predict", "cpu": 2, "memoryGb": 4, **CUSTOM_IMAGE},
    "qa": {**CUSTOM_IMAGE},
    "prod": {"cpu": 0.5, "memoryGb": 1.5, **CUSTOM_IMAGE},
}
CUSTOM_QA_ACI = {"dnsNameLabelReuse": "NoReuse", "restartPolicy": "OnFailure"}
# qa reads the shared stack through another reference name.
CUSTOM_QA_SHARED_STACK = "acme/digitre-mlops/shared"


def customised_overrides(stack: str) -> dict[str, str]:
    """The config overrides of `stack`'s customised evaluation."""
    if stack == SHARED:
        values = {**CUSTOM_SHARED, "devops": {**section(SHARED, "devops"), **CUSTOM_SHARED["devops"]}}
        return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    overrides = {f"{PROJECT}:serving": json.dumps({**section(stack, "serving"), **CUSTOM_SERVING[stack]})}
    if stack == "prod":
        overrides.update(prod_aks(keep_file=False, **CUSTOM_PROD_AKS))
    if stack == "qa":
        overrides[f"{PROJECT}:aci"] = json.dumps(CUSTOM_QA_ACI)
        overrides[f"{PROJECT}:sharedStack"] = CUSTOM_QA_SHARED_STACK
    return overrides


def customised_stack(stack: str, shared: Evaluation) -> Evaluation:
    """`stack` evaluated with every setting of CUSTOM_* (environments deployed with
    MODEL_VERSION, reading the committed shared stack's outputs)."""
    if stack == SHARED:
        return evaluate(SHARED, overrides=customised_overrides(SHARED))
    references = {CUSTOM_QA_SHARED_STACK: shared} if stack == "qa" else {}
    return deploy(stack, shared, overrides=customised_overrides(stack), references=references)


def prod_on_an_existing_cluster(shared: Evaluation) -> Evaluation:
    """prod looking up a cluster it does not own, its HTTPS entry keeping a DNS zone."""
    existing = {"name": "aks-platform", "resourceGroup": "rg-platform-aks"}
    ingress = {**section("prod", "aks")["ingress"], "dnsZoneId": PROD_ZONE}
    return deploy("prod", shared, overrides=prod_aks(existingCluster=existing, ingress=ingress))


# Set while an apply's callback runs: a resource declared then is missing from previews.
_IN_APPLY: contextvars.ContextVar[bool] = contextvars.ContextVar("in_apply", default=False)


@contextlib.contextmanager
def watching_applies(born: list[str] | None = None) -> Iterator[list[str]]:
    """While inside: each resource declared within an `Output.apply` callback, as "<type> <name>",
    appended to `born` (a new list unless given), which is yielded."""
    found: list[str] = [] if born is None else born
    apply, resource_init = pulumi.Output.apply, pulumi.Resource.__init__

    def watched_apply(self, func, run_with_unknowns=False):  # type: ignore[no-untyped-def]
        def flagged(value):  # type: ignore[no-untyped-def]
            token = _IN_APPLY.set(True)
            try:
                return func(value)
            finally:
                _IN_APPLY.reset(token)

        return apply(self, flagged, run_with_unknowns)

    def watched_init(self, t, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if _IN_APPLY.get():
            found.append(f"{t} {name}")
        resource_init(self, t, name, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pulumi.Output, "apply", watched_apply)
        patch.setattr(pulumi.Resource, "__init__", watched_init)
        yield found


def succeeded(run: Evaluation, what: str) -> Evaluation:
    """`run`, which must have evaluated without an error."""
    assert run.error is None, f"{what} failed to evaluate: {run.error}"
    return run


class Evaluations(Mapping[str, Evaluation]):
    """Stacks evaluated on first use, each once: a test worker that needs one stack's run does
    not pay for the others (and finds it on the shelf when another worker made it first)."""

    def __init__(self, stacks: tuple[str, ...], make: Callable[[str], Evaluation], what: str, shelf: Shelf):
        self._stacks, self._make, self._what, self._shelf = stacks, make, what, shelf
        self._done: dict[str, Evaluation] = {}

    def __getitem__(self, stack: str) -> Evaluation:
        if stack not in self._stacks:
            raise KeyError(stack)
        if stack not in self._done:
            self._done[stack] = self._shelf.get(f"{stack} {self._what}", lambda: self._made(stack))
        return self._done[stack]

    def _made(self, stack: str) -> Evaluation:
        return succeeded(self._make(stack), f"stack {stack} {self._what}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._stacks)

    def __len__(self) -> int:
        return len(self._stacks)
