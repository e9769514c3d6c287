"""ML workspace: Key Vault, storage and the AML workspace, protected and least-privilege."""

from __future__ import annotations

import uuid

from components import roles
from offline.evaluate import SUBSCRIPTION_ID, TENANT_ID
from tests.support import ledger
from tests.support.evaluations import CUSTOM_SHARED


# RBAC, soft delete and purge protection on the vault, TLS 1.2, HTTPS only and no public blobs on
# the storage account: the policy pack's rules, run on every stack by tests/test_policy.py.
def test_key_vault_follows_the_baseline(shared):
    props = shared.one("azure-native:keyvault:Vault").inputs["properties"]
    assert props["tenantId"] == TENANT_ID
    assert "accessPolicies" not in props


def test_key_vault_retention_comes_from_config(customised):
    # The customised shared stack keeps deleted vault items 30 days (the default: 90).
    assert CUSTOM_SHARED["keyVault"] == {"softDeleteRetentionDays": 30}
    run = customised["shared"]
    assert run.one("azure-native:keyvault:Vault").inputs["properties"]["softDeleteRetentionInDays"] == 30


def test_storage_follows_the_baseline(shared):
    account = shared.one("azure-native:storage:StorageAccount")
    assert account.inputs["allowCrossTenantReplication"] is False
    assert account.inputs["kind"] == "StorageV2"


def test_workspace_is_wired_to_the_platform(shared):
    workspace = shared.one("azure-native:machinelearningservices:Workspace")
    vault = shared.one("azure-native:keyvault:Vault")
    account = shared.one("azure-native:storage:StorageAccount")
    assert workspace.inputs["containerRegistry"] == shared.outputs["registryId"]
    assert workspace.inputs["applicationInsights"] == shared.outputs["appInsightsId"]
    assert workspace.inputs["keyVault"].endswith(f"/{vault.physical_name}")
    assert workspace.inputs["storageAccount"].endswith(f"/{account.physical_name}")
    assert workspace.protect is True
    assert {workspace.parent, vault.parent, account.parent} == {workspace.parent}
    assert workspace.parent.endswith("digitre:ml_platform:MlWorkspace::ml")


def test_workspace_runs_as_its_own_user_assigned_identity(shared):
    workspace = shared.one("azure-native:machinelearningservices:Workspace")
    identity = shared.named("ml-id")
    identity_id = workspace.inputs["primaryUserAssignedIdentity"]
    assert identity_id.endswith(f"/{identity.physical_name}")
    # UserAssigned only: a system-assigned identity gets role assignments Azure ML makes itself.
    assert workspace.inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}
    assert identity.parent == workspace.parent


def _workspace_grants(run):
    """(kind of scope, role name) for each role assignment of the workspace's component."""
    workspace = run.one("azure-native:machinelearningservices:Workspace")
    kinds = {
        "workspace": workspace.physical_name,
        "storage": run.one("azure-native:storage:StorageAccount").physical_name,
        "keyvault": run.one("azure-native:keyvault:Vault").physical_name,
        "registry": run.one("azure-native:containerregistry:Registry").physical_name,
        "appinsights": run.one("azure-native:applicationinsights:Component").physical_name,
    }
    grants = {}
    for r in run.of_type("azure-native:authorization:RoleAssignment"):
        if r.parent != workspace.parent:
            continue
        scope = r.inputs["scope"].rsplit("/", 1)[1]
        kind = next(k for k, name in kinds.items() if name == scope)
        grants[r.name] = (kind, roles.ROLE_NAMES[r.inputs["roleDefinitionId"].rsplit("/", 1)[1]])
    return grants


def test_workspace_identity_holds_exactly_the_roles_microsoft_documents(shared):
    (row,) = [r for r in ledger.rows("Azure Machine Learning") if "user-assigned identity needs" in r.fact]
    documented = {tuple(item.split(": ", 1)) for item in ledger.quoted(row.fact)}
    assert set(_workspace_grants(shared).values()) == documented
    assert "tests/test_ml_workspace.py::test_workspace_identity_holds_exactly_the_roles_microsoft_documents" in (
        row.pinned_by
    )


def test_every_workspace_grant_goes_to_its_identity_as_a_service_principal(shared):
    identity = shared.named("ml-id")
    principal = str(uuid.uuid5(uuid.NAMESPACE_URL, _identity_id(identity)))
    grants = [r for r in shared.of_type("azure-native:authorization:RoleAssignment") if r.parent == identity.parent]
    assert len(grants) == 7
    for grant in grants:
        assert grant.inputs["principalId"] == principal
        assert grant.inputs["principalType"] == "ServicePrincipal"


def _identity_id(identity):
    # The id the offline mocks give a user-assigned identity (offline/evaluate.py).
    return (
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{identity.inputs['resourceGroupName']}"
        f"/providers/managedidentity/UserAssignedIdentity/{identity.physical_name}"
    )


def test_grants_on_the_dependencies_exist_before_the_workspace(shared):
    workspace = shared.one("azure-native:machinelearningservices:Workspace")
    grants = _workspace_grants(shared)
    before = {name for name, (kind, _) in grants.items() if kind != "workspace"}
    after = {name for name, (kind, _) in grants.items() if kind == "workspace"}
    assert len(before) == 6 and len(after) == 1
    urns = {r.name: r.urn for r in shared.of_type("azure-native:authorization:RoleAssignment")}
    assert {urns[name] for name in before} <= set(workspace.depends_on)
    # The workspace-scoped grant needs the workspace to exist; it must not be a dependency.
    assert not {urns[name] for name in after} & set(workspace.depends_on)


def test_shared_resource_group_is_protected(shared):
    assert shared.named("platform-rg").protect is True
