"""The sections an environment stack reads besides `serving`: the post-deploy check, and the
serving platform's own (`aci` or `aks`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic.alias_generators import to_camel

from components.config.base import RequiredBecause, Section
from components.types import RESOURCE_GROUP, Guid, Int, PrincipalType, VmSize


def _not_below(section: Section, high: str, low: str) -> None:
    """A maximum below its minimum, named by the keys as the stack file spells them."""
    top, bottom = getattr(section, high), getattr(section, low)
    if top < bottom:
        raise ValueError(f"{to_camel(high)} ({top}) must not be below {to_camel(low)} ({bottom})")


class HealthCheckConfig(Section):
    attempts: Annotated[Int, Field(ge=1, le=60, description="an integer 1..60")] = 20
    interval_seconds: Annotated[Int, Field(ge=1, le=60, description="an integer 1..60 (seconds)")] = 15


class AciConfig(Section):
    # `Unsecure` is left out on purpose: a freed label could be claimed by anyone
    # (subdomain takeover).
    dns_name_label_reuse: Annotated[
        Literal["TenantReuse", "SubscriptionReuse", "ResourceGroupReuse", "NoReuse"],
        Field(description="one of TenantReuse, SubscriptionReuse, ResourceGroupReuse, NoReuse"),
    ] = "TenantReuse"
    restart_policy: Annotated[Literal["Always", "OnFailure"], Field(description="one of Always, OnFailure")] = "Always"


# A node count of a pool.
_NodeCount = Annotated[Int, Field(ge=1, le=100, description="an integer 1..100")]


class NodePoolConfig(Section):
    """An autoscaling node pool; its defaults are the user pool's (the engine's nodes)."""

    vm_size: Annotated[VmSize, Field(description="an Azure VM size such as Standard_D4ds_v5")] = "Standard_D4ds_v5"
    min_count: _NodeCount = 1
    max_count: _NodeCount = 5

    @model_validator(mode="after")
    def _max_not_below_min(self) -> NodePoolConfig:
        _not_below(self, "max_count", "min_count")
        return self


class SystemPoolConfig(NodePoolConfig):
    """The system pool: stricter than a user pool, and smaller by default."""

    # AKS asks system pools for 4+ vCPUs and 4+ GB, no B-series, and two nodes or more
    # (docs/assumptions.md, use-system-pools): B-series and fewer than two nodes are refused
    # here; the vCPU count is not in every size's name, so the default and the docs carry it.
    vm_size: Annotated[
        str,
        Field(
            pattern=r"^Standard_[AC-Zac-z0-9][A-Za-z0-9_]{1,39}$",
            description="an Azure VM size of 4 or more vCPUs, not B-series, such as Standard_D4ds_v5",
        ),
    ] = "Standard_D4ds_v5"
    min_count: Annotated[Int, Field(ge=2, le=100, description="an integer 2..100 (a system pool keeps two nodes)")] = 2
    max_count: _NodeCount = 3


class ExistingClusterConfig(Section):
    name: Annotated[
        str,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,61}[A-Za-z0-9]$", description="an AKS cluster name (1-63)"),
    ]
    resource_group: Annotated[str, Field(pattern=RESOURCE_GROUP, description="a resource group name (1-90)")]


class IngressConfig(Section):
    """How callers reach prod: `https://<host>`, TLS terminated by the HTTPS entry
    (components/serving/https_entry.py) with a certificate kept in the shared Key Vault."""

    host: Annotated[
        str,
        Field(
            # No look-ahead (pydantic's regex engine has none): max_length caps the total.
            pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
            max_length=253,
            description="a fully qualified lowercase DNS name such as engine.digitre.com",
        ),
    ]
    certificate_name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9-]{1,127}$",
            description="a Key Vault certificate name in the shared vault: 1-127 letters, digits or -",
        ),
    ]
    dns_zone_id: Annotated[
        str | None,
        Field(
            pattern=r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w.()]{1,90}/providers/Microsoft\.Network/dns[zZ]ones/[a-z0-9.-]{1,253}$",
            description="the resource id of a public Azure DNS zone (Microsoft.Network/dnszones) the add-on keeps the host's record in",
        ),
    ] = None

    @model_validator(mode="after")
    def _host_inside_zone(self) -> IngressConfig:
        if self.dns_zone_id is not None:
            zone = self.dns_zone_id.rsplit("/", 1)[1]
            if not self.host.endswith(f".{zone}"):
                raise ValueError(f"host ({self.host}) must be a name inside the DNS zone {zone} of dnsZoneId")
        return self


class DeployerConfig(Section):
    """An Entra ID principal that runs `pulumi up --stack prod` besides the pipelines' identity
    (e.g. the team's group for a first deploy by hand) and so gets cluster-admin."""

    object_id: Annotated[Guid, Field(description="an Entra ID object id (a lowercase GUID)")]
    principal_type: Annotated[PrincipalType, Field(description="one of User, Group, ServicePrincipal")]


# Microsoft Learn ("Use Azure RBAC for Kubernetes Authorization"): a new role assignment can
# take up to five minutes to reach the cluster's authorization server.
RBAC_PROPAGATION_SECONDS = 300


class AccessWaitConfig(Section):
    """How long the deploy waits for a new cluster-admin grant to take effect; the waits of the
    public entry (components/serving/https_entry.py) use the same bounds."""

    attempts: Annotated[Int, Field(ge=1, le=120, description="an integer 1..120")] = 40
    interval_seconds: Annotated[Int, Field(ge=1, le=60, description="an integer 1..60 (seconds)")] = 15

    @model_validator(mode="after")
    def _covers_propagation(self) -> AccessWaitConfig:
        waited = self.attempts * self.interval_seconds
        if waited < RBAC_PROPAGATION_SECONDS:
            raise ValueError(
                f"attempts x intervalSeconds ({self.attempts} x {self.interval_seconds} = {waited} s) must be at "
                f"least {RBAC_PROPAGATION_SECONDS} s, the time Azure RBAC on AKS may take to apply a new grant"
            )
        return self


def _unique_deployers(deployers: tuple[DeployerConfig, ...]) -> tuple[DeployerConfig, ...]:
    seen: set[str] = set()
    for deployer in deployers:
        if deployer.object_id in seen:
            # Azure refuses a second assignment of the same role, scope and principal.
            raise ValueError(f"objectId {deployer.object_id} is listed more than once (list each deployer once)")
        seen.add(deployer.object_id)
    return deployers


class AksConfig(Section):
    existing_cluster: Annotated[
        ExistingClusterConfig | None,
        Field(description="an object with keys name, resourceGroup (look the cluster up instead of creating it)"),
    ] = None
    # 1.33 or later: the engine's pods run in their own user namespace (`hostUsers: false`),
    # which AKS supports from 1.33 on Azure Linux nodes (docs/assumptions.md).
    kubernetes_version: Annotated[
        str | None,
        Field(
            pattern=r"^1\.(3[3-9]|[4-9][0-9])(\.[0-9]{1,2})?$",
            description="a Kubernetes version 1.33 or later (the engine's pods use user namespaces), such as 1.34",
        ),
    ] = None
    tier: Annotated[Literal["Free", "Standard", "Premium"], Field(description="one of Free, Standard, Premium")] = (
        "Standard"
    )
    upgrade_channel: Annotated[
        Literal["patch", "stable", "rapid", "node-image"],
        Field(description="one of patch, stable, rapid, node-image"),
    ] = "stable"
    system_pool: SystemPoolConfig = SystemPoolConfig()
    user_pool: NodePoolConfig = NodePoolConfig()
    admin_group_object_ids: Annotated[
        tuple[Guid, ...],
        Field(max_length=10, description="a list of up to 10 Entra ID group object ids (lowercase GUIDs)"),
    ] = ()
    namespace: Annotated[
        str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="a Kubernetes namespace (DNS label)")
    ] = "estimation-engine"
    min_replicas: Annotated[Int, Field(ge=1, le=50, description="an integer 1..50")] = 2
    max_replicas: Annotated[Int, Field(ge=1, le=100, description="an integer 1..100")] = 6
    target_cpu_utilization: Annotated[Int, Field(ge=10, le=95, description="an integer 10..95 (percent)")] = 70
    helm_timeout_seconds: Annotated[Int, Field(ge=60, le=3600, description="an integer 60..3600")] = 600
    # Who gets cluster-admin to install the release: the pipelines' identity (read from the
    # shared stack) and these, never whoever happens to run `pulumi up`.
    deployers: Annotated[
        tuple[DeployerConfig, ...],
        AfterValidator(_unique_deployers),
        Field(max_length=10, description="a list of up to 10 objects with keys objectId, principalType"),
    ] = ()
    access_wait: AccessWaitConfig = AccessWaitConfig()
    # No default: a host name and a certificate have no sane default, and AKS serves HTTPS only.
    ingress: Annotated[
        IngressConfig,
        Field(description="an object with keys host, certificateName and optionally dnsZoneId"),
        RequiredBecause("prod is served over HTTPS only"),
    ]

    @model_validator(mode="after")
    def _max_not_below_min(self) -> AksConfig:
        _not_below(self, "max_replicas", "min_replicas")
        return self
