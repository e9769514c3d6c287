"""Azure built-in roles this platform grants, and the one way it grants them."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_azure_native import authorization

# Built-in role definition ids, each pinned to its row in
# docs/assumptions.md ("Azure RBAC and identities"), copied from Microsoft Learn's
# "Azure built-in roles"; tests/test_roles.py fails when a constant and its row disagree.
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"
KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"
AZUREML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"

# Each id above under the name Microsoft Learn lists it by (the ledger rows use these names).
ROLE_NAMES: dict[str, str] = {
    ACR_PULL: "AcrPull",
    ACR_PUSH: "AcrPush",
    AKS_RBAC_CLUSTER_ADMIN: "Azure Kubernetes Service RBAC Cluster Admin",
    AKS_CLUSTER_USER: "Azure Kubernetes Service Cluster User Role",
    AZUREML_DATA_SCIENTIST: "AzureML Data Scientist",
    CONTRIBUTOR: "Contributor",
    DNS_ZONE_CONTRIBUTOR: "DNS Zone Contributor",
    KEY_VAULT_ADMINISTRATOR: "Key Vault Administrator",
    KEY_VAULT_CRYPTO_OFFICER: "Key Vault Crypto Officer",
    KEY_VAULT_CRYPTO_USER: "Key Vault Crypto User",
    KEY_VAULT_SECRETS_OFFICER: "Key Vault Secrets Officer",
    KEY_VAULT_SECRETS_USER: "Key Vault Secrets User",
    READER: "Reader",
    RBAC_ADMINISTRATOR: "Role Based Access Control Administrator",
    STORAGE_BLOB_DATA_CONTRIBUTOR: "Storage Blob Data Contributor",
    STORAGE_BLOB_DATA_READER: "Storage Blob Data Reader",
    STORAGE_FILE_DATA_PRIVILEGED_CONTRIBUTOR: "Storage File Data Privileged Contributor",
}

# The only condition version Azure accepts on role assignments.
CONDITION_VERSION = "2.0"


def role_definition_id(subscription_id: pulumi.Input[str], role: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
    )


def assignment_condition(role_ids: Sequence[str]) -> str:
    """The condition that lets a holder of role-assignment rights (Role Based Access
    Control Administrator) add or remove assignments of exactly `role_ids`, nothing else:
    the "Constrain roles" shape of Microsoft Learn's delegation examples, one clause for
    writes (the requested role) and one for deletes (the existing assignment's role)."""
    if not role_ids:
        raise ValueError("a role-assignment condition needs at least one role")
    allowed = ", ".join(sorted(set(role_ids)))
    clauses = (
        ("write", "Request"),
        ("delete", "Resource"),
    )
    return " AND ".join(
        f"((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/{action}'}})) OR "
        f"(@{source}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{allowed}}}))"
        for action, source in clauses
    )


def grant(
    name: str,
    *,
    role: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    principal_type: authorization.PrincipalType = authorization.PrincipalType.SERVICE_PRINCIPAL,
    condition: str | None = None,
) -> authorization.RoleAssignment:
    """Assign `role` on `scope` to a principal. The principal type is always set (the
    provider would otherwise assume User), which also spares a new managed identity the
    Entra ID replication delay. A `condition` (see `assignment_condition`) is sent with
    its version."""
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=role_definition_id(subscription_id, role),
        scope=scope,
        condition=condition,
        condition_version=CONDITION_VERSION if condition is not None else None,
        opts=opts,
    )
