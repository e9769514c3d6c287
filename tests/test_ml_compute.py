"""AML compute: a cluster that scales to zero and exposes no SSH port."""

from __future__ import annotations

from components import roles
from tests.support.evaluations import CUSTOM_SHARED


def compute_properties(run):
    compute = run.one("azure-native:machinelearningservices:Compute")
    return compute, compute.inputs["properties"]


def test_cluster_scales_to_zero_without_public_ssh(shared):
    compute, props = compute_properties(shared)
    assert props["computeType"] == "AmlCompute"
    assert props["disableLocalAuth"] is True
    inner = props["properties"]
    assert inner["scaleSettings"]["minNodeCount"] == 0
    assert inner["remoteLoginPortPublicAccess"] == "Disabled"
    assert inner["osType"] == "Linux"
    assert compute.inputs["workspaceName"] == shared.outputs["mlWorkspaceName"]
    assert compute.inputs["computeName"] == shared.outputs["mlComputeName"] == "cpu-cluster"
    assert compute.parent.endswith("digitre:ml_platform:MlCompute::ml-compute")


def test_cluster_size_priority_and_idle_time_come_from_config(customised):
    settings = {
        "name": "gpu-train",
        "vmSize": "Standard_NC6s_v3",
        "maxNodes": 2,
        "idleSecondsBeforeScaleDown": 900,
        "lowPriority": True,
    }
    assert CUSTOM_SHARED["amlCompute"] == settings
    run = customised["shared"]
    compute, props = compute_properties(run)
    inner = props["properties"]
    assert compute.inputs["computeName"] == "gpu-train"
    assert inner["vmSize"] == "Standard_NC6s_v3"
    assert inner["vmPriority"] == "LowPriority"
    assert inner["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 2, "nodeIdleTimeBeforeScaleDown": "PT900S"}


def test_cluster_identity_gets_no_grant_from_us(shared):
    # Azure ML grants the cluster's identity AcrPull on the workspace's registry itself when the
    # registry exists first (it does); declaring it too would fail with RoleAssignmentExists.
    compute = shared.one("azure-native:machinelearningservices:Compute")
    assert compute.inputs["identity"] == {"type": "SystemAssigned"}
    grants = shared.of_type("azure-native:authorization:RoleAssignment")
    assert [r for r in grants if r.parent == compute.parent] == []
    pulls = [r for r in grants if r.inputs["roleDefinitionId"].endswith(roles.ACR_PULL)]
    assert [r.inputs["principalId"] for r in pulls] == [shared.outputs["pullIdentityPrincipalId"]]
