"""The one place that knows a stack's configuration.

`load_config()` reads every `digitre-mlops:*` key, validates it and returns a typed, frozen
`StackConfig`. It runs before any resource is declared: invalid config raises `ConfigError`
(a `pulumi.RunError`, so the CLI prints the message without a traceback) and the program
declares nothing. Every message names the key, the value and the rule.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin
from urllib.parse import parse_qs, urlsplit

import pulumi
import yaml
from pulumi.runtime.config import is_config_secret
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from components.naming import resource_group_name
from components.regions import AZURE_REGIONS
from components.types import (
    GUID,
    MANAGED_BY,
    PROJECT,
    RESOURCE_GROUP,
    STACK_NAME,
    Bool,
    ConfigError,
    Float,
    Guid,
    Int,
    Principals,
    PrincipalType,
    VmSize,
)

# Read from here by the rest of the program.
__all__ = ["MANAGED_BY", "PROJECT", "ConfigError"]


class Role(StrEnum):
    """What a stack builds. `shared` is the long-lived platform; `environment` serves models."""

    SHARED = "shared"
    ENVIRONMENT = "environment"


def _has_letter_or_digit(value: str) -> str:
    # A tag of spaces or punctuation only says nothing about who owns or pays for a resource.
    if not any(c.isalnum() for c in value) or value != value.strip():
        raise ValueError("blank, or spaces around it")
    return value


def _azure_region(value: str) -> str:
    if value not in AZURE_REGIONS:
        raise ValueError("not an Azure region")
    return value


@dataclass(frozen=True)
class RequiredBecause:
    """Beside a required key inside a section: why the stack's role or platform needs it."""

    reason: str


class _Section(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, validate_by_name=False)


class RegistryConfig(_Section):
    # Premium by default: ACI pulls by managed identity only from a Premium registry
    # (docs/assumptions.md, "Serving"); Basic or Standard only suits a platform served on AKS.
    sku: Annotated[
        Literal["Basic", "Standard", "Premium"],
        Field(description="one of Basic, Standard, Premium"),
    ] = "Premium"


class AmlComputeConfig(_Section):
    name: Annotated[
        str,
        Field(
            pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,14}[a-zA-Z0-9]$",
            description="3-16 letters, digits or hyphens, starting with a letter and not ending with a hyphen",
        ),
    ] = "cpu-cluster"
    vm_size: Annotated[VmSize, Field(description="an Azure VM size such as Standard_DS3_v2")] = "Standard_DS3_v2"
    max_nodes: Annotated[Int, Field(ge=1, le=100, description="an integer 1..100")] = 4
    idle_seconds_before_scale_down: Annotated[
        Int, Field(ge=60, le=86400, description="an integer 60..86400 (seconds)")
    ] = 300
    low_priority: Annotated[Bool, Field(description="true or false")] = False


class MonitoringConfig(_Section):
    retention_days: Annotated[Int, Field(ge=30, le=730, description="an integer 30..730 (days)")] = 30


class KeyVaultConfig(_Section):
    soft_delete_retention_days: Annotated[Int, Field(ge=7, le=90, description="an integer 7..90 (days)")] = 90


class StorageConfig(_Section):
    sku: Annotated[
        Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS"],
        Field(description="one of Standard_LRS, Standard_ZRS, Standard_GRS, Standard_RAGRS"),
    ] = "Standard_LRS"


class ServingConfig(_Section):
    """The serving contract: one definition for ACI, the Helm chart and the health check.
    Port and routes default to the Azure ML inference HTTP server's."""

    platform: Annotated[Literal["aci", "aks"], Field(description="one of aci, aks")] = "aci"
    repository: Annotated[
        str,
        Field(
            pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
            max_length=64,
            description="a registry repository: lowercase letters, digits and . _ - /, at most 64",
        ),
    ] = "estimation-engine"
    model_name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$",
            description="an Azure ML model name: 1-60 letters, digits or _ . - (it feeds the image tag)",
        ),
    ] = "estimation-model"
    port: Annotated[Int, Field(ge=1, le=65535, description="an integer 1..65535")] = 5001
    health_path: Annotated[
        str, Field(pattern=r"^/[A-Za-z0-9._~/-]{0,100}$", description="an HTTP path starting with /")
    ] = "/"
    score_path: Annotated[
        str, Field(pattern=r"^/[A-Za-z0-9._~/-]{0,100}$", description="an HTTP path starting with /")
    ] = "/score"
    cpu: Annotated[Float, Field(ge=0.25, le=4, description="a number of cores 0.25..4")] = 1.0
    memory_gb: Annotated[Float, Field(ge=0.5, le=16, description="a number of GB 0.5..16")] = 1.5


