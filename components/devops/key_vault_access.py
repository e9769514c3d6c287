"""Who may use the shared Key Vault's data plane by hand: its Crypto Officers from config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

from components import roles


@dataclass(frozen=True)
class KeyVaultOfficersArgs:
    # Entra ID object id -> principal type (User, Group, ServicePrincipal).
    principals: Mapping[str, str]
    key_vault_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]


class KeyVaultOfficers(pulumi.ComponentResource):
    """Owns one Key Vault Crypto Officer assignment on the shared vault per configured
    principal: the vault authorizes its data plane by Azure RBAC only, so even a
    subscription Owner cannot create the Pulumi secrets key (README) without it."""

    def __init__(self, name: str, args: KeyVaultOfficersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:KeyVaultOfficers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.assignments = {
            object_id: roles.grant(
                f"{name}-{object_id}",
                role=roles.KEY_VAULT_CRYPTO_OFFICER,
                principal_id=object_id,
                principal_type=authorization.PrincipalType(principal_type),
                scope=args.key_vault_id,
                subscription_id=args.subscription_id,
                opts=child,
            )
            for object_id, principal_type in sorted(args.principals.items())
        }
        self.register_outputs({"count": len(self.assignments)})
