"""The Azure identities of the pipelines: AzureRM service connections that sign in by
workload identity federation (no client secret anywhere), each with the roles it needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops
from pulumi_azure_native import authorization, managedidentity

from components import roles

# The audience Azure DevOps federated tokens carry.
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class Grant:
    """One Azure role for a connection's identity on one scope."""

    key: str
    # A role definition GUID: a built-in role from `components.roles`, or a custom role's.
    role: pulumi.Input[str]
    scope: pulumi.Input[str]
    # With role-assignment rights: exactly the roles the holder may assign (a condition).
    assignable_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomRole:
    """A role of the connection's own, for actions no built-in role grants narrowly enough,
    defined at `scope` and assigned on `assigned_on`."""

    key: str
    # Custom roles are tenant-wide: a GUID and a name unique in the tenant.
    definition_id: pulumi.Input[str]
    role_name: pulumi.Input[str]
    description: str
    actions: tuple[str, ...]
    scope: pulumi.Input[str]
    assigned_on: pulumi.Input[str]


@dataclass(frozen=True)
class ServiceConnectionArgs:
    project_id: pulumi.Input[str]
    # The name pipeline YAML uses in `azureSubscription:`.
    connection_name: str
    description: str
    resource_group_name: pulumi.Input[str]
    location: str
    identity_name: str
    subscription_id: pulumi.Input[str]
    subscription_name: str
    tenant_id: pulumi.Input[str]
    grants: Sequence[Grant]
    tags: Mapping[str, str]
    custom_roles: Sequence[CustomRole] = ()
    # The one branch (`refs/heads/<name>`) whose runs may use the connection, if limited: a
    # branch control check on the connection itself, so a run of any pipeline from another
    # branch, whatever its YAML says, stops before the stage that would sign in.
    allowed_branch: str | None = None


class ServiceConnection(pulumi.ComponentResource):
    """Owns one user-assigned identity and its federated credential for Azure DevOps (both
    protected), the service connection that signs in as it, its role assignments and any
    custom role they use, and, with `allowed_branch`, the branch control check that limits
    the connection to runs from that protected branch. Role-assignment rights are only ever
    granted under a condition naming the roles they may assign."""

    def __init__(self, name: str, args: ServiceConnectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:ServiceConnection", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        unconstrained = [g.key for g in args.grants if g.role == roles.RBAC_ADMINISTRATOR and not g.assignable_roles]
        if unconstrained:
            raise ValueError(f"role-assignment rights without a condition for {', '.join(unconstrained)}")
        # The identity and its federated credential are what the pipelines sign in as: a new
        # identity is a new principal and client id (prod's cluster-admin grant, the state
        # container's grant and the connection all name the old one), and without the
        # credential no pipeline signs in. A stray destroy must fail.
        kept = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True))
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-id",
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=kept,
        )
        self.endpoint = azuredevops.ServiceEndpointAzureRM(
            f"{name}-endpoint",
            project_id=args.project_id,
            service_endpoint_name=args.connection_name,
            description=args.description,
            service_endpoint_authentication_scheme="WorkloadIdentityFederation",
            credentials=azuredevops.ServiceEndpointAzureRMCredentialsArgs(serviceprincipalid=self.identity.client_id),
            azurerm_spn_tenantid=args.tenant_id,
            azurerm_subscription_id=args.subscription_id,
            azurerm_subscription_name=args.subscription_name,
            opts=child,
        )
        self.branch_control: azuredevops.CheckBranchControl | None = None
        if args.allowed_branch is not None:
            # The provider's own example protects a service connection this way: type
            # `endpoint`, the connection's id. Branch protection is verified, and a branch
            # whose protection cannot be read does not pass.
            self.branch_control = azuredevops.CheckBranchControl(
                f"{name}-branch-control",
                project_id=args.project_id,
                display_name=f"{args.connection_name} signs in from {args.allowed_branch} only",
                target_resource_type="endpoint",
                target_resource_id=self.endpoint.id,
                allowed_branches=args.allowed_branch,
                verify_branch_protection=True,
                ignore_unknown_protection_status=False,
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
            opts=kept,
        )
        self.custom_roles = {
            custom.key: authorization.RoleDefinition(
                f"{name}-{custom.key}-role",
                role_definition_id=custom.definition_id,
                role_name=custom.role_name,
                description=custom.description,
                scope=custom.scope,
                assignable_scopes=[custom.scope],
                permissions=[authorization.PermissionArgs(actions=list(custom.actions))],
                opts=child,
            )
            for custom in args.custom_roles
        }
        grants = [
            *args.grants,
            # The definition's name is its GUID: assigning by it waits for the definition.
            *(Grant(c.key, self.custom_roles[c.key].name, c.assigned_on) for c in args.custom_roles),
        ]
        self.role_assignments = {
            grant.key: roles.grant(
                f"{name}-{grant.key}",
                role=grant.role,
                principal_id=self.identity.principal_id,
                scope=grant.scope,
                subscription_id=args.subscription_id,
                condition=roles.assignment_condition(grant.assignable_roles) if grant.assignable_roles else None,
                opts=child,
            )
            for grant in grants
        }
        # What must exist before anything signs in through the connection.
        self.sign_in_ready: list[pulumi.Resource] = [self.federated_credential, *self.role_assignments.values()]
        self.endpoint_id = self.endpoint.id
        self.identity_client_id = self.identity.client_id
        self.identity_principal_id = self.identity.principal_id
        self.register_outputs({"serviceConnectionId": self.endpoint_id, "identityClientId": self.identity_client_id})