class AciServingConfig(ServingConfig):
    """The serving contract: one definition for the container group, the Helm chart and the
    health check. Port and routes default to the Azure ML inference HTTP server's."""

    platform: Annotated[Literal["aci"], Field(description="one of aci, aks")] = "aci"


class AksServingConfig(ServingConfig):
    """The serving contract on AKS (see `serving` on ACI)."""

    platform: Annotated[Literal["aks"], Field(description="one of aci, aks")]


class HealthCheckConfig(_Section):
    attempts: Annotated[Int, Field(ge=1, le=60, description="an integer 1..60")] = 20
    interval_seconds: Annotated[Int, Field(ge=1, le=60, description="an integer 1..60 (seconds)")] = 15


class AciConfig(_Section):
    # `Unsecure` is left out on purpose: a freed label could be claimed by anyone
    # (subdomain takeover).
    dns_name_label_reuse: Annotated[
        Literal["TenantReuse", "SubscriptionReuse", "ResourceGroupReuse", "NoReuse"],
        Field(description="one of TenantReuse, SubscriptionReuse, ResourceGroupReuse, NoReuse"),
    ] = "TenantReuse"
    restart_policy: Annotated[Literal["Always", "OnFailure"], Field(description="one of Always, OnFailure")] = "Always"


# A node count of a pool.
_NodeCount = Annotated[Int, Field(ge=1, le=100, description="an integer 1..100")]


class NodePoolConfig(_Section):
    """An autoscaling node pool; its defaults are the user pool's (the engine's nodes)."""

    vm_size: Annotated[VmSize, Field(description="an Azure VM size such as Standard_D4ds_v5")] = "Standard_D4ds_v5"
    min_count: _NodeCount = 1
    max_count: _NodeCount = 5

    @model_validator(mode="after")
    def _max_not_below_min(self) -> NodePoolConfig:
        if self.max_count < self.min_count:
            raise ValueError(f"maxCount ({self.max_count}) must not be below minCount ({self.min_count})")
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


class ExistingClusterConfig(_Section):
    name: Annotated[
        str,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,61}[A-Za-z0-9]$", description="an AKS cluster name (1-63)"),
    ]
    resource_group: Annotated[
        str, Field(pattern=r"^[-\w.()]{0,89}[-\w()]$", description="a resource group name (1-90)")
    ]


class IngressConfig(_Section):
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


class DeployerConfig(_Section):
    """An Entra ID principal that runs `pulumi up --stack prod` besides the pipelines' identity
    (e.g. the team's group for a first deploy by hand) and so gets cluster-admin."""

    object_id: Annotated[str, Field(pattern=GUID, description="an Entra ID object id (a lowercase GUID)")]
    principal_type: Annotated[PrincipalType, Field(description="one of User, Group, ServicePrincipal")]


# Microsoft Learn ("Use Azure RBAC for Kubernetes Authorization"): a new role assignment can
# take up to five minutes to reach the cluster's authorization server.
RBAC_PROPAGATION_SECONDS = 300


class AccessWaitConfig(_Section):
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


class AksConfig(_Section):
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
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must not be below minReplicas ({self.min_replicas})")
        return self


_EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"


def _no_whitespace(value: Any) -> Any:
    if isinstance(value, str) and any(c.isspace() for c in value):
        raise ValueError("contains whitespace")
    return value


