"""The sections the shared stack reads: the ML platform's, the Azure DevOps side's, and the
environment table."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

from pulumi.runtime.config import is_config_secret
from pydantic import BeforeValidator, Field, SecretStr, model_validator

from components.config.base import Section
from components.config.serving import Platform
from components.types import PROJECT, RESOURCE_GROUP, STORAGE_ACCOUNT, Bool, Int, Principals, VmSize


class RegistryConfig(Section):
    # Premium by default: ACI pulls by managed identity only from a Premium registry
    # (docs/assumptions.md, "Serving"); Basic or Standard only suits a platform served on AKS.
    sku: Annotated[
        Literal["Basic", "Standard", "Premium"],
        Field(description="one of Basic, Standard, Premium"),
    ] = "Premium"


class AmlComputeConfig(Section):
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


class MonitoringConfig(Section):
    retention_days: Annotated[Int, Field(ge=30, le=730, description="an integer 30..730 (days)")] = 30


class KeyVaultConfig(Section):
    soft_delete_retention_days: Annotated[Int, Field(ge=7, le=90, description="an integer 7..90 (days)")] = 90


class StorageConfig(Section):
    sku: Annotated[
        Literal["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS"],
        Field(description="one of Standard_LRS, Standard_ZRS, Standard_GRS, Standard_RAGRS"),
    ] = "Standard_LRS"


_EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"


def _no_whitespace(value: Any) -> Any:
    if isinstance(value, str) and any(c.isspace() for c in value):
        raise ValueError("contains whitespace")
    return value


class DevOpsConfig(Section):
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
        Field(pattern=STORAGE_ACCOUNT, description="a storage account name (3-24 lowercase letters or digits)"),
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
    # (pydantic copies a default per model; ruff cannot see that Section is one, in another module.)
    key_vault_crypto_officers: Principals = {}  # noqa: RUF012
    # The people who deploy `shared`: granted Key Vault Secrets Officer on the shared vault.
    # The stack writes its secret through Azure Resource Manager, but azure-native deletes it
    # through the vault's data plane, so without this no one could destroy or rename it.
    key_vault_secrets_officers: Principals = {}  # noqa: RUF012

    # Secrets a person sets at bootstrap with `pulumi config set --path --secret`; a
    # committed stack file carries them only encrypted.
    BOOTSTRAP_SECRETS: ClassVar[tuple[str, ...]] = ("sendgridApiKey",)

    @model_validator(mode="after")
    def _secrets_are_secret_and_state_is_located(self) -> DevOpsConfig:
        if not is_config_secret(f"{PROJECT}:devops"):
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


class EnvironmentConfig(Section):
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
    serving_platform: Platform = "aci"
    # Branch control on its Azure DevOps environment: main only, branch protection verified.
    main_only: Annotated[Bool, Field(description="true or false (deploys from main only, protection verified)")] = False
    # An approval by devops.approverGroups (the requester cannot approve) and an exclusive
    # lock, so one deploy at a time.
    approval: Annotated[Bool, Field(description="true or false (an approval and one deploy at a time)")] = False
