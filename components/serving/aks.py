"""The production AKS cluster (created here, or an existing one looked up) and the
Kubernetes provider that deploys to it."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes
import yaml
from pulumi_azure_native import authorization, monitor
from pulumi_azure_native import containerservice as aks
from pulumi_command import local

from components import roles

# What AKS cannot change on an existing node pool, in the cluster's inline pool: its VM size
# (docs/assumptions.md, "Changes Azure cannot apply in place"). pulumi-azure-native replaces a
# standalone AgentPool on it, but not the cluster on its inline pools' properties.
CLUSTER_IMMUTABLE_PROPERTIES = ("agentPoolProfiles[*].vmSize",)
# kubelogin modes a pipeline agent or a developer machine can satisfy after `az login`.
KUBELOGIN_MODE = "azurecli"
# The application id of the AKS Entra ID server (the same in every tenant).
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
# The key of the kubelet's identity in a cluster's `identityProfile` (the only one AKS accepts).
KUBELET_IDENTITY_KEY = "kubeletidentity"
# An Entra ID cluster's kubeconfig in exec format: kubectl and the Kubernetes provider run
# kubelogin (which must be on PATH) for the token.
KUBECONFIG_FORMAT = "exec"
# Container Insights (the `omsagent` add-on) with managed-identity authentication: the
# add-on sends through a data collection rule associated with the cluster under this name,
# and no workspace key is involved (Microsoft's AKS onboarding templates, microsoft/Docker-Provider).
CONTAINER_INSIGHTS_ADDON = "omsagent"
CONTAINER_INSIGHTS_ASSOCIATION = "ContainerInsightsExtension"
# The tables the Container insights experience reads (the streams of Microsoft's onboarding
# parameters, less the optional network flow logs).
CONTAINER_INSIGHTS_STREAMS = (
    "Microsoft-ContainerLog",
    "Microsoft-ContainerLogV2",
    "Microsoft-KubeEvents",
    "Microsoft-KubePodInventory",
    "Microsoft-KubeNodeInventory",
    "Microsoft-KubePVInventory",
    "Microsoft-KubeServices",
    "Microsoft-KubeMonAgentEvents",
    "Microsoft-InsightsMetrics",
    "Microsoft-ContainerInventory",
    "Microsoft-ContainerNodeInventory",
    "Microsoft-Perf",
)


@dataclass(frozen=True)
class NodePool:
    """An autoscaling node pool."""

    vm_size: str
    min_count: int
    max_count: int


@dataclass(frozen=True)
class Deployer:
    """An Entra ID principal that gets cluster-admin besides the pipelines' identity."""

    object_id: str
    principal_type: str


@dataclass(frozen=True)
class ExistingCluster:
    """A cluster looked up instead of created."""

    name: str
    resource_group: str


@dataclass(frozen=True)
class BoundedWait:
    """How often, and how far apart, a wait asks again."""

    attempts: int
    interval_seconds: int


@dataclass(frozen=True)
class AksClusterArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    cluster_name: str
    dns_prefix: str
    node_resource_group: str
    insights_rule_name: str
    kubernetes_version: str | None
    tier: str
    upgrade_channel: str
    system_pool: NodePool
    user_pool: NodePool
    admin_group_object_ids: Sequence[str]
    log_analytics_workspace_id: pulumi.Input[str]
    # The workspace's region: a data collection rule lives where its workspace does.
    log_analytics_location: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    # Who gets cluster-admin to install the release: the pipelines' identity (from the
    # shared stack) and the configured deployers; never the caller's own identity.
    pipeline_identity_principal_id: pulumi.Input[str]
    deployers: Sequence[Deployer]
    # The release's namespace and how long to wait for the grants to take effect.
    namespace: str
    access_wait: BoundedWait
    tags: Mapping[str, str]
    existing: ExistingCluster | None = None
    # What the public entry needs of a cluster made here (components/serving/https_entry.py): its
    # ingress profile and add-ons beside Container Insights.
    ingress_profile: aks.ManagedClusterIngressProfileArgs | None = None
    addons: Mapping[str, aks.ManagedClusterAddonProfileArgs] = field(default_factory=dict)


