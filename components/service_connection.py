"""The Azure identity of the pipelines: an AzureRM service connection that signs in by
workload identity federation (no client secret anywhere)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops
from pulumi_azure_native import managedidentity

from components import roles
from components.pipelines import SERVICE_CONNECTION

# The audience Azure DevOps federated tokens carry.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class ServiceConnectionArgs:
    project_id: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    location: str
    identity_name: str
    subscription_id: pulumi.Input[str]
    subscription_name: str
    tenant_id: pulumi.Input[str]
    platform_group_id: pulumi.Input[str]
    # Environment name -> resource group id.
    environment_group_ids: Mapping[str, pulumi.Input[str]]
    # The environments whose stacks create role assignments (prod: the kubelet's AcrPull).
    environments_granting_roles: tuple[str, ...]
    key_vault_id: pulumi.Input[str]
    tags: Mapping[str, str]


class ServiceConnection(pulumi.ComponentResource):
    """Owns the user-assigned identity the pipelines act as, its federated credential for
    Azure DevOps, the `digitre-mlops-azure` service connection, and the least-privilege
    roles it needs: Contributor on the platform and environment resource groups, role
    assignment rights only where a stack assigns roles (the platform group, prod), and
    secret/key use on the shared Key Vault (variable group, Pulumi secrets provider)."""

    def __init__(self, name: str, args: ServiceConnectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:ServiceConnection", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-id",
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=child,
        )
        self.endpoint = azuredevops.ServiceEndpointAzureRM(
            f"{name}-endpoint",
            project_id=args.project_id,
            service_endpoint_name=SERVICE_CONNECTION,
            description="DigitRE MLOps pipelines (workload identity federation, managed by Pulumi)",
            service_endpoint_authentication_scheme="WorkloadIdentityFederation",
            credentials=azuredevops.ServiceEndpointAzureRMCredentialsArgs(serviceprincipalid=self.identity.client_id),
            azurerm_spn_tenantid=args.tenant_id,
            azurerm_subscription_id=args.subscription_id,
            azurerm_subscription_name=args.subscription_name,
            opts=child,
        )
        self.federated_credential = managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            federated_identity_credential_resource_name="azure-devops",
            resource_name_=self.identity.name,
            resource_group_name=args.resource_group_name,
            issuer=self.endpoint.workload_identity_federation_issuer,
            subject=self.endpoint.workload_identity_federation_subject,
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            opts=child,
        )
        scopes: dict[str, tuple[str, pulumi.Input[str]]] = {
            "platform-contributor": (roles.CONTRIBUTOR, args.platform_group_id),
            "platform-rbac": (roles.RBAC_ADMINISTRATOR, args.platform_group_id),
            "kv-secrets": (roles.KEY_VAULT_SECRETS_USER, args.key_vault_id),
            "kv-crypto": (roles.KEY_VAULT_CRYPTO_USER, args.key_vault_id),
        }
        for env, group_id in args.environment_group_ids.items():
            scopes[f"{env}-contributor"] = (roles.CONTRIBUTOR, group_id)
            if env in args.environments_granting_roles:
                scopes[f"{env}-rbac"] = (roles.RBAC_ADMINISTRATOR, group_id)
        self.role_assignments = {
            key: roles.grant(
                f"{name}-{key}",
                role=role,
                principal_id=self.identity.principal_id,
                scope=scope,
                subscription_id=args.subscription_id,
                opts=child,
            )
            for key, (role, scope) in scopes.items()
        }
        self.endpoint_id = self.endpoint.id
        self.register_outputs({"serviceConnectionId": self.endpoint_id, "identityClientId": self.identity.client_id})
