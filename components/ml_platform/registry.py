"""The container registry for model-serving images, and the identity that pulls from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry, managedidentity

from components import roles


@dataclass(frozen=True)
class RegistryArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    registry_name: str
    pull_identity_name: str
    sku: str
    subscription_id: pulumi.Input[str]
    tags: Mapping[str, str]


class Registry(pulumi.ComponentResource):
    """Owns the Azure Container Registry (admin user and anonymous pull off, protected) and
    the user-assigned identity with AcrPull that ACI and AKS use to pull images (protected)."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:ml_platform:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=args.registry_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=containerregistry.SkuArgs(name=args.sku),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            # ACI pulls by managed identity only from a registry that lets trusted Azure
            # services in (the service's default, stated so a change is a visible diff).
            network_rule_bypass_options=containerregistry.NetworkRuleBypassOptions.AZURE_SERVICES,
            tags=dict(args.tags),
            # Images are what every environment serves: a stray destroy must fail.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True)),
        )
        # Every ACI environment pulls as this identity, by its id: a new one (a new principal)
        # would leave their container groups pulling with nothing until each redeployed.
        self.pull_identity = managedidentity.UserAssignedIdentity(
            f"{name}-pull-id",
            resource_name_=args.pull_identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True)),
        )
        self.pull_role = roles.grant(
            f"{name}-acrpull",
            role=roles.ACR_PULL,
            principal_id=self.pull_identity.principal_id,
            scope=self.registry.id,
            subscription_id=args.subscription_id,
            opts=child,
        )
        self.registry_id = self.registry.id
        self.registry_name = self.registry.name
        self.login_server = self.registry.login_server
        self.pull_identity_id = self.pull_identity.id
        self.pull_identity_client_id = self.pull_identity.client_id
        self.pull_identity_principal_id = self.pull_identity.principal_id
        self.register_outputs(
            {
                "registryId": self.registry_id,
                "loginServer": self.login_server,
                "pullIdentityId": self.pull_identity_id,
            }
        )