class AksCluster(pulumi.ComponentResource):
    """Owns the cluster (Entra ID with Azure RBAC, local accounts off, OIDC issuer and
    workload identity, Cilium network policy, auto-upgrade, autoscaling system and user
    pools, Container Insights to the shared Log Analytics, and the ingress profile and add-ons
    the public entry hands it; protected), AcrPull for its kubelet identity on the shared
    registry, and a Kubernetes provider whose kubeconfig stays secret. With `existing`, the
    cluster is looked up, not created. It reports its OIDC issuer (for workload identity) and
    its eTag, which changes with every update of the cluster."""

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:AksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.cluster: aks.ManagedCluster | None = None
        self.user_pool: aks.AgentPool | None = None
        # Cluster-admin grants exist only on a cluster created here; a looked-up one is
        # administered by its owner.
        admin_grants: list[authorization.RoleAssignment] = []
        if args.existing is None:
            self.cluster = self._create_cluster(name, args, child)
            cluster_name: pulumi.Output[str] = self.cluster.name
            group_name: pulumi.Input[str] = args.resource_group_name
            self.cluster_id = self.cluster.id
            identity_profile = self.cluster.identity_profile
            oidc_issuer = self.cluster.oidc_issuer_profile
            self.e_tag: pulumi.Output[str] = self.cluster.e_tag
            admin_grants = self._deployer_grants(name, args, child)
        else:
            found = aks.get_managed_cluster_output(
                resource_group_name=args.existing.resource_group,
                resource_name=args.existing.name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            cluster_name = found.name
            group_name = args.existing.resource_group
            self.cluster_id = found.id
            identity_profile = found.identity_profile
            oidc_issuer = found.oidc_issuer_profile
            self.e_tag = found.e_tag
        kubelet_object_id = identity_profile.apply(_kubelet_object_id)
        self.resource_group_name = group_name
        self.oidc_issuer_url: pulumi.Output[str] = oidc_issuer.apply(_oidc_issuer_url)
        self.acr_pull = roles.grant(
            f"{name}-kubelet-acrpull",
            role=roles.ACR_PULL,
            principal_id=kubelet_object_id,
            scope=args.registry_id,
            subscription_id=args.subscription_id,
            opts=child,
        )
        grants: list[pulumi.Resource] = [*admin_grants, self.acr_pull]
        credentials = aks.list_managed_cluster_user_credentials_output(
            resource_group_name=group_name,
            resource_name=cluster_name,
            format=KUBECONFIG_FORMAT,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        kubeconfig = credentials.kubeconfigs.apply(lambda configs: kubeconfig_for_login(configs[0].value))
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(kubeconfig)  # type: ignore[arg-type]
        self.access_wait = self._wait_for_access(name, args, admin_grants, grants)
        # Nothing touches the cluster before the caller's access is effective.
        self.ready: list[pulumi.Resource] = [*grants, self.access_wait]
        self.provider = kubernetes.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.ready),
        )
        self.grants = grants
        self.cluster_name = cluster_name
        # Whether this stack owns the cluster (and so may change its settings).
        self.created_here = self.cluster is not None
        self.register_outputs({"clusterId": self.cluster_id, "clusterName": self.cluster_name})

    def _deployer_grants(
        self, name: str, args: AksClusterArgs, child: pulumi.ResourceOptions
    ) -> list[authorization.RoleAssignment]:
        """Cluster-admin for the pipelines' identity and each configured deployer."""
        configured = {d.object_id for d in args.deployers}

        def not_configured_twice(principal_id: str) -> str:
            # Azure refuses a second assignment of one role, scope and principal.
            if principal_id in configured:
                raise ValueError(
                    f"digitre-mlops:aks.deployers lists the pipelines' identity ({principal_id}), which is "
                    "granted cluster-admin already: remove it from aks.deployers"
                )
            return principal_id

        # The pipelines' identity keeps the grant's original name, so existing state is kept.
        grants = [
            roles.grant(
                f"{name}-deployer-admin",
                role=roles.AKS_RBAC_CLUSTER_ADMIN,
                principal_id=pulumi.Output.from_input(args.pipeline_identity_principal_id).apply(not_configured_twice),
                scope=self.cluster_id,
                subscription_id=args.subscription_id,
                opts=child,
            )
        ]
        grants += [
            roles.grant(
                f"{name}-deployer-admin-{deployer.object_id}",
                role=roles.AKS_RBAC_CLUSTER_ADMIN,
                principal_id=deployer.object_id,
                principal_type=authorization.PrincipalType(deployer.principal_type),
                scope=self.cluster_id,
                subscription_id=args.subscription_id,
                opts=child,
            )
            for deployer in args.deployers
        ]
        return grants

    def _wait_for_access(
        self,
        name: str,
        args: AksClusterArgs,
        admin_grants: list[authorization.RoleAssignment],
        grants: list[pulumi.Resource],
    ) -> local.Command:
        """A local command that holds the release back until the API server grants the
        caller what the release needs (Azure RBAC on AKS applies a new assignment only after
        up to five minutes). pulumi-command never runs it during preview; it runs again when
        the cluster or a grant is replaced."""
        return local.Command(
            f"{name}-access-wait",
            create="python3 -m commands.cluster_access",
            # On standard input, not in the environment: no other process can read it there.
            stdin=self.kubeconfig,
            environment={
                "ACCESS_NAMESPACE": args.namespace,
                "ACCESS_ATTEMPTS": str(args.access_wait.attempts),
                "ACCESS_INTERVAL_SECONDS": str(args.access_wait.interval_seconds),
            },
            triggers=[self.cluster_id, *[grant.id for grant in admin_grants]],
            # pulumi-command echoes its inputs into its state: keep the kubeconfig encrypted there.
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants, additional_secret_outputs=["stdin"]),
        )

    def _create_cluster(self, name: str, args: AksClusterArgs, child: pulumi.ResourceOptions) -> aks.ManagedCluster:
        cluster = aks.ManagedCluster(
            f"{name}-cluster",
            resource_name_=args.cluster_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            dns_prefix=args.dns_prefix,
            node_resource_group=args.node_resource_group,
            kubernetes_version=args.kubernetes_version,
            sku=aks.ManagedClusterSKUArgs(name="Base", tier=args.tier),
            identity=aks.ManagedClusterIdentityArgs(type=aks.ResourceIdentityType.SYSTEM_ASSIGNED),
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile=aks.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                tenant_id=args.tenant_id,
                admin_group_object_ids=list(args.admin_group_object_ids),
            ),
            oidc_issuer_profile=aks.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=aks.ManagedClusterSecurityProfileArgs(
                workload_identity=aks.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True)
            ),
            network_profile=aks.ContainerServiceNetworkProfileArgs(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_dataplane="cilium",
                network_policy="cilium",
                load_balancer_sku="standard",
            ),
            auto_upgrade_profile=aks.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=args.upgrade_channel,
                node_os_upgrade_channel=aks.NodeOSUpgradeChannel.NODE_IMAGE,
            ),
            agent_pool_profiles=[
                aks.ManagedClusterAgentPoolProfileArgs(
                    name="system",
                    mode=aks.AgentPoolMode.SYSTEM,
                    # Keep application pods on the user pool.
                    node_taints=["CriticalAddonsOnly=true:NoSchedule"],
                    **_autoscaling_pool(args.system_pool),
                )
            ],
            addon_profiles={
                CONTAINER_INSIGHTS_ADDON: aks.ManagedClusterAddonProfileArgs(
                    enabled=True,
                    # Managed-identity authentication; without it the agent uses the legacy
                    # workspace-key path.
                    config={"logAnalyticsWorkspaceResourceID": args.log_analytics_workspace_id, "useAADAuth": "true"},
                ),
                **args.addons,
            },
            ingress_profile=args.ingress_profile,
            tags=dict(args.tags),
            # The autoscaler owns node counts; the cluster is production: never deleted by accident.
            # A change AKS cannot make to a pool (its VM size) is a replacement of the cluster,
            # which `protect` then refuses at preview, naming the cluster: AKS cannot apply it in
            # place, and the provider no longer replaces on pool properties.
            # Should the cluster ever be rebuilt on purpose, its fixed name means delete first.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    protect=True,
                    ignore_changes=["agentPoolProfiles[0].count"],
                    replace_on_changes=list(CLUSTER_IMMUTABLE_PROPERTIES),
                    delete_before_replace=True,
                ),
            ),
        )
        self._container_insights(name, args, cluster, child)
        self.user_pool = aks.AgentPool(
            f"{name}-engine-pool",
            agent_pool_name="engine",
            resource_name_=cluster.name,
            resource_group_name=args.resource_group_name,
            mode=aks.AgentPoolMode.USER,
            node_labels={"workload": "estimation-engine"},
            tags=dict(args.tags),
            **_autoscaling_pool(args.user_pool),
            # The provider replaces a pool whose VM size changes; the pool's name is fixed, so the
            # old one goes first (the engine has no nodes until the new pool is up).
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(ignore_changes=["count"], delete_before_replace=True)
            ),
        )
        return cluster

    def _container_insights(
        self, name: str, args: AksClusterArgs, cluster: aks.ManagedCluster, child: pulumi.ResourceOptions
    ) -> None:
        """The data collection rule the Container Insights add-on sends through, and its
        association with the cluster (what managed-identity authentication needs)."""
        workspace = "ciworkspace"
        streams = list(CONTAINER_INSIGHTS_STREAMS)
        self.insights_rule = monitor.DataCollectionRule(
            f"{name}-insights-dcr",
            data_collection_rule_name=args.insights_rule_name,
            resource_group_name=args.resource_group_name,
            location=args.log_analytics_location,
            kind="Linux",
            description="Container Insights for the prod AKS cluster (managed by Pulumi)",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name=CONTAINER_INSIGHTS_ASSOCIATION,
                        extension_name="ContainerInsights",
                        streams=streams,
                        extension_settings={
                            "dataCollectionSettings": {
                                "interval": "1m",
                                "namespaceFilteringMode": "Off",
                                "enableContainerLogV2": True,
                            }
                        },
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[
                    monitor.LogAnalyticsDestinationArgs(
                        name=workspace, workspace_resource_id=args.log_analytics_workspace_id
                    )
                ]
            ),
            data_flows=[monitor.DataFlowArgs(streams=streams, destinations=[workspace])],
            tags=dict(args.tags),
            opts=child,
        )
        self.insights_association = monitor.DataCollectionRuleAssociation(
            f"{name}-insights-dcra",
            association_name=CONTAINER_INSIGHTS_ASSOCIATION,
            resource_uri=cluster.id,
            data_collection_rule_id=self.insights_rule.id,
            description="Deleting this association breaks Container Insights for this cluster.",
            opts=child,
        )


