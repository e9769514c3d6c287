"""The team dashboard's widgets, built here and sent to the Azure DevOps REST API.

pulumi-azuredevops declares the dashboard but has no widget resource, so a pulumi-command
resource runs `python3 -m commands.dashboard_widgets apply` on create and update and
`... remove` on delete. Standard library only. Settings come from the environment:
AZDO_ORG_SERVICE_URL, AZDO_PROJECT_ID, DASHBOARD_ID, WIDGETS (the JSON `widgets()` built),
and AZDO_PERSONAL_ACCESS_TOKEN (inherited from `pulumi up`, never stored in state).
Only widgets whose name starts with WIDGET_PREFIX are touched: hand-made ones stay.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.request
from collections.abc import Sequence
from typing import Any

WIDGET_PREFIX = "digitre-mlops: "
API_VERSION = "7.1-preview.2"
BUILD_HISTORY = "ms.vss-dashboards-web.Microsoft.VisualStudioOnline.Dashboards.BuildChartWidget"
MARKDOWN = "ms.vss-dashboards-web.Microsoft.VisualStudioOnline.Dashboards.MarkdownWidget"
COLUMNS = 4  # widgets per row, each two grid columns wide


def widgets(
    *,
    organization_url: str,
    project_id: str,
    project_name: str,
    definitions: Sequence[tuple[str, int]],
    environments: Sequence[tuple[str, int]],
) -> list[dict[str, Any]]:
    """A build history chart per pipeline, then the latest deployment of each environment."""
    result = []
    for index, (name, definition_id) in enumerate(definitions):
        settings = {"buildDefinition": {"id": definition_id, "name": name, "projectId": project_id}}
        result.append(_widget(index, f"{WIDGET_PREFIX}{name}", BUILD_HISTORY, settings))
    base = f"{organization_url.rstrip('/')}/{project_name}/_environments"
    lines = ["### Latest deployment per environment", ""]
    lines += [f"- **{env}**: [deployments]({base}/{env_id}?view=deployments)" for env, env_id in environments]
    result.append(_widget(len(definitions), f"{WIDGET_PREFIX}environments", MARKDOWN, "\n".join(lines)))
    return result


def _widget(index: int, name: str, contribution: str, settings: Any) -> dict[str, Any]:
    return {
        "name": name,
        "contributionId": contribution,
        "position": {"row": 1 + (index // COLUMNS) * 2, "column": 1 + (index % COLUMNS) * 2},
        "size": {"rowSpan": 2, "columnSpan": 2},
        "settings": settings if isinstance(settings, str) else json.dumps(settings),
        "settingsVersion": {"major": 1, "minor": 0, "patch": 0},
    }


class DashboardClient:
    def __init__(self, organization_url: str, project_id: str, dashboard_id: str, token: str):
        self.url = f"{organization_url.rstrip('/')}/{project_id}/_apis/dashboard/dashboards/{dashboard_id}/widgets"
        self.auth = "Basic " + base64.b64encode(f":{token}".encode()).decode()

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{url}?api-version={API_VERSION}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": self.auth, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def ours(self) -> list[dict[str, Any]]:
        listed = self._call("GET", self.url) or {}
        return [w for w in listed.get("value", []) if str(w.get("name", "")).startswith(WIDGET_PREFIX)]

    def remove(self) -> int:
        found = self.ours()
        for widget in found:
            self._call("DELETE", f"{self.url}/{widget['id']}")
        return len(found)

    def apply(self, wanted: Sequence[dict[str, Any]]) -> int:
        self.remove()
        for widget in wanted:
            self._call("POST", self.url, widget)
        return len(wanted)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("apply", "remove"):
        print("usage: python3 -m commands.dashboard_widgets apply|remove", file=sys.stderr)
        return 2
    env = os.environ
    client = DashboardClient(
        env["AZDO_ORG_SERVICE_URL"], env["AZDO_PROJECT_ID"], env["DASHBOARD_ID"], env["AZDO_PERSONAL_ACCESS_TOKEN"]
    )
    if argv[0] == "apply":
        print(f"dashboard widgets set: {client.apply(json.loads(env['WIDGETS']))}")
    else:
        print(f"dashboard widgets removed: {client.remove()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
