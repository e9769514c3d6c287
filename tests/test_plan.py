"""The offline plan: outputs, resources and a component diagram from the real stack config,
no credentials; docs/architecture.md regenerated from it; bad config said in one line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.types import PROJECT
from offline import evaluate as offline
from offline import plan as offline_plan
from offline.evaluate import ROOT, SHARED, Evaluation, shared_stack_name, stack_config
from offline.plan import (
    DOCS,
    count,
    diagram,
    inventory,
    known_stacks,
    main,
    pipeline_flow,
    render_docs,
    report,
    run_stack,
    show,
)
from tests.support.evaluations import MODEL_VERSION

# Values the mocks give the secrets of the stacks: none may reach a plan.
SECRET_MARKERS = ("InstrumentationKey=", "offline-key-", "offline-placeholder", "kubelogin")


# The stack files as committed: an evaluation of the same config is the session's.
COMMITTED = {stack: stack_config(stack) for stack in known_stacks()}


@pytest.fixture(autouse=True)
def reuse_session_evaluations(monkeypatch, shared: Evaluation, served: dict[str, Evaluation]) -> None:
    """The plan evaluates what the session has evaluated already (the shared stack as
    committed; an environment deployed with MODEL_VERSION reading it): answered with that
    evaluation, made with the very same config and references. Any other call evaluates."""
    real = offline.evaluate

    def evaluate(stack: str, **kwargs) -> Evaluation:
        overrides, references = kwargs.get("overrides") or {}, kwargs.get("references") or {}
        if set(kwargs) <= {"overrides", "references"}:
            if stack == SHARED and not overrides and not references and stack_config(SHARED) == COMMITTED[SHARED]:
                return shared
            if (
                stack in served
                and overrides == {f"{PROJECT}:modelVersion": MODEL_VERSION}
                and list(references) == [shared_stack_name(stack)]
                and references[shared_stack_name(stack)] is shared
                and stack_config(stack) == COMMITTED[stack]
            ):
                return served[stack]
        return real(stack, **kwargs)

    monkeypatch.setattr("offline.plan.evaluate", evaluate)


def test_docs_are_generated_from_the_current_code(monkeypatch):
    evaluated: list[str] = []
    real = offline_plan.evaluate

    def counting(stack: str, **kwargs) -> Evaluation:
        evaluated.append(stack)
        return real(stack, **kwargs)

    monkeypatch.setattr("offline.plan.evaluate", counting)
    assert DOCS.read_text() == render_docs(), "docs/architecture.md is stale: run python -m offline.plan --docs"
    assert evaluated == list(known_stacks()), "each stack evaluated once, shared reused by the environments"


def test_inventory_shows_security_settings_and_lifecycle(shared):
    lines = inventory(shared)
    (registry,) = [line for line in lines if line.startswith("azure-native:containerregistry:Registry ")]
    assert "adminUserEnabled=false" in registry and "anonymousPullEnabled=false" in registry
    assert "[protected]" in registry
    (vault,) = [line for line in lines if line.startswith("azure-native:keyvault:Vault ")]
    assert "enablePurgeProtection=true" in vault
    assert len(lines) == len([r for r in shared.resources if r.custom])


def test_values_print_as_a_person_writes_them():
    assert show(2.0) == "2" and show(1.5) == "1.5" and show(True) == "true"
    role = "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d"
    assert show(role) == "AcrPull"
    assert show(role, short=False) == role


def test_the_plan_prints_integers_as_integers(served):
    text = "\n".join(report(served["prod"], MODEL_VERSION))
    assert "minCount=2, maxCount=6" in text
    assert "timeout=600" in text
    assert not re.search(r"=\d+\.0\b", text), "an integer printed as a float"


def test_the_plan_shows_the_outputs_and_that_nothing_is_served_yet(runs):
    text = "\n".join(report(runs["dev"]))
    assert re.search(r"^  serving +nothing yet: deploy with --config digitre-mlops:modelVersion=<version>$", text, re.M)
    assert re.search(r"^  modelVersionSource +none$", text, re.M)
    assert "Resources: 0 resources; reads stack organization/digitre-mlops/dev (previous-deployment)," in text


def test_the_plan_gives_each_resource_its_location_tags_size_and_security(shared):
    text = "\n".join(report(shared))
    found = re.search(r"^    Registry crdigitreshared42fe68 \[protected\]\n((?:      .*\n)+)", text, re.M)
    assert found, text
    registry = found[1]
    assert "where: rg-digitre-shared, westeurope" in registry
    assert "tags: the stack's tags" in registry
    sku = json.loads(stack_config("shared")[0]["digitre-mlops:registry"])["sku"]
    assert f"size: sku={sku}" in registry
    assert "security: adminUserEnabled=false, anonymousPullEnabled=false" in registry
    assert "tags: the stack's tags, environment=dev" in text  # dev's group carries its own environment tag
    assert "Tags unless said otherwise: cost-center=digitre-ml, environment=shared," in text
    assert f"Resources: {len([r for r in shared.resources if r.custom])} resources (" in text


def test_no_secret_value_reaches_the_plan(shared, runs, served):
    for run in [shared, *runs.values(), *served.values()]:
        text = "\n".join(report(run)) + diagram(run)
        for marker in SECRET_MARKERS:
            assert marker not in text, f"{run.stack}: {marker} in the plan"
    assert re.search(r"^  appInsightsConnectionString +\[secret\]$", "\n".join(report(shared)), re.M)


def test_the_diagram_folds_resources_into_components_with_labelled_edges(shared):
    chart = diagram(shared)
    nodes = re.findall(r'^    (c\d+)\["', chart, re.M)
    holding = {r.parent for r in shared.resources if r.custom}
    components = [
        r
        for r in shared.resources
        if not r.custom and r.parent.endswith("pulumi:pulumi:Stack::digitre-mlops-shared") and r.urn in holding
    ]
    # One node per component, one for the resource groups outside any: not one per resource.
    assert len(nodes) == len(components) + 1 < len([r for r in shared.resources if r.custom]) / 5
    edges = re.findall(r"^  (\w+) -->(.*)$", chart, re.M)
    assert len(edges) >= len(components)
    assert all(re.fullmatch(r'\|"[^"]+"\| \w+', rest) for _, rest in edges), "an edge without a label"
    assert '|"Contributor role, Registry id"|' in chart  # the workspace identity uses, and links, the registry
    assert "ResourceGroup name" in chart


def test_an_environment_diagram_shows_what_it_reads_from_shared(shared):
    run = run_stack("dev", MODEL_VERSION, shared)
    chart = diagram(run)
    assert chart.startswith("flowchart LR\n")
    assert re.search(r'c\d+\["engine<br/><i>ModelService</i><br/>ContainerGroup ci-digitre-dev-engine"\]', chart)
    assert re.search(r'x\d+ -->\|"[^"]*logAnalyticsWorkspaceId[^"]*"\| c\d+', chart)  # the container's logs
    assert re.search(r'c\d+ -->\|"after ContainerGroup"\| c\d+', chart)  # the health check runs after the deploy
    assert f"estimation-model-{MODEL_VERSION}" in "\n".join(inventory(run))
    assert count(run).startswith("2 resources (1 Azure, 1 local command) in 2 components; reads stack")


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
    out = capsys.readouterr().out
    assert "    ManagedCluster aks-digitre-prod [protected]" in out
    assert re.search(r"^  image +crdigitreshared42fe68\.azurecr\.io/estimation-engine:estimation-model-3$", out, re.M)
    assert target.read_text().startswith("```mermaid\nflowchart LR\n")
    with pytest.raises(SystemExit) as usage:
        main([])
    assert usage.value.code == 2


def test_the_module_runs_as_a_command():
    result = subprocess.run(
        [sys.executable, "-m", "offline.plan", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "--docs" in result.stdout


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A copy of the stack files the plan reads instead of the real ones."""
    for stack in known_stacks():
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path)
    monkeypatch.setattr(offline, "ROOT", tmp_path)
    return tmp_path


