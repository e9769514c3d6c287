"""The Azure DevOps side of the shared stack, one component: the pipelines, their identities,
environments, variables, permissions and the team dashboard, on their own provider."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components import roles
from components.devops.build_definitions import DevOpsPipelines, DevOpsPipelinesArgs
from components.devops.build_service import BuildServicePermissions, BuildServicePermissionsArgs
from components.devops.deployment_environments import (
    DeploymentEnvironments,
    DeploymentEnvironmentsArgs,
    EnvironmentGuard,
)
from components.devops.key_vault_access import KeyVaultOfficers, KeyVaultOfficersArgs
from components.devops.pipeline_permissions import PipelinePermissions, PipelinePermissionsArgs
from components.devops.pipelines import (
    BUILD_SERVICE_PERMISSIONS,
    BUILD_SERVICE_REPOSITORY_PERMISSIONS,
    DEV_DELETE_AFTER_24_HOURS,
    ENGINE_REPOSITORY,
    MAIN_BRANCH,
    ML_SERVICE_CONNECTION,
    PIPELINES,
    PLATFORM_REPOSITORY,
    PREVIEW_SERVICE_CONNECTION,
    SERVICE_CONNECTION,
    TRAIN_EVALUATE_REGISTER,
)
from components.devops.service_connection import CustomRole, Grant, ServiceConnection, ServiceConnectionArgs
from components.devops.team_dashboard import TeamDashboard, TeamDashboardArgs
from components.devops.variable_groups import VariableGroups, VariableGroupsArgs


@dataclass(frozen=True)
class StateContainer:
    """The blob container an azblob:// Pulumi backend keeps state in."""

    resource_group: str
    storage_account: str
    container: str


@dataclass(frozen=True)
class DevOpsSettings:
    """The Azure DevOps organization and project, and what the pipelines are told."""

    organization_url: str
    project: str
    create_project: bool
    subscription_name: str
    approver_groups: Sequence[str]
    approval_timeout_minutes: int
    notification_from: str
    notification_to: Sequence[str]
    pulumi_backend_url: str
    pulumi_secrets_provider: str
    pulumi_state_storage_account: str | None
    state: StateContainer | None
    # Only ever a Pulumi secret.
    sendgrid_api_key: pulumi.Input[str]
    # Entra ID object id -> principal type.
    key_vault_crypto_officers: Mapping[str, str]
    key_vault_secrets_officers: Mapping[str, str]


@dataclass(frozen=True)
class DevOpsPlatformArgs:
    """The Azure DevOps organization and project, and what the pipelines need to know about
    the Azure side of the shared stack."""

    devops: DevOpsSettings
    location: str
    resource_group_name: pulumi.Input[str]
    resource_group_id: pulumi.Input[str]
    environment_group_ids: Mapping[str, pulumi.Input[str]]
    # Each environment's serving platform (aci, aks) and the guard on its deploys, from the
    # shared stack's `environments` table.
    serving_platforms: Mapping[str, str]
    guards: Mapping[str, EnvironmentGuard]
    pipeline_identity_name: str
    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    key_vault_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    ml_workspace_name: pulumi.Input[str]
    ml_workspace_id: pulumi.Input[str]
    ml_compute_name: pulumi.Input[str]
    registry_name: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    log_analytics_workspace_id: pulumi.Input[str]
    tags: Mapping[str, str]


# What the environment stacks the deploying pipelines run assign, and where
# (components/serving/aks.py): an AKS environment's kubelet gets AcrPull on the shared
# registry, and its deployers AKS RBAC Cluster Admin on the cluster in its group. The
# pipelines' role-assignment rights are these roles at these scopes, and nothing else.
ASSIGNED_ON_REGISTRY = (roles.ACR_PULL,)
# An AKS environment's public entry reads its TLS certificate's secret in the shared vault
# (components/serving/https_entry.py).
ASSIGNED_ON_KEY_VAULT = (roles.KEY_VAULT_SECRETS_USER,)
# What the deploys of an environment assign in its own group, by its serving platform. With
# `aks.ingress.dnsZoneId`, the entry also gets DNS Zone Contributor on that zone, which config
# only accepts inside the environment's own group (components/config/load.py): the pipelines
# already hold Contributor there, so this right hands out nothing they could not do themselves.
ASSIGNED_IN_ENVIRONMENT: Mapping[str, tuple[str, ...]] = {
    "aci": (),
    "aks": (roles.AKS_RBAC_CLUSTER_ADMIN, roles.DNS_ZONE_CONTRIBUTOR),
}
# What a preview of an ACI environment invokes beyond reads: the Log Analytics key that
# the container group's diagnostics carry (components/serving/model_service.py).
PREVIEW_WORKSPACE_ACTIONS = ("Microsoft.OperationalInsights/workspaces/sharedKeys/action",)


