"""The team dashboard: its widget JSON, and the REST calls that place it (against a
loopback stand-in for Azure DevOps that records what it is sent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from commands.dashboard_widgets import BUILD_HISTORY, MARKDOWN, WIDGET_PREFIX, DashboardClient, widgets
from components.devops import pipelines as spec
from tests.support.loopback import JsonHandler, serve


def built() -> list[dict]:
    return widgets(
        organization_url="https://dev.azure.com/digitre",
        project_id="p-1",
        project_name="DigitRE",
        definitions=[(p.name, 100 + i) for i, p in enumerate(spec.PIPELINES)],
        environments=[("dev", 1), ("qa", 2), ("prod", 3)],
    )


def test_one_build_history_per_pipeline_and_the_environments():
    result = built()
    history = [w for w in result if w["contributionId"] == BUILD_HISTORY]
    assert [w["name"] for w in history] == [f"{WIDGET_PREFIX}{p.name}" for p in spec.PIPELINES]
    settings = json.loads(history[0]["settings"])
    assert settings == {"buildDefinition": {"id": 100, "name": spec.PIPELINES[0].name, "projectId": "p-1"}}
    (environments,) = [w for w in result if w["contributionId"] == MARKDOWN]
    assert "https://dev.azure.com/digitre/DigitRE/_environments/3?view=deployments" in environments["settings"]
    positions = {(w["position"]["row"], w["position"]["column"]) for w in result}
    assert len(positions) == len(result)  # no two widgets overlap


class FakeAzureDevOps(JsonHandler):
    widgets: ClassVar[dict[str, dict]] = {}
    calls: ClassVar[list[tuple[str, str, str]]] = []

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, self.headers["Authorization"]))
        self.answer({"value": [{"id": k, **v} for k, v in self.widgets.items()]})

    def do_POST(self) -> None:
        body = self.read_json()
        self.calls.append(("POST", self.path, self.headers["Authorization"]))
        self.widgets[str(len(self.widgets) + 100)] = body
        self.answer(body)

    def do_DELETE(self) -> None:
        self.calls.append(("DELETE", self.path, self.headers["Authorization"]))
        self.widgets.pop(self.path.split("?")[0].rsplit("/", 1)[1], None)
        # An empty body.
        self.send_response(200)
        self.end_headers()


@contextmanager
def azure_devops(existing: dict[str, dict]) -> Iterator[tuple[str, type[FakeAzureDevOps]]]:
    handler = type("Handler", (FakeAzureDevOps,), {"widgets": dict(existing), "calls": []})
    with serve(handler) as url:
        yield url, handler


def test_apply_replaces_our_widgets_and_keeps_hand_made_ones():
    existing = {"1": {"name": f"{WIDGET_PREFIX}old"}, "2": {"name": "team notes"}}
    with azure_devops(existing) as (url, fake):
        client = DashboardClient(url, "p-1", "d-1", "token")
        assert client.apply(built()) == len(built())
    names = sorted(w["name"] for w in fake.widgets.values())
    assert "team notes" in names
    assert f"{WIDGET_PREFIX}old" not in names
    assert len(names) == len(built()) + 1
    assert all(path.startswith("/p-1/_apis/dashboard/dashboards/d-1/widgets") for _, path, _ in fake.calls)
    assert all("api-version=7.1-preview.2" in path for _, path, _ in fake.calls)
    assert {auth for _, _, auth in fake.calls} == {"Basic OnRva2Vu"}  # ":token", base64


def test_remove_deletes_only_our_widgets():
    existing = {"1": {"name": f"{WIDGET_PREFIX}a"}, "2": {"name": "team notes"}, "3": {"name": f"{WIDGET_PREFIX}b"}}
    with azure_devops(existing) as (url, fake):
        assert DashboardClient(url, "p-1", "d-1", "token").remove() == 2
    assert [w["name"] for w in fake.widgets.values()] == ["team notes"]


def test_the_stack_places_widgets_for_its_real_definitions(shared):
    (command,) = [r for r in shared.of_type("command:local:Command") if r.name == "team-widgets"]
    assert command.inputs["create"] == "python3 -m commands.dashboard_widgets apply"
    assert command.inputs["update"] == "python3 -m commands.dashboard_widgets apply"
    assert command.inputs["delete"] == "python3 -m commands.dashboard_widgets remove"
    environment = command.inputs["environment"]
    assert "AZDO_PERSONAL_ACCESS_TOKEN" not in environment  # inherited, never in state
    assert environment["DASHBOARD_ID"] == shared.outputs["dashboardId"]
    placed = json.loads(environment["WIDGETS"])
    ids = {
        d.inputs["name"]: d for d in shared.resources if d.type == "azuredevops:index/buildDefinition:BuildDefinition"
    }
    history = [json.loads(w["settings"])["buildDefinition"] for w in placed if w["contributionId"] == BUILD_HISTORY]
    assert {h["name"] for h in history} == set(ids)
    assert all(h["projectId"] == shared.outputs["devopsProjectId"] for h in history)
