"""Lifecycle: a change Azure cannot apply in place replaces its resource (or is refused at
preview, for a protected one), and every resource that holds data or wiring is protected.

The rules come from docs/assumptions.md, "Changes Azure cannot apply in place": each row
names a resource type and the input paths Azure will not update, and the tests hold the
evaluated stacks to them. How the engine decides on a replacement (a `replace_on_changes`
path containing a changed input) is modelled here after its source, cited in the same
section, and a stack is evaluated twice, before and after a config change, to see what
the engine would do with the difference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest

from components.lifecycle import MAY_GO, PROTECTED
from components.types import PROJECT
from offline.evaluate import Evaluation, Registration, evaluate
from tests.support import ledger
from tests.support.evaluations import MODEL_VERSION, deploy, prod_aks, section
from tests.support.provider_sdk import referenced, sdk_args, wire_properties

SECTION = "Changes Azure cannot apply in place"
COMPUTE = "azure-native:machinelearningservices:Compute"
VAULT = "azure-native:keyvault:Vault"
CLUSTER = "azure-native:containerservice:ManagedCluster"
POOL = "azure-native:containerservice:AgentPool"
ACI = "azure-native:containerinstance:ContainerGroup"

Path = tuple[str | int, ...]


def row(starts: str) -> ledger.Row:
    (found,) = [r for r in ledger.rows(SECTION) if r.fact.startswith(starts)]
    return found


def parse(path: str) -> Path:
    """An engine property path (`a.b`, `a[0]`, `a[*]`) as its elements; `*` stays a string."""
    elements: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[([^\]]+)\]", path):
        if name:
            elements.append(name)
        else:
            elements.append("*" if index == "*" else int(index))
    return tuple(elements)


def contains(pattern: Path, path: Path) -> bool:
    """The engine's `PropertyPath.Contains`: `path` lies at or under `pattern`, where `*`
    matches any key or index at its level."""
    if len(path) < len(pattern):
        return False
    return all(p == "*" or p == q for p, q in zip(pattern, path, strict=False))


def leaves(value: Any, prefix: Path = ()) -> list[Path]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, (*prefix, key))]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in leaves(item, (*prefix, i))]
    return [prefix]


def changed(old: Any, new: Any, prefix: Path = ()) -> list[Path]:
    """The keys of a detailed diff of two inputs, as pulumi-azure-native's differ names them:
    object keys and array indexes down to the leaves that differ, added or went away."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [path for key in old.keys() | new.keys() for path in changed(old.get(key), new.get(key), (*prefix, key))]
    if isinstance(old, list) and isinstance(new, list):
        return [
            path
            for i in range(max(len(old), len(new)))
            for path in changed(old[i] if i < len(old) else None, new[i] if i < len(new) else None, (*prefix, i))
        ]
    return [] if old == new else [prefix]


def replaced(before: Registration, after: Registration) -> bool:
    """Whether the engine turns the difference into a replacement through `replace_on_changes`
    (replacements the provider decides itself are not modelled)."""
    patterns = [parse(p) for p in after.replace_on_changes]
    diff = changed(before.inputs, after.inputs)
    assert diff, f"{after.name}: the change made no difference to its inputs"
    return any(contains(p, key) for p in patterns for key in diff)


def declared(runs: list[Evaluation], type_: str) -> list[Registration]:
    found = [r for run in runs for r in run.of_type(type_)]
    assert found, f"no stack declares a {type_}: the ledger row names nothing"
    return found


@pytest.fixture(scope="module")
def variants(customised: Mapping[str, Evaluation], prod_existing: Evaluation) -> list[Evaluation]:
    """Stacks as other config shapes them: every stack customised (among others a created
    DevOps project, deployers, a DNS zone), and prod on an existing cluster."""
    assert customised["shared"].of_type("azuredevops:index/project:Project")
    return [*customised.values(), prod_existing]


@pytest.fixture(scope="module")
def all_runs(every_run: list[Evaluation], variants: list[Evaluation]) -> list[Evaluation]:
    return [*every_run, *variants]


def test_a_replace_path_contains_the_diff_keys_under_it_and_nothing_else():
    fact = row("Pulumi's `replace_on_changes`").fact
    assert "`*` matches any key or index" in fact
    pattern = parse("agentPoolProfiles[*].vmSize")
    assert pattern == ("agentPoolProfiles", "*", "vmSize")
    assert contains(pattern, parse("agentPoolProfiles[0].vmSize"))
    assert not contains(pattern, parse("agentPoolProfiles[0].count"))
    assert not contains(pattern, parse("agentPoolProfiles"))
    assert contains(parse("containers[*].resources"), parse("containers[0].resources.requests.cpu"))


