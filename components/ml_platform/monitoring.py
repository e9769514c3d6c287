"""Log Analytics and workspace-based Application Insights for the platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import applicationinsights, operationalinsights


@dataclass(frozen=True)
class MonitoringArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    workspace_name: str
    app_insights_name: str
    retention_days: int
    tags: Mapping[str, str]


class Monitoring(pulumi.ComponentResource):
    """Owns the Log Analytics workspace (AML, AKS and ACI logs) and the Application Insights
    component the AML workspace and the serving environments report to; both protected."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:ml_platform:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Both hold or route every environment's logs and telemetry, and the App Insights
        # connection string is wired into the AML workspace and every serving environment:
        # a stray destroy must fail.
        kept = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True))
        self.workspace = operationalinsights.Workspace(
            f"{name}-log",
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.retention_days,
            tags=dict(args.tags),
            opts=kept,
        )
        # Local (key-based) ingestion stays on: the Azure ML inference server sends telemetry
        # with the connection string, which is why that string is exported as a secret.
        self.app_insights = applicationinsights.Component(
            f"{name}-appi",
            resource_name_=args.app_insights_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="web",
            application_type="web",
            workspace_resource_id=self.workspace.id,
            ingestion_mode="LogAnalytics",
            tags=dict(args.tags),
            # azure-native marks neither output secret, and no secret input makes the engine do
            # it: without this both sit in plain text in the shared stack's state.
            opts=pulumi.ResourceOptions.merge(
                kept, pulumi.ResourceOptions(additional_secret_outputs=["connectionString", "instrumentationKey"])
            ),
        )
        self.workspace_id = self.workspace.id
        self.workspace_name = self.workspace.name
        # The workspace's GUID, which agents (ACI diagnostics) address it by.
        self.customer_id = self.workspace.customer_id
        self.app_insights_id = self.app_insights.id
        self.connection_string: pulumi.Output[str] = pulumi.Output.secret(self.app_insights.connection_string)  # type: ignore[arg-type]
        self.register_outputs(
            {
                "workspaceId": self.workspace_id,
                "appInsightsId": self.app_insights_id,
                "connectionString": self.connection_string,
            }
        )
