"""The offline evaluator itself: what it records, and that its shortcuts change nothing a
test or the plan reads."""

from __future__ import annotations

import pulumi
import pytest

from components.types import PROJECT
from offline import evaluate as offline
from offline.evaluate import SHARED, STACKS, environments, evaluate, shared_stack_name
from tests.support.evaluations import MODEL_VERSION

CLUSTER = "azure-native:containerservice:ManagedCluster"


@pytest.mark.parametrize(
    ("alias", "dropped"),
    [
        (pulumi.Alias(type_="azure-native:containerservice/v20240801:ManagedCluster"), True),
        (pulumi.Alias(type_="azure-native:containerservice/v20251002preview:ManagedCluster"), True),
        (pulumi.Alias(type_="azure-native:containerservice/v20240801:AgentPool"), False),
        (pulumi.Alias(type_="digitre:aks:OldCluster"), False),
        (pulumi.Alias(name="old-name"), False),
        (pulumi.Alias(type_="azure-native:containerservice/v20240801:ManagedCluster", name="old-name"), False),
        ("urn:pulumi:prod::digitre-mlops::azure-native:containerservice:ManagedCluster::old", False),
    ],
)
def test_only_the_sdk_api_version_aliases_are_dropped(alias, dropped):
    assert offline._is_api_version_alias(alias, CLUSTER) is dropped


def test_dropping_api_version_aliases_changes_no_recorded_resource(monkeypatch, served, shared):
    """The evaluation with every alias the SDK declares is the same, resource by resource."""
    monkeypatch.setattr(offline, "_without_api_version_aliases", lambda args: None)
    overrides = {f"{PROJECT}:modelVersion": MODEL_VERSION}
    full = evaluate("prod", overrides=overrides, references={shared_stack_name("prod"): shared})
    assert full.error is None
    assert sorted(full.resources, key=lambda r: r.urn) == sorted(served["prod"].resources, key=lambda r: r.urn)
    assert full.outputs == served["prod"].outputs


def test_reads_and_answers_are_recorded(served, shared):
    run = served["dev"]
    (reference,) = [read for read in run.reads if read.type == "pulumi:pulumi:StackReference"]
    assert reference.outputs["outputs"]["registryLoginServer"] == shared.outputs["registryLoginServer"]
    group = run.one("azure-native:containerinstance:ContainerGroup")
    assert group.id.endswith("/ContainerGroup/ci-digitre-dev-engine")
    assert group.outputs["ipAddress"]["fqdn"] == "digitre-dev-engine.westeurope.azurecontainer.io"


def test_the_stacks_are_shared_and_the_environments_it_lists():
    assert SHARED == "shared"
    assert STACKS == (SHARED, *environments()) == ("shared", "dev", "qa", "prod")


def test_environments_follow_the_shared_stack_file(tmp_path, monkeypatch):
    monkeypatch.setattr(offline, "ROOT", tmp_path)
    assert environments() == ()  # no stack file: no environment
    (tmp_path / "Pulumi.shared.yaml").write_text(
        "config:\n  digitre-mlops:environments: {dev: {}, qa: {}, prod: {}, uat: {}}\n"
    )
    assert environments() == ("dev", "qa", "prod", "uat")