def test_the_properties_azure_cannot_update_replace_their_resource(all_runs):
    rows = [r for r in ledger.rows(SECTION) if " On `" in r.fact]
    assert len(rows) >= 3
    for entry in rows:
        match = re.search(r" On `([^`]+)` (?:that is|those are) (.+)$", entry.fact)
        assert match, f"the ledger row no longer names a type and its paths: {entry.fact}"
        type_, paths = match.group(1), ledger.quoted(match.group(2))
        assert paths
        for resource in declared(all_runs, type_):
            missing = set(paths) - set(resource.replace_on_changes)
            assert not missing, f"{resource.name} ({type_}) is updated in place on {sorted(missing)}"


def test_every_compute_setting_but_its_scale_replaces_the_cluster(shared):
    fact = row("Azure ML's compute update").fact
    (updatable,) = re.findall(r"updatable in place: `([^`]+)`", fact)
    compute = shared.one(COMPUTE)
    patterns = [parse(p) for p in compute.replace_on_changes]
    settings = leaves(compute.inputs["properties"], ("properties",))
    assert any(contains(parse(updatable), leaf) for leaf in settings)
    for leaf in settings:
        covered = any(contains(p, leaf) for p in patterns)
        if contains(parse(updatable), leaf):
            assert not covered, f"{leaf}: a scale change would replace the cluster"
        else:
            assert covered, f"{leaf}: a change would be sent, accepted and not applied"


def _with(stack: str, key: str, **changes: Any) -> dict[str, str]:
    return {f"{PROJECT}:{key}": json.dumps({**section(stack, key), **changes})}


# The stacks evaluated after a config change: changes on different resources share one
# evaluation (each change is judged on its own resource's inputs alone); two changes of the
# same resource never do. "new version" is the deploy of model version 8 (`served_next`).
CHANGED_RUNS = {
    "shared compute VM size and vault retention": (
        "shared",
        lambda: {
            **_with("shared", "amlCompute", vmSize="Standard_E4ds_v5"),
            **_with("shared", "keyVault", softDeleteRetentionDays=30),
        },
    ),
    "shared compute priority": ("shared", lambda: _with("shared", "amlCompute", lowPriority=True)),
    "shared compute scale": ("shared", lambda: _with("shared", "amlCompute", maxNodes=9)),
    "dev restart policy": ("dev", lambda: _with("dev", "aci", restartPolicy="OnFailure")),
    "dev CPU": ("dev", lambda: _with("dev", "serving", cpu=2)),
    "prod system pool VM size": ("prod", lambda: prod_aks(systemPool={"vmSize": "Standard_D8ds_v5"})),
    "prod system pool bounds": ("prod", lambda: prod_aks(systemPool={"minCount": 2, "maxCount": 5})),
}

# change: (the evaluation after it, resource type, whether Azure can apply the change in place)
CHANGES = {
    "compute VM size": ("shared compute VM size and vault retention", COMPUTE, False),
    "compute priority": ("shared compute priority", COMPUTE, False),
    "compute scale": ("shared compute scale", COMPUTE, True),
    "vault retention": ("shared compute VM size and vault retention", VAULT, False),
    "ACI restart policy": ("dev restart policy", ACI, False),
    "ACI CPU": ("dev CPU", ACI, False),
    "ACI image": ("new version", ACI, True),
    "system pool VM size": ("prod system pool VM size", CLUSTER, False),
    "system pool bounds": ("prod system pool bounds", CLUSTER, True),
}


@pytest.fixture(scope="module")
def changed_runs(shared: Evaluation, served_next: Mapping[str, Evaluation]) -> dict[str, Evaluation]:
    evaluations = {"new version": served_next["dev"]}
    for label, (stack, overrides) in CHANGED_RUNS.items():
        if stack == "shared":
            evaluations[label] = evaluate(stack, overrides=overrides())
        else:
            evaluations[label] = deploy(stack, shared, version=MODEL_VERSION, overrides=overrides())
    return evaluations


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_config_change_azure_cannot_apply_is_a_replacement_or_refused(change, shared, served, changed_runs):
    label, type_, in_place = CHANGES[change]
    after = changed_runs[label]
    before = shared if after.stack == "shared" else served[after.stack]
    assert after.error is None, after.error
    old, new = before.one(type_), after.one(type_)
    assert replaced(old, new) is not in_place
    if not in_place:
        # Pulumi refuses, at preview, to replace a protected resource; anything else it
        # replaces deletes first, as its name is fixed.
        assert new.protect or new.delete_before_replace


