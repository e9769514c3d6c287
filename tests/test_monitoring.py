"""Monitoring: Log Analytics and workspace-based Application Insights."""

from __future__ import annotations

from tests.support.evaluations import CUSTOM_SHARED


def test_app_insights_is_workspace_based(shared):
    workspace = shared.one("azure-native:operationalinsights:Workspace")
    appi = shared.one("azure-native:applicationinsights:Component")
    assert workspace.inputs["sku"] == {"name": "PerGB2018"}
    assert workspace.inputs["retentionInDays"] == 30
    assert appi.inputs["workspaceResourceId"] == shared.outputs["logAnalyticsWorkspaceId"]
    assert appi.inputs["ingestionMode"] == "LogAnalytics"
    assert appi.inputs["kind"] == "web" and appi.inputs["applicationType"] == "web"
    assert workspace.parent == appi.parent and appi.parent.endswith("digitre:ml_platform:Monitoring::monitoring")


def test_retention_comes_from_config(customised):
    # The customised shared stack keeps logs 90 days (the stack file and the default: 30).
    assert CUSTOM_SHARED["monitoring"] == {"retentionDays": 90}
    run = customised["shared"]
    assert run.one("azure-native:operationalinsights:Workspace").inputs["retentionInDays"] == 90


def test_connection_string_is_a_secret_export(shared):
    assert "appInsightsConnectionString" in shared.secret_outputs
    assert shared.outputs["appInsightsConnectionString"].startswith("InstrumentationKey=")


def test_the_component_keeps_its_connection_string_and_key_secret_in_state(shared):
    # No secret input names them, so only this option has the engine encrypt them.
    appi = shared.one("azure-native:applicationinsights:Component")
    assert {"connectionString", "instrumentationKey"} <= set(appi.additional_secret_outputs)
    assert appi.outputs["connectionString"].startswith(f"InstrumentationKey={appi.outputs['instrumentationKey']};")
