"""The seed's "Azure Dashboard": the team's Azure DevOps dashboard and its widgets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops
from pulumi_command import local

from commands.dashboard_widgets import widgets


@dataclass(frozen=True)
class TeamDashboardArgs:
    organization_url: str
    project_id: pulumi.Input[str]
    project_name: pulumi.Input[str]
    # Pipeline name -> build definition id; environment name -> environment id.
    definition_ids: Mapping[str, pulumi.Input[str]]
    environment_ids: Mapping[str, pulumi.Input[str]]


class TeamDashboard(pulumi.ComponentResource):
    """Owns the dashboard and, through one local command against the REST API (the provider
    has no widget resource), its widgets: each pipeline's build history and the latest
    deployment per environment. The widget JSON is built by `commands.dashboard_widgets`."""

    def __init__(self, name: str, args: TeamDashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:TeamDashboard", name, None, opts)
        self.dashboard = azuredevops.Dashboard(
            f"{name}-dashboard",
            project_id=args.project_id,
            name="DigitRE MLOps",
            description="Pipelines and environments of the estimation engine (managed by Pulumi)",
            refresh_interval=5,
            opts=pulumi.ResourceOptions(parent=self),
        )
        definition_names = list(args.definition_ids)
        environment_names = list(args.environment_ids)
        widget_json = pulumi.Output.all(
            args.project_id,
            args.project_name,
            *args.definition_ids.values(),
            *args.environment_ids.values(),
        ).apply(
            lambda values: widgets(
                organization_url=args.organization_url,
                project_id=values[0],
                project_name=values[1],
                definitions=list(zip(definition_names, map(int, values[2 : 2 + len(definition_names)]), strict=True)),
                environments=list(zip(environment_names, map(int, values[2 + len(definition_names) :]), strict=True)),
            )
        )
        self.widgets = local.Command(
            f"{name}-widgets",
            create="python3 -m commands.dashboard_widgets apply",
            update="python3 -m commands.dashboard_widgets apply",
            delete="python3 -m commands.dashboard_widgets remove",
            environment={
                "AZDO_ORG_SERVICE_URL": args.organization_url,
                "AZDO_PROJECT_ID": args.project_id,
                "DASHBOARD_ID": self.dashboard.id,
                "WIDGETS": pulumi.Output.json_dumps(widget_json),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_id = self.dashboard.id
        self.register_outputs({"dashboardId": self.dashboard_id})
