"""The pipeline YAML: valid against Microsoft's schema, and exactly what components/pipelines.py
declares (triggers, variable groups, environments, service connection)."""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components import pipelines as spec
from components.offline import ROOT
from tests.azure_pipelines_schema import _validator, load_as_azure, schema_errors

PIPELINES_DIR = ROOT / "pipelines"
ALL_YAML = sorted(PIPELINES_DIR.rglob("*.yml"))
BY_KEY = {p.key: p for p in spec.PIPELINES}


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(PIPELINES_DIR)))
def test_every_yaml_file_validates_against_the_azure_pipelines_schema(path):
    assert schema_errors(path) == []


def test_the_validator_reports_real_errors(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("trigger: none\njobs:\n  - job: build\n    stepz:\n      - bash: echo hi\n")
    errors = schema_errors(broken)
    assert errors
    typo = tmp_path / "typo.yml"
    typo.write_text("steps:\n  - task: AzureCLI@2\n    inputs:\n      scriptType: fish\n")
    assert schema_errors(typo)


def test_template_parameters_are_expanded_only_to_values_they_may_take(tmp_path):
    # A job id built from a parameter is valid once expanded, as Azure expands it...
    good = tmp_path / "good.yml"
    good.write_text(
        "parameters:\n  - name: stack\n    type: string\n    values: [shared, dev]\n"
        "jobs:\n  - job: preview_${{ parameters.stack }}\n    steps:\n      - bash: echo hi\n"
    )
    assert schema_errors(good) == []
    # ...but not when the parameter is undeclared or its value makes a bad id.
    undeclared = tmp_path / "undeclared.yml"
    undeclared.write_text("jobs:\n  - job: preview_${{ parameters.stack }}\n    steps:\n      - bash: echo hi\n")
    assert schema_errors(undeclared)
    spaced = tmp_path / "spaced.yml"
    spaced.write_text(
        "parameters:\n  - name: stack\n    type: string\n    default: a b\n"
        "jobs:\n  - job: preview_${{ parameters.stack }}\n    steps:\n      - bash: echo hi\n"
    )
    assert schema_errors(spaced)


def test_typed_yaml_would_report_false_errors():
    # Why the wrapper reads scalars as strings: a typed load turns 1500 into an int.
    document = yaml.safe_load((PIPELINES_DIR / "dev-delete-after-24-hours.yml").read_text())
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(document)
    _validator().validate(load_as_azure(PIPELINES_DIR / "dev-delete-after-24-hours.yml"))


def test_every_pipeline_file_is_declared_and_every_declared_file_exists():
    files = {p.stem for p in PIPELINES_DIR.glob("*.yml")}
    assert files == set(BY_KEY)
    assert len(spec.PIPELINES) == 8
    for pipeline in spec.PIPELINES:
        assert (ROOT / pipeline.yml_path).is_file()


def document(pipeline: spec.Pipeline) -> dict:
    return yaml.load((ROOT / pipeline.yml_path).read_text(), Loader=yaml.BaseLoader)


@pytest.mark.parametrize("pipeline", spec.PIPELINES, ids=lambda p: p.key)
def test_triggers_in_code_match_the_yaml(pipeline):
    doc = document(pipeline)
    # No CI or PR trigger on this repository: everything runs on resources, policy or by hand.
    assert doc["trigger"] == "none" and doc["pr"] == "none"
    resources = doc.get("resources", {})
    repository_triggers = [
        spec.RepositoryTrigger(repo["name"], tuple(repo["trigger"]["branches"]["include"]))
        for repo in resources.get("repositories", [])
        if "trigger" in repo
    ]
    completion_triggers = [
        spec.CompletionTrigger(
            p["source"], tuple(p["trigger"]["branches"]["include"]), tuple(p["trigger"].get("tags", []))
        )
        for p in resources.get("pipelines", [])
        if "trigger" in p
    ]
    assert repository_triggers == ([pipeline.repository_trigger] if pipeline.repository_trigger else [])
    assert completion_triggers == ([pipeline.completion_trigger] if pipeline.completion_trigger else [])


def test_completion_triggers_name_declared_pipelines():
    names = {p.name for p in spec.PIPELINES}
    for pipeline in spec.PIPELINES:
        if pipeline.completion_trigger:
            assert pipeline.completion_trigger.pipeline in names


def test_only_the_manual_pipelines_have_no_trigger():
    manual = {p.name for p in spec.PIPELINES if p.manual_only}
    assert manual == {"[Manual]-[Custom-QA]-Deploy", "[Manual]-[Prod]-deployment"}


@dataclass
class Usage:
    groups: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    service_connections: set[str] = field(default_factory=set)
    repositories: set[str] = field(default_factory=set)
    stacks: set[str] = field(default_factory=set)


def usage_of(path: Path, parameters: dict[str, Any] | None = None, usage: Usage | None = None) -> Usage:
    """What a YAML file and the templates it includes use, template parameters (given, else
    their defaults) substituted and `${{ each }}` loops over parameters expanded."""
    usage = usage or Usage()
    document = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    declared = {p["name"]: p.get("default") for p in document.get("parameters") or [] if isinstance(p, dict)}
    scope: dict[str, Any] = {**{k: v for k, v in declared.items() if v is not None}, **(parameters or {})}

    def substitute(value: str, loop: dict[str, str]) -> str:
        value = re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: str(scope.get(m.group(1), m.group(0))), value)
        return re.sub(r"\$\{\{\s*(\w+)\s*\}\}", lambda m: loop.get(m.group(1), m.group(0)), value)

    def walk(node: object, loop: dict[str, str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, loop)
        elif isinstance(node, dict):
            for key, value in node.items():
                each = re.fullmatch(r"\$\{\{\s*each (\w+) in parameters\.(\w+)\s*\}\}", key)
                if each:
                    for item in scope.get(each.group(2)) or []:
                        walk(value, {**loop, each.group(1): str(item)})
                elif key == "template" and isinstance(value, str):
                    called = {
                        k: substitute(v, loop) for k, v in (node.get("parameters") or {}).items() if isinstance(v, str)
                    }
                    usage_of(path.parent / value, called, usage)
                elif key == "uses" and isinstance(value, dict):
                    usage.repositories.update(substitute(r, loop) for r in value.get("repositories") or [])
                elif isinstance(value, str):
                    record(key, substitute(value, loop))
                if not each:
                    walk(value, loop)

    def record(key: str, value: str) -> None:
        if key == "group":
            usage.groups.add(value)
        elif key == "environment" and "${{" not in value:
            usage.environments.add(value)
        elif key == "azureSubscription":
            usage.service_connections.add(value)
        elif key == "checkout" and value not in ("self", "none"):
            usage.repositories.add(value)
        elif key == "stack" and "${{" not in value:
            usage.stacks.add(value)

    walk({k: v for k, v in document.items() if k != "parameters"}, {})
    return usage


@pytest.mark.parametrize("pipeline", spec.PIPELINES, ids=lambda p: p.key)
def test_what_a_pipeline_uses_is_what_code_authorizes(pipeline):
    usage = usage_of(ROOT / pipeline.yml_path)
    assert usage.groups == set(pipeline.variable_groups)
    assert usage.environments == set(pipeline.environments)
    assert usage.service_connections == ({pipeline.service_connection} if pipeline.uses_service_connection else set())
    assert usage.repositories == ({"engine"} if pipeline.uses_engine_repository else set())
    assert usage.stacks == set(pipeline.stacks)


def test_only_the_teardown_pipeline_may_read_the_notification_groups():
    readers = {
        p.name
        for p in spec.PIPELINES
        if {spec.NOTIFICATION_VARIABLE_GROUP, spec.NOTIFICATION_SECRETS_GROUP} & set(p.variable_groups)
    }
    assert readers == {"[Dev]-Delete-After-24Hours"}


def test_the_teardown_waits_agentless_longer_than_a_day():
    doc = document(spec.DEV_DELETE_AFTER_24_HOURS)
    (wait,) = [s for s in doc["stages"] if s["stage"] == "wait"]
    job = wait["jobs"][0]
    assert job["pool"] == "server"
    assert int(job["timeoutInMinutes"]) > 24 * 60
    assert job["steps"][0]["task"] == "Delay@1"
    assert job["steps"][0]["inputs"]["delayForMinutes"] == "1440"


def test_secrets_are_mapped_into_env_never_interpolated_into_scripts():
    for path in ALL_YAML:
        text = path.read_text()
        for secret in ("$(sendgrid-api-key)", "$(System.AccessToken)"):
            for line in text.splitlines():
                if secret in line:
                    assert re.match(r"\s*[A-Z_]+: " + re.escape(secret) + r"\s*$", line), f"{path.name}: {line.strip()}"


def test_pulumi_cli_is_pinned_to_the_locked_sdk_version():
    setup = yaml.safe_load((PIPELINES_DIR / "templates" / "setup.yml").read_text())
    (version,) = [p["default"] for p in setup["parameters"] if p["name"] == "pulumiVersion"]
    assert version == importlib.metadata.version("pulumi")


@pytest.mark.parametrize(
    "pipeline", [p for p in spec.PIPELINES if p.stacks and p is not spec.DEV_DELETE_AFTER_24_HOURS], ids=lambda p: p.key
)
def test_previews_and_deploys_run_with_the_policy_pack(pipeline):
    def calls(path: Path, parameters: dict[str, str]) -> list[dict[str, str]]:
        found = []

        def walk(node: object) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item)
            elif isinstance(node, dict):
                if str(node.get("template", "")).endswith("pulumi.yml"):
                    found.append(node.get("parameters") or {})
                elif "template" in node:
                    found.extend(calls(path.parent / node["template"], node.get("parameters") or {}))
                for value in node.values():
                    walk(value)

        walk(yaml.load(path.read_text(), Loader=yaml.BaseLoader))
        return found

    pulumi_calls = calls(ROOT / pipeline.yml_path, {})
    assert pulumi_calls
    for call in pulumi_calls:
        assert call["command"] in ("preview", "up")
        assert call["policyPack"] == "policy"
        assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()
