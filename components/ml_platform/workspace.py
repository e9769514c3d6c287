"""The Azure Machine Learning workspace and the stateful resources it depends on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault, machinelearningservices, managedidentity, storage

from components import roles

# Set once at creation, never changed by Azure afterwards (docs/assumptions.md, "Changes
# Azure cannot apply in place").
VAULT_IMMUTABLE_PROPERTIES = ("properties.enableSoftDelete", "properties.softDeleteRetentionInDays")


@dataclass(frozen=True)
class MlWorkspaceArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    identity_name: str
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
    """Owns the Key Vault, the storage account and the AML workspace wired to them, the
    shared registry and Application Insights, and the workspace's user-assigned identity with
    every role it needs. The vault, the storage and the workspace hold models, data and
    secrets, and the workspace runs as the identity, so the four are protected.

    Why a user-assigned identity: with its default system-assigned identity, Azure ML makes
    role assignments for that identity by itself, so declaring one it also makes fails with
    RoleAssignmentExists. With a user-assigned identity the assignments are ours to make, and
    Microsoft lists the ones a workspace needs (docs/assumptions.md, "Azure Machine
    Learning"): all are declared here, before the workspace but for the one on the workspace
    itself."""

    def __init__(self, name: str, args: MlWorkspaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:ml_platform:MlWorkspace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True))
        tags = dict(args.tags)

        # Azure never changes a vault's soft-delete setting or retention once set: a change is
        # a replacement, which `protect` refuses at preview. Never delete-first: a deleted
        # vault's name stays taken for the retention period (docs/assumptions.md).
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
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(replace_on_changes=list(VAULT_IMMUTABLE_PROPERTIES))
            ),
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
        # The workspace runs as this identity: a new one would be a new principal, without
        # the grants the workspace was provisioned with.
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-id",
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=tags,
            opts=stateful,
        )
        # Created before the workspace: it validates and uses them as it is provisioned.
        self.role_assignments = {
            key: roles.grant(
                f"{name}-{key}",
                role=role,
                principal_id=self.identity.principal_id,
                scope=scope,
                subscription_id=args.subscription_id,
                opts=child,
            )
            for key, (role, scope) in workspace_dependency_grants(
                key_vault_id=self.key_vault.id,
                storage_account_id=self.storage_account.id,
                registry_id=args.registry_id,
                app_insights_id=args.app_insights_id,
            ).items()
        }
        self.workspace = machinelearningservices.Workspace(
            f"{name}-mlw",
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            friendly_name="DigitRE estimation engine",
            identity=machinelearningservices.ManagedServiceIdentityArgs(
                type=machinelearningservices.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.identity.id],
            ),
            primary_user_assigned_identity=self.identity.id,
            sku=machinelearningservices.SkuArgs(name="Basic", tier=machinelearningservices.SkuTier.BASIC),
            key_vault=self.key_vault.id,
            storage_account=self.storage_account.id,
            container_registry=args.registry_id,
            application_insights=args.app_insights_id,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=list(self.role_assignments.values()))
            ),
        )
        # The one grant whose scope exists only once the workspace does.
        self.role_assignments["mlw-contributor"] = roles.grant(
            f"{name}-mlw-contributor",
            role=roles.CONTRIBUTOR,
            principal_id=self.identity.principal_id,
            scope=self.workspace.id,
            subscription_id=args.subscription_id,
            opts=child,
        )
        self.workspace_name = self.workspace.name
        self.workspace_id = self.workspace.id
        self.key_vault_id = self.key_vault.id
        self.key_vault_name = self.key_vault.name
        self.storage_account_name = self.storage_account.name
        self.register_outputs(
            {
                "workspaceName": self.workspace_name,
                "workspaceId": self.workspace_id,
                "keyVaultId": self.key_vault_id,
                "storageAccountId": self.storage_account.id,
            }
        )


def workspace_dependency_grants(
    *,
    key_vault_id: pulumi.Input[str],
    storage_account_id: pulumi.Input[str],
    registry_id: pulumi.Input[str],
    app_insights_id: pulumi.Input[str],
) -> dict[str, tuple[str, pulumi.Input[str]]]:
    """The roles Microsoft documents as required on a user-assigned workspace identity, on
    the workspace's associated resources (the vault uses the RBAC permission model)."""
    return {
        "kv-contributor": (roles.CONTRIBUTOR, key_vault_id),
        "kv-admin": (roles.KEY_VAULT_ADMINISTRATOR, key_vault_id),
        "st-contributor": (roles.CONTRIBUTOR, storage_account_id),
        # Documented as optional: it enables data preview in the studio.
        "st-blob": (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, storage_account_id),
        "acr-contributor": (roles.CONTRIBUTOR, registry_id),
        "appi-contributor": (roles.CONTRIBUTOR, app_insights_id),
    }
