"""Each real Pulumi.<stack>.yaml evaluates under mocks and declares what its role requires."""

from __future__ import annotations

from dataclasses import fields

import pytest
from pydantic.alias_generators import to_camel

from components.shared_platform import SharedPlatform
from offline.evaluate import evaluate
from tests.support.evaluations import CUSTOM_QA_SHARED_STACK


def test_shared_stack_protects_exactly_its_stateful_resources(shared):
    # What holds data (logs, secrets, models, images, run and deployment history) or an
    # identity others are wired to; components/lifecycle.py says why the rest may go.
    protected = {r.type for r in shared.resources if r.protect}
    assert protected == {
        "azure-native:resources:ResourceGroup",
        "azure-native:operationalinsights:Workspace",
        "azure-native:applicationinsights:Component",
        "azure-native:keyvault:Vault",
        "azure-native:storage:StorageAccount",
        "azure-native:containerregistry:Registry",
        "azure-native:machinelearningservices:Workspace",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:managedidentity:FederatedIdentityCredential",
        "azuredevops:index/buildDefinition:BuildDefinition",
        "azuredevops:index/environment:Environment",
    }


def test_shared_exports_the_whole_contract(shared):
    expected = {to_camel(f.name) for f in fields(SharedPlatform)}
    devops = {"devopsProjectId", "serviceConnectionId", "pipelineIdentityClientId", "dashboardId"}
    assert set(shared.outputs) == expected | devops
    assert all(shared.outputs[key] for key in expected)
    assert shared.secret_outputs == {"appInsightsConnectionString"}


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_environment_stacks_read_the_shared_stack_and_own_only_their_group(runs, shared, stack):
    run = runs[stack]
    assert run.of_type("azure-native:resources:ResourceGroup") == []
    assert run.outputs["resourceGroupName"] == shared.outputs["environmentResourceGroups"][stack]
    assert not any(r.retain_on_delete for r in run.resources)
    # Only the production cluster and its HTTPS entry's identity are protected.
    assert {r.type for r in run.resources if r.protect} <= {
        "azure-native:containerservice:ManagedCluster",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:managedidentity:FederatedIdentityCredential",
    }
    assert run.outputs["registryLoginServer"] == shared.outputs["registryLoginServer"]
    assert run.outputs["sharedStack"] == "organization/digitre-mlops/shared"
    assert not {r.type for r in run.azure_resources} & {
        "azure-native:containerregistry:Registry",
        "azure-native:machinelearningservices:Workspace",
    }


def test_shared_stack_makes_a_protected_group_per_environment(shared):
    for env in ("dev", "qa", "prod"):
        group = shared.named(f"{env}-rg")
        assert group.physical_name == f"rg-digitre-{env}"
        assert group.inputs["tags"]["environment"] == env
        assert group.protect is True
    assert shared.outputs["environmentResourceGroups"] == {e: f"rg-digitre-{e}" for e in ("dev", "qa", "prod")}


def test_environment_without_a_group_in_shared_fails_by_name(shared, runs):
    assert runs["qa"].error is None  # qa with the shared stack's every output
    only_dev = {**shared.outputs, "environmentResourceGroups": {"dev": "rg-digitre-dev"}}
    run = evaluate("qa", references={"organization/digitre-mlops/shared": only_dev})
    assert run.error is not None
    assert "no resource group for environment 'qa'" in str(run.error)


def test_environment_fails_by_name_when_shared_lacks_an_output(shared):
    partial = {k: v for k, v in shared.outputs.items() if k != "registryLoginServer"}
    run = evaluate("dev", references={"organization/digitre-mlops/shared": partial})
    assert run.error is not None
    assert "registryLoginServer" in str(run.error)


def test_environment_reads_the_configured_shared_stack(runs, customised):
    name = CUSTOM_QA_SHARED_STACK
    assert runs["qa"].outputs["sharedStack"] == "organization/digitre-mlops/shared" != name
    run = customised["qa"]  # reads the shared stack as `name`, among other settings
    assert run.outputs["sharedStack"] == name
    assert [read.outputs["name"] for read in run.reads if read.type == "pulumi:pulumi:StackReference"] == [name]


def test_stacks_evaluate_in_preview_too(shared, shared_preview):
    run = shared_preview
    assert sorted(r.urn for r in run.resources) == sorted(r.urn for r in shared.resources)
