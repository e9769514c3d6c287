"""ML workspace: Key Vault, storage and the AML workspace, protected and least-privilege."""

from __future__ import annotations

from components import roles
from components.config import PROJECT
from components.offline import TENANT_ID, evaluate


def test_key_vault_follows_the_baseline(shared):
    vault = shared.one("azure-native:keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert props["softDeleteRetentionInDays"] == 90
    assert props["tenantId"] == TENANT_ID
    assert "accessPolicies" not in props
    assert vault.protect is True


def test_key_vault_retention_comes_from_config():
    run = evaluate("shared", overrides={f"{PROJECT}:keyVault": '{"softDeleteRetentionDays": 30}'})
    assert run.one("azure-native:keyvault:Vault").inputs["properties"]["softDeleteRetentionInDays"] == 30


def test_storage_follows_the_baseline(shared):
    account = shared.one("azure-native:storage:StorageAccount")
    assert account.inputs["minimumTlsVersion"] == "TLS1_2"
    assert account.inputs["enableHttpsTrafficOnly"] is True
    assert account.inputs["allowBlobPublicAccess"] is False
    assert account.inputs["allowCrossTenantReplication"] is False
    assert account.inputs["kind"] == "StorageV2"
    assert account.inputs["sku"] == {"name": "Standard_LRS"}
    assert account.protect is True


def test_workspace_is_wired_to_the_platform(shared):
    workspace = shared.one("azure-native:machinelearningservices:Workspace")
    vault = shared.one("azure-native:keyvault:Vault")
    account = shared.one("azure-native:storage:StorageAccount")
    assert workspace.inputs["identity"] == {"type": "SystemAssigned"}
    assert workspace.inputs["containerRegistry"] == shared.outputs["registryId"]
    assert workspace.inputs["applicationInsights"] == shared.outputs["appInsightsId"]
    assert workspace.inputs["keyVault"].endswith(f"/{vault.physical_name}")
    assert workspace.inputs["storageAccount"].endswith(f"/{account.physical_name}")
    assert workspace.protect is True
    assert {workspace.parent, vault.parent, account.parent} == {workspace.parent}
    assert workspace.parent.endswith("digitre:ml:MlWorkspace::ml")


def test_workspace_identity_gets_data_plane_roles_on_its_dependencies(shared):
    workspace_parent = shared.one("azure-native:machinelearningservices:Workspace").parent
    grants = {
        (r.inputs["roleDefinitionId"].rsplit("/", 1)[1], r.inputs["scope"].rsplit("/", 1)[1])
        for r in shared.of_type("azure-native:authorization:RoleAssignment")
        if r.parent == workspace_parent
    }
    assert grants == {
        (roles.ACR_PUSH, shared.outputs["registryName"]),
        (roles.KEY_VAULT_ADMINISTRATOR, shared.outputs["keyVaultName"]),
        (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, shared.outputs["storageAccountName"]),
        (roles.STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR, shared.outputs["storageAccountName"]),
    }
    for r in shared.of_type("azure-native:authorization:RoleAssignment"):
        assert r.inputs["principalType"] == "ServicePrincipal"
        assert r.inputs["principalId"]


def test_shared_resource_group_is_protected(shared):
    assert shared.named("platform-rg").protect is True