def test_a_replaceable_resource_with_a_fixed_name_deletes_first_or_is_protected(all_runs):
    fact = row("pulumi-azure-native replaces").fact
    assert "cannot create already existing resource" in fact
    replaceable = [r for run in all_runs for r in run.azure_resources if r.replace_on_changes]
    assert {r.type for r in replaceable} >= {COMPUTE, ACI, CLUSTER, VAULT}
    for resource in replaceable:
        assert resource.physical_name, f"{resource.name}: no fixed name to check"
        assert resource.delete_before_replace or resource.protect, resource.name


def test_the_vault_is_never_replaced_delete_first(shared):
    fact = row("A Key Vault's soft-delete").fact
    assert "soft-deleted vault cannot be reused" in fact
    vault = shared.one(VAULT)
    # Deleting first would free nothing: the name stays taken, and the vault is gone.
    assert vault.protect and not vault.delete_before_replace


def test_the_engine_pool_is_replaced_by_the_provider_and_deletes_first(served):
    fact = row("AKS cannot change the VM size").fact
    assert re.search(r"replaces a standalone `AgentPool` on `vmSize` itself", fact)
    pool = served["prod"].one(POOL)
    assert "vmSize" not in pool.replace_on_changes  # the provider's own decision, not repeated
    assert pool.delete_before_replace and not pool.protect


def _names_a_provider_input(token: str, path: str) -> bool:
    mod, args = sdk_args(token)
    annotations = [wire_properties(args).get(str(parse(path)[0]))]
    for element in parse(path)[1:]:
        if element == "*" or isinstance(element, int):
            continue  # an array's items: the annotation names their class already
        found = []
        for annotation in annotations:
            classes, _ = referenced(annotation, mod)
            found += [wire_properties(c)[element] for c in classes if element in wire_properties(c)]
        annotations = found
    return bool(annotations) and annotations[0] is not None


def test_every_replace_on_changes_path_names_a_provider_input(all_runs):
    # A path the provider has no input for would never match a diff, and so never replace.
    assert not _names_a_provider_input(COMPUTE, "properties.vmSize")
    assert not _names_a_provider_input(ACI, "containers[*].resource")
    checked = 0
    for run in all_runs:
        for resource in run.azure_resources:
            for path in resource.replace_on_changes:
                assert _names_a_provider_input(resource.type, path), f"{resource.name}: {path}"
                checked += 1
    assert checked >= 10


def _custom_types(runs: list[Evaluation]) -> set[str]:
    return {r.type for run in runs for r in run.resources if r.custom and not r.type.startswith("pulumi:providers:")}


def test_every_declared_resource_type_has_one_protection_decision(all_runs):
    declared_types = _custom_types(all_runs)
    assert not PROTECTED.keys() & MAY_GO.keys()
    undecided = declared_types - PROTECTED.keys() - MAY_GO.keys()
    assert not undecided, f"say in components/lifecycle.py whether these are protected: {sorted(undecided)}"
    # The table describes what exists, nothing else.
    assert PROTECTED.keys() | MAY_GO.keys() <= declared_types


def test_each_resource_is_protected_exactly_when_the_table_says(all_runs):
    for run in all_runs:
        for resource in run.resources:
            if resource.custom and not resource.type.startswith("pulumi:providers:"):
                assert resource.protect is (resource.type in PROTECTED), f"{run.stack} {resource.name}"


def test_the_shared_stack_protects_what_holds_logs_secrets_models_and_images(shared):
    data = {
        "azure-native:operationalinsights:Workspace",
        "azure-native:applicationinsights:Component",
        VAULT,
        "azure-native:storage:StorageAccount",
        "azure-native:containerregistry:Registry",
        "azure-native:machinelearningservices:Workspace",
    }
    for type_ in data:
        assert all(r.protect for r in declared([shared], type_)), type_


@pytest.mark.parametrize("stack", ["dev", "qa"])
def test_dev_and_qa_protect_nothing_so_a_destroy_removes_them(runs, served, stack):
    assert served[stack].resources
    for run in (runs[stack], served[stack]):
        assert not [r.name for r in run.resources if r.protect or r.retain_on_delete]