def state_container_id(state: StateContainer | None, subscription_id: pulumi.Input[str]) -> pulumi.Output[str] | None:
    """The ARM id of the blob container an azblob:// backend keeps state in."""
    if state is None:
        return None
    return pulumi.Output.concat(
        "/subscriptions/",
        subscription_id,
        f"/resourceGroups/{state.resource_group}/providers/Microsoft.Storage/storageAccounts/"
        f"{state.storage_account}/blobServices/default/containers/{state.container}",
    )


def deploy_grants(cfg: DevOpsSettings, facts: DevOpsPlatformArgs) -> list[Grant]:
    """The deploying pipelines: Contributor on the platform and environment groups;
    role-assignment rights only as ASSIGNED_* say; Key Vault secret use (the linked
    variable group) and key use (the Pulumi secrets provider); state read and write."""
    grants = [
        Grant("platform-contributor", roles.CONTRIBUTOR, facts.resource_group_id),
        *(Grant(f"{env}-contributor", roles.CONTRIBUTOR, gid) for env, gid in facts.environment_group_ids.items()),
        Grant("registry-rbac", roles.RBAC_ADMINISTRATOR, facts.registry_id, ASSIGNED_ON_REGISTRY),
        Grant("kv-rbac", roles.RBAC_ADMINISTRATOR, facts.key_vault_id, ASSIGNED_ON_KEY_VAULT),
        *(
            Grant(f"{env}-rbac", roles.RBAC_ADMINISTRATOR, gid, ASSIGNED_IN_ENVIRONMENT[facts.serving_platforms[env]])
            for env, gid in facts.environment_group_ids.items()
            if ASSIGNED_IN_ENVIRONMENT[facts.serving_platforms[env]]
        ),
        Grant("kv-secrets", roles.KEY_VAULT_SECRETS_USER, facts.key_vault_id),
        Grant("kv-crypto", roles.KEY_VAULT_CRYPTO_USER, facts.key_vault_id),
    ]
    state = state_container_id(cfg.state, facts.subscription_id)
    if state is not None:
        grants.append(Grant("state-blob", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, state))
    return grants


def ml_grants(facts: DevOpsPlatformArgs) -> list[Grant]:
    """The ML pipelines: AzureML Data Scientist on the shared workspace, nothing else. It
    submits and streams jobs, reads their outputs and registers models (every workspace
    action but changing the workspace or its compute, and listing their keys). No storage or
    registry role: the workspace's default datastores hold account-key credentials, which the
    role may read through the workspace (`datastores/listsecrets/action`), and environment
    images are built by the workspace under its own identity."""
    return [Grant("ml-data-scientist", roles.AZUREML_DATA_SCIENTIST, facts.ml_workspace_id)]


def preview_grants(cfg: DevOpsSettings, facts: DevOpsPlatformArgs) -> list[Grant]:
    """The pull-request preview and the drift check: reads only. Reader on the groups; state
    blobs read (a preview on the azblob backend neither locks nor writes) and Reader on the
    state container (a refresh reads its role assignments); Key Vault key use, to decrypt
    the state's secrets; and the two non-read actions the programs invoke in a preview: the
    Log Analytics key (ACI diagnostics, `preview_workspace_keys_role`) and the AKS user
    kubeconfig (no rights inside the cluster)."""
    grants = [
        Grant("platform-reader", roles.READER, facts.resource_group_id),
        *(Grant(f"{env}-reader", roles.READER, gid) for env, gid in facts.environment_group_ids.items()),
        Grant("kv-crypto", roles.KEY_VAULT_CRYPTO_USER, facts.key_vault_id),
        # An AKS environment's preview lists the cluster's user kubeconfig.
        *(
            Grant(f"{env}-cluster-user", roles.AKS_CLUSTER_USER, gid)
            for env, gid in facts.environment_group_ids.items()
            if facts.serving_platforms[env] == "aks"
        ),
    ]
    state = state_container_id(cfg.state, facts.subscription_id)
    if state is not None:
        grants.append(Grant("state-blob", roles.STORAGE_BLOB_DATA_READER, state))
        # The drift check refreshes the role assignments on the state container, which takes
        # reading them there; Storage Blob Data Reader reads blobs only.
        grants.append(Grant("state-reader", roles.READER, state))
    return grants


def preview_workspace_keys_role(facts: DevOpsPlatformArgs, identity_name: str) -> CustomRole:
    """Reader has no POST actions, and the built-in roles that list the workspace keys
    also write: a custom role with that one action, on the workspace."""
    return CustomRole(
        key="workspace-keys",
        definition_id=pulumi.Output.from_input(facts.subscription_id).apply(
            lambda subscription: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{subscription}/{identity_name}/workspace-keys"))
        ),
        role_name=pulumi.Output.concat(identity_name, " workspace keys (", facts.subscription_id, ")"),
        description="Lists the shared Log Analytics keys, which an ACI stack's preview reads (managed by Pulumi)",
        actions=PREVIEW_WORKSPACE_ACTIONS,
        scope=facts.resource_group_id,
        assigned_on=facts.log_analytics_workspace_id,
    )