class DevOpsConfig(_Section):
    """The Azure DevOps organization and project the pipelines live in (shared stack)."""

    organization_url: Annotated[
        str,
        Field(
            pattern=r"^https://dev\.azure\.com/[A-Za-z0-9][A-Za-z0-9-]{0,48}/?$",
            description="an Azure DevOps organization URL such as https://dev.azure.com/digitre",
        ),
    ]
    project: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$", description="an Azure DevOps project name (1-64)")
    ] = "DigitRE"
    create_project: Annotated[Bool, Field(description="true or false")] = False
    subscription_name: Annotated[
        str, Field(min_length=1, max_length=64, description="the Azure subscription's display name (1-64)")
    ] = "DigitRE"
    approver_groups: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=256)], ...],
        Field(
            min_length=1,
            max_length=10,
            description="a list of 1-10 Azure DevOps group names that approve the environments marked approval",
        ),
    ] = ("Project Administrators",)
    approval_timeout_minutes: Annotated[Int, Field(ge=60, le=43200, description="an integer 60..43200 (minutes)")] = (
        1440
    )
    notification_from: Annotated[str, Field(pattern=_EMAIL, description="an e-mail address")]
    notification_to: Annotated[
        tuple[Annotated[str, Field(pattern=_EMAIL)], ...],
        Field(min_length=1, max_length=50, description="a list of 1-50 e-mail addresses"),
    ]
    pulumi_backend_url: Annotated[
        str,
        Field(
            pattern=r"^(azblob://[a-z0-9][a-z0-9-]{2,62}(\?.*)?|https://api\.pulumi\.com)$",
            description="the pipelines' Pulumi backend: azblob://<container>?storage_account=<account> or https://api.pulumi.com",
        ),
    ]
    pulumi_secrets_provider: Annotated[
        str,
        Field(
            pattern=r"^azurekeyvault://[a-z0-9-]{3,24}\.vault\.azure\.net/keys/[A-Za-z0-9-]{1,127}$",
            description="the pipelines' secrets provider: azurekeyvault://<vault>.vault.azure.net/keys/<key>",
        ),
    ]
    pulumi_state_storage_account: Annotated[
        str | None,
        Field(pattern=r"^[a-z0-9]{3,24}$", description="a storage account name (3-24 lowercase letters or digits)"),
    ] = None
    # Where the state account lives: the pipelines' identities get their blob roles on its
    # container, so nobody grants them by hand.
    pulumi_state_resource_group: Annotated[
        str | None,
        Field(
            pattern=RESOURCE_GROUP,
            description="the resource group of the state storage account (1-90 characters, not ending with a period)",
        ),
    ] = None
    # The teardown mail's SendGrid key. The shared stack writes it into the Key Vault before
    # the Key Vault-linked variable group is created (the provider lists the vault's secrets
    # on create), so the first `pulumi up` works in one run. Only ever a Pulumi secret.
    sendgrid_api_key: Annotated[
        SecretStr,
        BeforeValidator(_no_whitespace),
        Field(
            min_length=20,
            max_length=200,
            description="a SendGrid API key (20-200 characters, no spaces), set with "
            "`pulumi config set --path --secret digitre-mlops:devops.sendgridApiKey`",
        ),
    ]
    # The people who run the first deploy's `az keyvault key create` (and later `pulumi` with the
    # Key Vault secrets provider): object id -> principal type, granted Key Vault Crypto
    # Officer on the shared vault (RBAC mode: owning the subscription is not enough).
    key_vault_crypto_officers: Principals = {}
    # The people who deploy `shared`: granted Key Vault Secrets Officer on the shared vault.
    # The stack writes its secret through Azure Resource Manager, but azure-native deletes it
    # through the vault's data plane, so without this no one could destroy or rename it.
    key_vault_secrets_officers: Principals = {}

    # Secrets a person sets at bootstrap with `pulumi config set --path --secret`; a
    # committed stack file carries them only encrypted.
    BOOTSTRAP_SECRETS: ClassVar[tuple[str, ...]] = ("sendgridApiKey",)

    @model_validator(mode="after")
    def _secrets_are_secret_and_state_is_located(self) -> DevOpsConfig:
        if not pulumi.runtime.is_config_secret(f"{PROJECT}:devops"):
            # Never echo the value: it would land in the log of whoever runs `pulumi`.
            raise ValueError(
                "sendgridApiKey is stored in plain text: set it with "
                "`pulumi config set --path --secret digitre-mlops:devops.sendgridApiKey <key>`"
            )
        if self.pulumi_backend_url.startswith("azblob://"):
            named = self.state_storage_account
            if named is None:
                raise ValueError(
                    "pulumiBackendUrl has no storage_account=<account> and pulumiStateStorageAccount is not set"
                )
            if self.pulumi_state_storage_account not in (None, named):
                raise ValueError(
                    f"pulumiStateStorageAccount ({self.pulumi_state_storage_account}) is not the account "
                    f"of pulumiBackendUrl ({named})"
                )
            if self.pulumi_state_resource_group is None:
                raise ValueError(
                    "pulumiStateResourceGroup is required with an azblob:// backend "
                    "(the pipelines' identities get their state roles on its container)"
                )
        return self

    @property
    def state_container(self) -> str | None:
        """The blob container of an azblob:// backend."""
        url = urlsplit(self.pulumi_backend_url)
        return url.netloc if url.scheme == "azblob" else None

    @property
    def state_storage_account(self) -> str | None:
        url = urlsplit(self.pulumi_backend_url)
        if url.scheme != "azblob":
            return None
        named = parse_qs(url.query).get("storage_account")
        return named[0] if named else self.pulumi_state_storage_account


