"""The Azure DevOps side of the shared stack: the pipelines, their identity, environments,
variables, permissions, PR policy and the team dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components.config import DevOpsConfig, ServingConfig
from components.deployment_environments import DeploymentEnvironments, DeploymentEnvironmentsArgs
from components.devops_pipelines import DevOpsPipelines, DevOpsPipelinesArgs
from components.pipeline_permissions import PipelinePermissions, PipelinePermissionsArgs
from components.pipelines import DEV_DELETE_AFTER_24_HOURS, ENGINE_REPOSITORY, PIPELINES, PLATFORM_REPOSITORY
from components.service_connection import ServiceConnection, ServiceConnectionArgs
from components.team_dashboard import TeamDashboard, TeamDashboardArgs
from components.variable_groups import VariableGroups, VariableGroupsArgs


@dataclass(frozen=True)
class PlatformFacts:
    """What the pipelines need to know about the Azure side of the shared stack."""

    location: str
    resource_group_name: pulumi.Input[str]
    resource_group_id: pulumi.Input[str]
    environment_group_ids: Mapping[str, pulumi.Input[str]]
    pipeline_identity_name: str
    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    key_vault_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    ml_workspace_name: pulumi.Input[str]
    ml_compute_name: pulumi.Input[str]
    registry_name: pulumi.Input[str]
    tags: Mapping[str, str]


def declare_devops(cfg: DevOpsConfig, facts: PlatformFacts) -> dict[str, pulumi.Input[object]]:
    """Declare everything on the Azure DevOps side; returns the stack outputs it adds."""
    provider = azuredevops.Provider("azure-devops", org_service_url=cfg.organization_url)
    on_devops = pulumi.ResourceOptions(providers=[provider])
    lookup = pulumi.InvokeOutputOptions(provider=provider)
    if cfg.create_project:
        project = azuredevops.Project(
            "project",
            name=cfg.project,
            visibility="private",
            version_control="Git",
            work_item_template="Agile",
            description="DigitRE real-estate price estimation engine",
            opts=pulumi.ResourceOptions(provider=provider, protect=True),
        )
        project_id, project_name = project.id, project.name
    else:
        found = azuredevops.get_project_output(name=cfg.project, opts=lookup)
        project_id, project_name = found.id, found.name
    platform_repo = azuredevops.get_git_repository_output(project_id=project_id, name=PLATFORM_REPOSITORY, opts=lookup)
    engine_repo = azuredevops.get_git_repository_output(project_id=project_id, name=ENGINE_REPOSITORY, opts=lookup)
    approvers = [
        azuredevops.get_group_output(project_id=project_id, name=group, opts=lookup).origin_id
        for group in cfg.prod_approver_groups
    ]

    connection = ServiceConnection(
        "pipelines-azure",
        ServiceConnectionArgs(
            project_id=project_id,
            resource_group_name=facts.resource_group_name,
            location=facts.location,
            identity_name=facts.pipeline_identity_name,
            subscription_id=facts.subscription_id,
            subscription_name=cfg.subscription_name,
            tenant_id=facts.tenant_id,
            platform_group_id=facts.resource_group_id,
            environment_group_ids=facts.environment_group_ids,
            environments_granting_roles=("prod",),
            key_vault_id=facts.key_vault_id,
            tags=facts.tags,
        ),
        opts=on_devops,
    )
    environments = DeploymentEnvironments(
        "environments",
        DeploymentEnvironmentsArgs(
            project_id=project_id,
            environments=list(facts.environment_group_ids),
            prod_approvers=approvers,
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
        "SERVING_REPOSITORY": ServingConfig().repository,
        "TEARDOWN_DEFINITION_ID": pipelines.definitions[DEV_DELETE_AFTER_24_HOURS.key].id,
        "PULUMI_BACKEND_URL": cfg.pulumi_backend_url,
        "PULUMI_SECRETS_PROVIDER": cfg.pulumi_secrets_provider,
    }
    if cfg.pulumi_state_storage_account:
        platform_variables["PULUMI_STATE_STORAGE_ACCOUNT"] = cfg.pulumi_state_storage_account
    variables = VariableGroups(
        "variables",
        VariableGroupsArgs(
            project_id=project_id,
            platform=platform_variables,
            notification_from=cfg.notification_from,
            notification_to=cfg.notification_to,
            key_vault_name=facts.key_vault_name,
            service_connection_id=connection.endpoint_id,
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
            service_connection_id=connection.endpoint_id,
            variable_group_ids=variables.ids,
            environment_ids=environment_ids,
            engine_repository_resource_id=pulumi.Output.concat(project_id, ".", engine_repo.id),
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
    return {
        "devopsProjectId": project_id,
        "serviceConnectionId": connection.endpoint_id,
        "pipelineIdentityClientId": connection.identity.client_id,
        "pipelineIdentityPrincipalId": connection.identity.principal_id,
        "dashboardId": dashboard.dashboard.id,
    }
