"""The offline plan: inventory and diagram from the real stack config, no credentials; and
docs/architecture.md regenerated from it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from components.offline import ROOT
from components.plan import DOCS, diagram, inventory, main, pipeline_flow, render_docs, run_stack


def test_docs_are_generated_from_the_current_code():
    assert DOCS.read_text() == render_docs(), "docs/architecture.md is stale: run python -m components.plan --docs"


def test_inventory_shows_security_settings_and_lifecycle(shared):
    lines = inventory(shared)
    (registry,) = [line for line in lines if line.startswith("azure-native:containerregistry:Registry ")]
    assert "adminUserEnabled=False" in registry and "anonymousPullEnabled=False" in registry
    assert "[protected]" in registry
    (vault,) = [line for line in lines if line.startswith("azure-native:keyvault:Vault ")]
    assert "properties.enablePurgeProtection=True" in vault
    assert len(lines) == len([r for r in shared.resources if r.custom])


def test_diagram_groups_resources_by_component_with_dependency_edges():
    run = run_stack("dev", "5")
    chart = diagram(run)
    assert chart.startswith("flowchart LR\n")
    assert '(digitre:serving:ModelService)"]' in chart
    assert "ci-digitre-dev-engine" in chart
    assert " --> " in chart  # the health check depends on the container group
    assert "estimation-model-5" in "\n".join(inventory(run))


def test_pipeline_flow_has_every_pipeline_and_trigger():
    flow = pipeline_flow()
    for name in ("[ML]-Extract-Prepare", "[DEV]-Build_and_Deploy", "[PR]-Preview", "[Manual]-[Prod]-deployment"):
        assert name in flow
    assert "tagged model-registered" in flow
    assert flow.count("by hand") == 2


def test_the_command_works_without_credentials(tmp_path, monkeypatch, capsys):
    for name in list(os.environ):
        if name.startswith(("ARM_", "AZURE_", "AZDO_", "PULUMI_")):
            monkeypatch.delenv(name)
    target = tmp_path / "prod.md"
    assert main(["prod", "--model-version", "3", "--diagram", str(target)]) == 0
    assert "azure-native:containerservice:ManagedCluster aks-digitre-prod" in capsys.readouterr().out
    assert target.read_text().startswith("```mermaid\nflowchart LR\n")
    with pytest.raises(SystemExit) as usage:
        main([])
    assert usage.value.code == 2


def test_the_module_runs_as_a_command():
    result = subprocess.run(
        [sys.executable, "-m", "components.plan", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "--docs" in result.stdout