class EnvironmentConfig(_Section):
    """One serving environment as the shared stack knows it: what sets it apart from the others.
    Its Azure DevOps environment's checks, the rights its deploys get, its preview's reads and
    the policy pack all follow from this entry, never from its name."""

    # What serves it. "May it be plain HTTP" and "the rights its deploys need" are no columns
    # of their own because the platform decides both: ACI answers plain HTTP on a public IP
    # (fit for test traffic only) and its deploys need no grant; AKS answers HTTPS only,
    # through the HTTPS entry, and its deploys must assign cluster-admin and, with a DNS zone,
    # DNS Zone Contributor in its group (components/devops/platform.py). Separate fields could
    # only disagree with the platform: an ACI environment cannot be made HTTPS-only, nor an AKS
    # one deployed without those grants.
    serving_platform: Annotated[Literal["aci", "aks"], Field(description="one of aci, aks")] = "aci"
    # Branch control on its Azure DevOps environment: main only, branch protection verified.
    main_only: Annotated[Bool, Field(description="true or false (deploys from main only, protection verified)")] = False
    # An approval by devops.approverGroups (the requester cannot approve) and an exclusive
    # lock, so one deploy at a time.
    approval: Annotated[Bool, Field(description="true or false (an approval and one deploy at a time)")] = False


_ROLES = "one of shared, environment"


class _Stack(_Section):
    """What every stack sets, whatever its role."""

    stack: Annotated[
        str,
        Field(
            pattern=STACK_NAME,
            description="2-8 lowercase letters or digits starting with a letter (it feeds Azure resource names)",
        ),
    ]
    role: Annotated[Role, Field(description=_ROLES)]
    owner: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9 ._@+-]{1,256}$",
            description="1-256 letters, digits, spaces or . _ @ + -, with a letter or digit and no space "
            "at either end (the owner tag, e.g. a team mail)",
        ),
        AfterValidator(_has_letter_or_digit),
    ]
    cost_center: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9._-]{1,64}$",
            description="1-64 letters, digits or . _ -, with a letter or digit (the cost-center tag)",
        ),
        AfterValidator(_has_letter_or_digit),
    ]
    location: Annotated[
        str,
        Field(description="an Azure region's programmatic name such as westeurope (the list: components/regions.py)"),
        AfterValidator(_azure_region),
    ] = "westeurope"
    prefix: Annotated[
        str,
        Field(
            pattern=STACK_NAME,
            description="2-8 lowercase letters or digits starting with a letter (it starts every Azure name)",
        ),
    ] = "digitre"

    @property
    def tags(self) -> dict[str, str]:
        """The tags every taggable Azure resource of this stack carries."""
        return {
            "project": PROJECT,
            "environment": self.stack,
            "managed-by": MANAGED_BY,
            "owner": self.owner,
            "cost-center": self.cost_center,
        }


class SharedStackConfig(_Stack):
    """The shared platform's stack: what every environment uses, and the environment table."""

    role: Annotated[Literal[Role.SHARED], Field(description=_ROLES)]
    # No default: which environments exist, and what guards them, is the platform's own choice.
    environments: Annotated[
        dict[Annotated[str, Field(pattern=STACK_NAME)], EnvironmentConfig],
        Field(
            min_length=1,
            max_length=10,
            description="a map of 1-10 environment stack names (2-8 lowercase letters or digits each) to objects "
            "with keys servingPlatform, mainOnly, approval",
        ),
    ]
    devops: DevOpsConfig
    registry: RegistryConfig = RegistryConfig()
    aml_compute: AmlComputeConfig = AmlComputeConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    key_vault: KeyVaultConfig = KeyVaultConfig()
    storage: StorageConfig = StorageConfig()


