"""prod: the AKS cluster follows the baseline; its kubeconfig stays secret."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from components import roles
from components.aks import AKS_SERVER_ID, kubeconfig_for_login
from components.offline import DEPLOYER_OBJECT_ID, SUBSCRIPTION_ID, TENANT_ID, mock_kubeconfig
from tests.conftest import deploy, prod_aks

CLUSTER = "azure-native:containerservice:ManagedCluster"
PROVIDER = "pulumi:providers:kubernetes"


@pytest.fixture(scope="module")
def prod(served):
    return served["prod"]


@pytest.fixture(scope="module")
def cluster(prod):
    return prod.one(CLUSTER)


def test_cluster_uses_entra_id_with_azure_rbac_and_no_local_accounts(cluster):
    assert cluster.inputs["aadProfile"] == {
        "managed": True,
        "enableAzureRBAC": True,
        "tenantID": TENANT_ID,
        "adminGroupObjectIDs": [],
    }
    assert cluster.inputs["disableLocalAccounts"] is True
    assert cluster.inputs["enableRBAC"] is True


def test_cluster_has_workload_identity_network_policy_and_auto_upgrade(cluster):
    assert cluster.inputs["oidcIssuerProfile"] == {"enabled": True}
    assert cluster.inputs["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    network = cluster.inputs["networkProfile"]
    assert network["networkPolicy"] == "cilium"
    assert network["networkDataplane"] == "cilium"
    assert cluster.inputs["autoUpgradeProfile"] == {"upgradeChannel": "stable", "nodeOSUpgradeChannel": "NodeImage"}
    assert cluster.inputs["identity"] == {"type": "SystemAssigned"}
    assert cluster.inputs["sku"] == {"name": "Base", "tier": "Standard"}


def test_system_and_user_pools_autoscale_within_config_bounds(prod, cluster):
    (system,) = cluster.inputs["agentPoolProfiles"]
    assert system["mode"] == "System"
    assert (system["enableAutoScaling"], system["minCount"], system["maxCount"]) == (True, 2, 3)
    assert system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    user = prod.one("azure-native:containerservice:AgentPool")
    assert user.inputs["mode"] == "User"
    assert (user.inputs["enableAutoScaling"], user.inputs["minCount"], user.inputs["maxCount"]) == (True, 2, 6)
    assert user.inputs["vmSize"] == "Standard_D4ds_v5"
    assert user.inputs["nodeLabels"] == {"workload": "estimation-engine"}


def test_monitoring_goes_to_the_shared_log_analytics_workspace(cluster, shared):
    assert cluster.inputs["addonProfiles"]["omsagent"] == {
        "enabled": True,
        "config": {"logAnalyticsWorkspaceResourceID": shared.outputs["logAnalyticsWorkspaceId"]},
    }


def test_cluster_is_protected(cluster):
    assert cluster.protect is True


def test_kubelet_identity_pulls_from_the_shared_registry(prod, shared):
    grants = {
        r.inputs["roleDefinitionId"].rsplit("/", 1)[1]: r
        for r in prod.of_type("azure-native:authorization:RoleAssignment")
    }
    pull = grants[roles.ACR_PULL]
    assert pull.inputs["scope"] == shared.outputs["registryId"]
    assert pull.inputs["principalType"] == "ServicePrincipal"
    assert pull.inputs["principalId"]  # the cluster's kubelet identity, from its identity profile
    admin = grants[roles.AKS_RBAC_CLUSTER_ADMIN]
    assert admin.inputs["principalId"] == DEPLOYER_OBJECT_ID
    assert admin.inputs["scope"].endswith("/aks-digitre-prod")
    assert admin.inputs["principalType"] == "ServicePrincipal"
    assert pull.inputs["roleDefinitionId"].startswith(f"/subscriptions/{SUBSCRIPTION_ID}/")


def test_kubeconfig_is_secret_and_never_exported(prod):
    provider = prod.one(PROVIDER)
    assert provider.is_secret("kubeconfig")
    config = yaml.safe_load(provider.inputs["kubeconfig"])
    assert config["users"][0]["user"]["exec"]["args"] == [
        "get-token",
        "--login",
        "azurecli",
        "--server-id",
        AKS_SERVER_ID,
    ]
    exported = json.dumps(prod.outputs)
    assert "clusterUser" not in exported and "kubelogin" not in exported


def test_kubeconfig_switches_kubelogin_to_azure_cli_login():
    encoded = base64.b64encode(mock_kubeconfig("aks-x").encode()).decode()
    converted = yaml.safe_load(kubeconfig_for_login(encoded))
    exec_ = converted["users"][0]["user"]["exec"]
    assert exec_["command"] == "kubelogin"
    assert exec_["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID]
    assert "env" not in exec_
    assert converted["clusters"][0]["cluster"]["server"].startswith("https://aks-x.")


def test_an_existing_cluster_is_looked_up_not_created(shared):
    existing = {"name": "aks-platform", "resourceGroup": "rg-platform-aks"}
    run = deploy("prod", shared, overrides=prod_aks(existingCluster=existing))
    assert run.error is None, run.error
    assert run.of_type(CLUSTER) == []
    assert run.of_type("azure-native:containerservice:AgentPool") == []
    grants = {
        r.inputs["roleDefinitionId"].rsplit("/", 1)[1] for r in run.of_type("azure-native:authorization:RoleAssignment")
    }
    # AcrPull for the kubelet, the certificate for the add-on: nothing on a cluster it does not own.
    assert grants == {roles.ACR_PULL, roles.KEY_VAULT_CERTIFICATE_USER}
    assert run.outputs["aksClusterName"] == "aks-platform"
    assert run.one(PROVIDER).is_secret("kubeconfig")


def test_pool_sizes_and_admin_groups_come_from_config(shared):
    group = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    aks = {
        "adminGroupObjectIds": [group],
        "userPool": {"minCount": 3, "maxCount": 9},
        "upgradeChannel": "patch",
        "deployerPrincipalType": "User",
    }
    run = deploy("prod", shared, overrides=prod_aks(keep_file=False, **aks))
    cluster = run.one(CLUSTER)
    assert cluster.inputs["aadProfile"]["adminGroupObjectIDs"] == [group]
    assert cluster.inputs["autoUpgradeProfile"]["upgradeChannel"] == "patch"
    user = run.one("azure-native:containerservice:AgentPool").inputs
    assert (user["minCount"], user["maxCount"], user["vmSize"]) == (3, 9, "Standard_D4ds_v5")
    (admin,) = [
        r for r in run.of_type("azure-native:authorization:RoleAssignment") if r.name.endswith("deployer-admin")
    ]
    assert admin.inputs["principalType"] == "User"
    system = cluster.inputs["agentPoolProfiles"][0]
    assert (system["minCount"], system["maxCount"], system["vmSize"]) == (1, 3, "Standard_D2ds_v5")
