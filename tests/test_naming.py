"""Every physical name of every stack obeys Azure's rules; every taggable resource is tagged."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from components.config.errors import ConfigError
from components.naming import RULES, Names
from components.types import PROJECT
from offline.evaluate import evaluate
from tests.support.evaluations import CUSTOM_SHARED

# The kind of name (a row of components/naming.py's RULES) each resource's own name is.
KIND = {
    "azure-native:resources:ResourceGroup": "resource_group",
    "azure-native:operationalinsights:Workspace": "log_analytics",
    "azure-native:applicationinsights:Component": "app_insights",
    "azure-native:storage:StorageAccount": "storage_account",
    "azure-native:keyvault:Vault": "key_vault",
    "azure-native:containerregistry:Registry": "container_registry",
    "azure-native:machinelearningservices:Workspace": "ml_workspace",
    "azure-native:machinelearningservices:Compute": "ml_compute",
    "azure-native:managedidentity:UserAssignedIdentity": "user_assigned_identity",
    "azure-native:containerinstance:ContainerGroup": "container_group",
    "azure-native:containerservice:ManagedCluster": "aks_cluster",
    "azure-native:monitor:DataCollectionRule": "aks_insights_rule",
}
# Names that are not the resource's own but must obey a rule too: (type, input path, kind).
SECONDARY_NAMES = [
    ("azure-native:containerservice:ManagedCluster", ("dnsPrefix",), "aks_dns_prefix"),
    ("azure-native:containerservice:ManagedCluster", ("nodeResourceGroup",), "aks_node_resource_group"),
    ("azure-native:containerinstance:ContainerGroup", ("ipAddress", "dnsNameLabel"), "dns_name_label"),
]
# Names the code spells as constants and checks nowhere else, so their Azure rule lives here
# (sources in docs/assumptions.md where a row relies on them).
CONSTANT_NAME_RULES = {
    # 3-120 letters, digits, hyphens and underscores, starting with a letter or digit.
    "azure-native:managedidentity:FederatedIdentityCredential": r"[A-Za-z0-9][\w-]{2,119}",
    # Linux node pools: 1-12 lowercase letters and digits, starting with a letter.
    "azure-native:containerservice:AgentPool": r"[a-z][a-z0-9]{0,11}",
    # The one name Container Insights' association takes (tests/test_aks.py pins it).
    "azure-native:monitor:DataCollectionRuleAssociation": r"ContainerInsightsExtension",
    # Key Vault object names: 1-127 letters, digits and hyphens.
    "azure-native:keyvault:Secret": r"[A-Za-z0-9-]{1,127}",
    # A role definition's name is a GUID.
    "azure-native:authorization:RoleDefinition": r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}",
}
GLOBALLY_UNIQUE = (
    "azure-native:storage:StorageAccount",
    "azure-native:keyvault:Vault",
    "azure-native:containerregistry:Registry",
)
# Role assignments are named by a GUID the provider generates; they carry no tags.
UNNAMED = {"azure-native:authorization:RoleAssignment"}
# Resources Azure does not tag.
UNTAGGABLE = UNNAMED | {
    "azure-native:managedidentity:FederatedIdentityCredential",
    "azure-native:monitor:DataCollectionRuleAssociation",
    "azure-native:authorization:RoleDefinition",
}


def test_every_name_of_every_stack_obeys_the_rule_of_its_kind(every_run):
    """Every resource of every stack, the environments with and without a model version: its
    name, and the names it gives Azure in its inputs, obey the rule the code holds for them."""
    broken: list[str] = []
    checked: Counter[str] = Counter()
    for resource in (r for run in every_run for r in run.azure_resources):
        if resource.type in UNNAMED:
            continue
        name = resource.physical_name
        assert name, f"{resource.name} ({resource.type}) has no explicit physical name"
        if resource.type in KIND:
            rule = RULES[KIND[resource.type]]
            ok, described = rule.check(name), rule.description
        else:
            assert resource.type in CONSTANT_NAME_RULES, f"no naming rule known for {resource.type}: add one"
            ok, described = re.fullmatch(CONSTANT_NAME_RULES[resource.type], name) is not None, "its Azure rule"
        if not ok:
            broken.append(f"{resource.type} name {name!r}: {described}")
        checked[resource.type] += 1
        for type_, path, kind in SECONDARY_NAMES:
            if resource.type == type_:
                value = resource.inputs
                for part in path:
                    value = value[part]
                if not RULES[kind].check(value):
                    broken.append(f"{type_} {'.'.join(path)} {value!r}: {RULES[kind].description}")
                checked[kind] += 1
        for pool in resource.inputs.get("agentPoolProfiles", ()):
            if not re.fullmatch(CONSTANT_NAME_RULES["azure-native:containerservice:AgentPool"], pool["name"]):
                broken.append(f"{resource.type} agentPoolProfiles name {pool['name']!r}")
    assert broken == [], "\n".join(broken)
    # Every kind of name was met, so no rule above is dead.
    assert set(KIND) | set(CONSTANT_NAME_RULES) <= set(checked), (set(KIND) | set(CONSTANT_NAME_RULES)) - set(checked)
    assert {kind for _, _, kind in SECONDARY_NAMES} <= set(checked)


def test_each_rule_takes_exactly_the_lengths_its_description_gives():
    """The lengths a rule's message promises (the ones its ledger row states) are the ones its
    pattern takes: the shortest and longest accepted, one fewer and one more refused."""
    wrong = []
    for kind, rule in RULES.items():
        lengths = re.match(r"(\d+)-(\d+) ", rule.description)
        assert lengths, f"{kind}: the description gives no length range: {rule.description}"
        low, high = int(lengths[1]), int(lengths[2])
        if not (rule.check("a" * low) and rule.check("a" * high)):
            wrong.append(f"{kind}: refuses {low} or {high} characters ({rule.description})")
        if rule.check("a" * (low - 1)) or rule.check("a" * (high + 1)):
            wrong.append(f"{kind}: takes {low - 1} or {high + 1} characters ({rule.description})")
    assert wrong == [], "\n".join(wrong)


def test_every_taggable_resource_carries_the_stack_tags(every_run):
    for run in every_run:
        check_tags(run)


def check_tags(run):
    expected = {
        "project": PROJECT,
        "environment": run.stack,
        "managed-by": "pulumi",
        "owner": "ml-platform@digitre.com",
        "cost-center": "digitre-ml",
    }
    environment_groups = {f"{env}-rg": env for env in ("dev", "qa", "prod")} if run.stack == "shared" else {}
    for resource in run.azure_resources:
        if resource.name in environment_groups:
            assert resource.inputs["tags"] == {**expected, "environment": environment_groups[resource.name]}
            continue
        if resource.type in UNTAGGABLE:
            assert "tags" not in resource.inputs
        else:
            assert resource.inputs.get("tags") == expected, resource.name


def test_globally_unique_names_are_stable_across_runs(shared, shared_preview):
    again = shared_preview  # another evaluation of the same stack
    for type_ in GLOBALLY_UNIQUE:
        assert again.one(type_).physical_name == shared.one(type_).physical_name


def test_a_fork_with_its_own_prefix_gets_its_own_global_names(shared, customised):
    assert CUSTOM_SHARED["prefix"] == "acme"
    other = customised["shared"]  # with another prefix, among other settings
    for type_ in GLOBALLY_UNIQUE:
        assert other.one(type_).physical_name != shared.one(type_).physical_name


def names_for(stack: str, prefix: str = "digitre") -> Names:
    return Names.for_stack(prefix, stack, "westeurope", ml_compute="cpu-cluster")


def test_global_suffix_differs_per_stack_and_is_deterministic():
    assert names_for("shared").storage_account[-6:] != names_for("dev").storage_account[-6:]
    assert names_for("qa").key_vault[-6:] != names_for("prod").key_vault[-6:]
    assert names_for("dev") == names_for("dev")


def test_longest_allowed_prefix_and_stack_still_fit():
    names = names_for("abcdefgh", prefix="zyxwvuts")
    assert len(names.storage_account) == 24
    assert len(names.key_vault) == 24
    names.check()


@pytest.mark.parametrize("name", ["cpu-1", "gpu-2-3"])
def test_a_compute_name_azure_ml_refuses_is_a_config_error(name):
    # Config's own pattern lets these through; Azure ML refuses a hyphen no letter follows.
    run = evaluate("shared", overrides={f"{PROJECT}:amlCompute": f'{{"name": "{name}"}}'})
    assert isinstance(run.error, ConfigError)
    (problem,) = run.error.problems
    assert problem.startswith(f"{PROJECT}:amlCompute.name {name!r} breaks Azure's rule: ")
    assert "every - followed later by a letter" in problem
    assert run.resources == []


def test_compute_name_rule_is_what_both_of_microsofts_pages_allow():
    rule = RULES["ml_compute"]
    for good in ("cpu-cluster", "cpu", "a-b", "x-1-b", "gpu-v100", "c" * 16):
        assert rule.check(good), good
    for bad in ("cp", "c" * 17, "1cpu", "cpu-", "cpu-1", "cpu_cluster", "cpu.cluster"):
        assert not rule.check(bad), bad