class EnvironmentStackConfig(_Stack):
    """What an environment's stack sets on either serving platform."""

    role: Annotated[Literal[Role.ENVIRONMENT], Field(description=_ROLES)]
    shared_stack: Annotated[
        str,
        Field(
            pattern=r"^([A-Za-z0-9._-]{1,100}/){0,2}[A-Za-z0-9._-]{1,100}$",
            description="a stack reference such as organization/digitre-mlops/shared",
        ),
    ] = f"organization/{PROJECT}/shared"
    model_version: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$",
            description="a registered model version: 1-30 letters, digits or . _ - (it feeds the image tag)",
        ),
    ] = None
    serving: ServingConfig
    health_check: HealthCheckConfig = HealthCheckConfig()


class AciStackConfig(EnvironmentStackConfig):
    """An environment served by a container group (ACI): plain HTTP on a public address."""

    serving: AciServingConfig = AciServingConfig()
    aci: AciConfig = AciConfig()


class AksStackConfig(EnvironmentStackConfig):
    """An environment served by a Helm release on AKS, over HTTPS only."""

    serving: AksServingConfig
    aks: AksConfig


def _platform(raw: dict[str, Any]) -> str:
    # Anything but aks is validated as aci, whose model then names a bad platform by its rule.
    serving = raw.get("serving")
    return "aks" if isinstance(serving, dict) and serving.get("platform") == "aks" else "aci"


def _role(raw: dict[str, Any]) -> Any:
    return raw.get("role")


# A stack's config: its role picks the model, and an environment's serving platform picks the
# section it reads, so a key the stack does not read is an unknown key of its own model.
StackConfig = Annotated[
    Annotated[SharedStackConfig, Tag(Role.SHARED.value)]
    | Annotated[
        Annotated[
            Annotated[AciStackConfig, Tag("aci")] | Annotated[AksStackConfig, Tag("aks")], Discriminator(_platform)
        ],
        Tag(Role.ENVIRONMENT.value),
    ],
    Discriminator(_role),
]
_STACK = TypeAdapter[SharedStackConfig | AciStackConfig | AksStackConfig](StackConfig)


def _variants(annotation: Any, tags: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type[_Stack]]]:
    """Each model of the union with the tags that select it, e.g. (environment, aks)."""
    if get_origin(annotation) is Annotated:
        inner, *meta = get_args(annotation)
        tags += tuple(m.tag for m in meta if isinstance(m, Tag))
        yield from _variants(inner, tags)
    elif isinstance(annotation, type) and issubclass(annotation, _Stack):
        yield tags, annotation
    else:
        for member in get_args(annotation):
            yield from _variants(member, tags)


_VARIANTS = dict(_variants(StackConfig))