def _autoscaling_pool(pool: NodePool) -> dict[str, Any]:
    """What every node pool here shares: Azure Linux VM scale sets autoscaling in config bounds."""
    return {
        "type": aks.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
        "os_type": aks.OSType.LINUX,
        "os_sku": aks.OSSKU.AZURE_LINUX,
        "vm_size": pool.vm_size,
        "enable_auto_scaling": True,
        "min_count": pool.min_count,
        "max_count": pool.max_count,
        "count": pool.min_count,
    }


def _kubelet_object_id(profile: Mapping[str, object] | None) -> str:
    kubelet = (profile or {}).get(KUBELET_IDENTITY_KEY)
    object_id = getattr(kubelet, "object_id", None)
    if not object_id:
        raise ValueError("the AKS cluster reported no kubelet identity")
    return str(object_id)


def _oidc_issuer_url(profile: Any) -> str:
    url = getattr(profile, "issuer_url", None)
    if not getattr(profile, "enabled", False) or not url:
        raise ValueError(
            "the AKS cluster reports no OIDC issuer: prod's public entry signs in with workload identity, "
            "so enable it (az aks update --enable-oidc-issuer --enable-workload-identity) on an existing cluster"
        )
    return str(url)


def kubeconfig_for_login(encoded: str, mode: str = KUBELOGIN_MODE) -> str:
    """The cluster's exec kubeconfig (base64, as Azure returns it) with kubelogin switched to
    `mode`: the default device-code login cannot run unattended in a pipeline."""
    config = yaml.safe_load(base64.b64decode(encoded).decode())
    for user in config.get("users") or []:
        exec_ = (user.get("user") or {}).get("exec")
        if not exec_ or "kubelogin" not in str(exec_.get("command", "")):
            continue
        args = list(exec_.get("args") or [])
        server_id = _flag(args, "--server-id") or AKS_SERVER_ID
        exec_["args"] = ["get-token", "--login", mode, "--server-id", server_id]
        exec_.pop("env", None)
    return yaml.safe_dump(config, sort_keys=False)


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None
