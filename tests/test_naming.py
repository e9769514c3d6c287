"""Every physical name of every stack obeys Azure's rules; every taggable resource is tagged."""

from __future__ import annotations

import re

import pytest

from components.config import PROJECT, ConfigError, StackConfig
from components.naming import RULES, Names
from offline.evaluate import evaluate

# Azure's naming rules, written out here independently of components/naming.py.
AZURE_RULES = {
    "azure-native:resources:ResourceGroup": r"[-\w.()]{0,89}[-\w()]",
    "azure-native:operationalinsights:Workspace": r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]",
    "azure-native:applicationinsights:Component": r"[^%&\\?/]{1,260}",
    "azure-native:storage:StorageAccount": r"[a-z0-9]{3,24}",
    "azure-native:keyvault:Vault": r"(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]",
    "azure-native:containerregistry:Registry": r"[A-Za-z0-9]{5,50}",
    "azure-native:machinelearningservices:Workspace": r"[A-Za-z0-9][A-Za-z0-9-]{2,32}",
    # 3-16 (both of Microsoft's pages), starting with a letter, not ending in - and digits.
    "azure-native:machinelearningservices:Compute": r"(?=.{3,16}$)(?!.*-[0-9]*$)[A-Za-z][A-Za-z0-9-]*",
    "azure-native:managedidentity:UserAssignedIdentity": r"[A-Za-z0-9][A-Za-z0-9-]{2,127}",
    "azure-native:managedidentity:FederatedIdentityCredential": r"[A-Za-z0-9][\w-]{2,119}",
    "azure-native:containerinstance:ContainerGroup": r"(?!.*--)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
    "azure-native:containerservice:ManagedCluster": r"[A-Za-z0-9]([\w-]{0,61}[A-Za-z0-9])?",
    # Linux node pools: 1-12 lowercase letters and digits, starting with a letter.
    "azure-native:containerservice:AgentPool": r"[a-z][a-z0-9]{0,11}",
    # At most 64 (Microsoft's Container Insights templates cut the name there).
    "azure-native:monitor:DataCollectionRule": r"[A-Za-z0-9][A-Za-z0-9-]{0,62}[A-Za-z0-9]",
    # The one name Container Insights' association takes.
    "azure-native:monitor:DataCollectionRuleAssociation": r"ContainerInsightsExtension",
    # Key Vault object names: 1-127 letters, digits and hyphens, starting with a letter.
    "azure-native:keyvault:Secret": r"[A-Za-z][A-Za-z0-9-]{0,126}",
    # A role definition's name is a GUID.
    "azure-native:authorization:RoleDefinition": r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}",
}
# Names that are not the resource's own but must obey a rule too: (type, input path, rule).
SECONDARY_NAMES = [
    ("azure-native:containerservice:ManagedCluster", ("dnsPrefix",), r"[A-Za-z0-9]([A-Za-z0-9-]{0,52}[A-Za-z0-9])?"),
    ("azure-native:containerservice:ManagedCluster", ("nodeResourceGroup",), r"[-\w.()]{0,79}[-\w()]"),
    ("azure-native:containerinstance:ContainerGroup", ("ipAddress", "dnsNameLabel"), r"[a-z][a-z0-9-]{1,61}[a-z0-9]"),
]
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


def test_every_azure_name_obeys_its_rule(every_run):
    checked = 0
    for resource in (r for run in every_run for r in run.azure_resources):
        if resource.type in UNNAMED:
            continue
        assert resource.type in AZURE_RULES, f"no naming rule known for {resource.type}: add one"
        name = resource.physical_name
        assert name, f"{resource.name} ({resource.type}) has no explicit physical name"
        assert re.fullmatch(AZURE_RULES[resource.type], name), f"{resource.type} name {name!r} breaks Azure's rule"
        checked += 1
    assert checked >= len(AZURE_RULES)


def test_secondary_names_obey_their_rules(every_run):
    seen = 0
    for type_, path, rule in SECONDARY_NAMES:
        for resource in (r for run in every_run for r in run.of_type(type_)):
            value = resource.inputs
            for part in path:
                value = value[part]
            assert re.fullmatch(rule, value), f"{type_} {'.'.join(path)} {value!r} breaks Azure's rule"
            seen += 1
    assert seen >= len(SECONDARY_NAMES)


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


def test_globally_unique_names_are_stable_across_runs(shared):
    again = evaluate("shared")
    for type_ in GLOBALLY_UNIQUE:
        assert again.one(type_).physical_name == shared.one(type_).physical_name


def test_a_fork_with_its_own_prefix_gets_its_own_global_names(shared):
    other = evaluate("shared", overrides={f"{PROJECT}:prefix": "acme"})
    for type_ in GLOBALLY_UNIQUE:
        assert other.one(type_).physical_name != shared.one(type_).physical_name


def names_for(stack: str, prefix: str = "digitre") -> Names:
    cfg = StackConfig.model_validate(
        {"stack": stack, "role": "shared", "owner": "o", "costCenter": "c", "prefix": prefix}
    )
    return Names.for_stack(cfg)


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
