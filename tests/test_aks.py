"""prod: the AKS cluster follows the baseline; its kubeconfig stays secret."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from components import roles
from components.serving.aks import (
    AKS_SERVER_ID,
    CONTAINER_INSIGHTS_ADDON,
    CONTAINER_INSIGHTS_ASSOCIATION,
    CONTAINER_INSIGHTS_STREAMS,
    kubeconfig_for_login,
)
from offline import evaluate as offline
from offline.evaluate import SUBSCRIPTION_ID, TENANT_ID, mock_kubeconfig
from tests.support.evaluations import ADMIN_GROUP, CUSTOM_PROD_AKS, DEPLOYER_GROUP, DEPLOYER_USER, deploy, prod_aks

CLUSTER = "azure-native:containerservice:ManagedCluster"
PROVIDER = "pulumi:providers:kubernetes"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
COMMAND = "command:local:Command"
RELEASE = "kubernetes:helm.sh/v3:Release"
USER = DEPLOYER_USER
GROUP = DEPLOYER_GROUP


def admin_grants(run):
    return {
        r.inputs["principalId"]: r
        for r in run.of_type(ASSIGNMENT)
        if r.inputs["roleDefinitionId"].endswith(roles.AKS_RBAC_CLUSTER_ADMIN)
    }


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
    workspace = shared.outputs["logAnalyticsWorkspaceId"]
    assert cluster.inputs["addonProfiles"][CONTAINER_INSIGHTS_ADDON] == {
        "enabled": True,
        "config": {"logAnalyticsWorkspaceResourceID": workspace, "useAADAuth": "true"},
    }


def test_container_insights_authenticates_by_managed_identity_through_a_collection_rule(prod, cluster, shared):
    workspace = shared.outputs["logAnalyticsWorkspaceId"]
    rule = prod.one("azure-native:monitor:DataCollectionRule")
    assert rule.inputs["dataCollectionRuleName"] == "MSCI-westeurope-aks-digitre-prod"
    # A rule lives in its workspace's region.
    assert rule.inputs["location"] == shared.outputs["location"]
    (extension,) = rule.inputs["dataSources"]["extensions"]
    assert extension["extensionName"] == "ContainerInsights"
    assert extension["streams"] == list(CONTAINER_INSIGHTS_STREAMS)
    assert extension["extensionSettings"]["dataCollectionSettings"]["enableContainerLogV2"] is True
    (destination,) = rule.inputs["destinations"]["logAnalytics"]
    assert destination["workspaceResourceId"] == workspace
    assert rule.inputs["dataFlows"] == [
        {"streams": list(CONTAINER_INSIGHTS_STREAMS), "destinations": [destination["name"]]}
    ]
    association = prod.one("azure-native:monitor:DataCollectionRuleAssociation")
    assert association.inputs["associationName"] == CONTAINER_INSIGHTS_ASSOCIATION == "ContainerInsightsExtension"
    assert association.inputs["resourceUri"].endswith("/aks-digitre-prod")
    assert rule.urn in association.depends_on and cluster.urn in association.depends_on


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
    assert pull.inputs["roleDefinitionId"].startswith(f"/subscriptions/{SUBSCRIPTION_ID}/")


def test_cluster_admin_goes_to_the_pipelines_identity_only(prod, shared):
    (admin,) = admin_grants(prod).values()
    assert admin.inputs["principalId"] == shared.outputs["pipelineIdentityPrincipalId"]
    assert admin.inputs["principalType"] == "ServicePrincipal"
    assert admin.inputs["scope"].endswith("/aks-digitre-prod")
    assert offline.DEPLOYER_OBJECT_ID not in json.dumps([r.inputs for r in prod.resources])


def test_whoever_runs_up_changes_nothing(served, prod_by_someone_else):
    """Running `pulumi up` by hand must not re-point cluster-admin at the person running it."""

    def declared(run):
        assert run.error is None, run.error
        # The engine gets dependencies in no fixed order.
        return {r.urn: (r.inputs, sorted(r.depends_on)) for r in run.resources}

    assert declared(prod_by_someone_else) == declared(served["prod"])


def test_configured_deployers_get_cluster_admin_with_their_principal_type(shared, customised):
    deployers = [{"objectId": USER, "principalType": "User"}, {"objectId": GROUP, "principalType": "Group"}]
    assert CUSTOM_PROD_AKS["deployers"] == deployers
    run = customised["prod"]
    grants = admin_grants(run)
    assert set(grants) == {shared.outputs["pipelineIdentityPrincipalId"], USER, GROUP}
    assert grants[USER].inputs["principalType"] == "User"
    assert grants[GROUP].inputs["principalType"] == "Group"
    assert grants[USER].name == f"aks-deployer-admin-{USER}"
    # Every grant holds the release back until it has taken effect.
    wait = run.named("aks-access-wait")
    assert {g.urn for g in grants.values()} <= set(wait.depends_on)


def test_the_pipelines_identity_listed_as_a_deployer_fails_by_name(shared):
    pipelines = shared.outputs["pipelineIdentityPrincipalId"]
    deployers = [{"objectId": pipelines, "principalType": "ServicePrincipal"}]
    run = deploy("prod", shared, overrides=prod_aks(keep_file=False, deployers=deployers))
    assert run.error is not None
    assert f"digitre-mlops:aks.deployers lists the pipelines' identity ({pipelines})" in str(run.error)


def test_release_waits_until_the_cluster_grants_access(prod):
    wait = prod.named("aks-access-wait")
    assert wait.type == COMMAND
    assert wait.inputs["create"] == "python3 -m commands.cluster_access"
    assert wait.inputs["environment"] == {
        "ACCESS_NAMESPACE": "estimation-engine",
        "ACCESS_ATTEMPTS": "40",
        "ACCESS_INTERVAL_SECONDS": "15",
    }
    # The cluster's own grants (cluster-admin, the kubelet's AcrPull), not the HTTPS entry's.
    grants = [g for g in prod.of_type(ASSIGNMENT) if "digitre:serving:AksCluster$" in g.urn]
    assert grants
    assert {g.urn for g in grants} <= set(wait.depends_on)
    release = prod.one(RELEASE)
    provider = prod.one(PROVIDER)
    assert prod.waits_for(release, wait.urn)
    # Handed to the release's component in `opts.providers`, which passes it on to the release.
    assert release.provider.startswith(f"{provider.urn}::")
    assert wait.urn in provider.depends_on
    # Re-checked when the cluster or a cluster-admin grant is replaced, not on every deploy.
    cluster_id, admin_id = wait.inputs["triggers"]
    assert cluster_id.endswith("/aks-digitre-prod")
    assert admin_id.endswith("/aks-deployer-admin")


def test_access_wait_keeps_the_kubeconfig_secret_in_inputs_and_state(prod):
    wait = prod.named("aks-access-wait")
    provider = prod.one(PROVIDER)
    assert wait.inputs["stdin"] == provider.inputs["kubeconfig"]
    assert wait.is_secret("stdin")
    # pulumi-command echoes `stdin` into its outputs; the engine encrypts it there only if asked.
    from pulumi_command import local

    assert "stdin" in vars(local.Command) and "environment" in vars(local.Command)
    assert "stdin" in wait.additional_secret_outputs
    assert all("kube" not in value.lower() for value in wait.inputs["environment"].values())


def test_access_wait_bounds_come_from_config(customised):
    aks = {"namespace": "engine", "accessWait": {"attempts": 60, "intervalSeconds": 10}}
    assert aks.items() <= CUSTOM_PROD_AKS.items()
    run = customised["prod"]
    assert run.named("aks-access-wait").inputs["environment"] == {
        "ACCESS_NAMESPACE": "engine",
        "ACCESS_ATTEMPTS": "60",
        "ACCESS_INTERVAL_SECONDS": "10",
    }


def test_access_wait_is_declared_in_preview_where_pulumi_command_does_not_run_it(prod_preview):
    assert prod_preview.named("aks-access-wait").type == COMMAND


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


def test_an_existing_cluster_is_looked_up_not_created(prod_existing):
    run = prod_existing
    assert run.of_type(CLUSTER) == []
    assert run.of_type("azure-native:containerservice:AgentPool") == []
    assert run.of_type("azure-native:monitor:DataCollectionRule") == []
    grants = {
        r.inputs["roleDefinitionId"].rsplit("/", 1)[1] for r in run.of_type("azure-native:authorization:RoleAssignment")
    }
    # AcrPull for the kubelet, the certificate's secret and the DNS zone for the HTTPS entry:
    # nothing on a cluster it does not own.
    assert grants == {roles.ACR_PULL, roles.KEY_VAULT_SECRETS_USER, roles.DNS_ZONE_CONTRIBUTOR}
    assert not [r for r in run.of_type(ASSIGNMENT) if "/ManagedCluster/" in r.inputs["scope"]]
    assert run.outputs["aksClusterName"] == "aks-platform"
    assert run.one(PROVIDER).is_secret("kubeconfig")
    # The owner of a looked-up cluster grants access; the deploy still waits until it works.
    wait = run.named("aks-access-wait")
    assert len(wait.inputs["triggers"]) == 1
    assert run.waits_for(run.one(RELEASE), wait.urn)


def test_pool_sizes_and_admin_groups_come_from_config(customised):
    group = ADMIN_GROUP
    aks = {
        "adminGroupObjectIds": [group],
        "userPool": {"minCount": 3, "maxCount": 9},
        "upgradeChannel": "patch",
    }
    assert aks.items() <= CUSTOM_PROD_AKS.items()
    run = customised["prod"]
    cluster = run.one(CLUSTER)
    assert cluster.inputs["aadProfile"]["adminGroupObjectIDs"] == [group]
    assert cluster.inputs["autoUpgradeProfile"]["upgradeChannel"] == "patch"
    user = run.one("azure-native:containerservice:AgentPool").inputs
    assert (user["minCount"], user["maxCount"], user["vmSize"]) == (3, 9, "Standard_D4ds_v5")
    system = cluster.inputs["agentPoolProfiles"][0]
    assert (system["minCount"], system["maxCount"], system["vmSize"]) == (2, 3, "Standard_D4ds_v5")


def test_cilium_runs_on_azure_cni_overlay(cluster):
    # Azure CNI Powered by Cilium needs the azure plugin with overlay (or a pod subnet).
    network = cluster.inputs["networkProfile"]
    assert (network["networkPlugin"], network["networkPluginMode"]) == ("azure", "overlay")
    assert (network["networkDataplane"], network["networkPolicy"]) == ("cilium", "cilium")


def test_names_the_code_sends_are_the_providers_own():
    """Pinned to pulumi-azure-native's own enums and docs (API 2025-09-01), not to memory."""
    from typing import get_args

    from pulumi_azure_native import containerservice

    from components.config.environment import AksConfig
    from components.serving.aks import KUBECONFIG_FORMAT, KUBELET_IDENTITY_KEY

    assert containerservice.OSSKU.AZURE_LINUX.value == "AzureLinux"
    assert containerservice.NodeOSUpgradeChannel.NODE_IMAGE.value == "NodeImage"
    channels = {c.value for c in containerservice.UpgradeChannel}
    assert set(get_args(AksConfig.model_fields["upgrade_channel"].annotation)) <= channels
    tiers = {t.value for t in containerservice.ManagedClusterSKUTier}
    assert set(get_args(AksConfig.model_fields["tier"].annotation)) <= tiers
    assert "Base" in {n.value for n in containerservice.ManagedClusterSKUName}
    profile_doc = vars(containerservice.ManagedCluster)["identity_profile"].__doc__ or ""
    assert f'The only accepted key is "{KUBELET_IDENTITY_KEY}"' in profile_doc
    credentials_doc = containerservice.list_managed_cluster_user_credentials.__doc__ or ""
    assert (
        f"format '{KUBECONFIG_FORMAT}' will return exec format kubeconfig, which requires kubelogin" in credentials_doc
    )


def test_kubelet_identity_is_read_from_its_key(prod):
    # The mock answers identityProfile the way Azure does, keyed by KUBELET_IDENTITY_KEY.
    (pull,) = [r for r in prod.of_type(ASSIGNMENT) if r.inputs["roleDefinitionId"].endswith(roles.ACR_PULL)]
    assert (
        pull.inputs["principalId"]
        == offline._kubelet_identity(
            f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-digitre-prod/providers/containerservice/ManagedCluster/aks-digitre-prod"
        )["objectId"]
    )