def edit(path: Path, key: str, value: object) -> None:
    document = yaml.safe_load(path.read_text())
    document["config"][f"digitre-mlops:{key}"] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_bad_shared_config_is_one_line_without_a_traceback(repo, capsys):
    edit(repo / "Pulumi.shared.yaml", "amlCompute", {"maxNodes": -1})
    assert main(["dev"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith(
        "plan: stack dev reads stack shared (organization/digitre-mlops/shared), which does not evaluate: "
        "invalid configuration: digitre-mlops:"
    )
    assert "digitre-mlops:amlCompute.maxNodes must be an integer 1..100, got -1" in captured.err


def test_bad_config_of_the_stack_itself_is_one_line(repo, capsys):
    aks = yaml.safe_load((repo / "Pulumi.prod.yaml").read_text())["config"]["digitre-mlops:aks"]
    edit(repo / "Pulumi.prod.yaml", "aks", {**aks, "minReplicas": 4, "maxReplicas": 3})
    edit(repo / "Pulumi.prod.yaml", "location", "West Europe")
    assert main(["prod"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("plan: stack prod: invalid configuration: digitre-mlops:")
    assert "digitre-mlops:location must be" in err and "; digitre-mlops:aks is invalid: maxReplicas (3)" in err


def test_a_stack_file_that_is_not_yaml_is_one_line(repo, capsys):
    (repo / "Pulumi.dev.yaml").write_text("config: [unclosed\n")
    assert main(["dev"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("plan: stack dev: a stack file is not YAML: ") and err.count("\n") == 1


def test_a_missing_shared_stack_is_one_line(repo, capsys):
    (repo / "Pulumi.shared.yaml").unlink()
    assert main(["qa"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "plan: stack qa reads the shared stack organization/digitre-mlops/shared (digitre-mlops:sharedStack), "
        "but there is no Pulumi.shared.yaml to evaluate it from\n"
    )


def test_environments_come_from_the_shared_stack_config(repo, capsys):
    table = {"dev": {}, "qa": {}, "prod": {"servingPlatform": "aks"}, "stage": {}}
    edit(repo / "Pulumi.shared.yaml", "environments", table)
    shutil.copy(repo / "Pulumi.qa.yaml", repo / "Pulumi.stage.yaml")
    assert known_stacks() == ("shared", "dev", "qa", "prod", "stage")
    assert main(["stage", "--model-version", "2"]) == 0
    assert re.search(r"^  resourceGroupName +rg-digitre-stage$", capsys.readouterr().out, re.M)
    assert main(["uat"]) == 1
    assert capsys.readouterr().err == (
        "plan: no stack 'uat': the stacks are shared, dev, qa, prod, stage "
        "(digitre-mlops:environments in Pulumi.shared.yaml names the environments)\n"
    )
