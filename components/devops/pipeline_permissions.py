"""Which pipeline may use which protected resource: granted one pipeline at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components.devops.pipelines import Pipeline


@dataclass(frozen=True)
class PipelinePermissionsArgs:
    project_id: pulumi.Input[str]
    pipelines: Sequence[Pipeline]
    definition_ids: Mapping[str, pulumi.Input[str]]
    # Service connection name -> id.
    service_connection_ids: Mapping[str, pulumi.Input[str]]
    variable_group_ids: Mapping[str, pulumi.Input[str]]
    environment_ids: Mapping[str, pulumi.Input[str]]
    # The repository's own id: for type `repository` the provider itself sends
    # `<project id>.<repository id>` to Azure DevOps.
    engine_repository_id: pulumi.Input[str]


class PipelinePermissions(pulumi.ComponentResource):
    """Owns one authorization per (pipeline, resource) it uses: its one service connection,
    each variable group, each environment, the engine repository. Nothing is open to all
    pipelines, so the SendGrid key reaches the teardown and drift notices only, and the deploying
    connection is never authorized for the pull-request preview or the drift check."""

    def __init__(self, name: str, args: PipelinePermissionsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:PipelinePermissions", name, None, opts)
        self.authorizations: dict[tuple[str, str], azuredevops.PipelineAuthorization] = {}
        for pipeline in args.pipelines:
            wanted: list[tuple[str, str, pulumi.Input[str]]] = []
            if pipeline.uses_service_connection:
                connection_id = args.service_connection_ids[pipeline.service_connection]
                wanted.append(("endpoint", "service-connection", connection_id))
            wanted += [("variablegroup", group, args.variable_group_ids[group]) for group in pipeline.variable_groups]
            wanted += [("environment", env, args.environment_ids[env]) for env in pipeline.environments]
            if pipeline.uses_engine_repository:
                wanted.append(("repository", "engine-repository", args.engine_repository_id))
            for kind, label, resource_id in wanted:
                self.authorizations[(pipeline.key, label)] = azuredevops.PipelineAuthorization(
                    f"{name}-{pipeline.key}-{label}",
                    project_id=args.project_id,
                    type=kind,
                    resource_id=resource_id,
                    pipeline_id=pulumi.Output.from_input(args.definition_ids[pipeline.key]).apply(int),
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self.register_outputs({"count": len(self.authorizations)})
