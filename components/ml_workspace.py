"""The Azure Machine Learning workspace and the stateful resources it depends on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault, machinelearningservices, storage

from components import roles


@dataclass(frozen=True)
class MlWorkspaceArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    key_vault_name: str
    storage_account_name: str
    storage_sku: str
    soft_delete_retention_days: int
    tenant_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    app_insights_id: pulumi.Input[str]
    tags: Mapping[str, str]


class MlWorkspace(pulumi.ComponentResource):
    """Owns the Key Vault, the storage account and the AML workspace (system-assigned
    identity) wired to them, the shared registry and Application Insights, plus the data-plane
    roles the workspace identity needs. The vault, the storage and the workspace hold models,
    data and secrets, so they are protected."""

    def __init__(self, name: str, args: MlWorkspaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:ml:MlWorkspace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True))
        tags = dict(args.tags)

        self.key_vault = keyvault.Vault(
            f"{name}-kv",
            vault_name=args.key_vault_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=args.soft_delete_retention_days,
                enable_purge_protection=True,
            ),
            tags=tags,
            opts=stateful,
        )
        # Shared-key access stays on: AML's default datastores (the workspace blob store and
        # the file share holding job code snapshots) are created with account-key credentials.
        self.storage_account = storage.StorageAccount(
            f"{name}-st",
            account_name=args.storage_account_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=args.storage_sku),
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            allow_cross_tenant_replication=False,
            tags=tags,
            opts=stateful,
        )
        self.workspace = machinelearningservices.Workspace(
            f"{name}-mlw",
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            friendly_name="DigitRE estimation engine",
            identity=machinelearningservices.ManagedServiceIdentityArgs(
                type=machinelearningservices.ManagedServiceIdentityType.SYSTEM_ASSIGNED
            ),
            sku=machinelearningservices.SkuArgs(name="Basic", tier=machinelearningservices.SkuTier.BASIC),
            key_vault=self.key_vault.id,
            storage_account=self.storage_account.id,
            container_registry=args.registry_id,
            application_insights=args.app_insights_id,
            tags=tags,
            opts=stateful,
        )
        principal_id = self.workspace.identity.apply(_principal_id)
        grants = {
            "acrpush": (roles.ACR_PUSH, args.registry_id),
            "kv-admin": (roles.KEY_VAULT_ADMINISTRATOR, self.key_vault.id),
            "blob": (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, self.storage_account.id),
            "file": (roles.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR, self.storage_account.id),
        }
        self.role_assignments = {
            key: roles.grant(
                f"{name}-{key}",
                role=role,
                principal_id=principal_id,
                scope=scope,
                subscription_id=args.subscription_id,
                opts=child,
            )
            for key, (role, scope) in grants.items()
        }
        self.workspace_name = self.workspace.name
        self.register_outputs(
            {
                "workspaceName": self.workspace_name,
                "workspaceId": self.workspace.id,
                "keyVaultId": self.key_vault.id,
                "storageAccountId": self.storage_account.id,
            }
        )


def _principal_id(identity: machinelearningservices.outputs.ManagedServiceIdentityResponse | None) -> str:
    if identity is None:
        raise ValueError("the AML workspace reported no managed identity; it is declared SystemAssigned")
    return identity.principal_id