def load_config(
    stack: str | None = None, config: pulumi.Config | None = None, *, deployed_to: Collection[str] = ()
) -> StackConfig:
    """Read and validate all of this stack's config; raise ConfigError naming every problem.
    `deployed_to` names the environments a pipeline deploys to (the pipeline catalogue's), which
    the shared stack's table must include."""
    stack = pulumi.get_stack() if stack is None else stack
    config = pulumi.Config(PROJECT) if config is None else config
    declared = {_alias(n): f for model in _VARIANTS.values() for n, f in model.model_fields.items() if n != "stack"}
    raw: dict[str, Any] = {"stack": stack}
    for key in sorted(declared.keys() | _configured_keys()):
        value = config.get(key)
        if value is not None:
            raw[key] = _parse_object(value) if key in declared and _is_structured(declared[key]) else value
    try:
        cfg = _STACK.validate_python(raw)
    except ValidationError as err:
        raise ConfigError([_describe(e, stack) for e in err.errors()]) from None
    problems = _secrets_in_plain_text()
    if isinstance(cfg, SharedStackConfig):
        problems += _environment_problems(cfg, deployed_to)
    if isinstance(cfg, AksStackConfig):
        problems += _zone_outside_own_group(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


# Sections whose values reach plain text (the post-deploy check's environment, its logs):
# a Pulumi secret there would be decrypted and leak, so it is refused instead.
_PLAIN_TEXT_SECTIONS = ("health_check",)


def _secrets_in_plain_text() -> list[str]:
    return [
        f"{PROJECT}:{_alias(name)} must not be a secret: it reaches the post-deploy check in plain text"
        for name in _PLAIN_TEXT_SECTIONS
        if is_config_secret(f"{PROJECT}:{_alias(name)}")
    ]


def _configured_keys() -> set[str]:
    """This project's keys in the stack's config, as the engine handed them to the program
    (a typo'd key would otherwise be silently ignored)."""
    given = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    return {key.removeprefix(f"{PROJECT}:") for key in given if key.startswith(f"{PROJECT}:")}


def _alias(field_name: str) -> str:
    return to_camel(field_name)


def _parse_object(value: str) -> Any:
    # Structured config arrives as JSON text; anything else is passed through so the
    # model reports "must be an object" with the value the user wrote.
    try:
        return json.loads(value)
    except ValueError:
        return value


def _zone_outside_own_group(cfg: AksStackConfig) -> list[str]:
    """The stack grants the public entry's identity DNS Zone Contributor on its zone, and the
    pipelines' identity that deploys it may assign roles in the environment's own resource group only
    (components/devops/platform.py): a zone elsewhere fails the deploy at the grant."""
    zone = cfg.aks.ingress.dns_zone_id
    group = resource_group_name(cfg.prefix, cfg.stack)
    # /subscriptions/<s>/resourceGroups/<g>/...; Azure resource group names ignore case.
    if zone is None or zone.split("/")[4].lower() == group.lower():
        return []
    return [
        f"{PROJECT}:aks.ingress.dnsZoneId must be a DNS zone in this environment's resource group {group}, "
        f"the only group where the pipelines' identity may grant the public entry DNS Zone Contributor, got {zone}"
    ]


def _environment_problems(cfg: SharedStackConfig, deployed_to: Collection[str]) -> list[str]:
    """Names that would declare the shared platform's own resource group twice, and environments
    a pipeline deploys to that the table lacks."""
    problems = []
    reserved = sorted({env for env in cfg.environments if env in (Role.SHARED.value, cfg.stack)})
    if reserved:
        problems.append(
            f"{PROJECT}:environments must not name the shared platform itself "
            f"({Role.SHARED.value!r} or this stack, {cfg.stack!r}), got {_show(list(cfg.environments))}: "
            f"remove {', '.join(reserved)}"
        )
    missing = sorted(set(deployed_to) - set(cfg.environments))
    if missing:
        problems.append(
            f"{PROJECT}:environments must include every environment a pipeline deploys to "
            f"({', '.join(sorted(deployed_to))}), got {_show(list(cfg.environments))}: missing {', '.join(missing)}"
        )
    return problems


def _describe(error: Any, stack: str) -> str:
    """One line naming the key, the value and the rule, from pydantic's own error: its type,
    where it is (the tags of the model the stack's role and platform picked, then the key) and
    the value given."""
    kind, loc = error["type"], tuple(str(part) for part in error["loc"] if part != "[key]")
    tags = max((t for t in _VARIANTS if loc[: len(t)] == t), key=len, default=())
    model, loc = _VARIANTS.get(tags, _Stack), loc[len(tags) :]
    if kind.startswith("union_tag"):  # the role picks the model: it is missing, or no role
        kind, loc, error = kind.replace("union_tag_not_found", "missing"), ("role",), {**error, **error["ctx"]}
    key = "stack name" if loc == ("stack",) else f"{PROJECT}:{'.'.join(loc)}"
    path = _fields_at(model, loc)
    if kind == "extra_forbidden":
        readers = [t for t, m in _VARIANTS.items() if len(loc) == 1 and _field(m, loc[0])]
        remove = f": remove it from Pulumi.{stack}.yaml"
        platforms = [t[-1] for t in readers if t[0] == tags[0]]
        if platforms:
            return f"{key} is only read when serving.platform is {platforms[0]}, not {tags[-1]}{remove}"
        if readers:
            return f"{key} is only read by stacks of another role, not role {tags[0]}{remove}"
        return f"{key} is not a known key; known keys: {', '.join(_known_keys(model, loc[:-1]))}"
    if kind == "missing":
        return f"{key} is required{_required_by(tags, loc, path)}: set it to {_rule(model, loc)}"
    if kind == "value_error" and path and _is_section(path[-1]):
        # A rule across keys of one object (e.g. max below min).
        return f"{key} is invalid: {error['msg'].removeprefix('Value error, ')}"
    rule = _rule(model, loc) or error["msg"]
    if path and SecretStr in (path[-1].annotation, *get_args(path[-1].annotation)):
        return f"{key} must be {rule}"  # the value is a secret: never repeat it
    return f"{key} must be {rule}, got {_show(error.get('tag', error['input']))}"


def _required_by(tags: tuple[str, ...], loc: tuple[str, ...], path: list[FieldInfo]) -> str:
    """What makes a missing key required: the role or serving platform whose model alone
    declares it (for a key of its own, or one that says why it is required)."""
    reasons = [m.reason for m in path[-1].metadata if isinstance(m, RequiredBecause)] if path else []
    if not tags or (len(loc) > 1 and not reasons):
        return ""
    why = "".join(f" ({reason})" for reason in reasons)
    readers = [t for t, m in _VARIANTS.items() if _field(m, loc[0])]
    if readers == [t for t in _VARIANTS if t[0] == tags[0]]:
        return f" for role {tags[0]}{why}"
    return f" when serving.platform is {tags[-1]}{why}" if readers == [tags] else why


def _field(model: Any, key: str) -> FieldInfo | None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    return next((f for n, f in model.model_fields.items() if key in (n, _alias(n))), None)


def _fields_at(model: type[BaseModel], loc: tuple[str, ...]) -> list[FieldInfo]:
    """The fields along `loc`, from `model` down; empty when `loc` names no field."""
    found: list[FieldInfo] = []
    keyed = False
    for part in loc:
        if found and (keyed or part.isdigit()):
            keyed = False
            continue  # an item of a list or a map: its rule is the list's or the map's
        field = _field(_model_of(found[-1].annotation) if found else model, part)
        if field is None:
            return []
        found.append(field)
        keyed = get_origin(field.annotation) is dict
    return found


def _model_of(annotation: Any) -> Any:
    """The model inside `Model | None` or a list or map of models, else the annotation itself."""
    members = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    return members[0] if members else annotation


def _rule(model: type[BaseModel], loc: tuple[str, ...]) -> str:
    path = _fields_at(model, loc)
    if not path:
        return ""
    if path[-1].description:
        return str(path[-1].description)
    return f"an object with keys {', '.join(_known_keys(model, loc))}" if _is_section(path[-1]) else ""


def _is_structured(field: FieldInfo) -> bool:
    """Objects and lists arrive as JSON text."""
    return _is_section(field) or get_origin(field.annotation) in (tuple, list, dict)


def _is_section(field: FieldInfo) -> bool:
    model = _model_of(field.annotation)
    return isinstance(model, type) and issubclass(model, _Section)


def _known_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    path = _fields_at(model, loc)
    inner = _model_of(path[-1].annotation) if path else model
    return [_alias(n) for n in inner.model_fields if n != "stack"]


def _show(value: Any) -> str:
    if isinstance(value, str) and value and value.strip() == value:
        return value
    return json.dumps(value)


class StackFileError(ValueError):
    """A stack file read outside a Pulumi program (by a pipeline's command) breaks a rule."""


def environment_servings(root: Path) -> dict[str, ServingConfig]:
    """Each environment stack file's `serving` section under `root`, validated as the stack
    validates it: what a pipeline reads to name the image the stacks will pull."""
    found: dict[str, ServingConfig] = {}
    for path in sorted(root.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        if config.get(f"{PROJECT}:role") != Role.ENVIRONMENT.value:
            continue
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        section: Any = config.get(f"{PROJECT}:serving", {})
        if isinstance(section, str):  # `pulumi config set` may store an object as JSON text
            section = json.loads(section)
        try:
            found[stack] = ServingConfig.model_validate(section)
        except ValidationError as err:
            raise StackFileError(f"{path.name}: {PROJECT}:serving is invalid: {err}") from None
    if not found:
        raise StackFileError(f"no environment stack file (Pulumi.<stack>.yaml with role environment) in {root}")
    return found


def check_model_version(version: str) -> str:
    """`version` if the stacks accept it as `modelVersion`, so a pipeline names no image they refuse."""
    field = EnvironmentStackConfig.model_fields["model_version"]
    try:
        TypeAdapter(Annotated[str, *field.metadata]).validate_python(version)
    except ValidationError:
        raise StackFileError(f"{version!r} is not a model version: {field.description}") from None
    return version