class DevOpsPlatform(pulumi.ComponentResource):
    """Owns the Azure DevOps provider and everything declared through it: the project (with
    `devops.createProject`, protected), the three service connections and their identities,
    the deployment environments and their checks, the pipeline definitions, the variable
    groups, the pipelines' permissions, the build service's rights and the team dashboard;
    and, on the Azure side, the Key Vault officers' grants."""

    def __init__(self, name: str, args: DevOpsPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:DevOpsPlatform", name, None, opts)
        cfg, facts = args.devops, args
        child = pulumi.ResourceOptions(parent=self)
        provider = azuredevops.Provider("azure-devops", org_service_url=cfg.organization_url, opts=child)
        # Every child declared through the provider; a component hands it on to its own children.
        on_devops = pulumi.ResourceOptions(parent=self, providers=[provider])
        lookup = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        if cfg.create_project:
            project = azuredevops.Project(
                "project",
                name=cfg.project,
                visibility="private",
                version_control="Git",
                work_item_template="Agile",
                description="DigitRE real-estate price estimation engine",
                opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=True),
            )
            project_id, project_name = project.id, project.name
        else:
            found = azuredevops.get_project_output(name=cfg.project, opts=lookup)
            project_id, project_name = found.id, found.name
        platform_repo = azuredevops.get_git_repository_output(
            project_id=project_id, name=PLATFORM_REPOSITORY, opts=lookup
        )
        engine_repo = azuredevops.get_git_repository_output(project_id=project_id, name=ENGINE_REPOSITORY, opts=lookup)
        approvers = [
            azuredevops.get_group_output(project_id=project_id, name=group, opts=lookup).origin_id
            for group in cfg.approver_groups
        ]

        connection = ServiceConnection(
            "pipelines-azure",
            ServiceConnectionArgs(
                project_id=project_id,
                connection_name=SERVICE_CONNECTION,
                description="DigitRE MLOps pipelines (workload identity federation, managed by Pulumi)",
                resource_group_name=facts.resource_group_name,
                location=facts.location,
                identity_name=facts.pipeline_identity_name,
                subscription_id=facts.subscription_id,
                subscription_name=cfg.subscription_name,
                tenant_id=facts.tenant_id,
                grants=deploy_grants(cfg, facts),
                tags=facts.tags,
                # It may write to every environment: no run from another branch may sign in.
                allowed_branch=MAIN_BRANCH,
            ),
            opts=on_devops,
        )
        ml_connection = ServiceConnection(
            "pipelines-azure-ml",
            ServiceConnectionArgs(
                project_id=project_id,
                connection_name=ML_SERVICE_CONNECTION,
                description="DigitRE MLOps ML pipelines: Azure ML jobs and models only (workload identity federation, managed by Pulumi)",
                resource_group_name=facts.resource_group_name,
                location=facts.location,
                identity_name=f"{facts.pipeline_identity_name}-ml",
                subscription_id=facts.subscription_id,
                subscription_name=cfg.subscription_name,
                tenant_id=facts.tenant_id,
                grants=ml_grants(facts),
                tags=facts.tags,
            ),
            opts=on_devops,
        )
        preview_identity = f"{facts.pipeline_identity_name}-preview"
        preview_connection = ServiceConnection(
            "pipelines-azure-preview",
            ServiceConnectionArgs(
                project_id=project_id,
                connection_name=PREVIEW_SERVICE_CONNECTION,
                description="DigitRE MLOps pull-request previews: read-only (workload identity federation, managed by Pulumi)",
                resource_group_name=facts.resource_group_name,
                location=facts.location,
                identity_name=preview_identity,
                subscription_id=facts.subscription_id,
                subscription_name=cfg.subscription_name,
                tenant_id=facts.tenant_id,
                grants=preview_grants(cfg, facts),
                custom_roles=[preview_workspace_keys_role(facts, preview_identity)],
                tags=facts.tags,
            ),
            opts=on_devops,
        )
        officers = KeyVaultOfficers(
            "key-vault-officers",
            KeyVaultOfficersArgs(
                principals=cfg.key_vault_crypto_officers,
                secrets_officers=cfg.key_vault_secrets_officers,
                key_vault_id=facts.key_vault_id,
                subscription_id=facts.subscription_id,
            ),
            opts=child,
        )
        if not cfg.key_vault_secrets_officers:
            pulumi.log.warn(
                "digitre-mlops:devops.keyVaultSecretsOfficers is empty: nobody may delete the SendGrid secret "
                "this stack writes to the Key Vault, so destroying or renaming it fails (docs/operations.md, step 0)",
                resource=self,
            )
        environments = DeploymentEnvironments(
            "environments",
            DeploymentEnvironmentsArgs(
                project_id=project_id,
                environments=facts.guards,
                approvers=approvers,
                approval_timeout_minutes=cfg.approval_timeout_minutes,
            ),
            opts=on_devops,
        )
        pipelines = DevOpsPipelines(
            "pipelines",
            DevOpsPipelinesArgs(project_id=project_id, platform_repository_id=platform_repo.id, pipelines=PIPELINES),
            opts=on_devops,
        )
        platform_variables: dict[str, pulumi.Input[str]] = {
            "AML_RESOURCE_GROUP": facts.resource_group_name,
            "AML_WORKSPACE": facts.ml_workspace_name,
            "AML_COMPUTE": facts.ml_compute_name,
            "ACR_NAME": facts.registry_name,
            "TEARDOWN_DEFINITION_ID": pipelines.definitions[DEV_DELETE_AFTER_24_HOURS.key].id,
            "PULUMI_BACKEND_URL": cfg.pulumi_backend_url,
            "PULUMI_SECRETS_PROVIDER": cfg.pulumi_secrets_provider,
        }
        # Extract-Prepare queues Train-Evaluate-Register by id (pipelines/templates/queue-pipeline.yml).
        assert TRAIN_EVALUATE_REGISTER.queued_by is not None
        platform_variables[TRAIN_EVALUATE_REGISTER.queued_by.definition_id_variable] = pipelines.definitions[
            TRAIN_EVALUATE_REGISTER.key
        ].id
        if cfg.pulumi_state_storage_account:
            platform_variables["PULUMI_STATE_STORAGE_ACCOUNT"] = cfg.pulumi_state_storage_account
        variables = VariableGroups(
            "variables",
            VariableGroupsArgs(
                organization_url=cfg.organization_url,
                project_id=project_id,
                platform=platform_variables,
                notification_from=cfg.notification_from,
                notification_to=cfg.notification_to,
                key_vault_resource_group_name=facts.resource_group_name,
                key_vault_name=facts.key_vault_name,
                sendgrid_api_key=pulumi.Output.secret(cfg.sendgrid_api_key),
                service_connection_id=connection.endpoint_id,
                connection_ready=connection.sign_in_ready,
                secret_deleters=list(officers.secrets_officer_grants.values()),
                tags=facts.tags,
            ),
            opts=on_devops,
        )
        definition_ids = {key: d.id for key, d in pipelines.definitions.items()}
        environment_ids = {env: e.id for env, e in environments.environments.items()}
        PipelinePermissions(
            "permissions",
            PipelinePermissionsArgs(
                project_id=project_id,
                pipelines=PIPELINES,
                definition_ids=definition_ids,
                service_connection_ids={
                    SERVICE_CONNECTION: connection.endpoint_id,
                    ML_SERVICE_CONNECTION: ml_connection.endpoint_id,
                    PREVIEW_SERVICE_CONNECTION: preview_connection.endpoint_id,
                },
                variable_group_ids=variables.ids,
                environment_ids=environment_ids,
                engine_repository_id=engine_repo.id,
            ),
            opts=on_devops,
        )
        BuildServicePermissions(
            "build-service",
            BuildServicePermissionsArgs(
                organization_url=cfg.organization_url,
                project_id=project_id,
                project_name=project_name,
                definition_ids=definition_ids,
                permissions=BUILD_SERVICE_PERMISSIONS,
                repository_id=platform_repo.id,
                repository_permissions=BUILD_SERVICE_REPOSITORY_PERMISSIONS,
            ),
            opts=on_devops,
        )
        dashboard = TeamDashboard(
            "team",
            TeamDashboardArgs(
                organization_url=cfg.organization_url,
                project_id=project_id,
                project_name=project_name,
                definition_ids={p.name: definition_ids[p.key] for p in PIPELINES},
                environment_ids=environment_ids,
            ),
            opts=on_devops,
        )
        self.project_id: pulumi.Output[str] = project_id
        self.service_connection_id = connection.endpoint_id
        self.pipeline_identity_client_id = connection.identity_client_id
        self.pipeline_identity_principal_id = connection.identity_principal_id
        self.dashboard_id = dashboard.dashboard_id
        self.register_outputs(
            {
                "projectId": self.project_id,
                "serviceConnectionId": self.service_connection_id,
                "pipelineIdentityPrincipalId": self.pipeline_identity_principal_id,
                "dashboardId": self.dashboard_id,
            }
        )
