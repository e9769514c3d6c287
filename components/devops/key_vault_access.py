"""Who may use the shared Key Vault's data plane by hand: its Crypto Officers and Secrets
Officers from config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

from components import roles


@dataclass(frozen=True)
class KeyVaultOfficersArgs:
    # Entra ID object id -> principal type (User, Group, ServicePrincipal): Crypto Officers.
    principals: Mapping[str, str]
    # The same shape: the people who deploy `shared`, Secrets Officers.
    secrets_officers: Mapping[str, str]
    key_vault_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]


class KeyVaultOfficers(pulumi.ComponentResource):
    """Owns one Key Vault Crypto Officer assignment on the shared vault per configured
    principal: the vault authorizes its data plane by Azure RBAC only, so even a
    subscription Owner cannot create the Pulumi secrets key (docs/operations.md, step 4) without it. And one Key
    Vault Secrets Officer assignment per principal that deploys `shared`: azure-native deletes
    a `keyvault.Secret` through the data plane, so that whoever destroys or renames the
    stack's secret may delete it. The secret depends on these (`secrets_officer_grants`), so
    a `pulumi destroy` deletes it while the grants still stand."""

    def __init__(self, name: str, args: KeyVaultOfficersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:KeyVaultOfficers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def grant(key: str, role: str, object_id: str, principal_type: str) -> authorization.RoleAssignment:
            return roles.grant(
                key,
                role=role,
                principal_id=object_id,
                principal_type=authorization.PrincipalType(principal_type),
                scope=args.key_vault_id,
                subscription_id=args.subscription_id,
                opts=child,
            )

        self.assignments = {
            object_id: grant(f"{name}-{object_id}", roles.KEY_VAULT_CRYPTO_OFFICER, object_id, principal_type)
            for object_id, principal_type in sorted(args.principals.items())
        }
        self.secrets_officer_grants = {
            object_id: grant(f"{name}-secrets-{object_id}", roles.KEY_VAULT_SECRETS_OFFICER, object_id, principal_type)
            for object_id, principal_type in sorted(args.secrets_officers.items())
        }
        self.register_outputs({"count": len(self.assignments) + len(self.secrets_officer_grants)})
