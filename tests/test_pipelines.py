"""The pipeline YAML: valid against Microsoft's schema, and exactly what components/devops/pipelines.py
declares (triggers, variable groups, environments, service connection)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import os
import platform
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.config.serving import MODEL_VERSION, ServingConfig
from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.support.azure_pipelines_schema import _validator, load_as_azure, schema_errors
from tests.support.hosted_agent import HOSTED_FREE_MAX_MINUTES, HOSTED_PAID_MAX_MINUTES, HOSTED_UBUNTU_2404_TOOLS
from tests.support.pipeline_jobs import MACRO, Job, jobs_of, load, run_script, script_of

PIPELINES_DIR = ROOT / "pipelines"
# Microsoft Learn, task reference "Delay@1": maximum 86400 minutes (60 days); agentless jobs
# time out after 60 minutes by default.
DELAY_MAX_MINUTES = 86400
AGENTLESS_DEFAULT_TIMEOUT = 60
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
    assert len(spec.PIPELINES) == 9
    for pipeline in spec.PIPELINES:
        assert (ROOT / pipeline.yml_path).is_file()


def document(pipeline: spec.Pipeline) -> dict:
    return load(ROOT / pipeline.yml_path)


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
    by_source = {p.source: p.name for p in spec.PIPELINES}
    completion_triggers = [
        spec.CompletionTrigger(
            by_source[p["source"]], tuple(p["trigger"]["branches"]["include"]), tuple(p["trigger"].get("tags", []))
        )
        for p in resources.get("pipelines", [])
        if "trigger" in p
    ]
    assert repository_triggers == ([pipeline.repository_trigger] if pipeline.repository_trigger else [])
    assert completion_triggers == ([pipeline.completion_trigger] if pipeline.completion_trigger else [])
    schedules = [
        spec.ScheduleTrigger(s["cron"], tuple(s["branches"]["include"]), s.get("always") == "true")
        for s in doc.get("schedules", [])
    ]
    assert schedules == ([pipeline.schedule] if pipeline.schedule else [])


def test_queued_pipelines_in_code_match_the_yaml():
    by_source = {p.source: p for p in spec.PIPELINES}
    found = {}
    for pipeline in spec.PIPELINES:
        for job in jobs_of(ROOT / pipeline.yml_path):
            for step in job.steps:
                if step.get("__template__") == "queue-pipeline.yml":
                    given = step["__parameters__"]
                    queued = by_source[given["pipeline"]].name
                    # Only this repository's runs from `branch` may queue, besides the trigger's.
                    assert given["ownRepository"] == spec.PLATFORM_REPOSITORY
                    found[queued] = spec.QueuedBy(
                        pipeline.name,
                        given["branch"],
                        given["definitionIdVariable"],
                        given["triggeringRepository"],
                        given["triggeringBranch"],
                        given["carryRepository"],
                        given["carryRef"],
                    )
                    # The queuing pipeline's own repository trigger is the one the step names.
                    assert pipeline.repository_trigger is not None
                    assert pipeline.repository_trigger.repository == given["triggeringRepository"]
                    assert given["triggeringBranch"] in {
                        f"refs/heads/{b}" for b in pipeline.repository_trigger.branches
                    }
    assert found == {p.name: p.queued_by for p in spec.PIPELINES if p.queued_by}
    assert found, "Extract-Prepare queues Train-Evaluate-Register"


def test_the_carried_repository_is_the_one_both_pipelines_check_out_on_that_ref():
    for pipeline in spec.PIPELINES:
        if not pipeline.queued_by:
            continue
        queuing = next(p for p in spec.PIPELINES if p.name == pipeline.queued_by.pipeline)
        for each in (queuing, pipeline):
            resources = {r["repository"]: r for r in document(each)["resources"]["repositories"]}
            carried = resources[pipeline.queued_by.carry_repository]
            assert carried["ref"] == pipeline.queued_by.carry_ref, each.key


def test_completion_triggers_name_declared_pipelines():
    names = {p.name for p in spec.PIPELINES}
    for pipeline in spec.PIPELINES:
        if pipeline.completion_trigger:
            assert pipeline.completion_trigger.pipeline in names


def test_pipeline_resources_name_their_source_by_folder_and_name():
    # Microsoft Learn, resources.pipelines.pipeline `source`: "If the pipeline is contained in a
    # folder, include the folder name, including the leading \"; every definition here is in one.
    sources = {p.source for p in spec.PIPELINES}
    assert all(p.folder.startswith("\\") and p.folder != "\\" for p in spec.PIPELINES)
    assert spec.EXTRACT_PREPARE.source == "\\ML\\[ML]-Extract-Prepare"
    found = [
        resource["source"]
        for pipeline in spec.PIPELINES
        for resource in (document(pipeline).get("resources") or {}).get("pipelines", [])
    ]
    assert found and all(source in sources for source in found), found


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
    document = load(path)
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


def test_only_the_teardown_and_the_drift_check_may_read_the_notification_groups():
    readers = {
        p.name
        for p in spec.PIPELINES
        if {spec.NOTIFICATION_VARIABLE_GROUP, spec.NOTIFICATION_SECRETS_GROUP} & set(p.variable_groups)
    }
    assert readers == {"[Dev]-Delete-After-24Hours", "[Platform]-Drift"}


def test_the_teardown_waits_agentless_longer_than_a_day():
    doc = document(spec.DEV_DELETE_AFTER_24_HOURS)
    (wait,) = [s for s in doc["stages"] if s["stage"] == "wait"]
    job = wait["jobs"][0]
    assert job["pool"] == "server"
    assert int(job["timeoutInMinutes"]) > 24 * 60
    assert job["steps"][0]["task"] == "Delay@1"
    assert job["steps"][0]["inputs"]["delayForMinutes"] == "1440"
    # Delay@1 takes at most 86400 minutes; an agentless job times out after 60 unless told.
    delay = int(job["steps"][0]["inputs"]["delayForMinutes"])
    assert delay <= DELAY_MAX_MINUTES
    assert delay > AGENTLESS_DEFAULT_TIMEOUT and int(job["timeoutInMinutes"]) > delay


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

        walk(load(path))
        return found

    pulumi_calls = calls(ROOT / pipeline.yml_path, {})
    assert pulumi_calls
    for call in pulumi_calls:
        assert call["command"] in ("preview", "up")
        assert call["policyPack"] == "policy"
        assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()


# The tools a step of ours installs, by the template that installs them.
INSTALLED_BY = {"setup.yml": {"uv", "pulumi"}, "kubelogin.yml": {"kubelogin"}}
CHECKED_TOOLS = HOSTED_UBUNTU_2404_TOOLS | {"uv", "pulumi", "kubelogin"}
# Azure/homebrew-kubelogin Formula/kubelogin.rb (default branch): version and the sha256 of
# kubelogin-linux-amd64.zip; Azure/kubelogin's release workflow zips bin/linux_amd64/kubelogin.
KUBELOGIN_VERSION = "0.2.13"
KUBELOGIN_LINUX_AMD64_SHA256 = "21b7cfa009b3b4044663a0f9a9ec033deddd668ca4502348f763bd93c51fb806"
ALL_PIPELINES = sorted(PIPELINES_DIR.glob("*.yml"))


def tools_called(script: str) -> set[str]:
    """The checked tools a script runs as a command (line start, after a pipe, `$(`, `&&`, ...)."""
    names = "|".join(sorted(CHECKED_TOOLS, key=len, reverse=True))
    pattern = rf"(?:^|[|;&]|\$\(|\bif\s|\bthen\s|!\s)\s*({names})(?=\s|$)"
    return {m.group(1) for line in script.splitlines() for m in re.finditer(pattern, line.strip())}


def test_the_tool_scan_sees_commands_not_words():
    script = 'set -e\nimage=$(uv run x)\nif az acr show; then echo "az is fine"; fi\ncurl -fsS x | python3 -c "y"'
    assert tools_called(script) == {"uv", "az", "curl", "python3"}
    assert tools_called('echo "the stack (pulumi destroy --stack dev) goes"') == set()


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: p.stem)
def test_every_tool_a_job_calls_is_on_the_hosted_image_or_installed_before(path):
    for job in jobs_of(path):
        available = set(HOSTED_UBUNTU_2404_TOOLS)
        for step in job.steps:
            missing = tools_called(script_of(step)) - available
            assert not missing, (
                f"{path.name} job {job.name}: {sorted(missing)} neither on the image nor installed before"
            )
            installed = INSTALLED_BY.get(step.get("__template__", ""), set())
            if (
                step.get("__template__") == "setup.yml"
                and step.get("__parameters__", {}).get("installPulumi") == "false"
            ):
                installed = installed - {"pulumi"}
            available |= installed


def pulumi_stacks(job) -> list[tuple[int, str]]:
    return [
        (i, step["__parameters__"]["stack"])
        for i, step in enumerate(job.steps)
        if step.get("__template__") == "pulumi.yml" and str(step.get("task", "")).startswith("AzureCLI@")
    ]


def test_kubelogin_is_not_on_the_hosted_image():
    assert "kubelogin" not in HOSTED_UBUNTU_2404_TOOLS


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: p.stem)
def test_every_job_that_runs_pulumi_on_prod_installs_kubelogin_first(path):
    for job in jobs_of(path):
        for index, stack in pulumi_stacks(job):
            installs = [i for i, s in enumerate(job.steps) if s.get("__template__") == "kubelogin.yml"]
            if stack == "prod":
                assert installs and installs[0] < index, (
                    f"{path.name} job {job.name} runs pulumi on prod without kubelogin"
                )
            else:
                assert not installs, f"{path.name} job {job.name} installs kubelogin it never uses"


def test_prod_jobs_exist_where_expected():
    # The check above is not vacuous: the prod deploy and the prod preview both run pulumi on prod.
    prod_jobs = {
        (path.stem, job.name)
        for path in ALL_PIPELINES
        for job in jobs_of(path)
        if any(stack == "prod" for _, stack in pulumi_stacks(job))
    }
    assert prod_jobs == {
        ("manual-prod-deployment", "deploy_prod"),
        ("pr-preview", "preview_prod"),
        ("platform-drift", "preview_prod"),
    }


def test_kubelogin_is_pinned_to_a_release_and_its_checksum():
    template = load(PIPELINES_DIR / "templates" / "kubelogin.yml")
    defaults = {p["name"]: p["default"] for p in template["parameters"]}
    assert defaults == {"version": KUBELOGIN_VERSION, "sha256": KUBELOGIN_LINUX_AMD64_SHA256}
    script = template["steps"][0]["bash"]
    assert "releases/download/v${{ parameters.version }}/kubelogin-linux-amd64.zip" in script
    assert "sha256sum --check --strict" in script


def kubelogin_install(tmp_path: Path, archive: Path, sha256: str):
    """Run the real install step, with `curl` answering from a local archive."""
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "curl").write_text(
        '#!/bin/bash\nwhile [ $# -gt 0 ]; do if [ "$1" = -o ]; then cp "$ARCHIVE" "$2"; shift; fi; shift; done\n'
    )
    (fake_bin / "curl").chmod(0o755)
    template = load(PIPELINES_DIR / "templates" / "kubelogin.yml")
    script = template["steps"][0]["bash"].replace("${{ parameters.version }}", KUBELOGIN_VERSION)
    script = script.replace("${{ parameters.sha256 }}", sha256)
    temp = tmp_path / "agent-temp"
    temp.mkdir()
    env = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "ARCHIVE": str(archive)}
    return run_script(script, {"Agent.TempDirectory": str(temp)}, env, tmp_path), temp


def release_like_archive(tmp_path: Path, body: str) -> Path:
    # The layout Azure/kubelogin's release workflow zips: bin/linux_amd64/kubelogin.
    source = tmp_path / "release" / "bin" / "linux_amd64"
    source.mkdir(parents=True)
    (source / "kubelogin").write_text(body)
    (source / "kubelogin").chmod(0o755)
    archive = tmp_path / "kubelogin-linux-amd64.zip"
    subprocess.run(["zip", "-q", "-r", str(archive), "bin"], cwd=tmp_path / "release", check=True)
    return archive


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the step refuses anything but linux-amd64")
def test_kubelogin_install_runs_the_checked_binary_and_puts_it_on_path(tmp_path):
    archive = release_like_archive(tmp_path, f"#!/bin/sh\necho kubelogin version v{KUBELOGIN_VERSION}\n")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    result, temp = kubelogin_install(tmp_path, archive, digest)
    assert result.returncode == 0, result.stderr
    assert f"##vso[task.prependpath]{temp}/kubelogin/bin" in result.stdout
    assert f"v{KUBELOGIN_VERSION}" in result.stdout
    assert (temp / "kubelogin" / "bin" / "kubelogin").is_file()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the step refuses anything but linux-amd64")
def test_kubelogin_install_refuses_an_archive_with_another_checksum(tmp_path):
    archive = release_like_archive(tmp_path, "#!/bin/sh\necho pwned\n")
    result, temp = kubelogin_install(tmp_path, archive, KUBELOGIN_LINUX_AMD64_SHA256)
    assert result.returncode != 0
    assert "pwned" not in result.stdout and "prependpath" not in result.stdout
    assert not (temp / "kubelogin" / "bin" / "kubelogin").exists()


def test_pulumi_authenticates_through_the_renewed_azure_cli_session():
    # The federated token behind the task's az login lives ~10 minutes; the task renews the
    # session when keepAzSessionActive is set (an experimental input). A token exported once
    # could not be renewed; azure-native's own OIDC exchange is GitHub's (a GET answering
    # `value`), not Azure DevOps' (a POST answering `oidcToken`), so it cannot renew one either.
    (step,) = load(PIPELINES_DIR / "templates" / "pulumi.yml")["steps"][1:]
    assert step["task"] == "AzureCLI@2"
    assert step["inputs"]["keepAzSessionActive"] == "true"
    assert "addSpnToEnvironment" not in step["inputs"]
    script = step["inputs"]["inlineScript"]
    assert not re.search(r"\bARM_(USE_OIDC|OIDC_TOKEN|CLIENT_ID|CLIENT_SECRET)\b|\$idToken|\$servicePrincipal", script)


def azure_cli_steps(node: object):
    if isinstance(node, list):
        for item in node:
            yield from azure_cli_steps(item)
    elif isinstance(node, dict):
        if node.get("task") == "AzureCLI@2":
            yield node
        for value in node.values():
            yield from azure_cli_steps(value)


def test_every_azure_cli_step_stays_signed_in_as_long_as_it_runs():
    # Every connection here signs in by workload identity federation, whose federated token
    # outlives no access token: a step that runs past the first token (an image build, a prod
    # update) fails unless it signs in again. The Azure ML wait, hours long, signs in again
    # itself before each call (tests/test_pipeline_scripts.py runs it); every other step has
    # the task renew its session (keepAzSessionActive, which it refuses for other schemes).
    steps = [
        (path.relative_to(PIPELINES_DIR).as_posix(), step) for path in ALL_YAML for step in azure_cli_steps(load(path))
    ]
    assert len(steps) >= 5
    self_renewing = {name for name, step in steps if "keepAzSessionActive" not in step["inputs"]}
    assert self_renewing == {"templates/aml-job.yml"}
    for name, step in steps:
        if name not in self_renewing:
            assert step["inputs"]["keepAzSessionActive"] == "true", name
        assert step["inputs"]["azureSubscription"] in (
            spec.SERVICE_CONNECTION,
            spec.ML_SERVICE_CONNECTION,
            spec.PREVIEW_SERVICE_CONNECTION,
            "${{ parameters.serviceConnection }}",
        ), name
    (aml,) = [step for name, step in steps if name in self_renewing]
    assert "az ml job stream" not in aml["inputs"]["inlineScript"]


# The flags each `az` command of ours takes, from its source: az ml (Azure/azure-cli-extensions,
# src/machinelearningservices/azext_mlv2/manual/_params/_job_params.py, _common_params.py and
# custom/model.py: --set is "params_override", --output-name "The name of the user-defined output
# to download"), az acr (Microsoft Learn "Lock a container image in an Azure container registry"
# and the ACR Tasks quickstart: build --registry --image --file, repository show/update --name
# --image --write-enabled), az login and az account (azure-cli 2.91.0 from PyPI,
# azure/cli/command_modules/profile/__init__.py `load_arguments`: login --service-principal,
# --username, --tenant, --federated-token, --allow-no-subscriptions; account set --subscription).
# --query and --output are global to every az command.
AZ_COMMAND_FLAGS = {
    "ml job create": {"--file", "--resource-group", "--workspace-name", "--set"},
    "ml job show": {"--name", "--resource-group", "--workspace-name"},
    "ml job download": {"--name", "--output-name", "--download-path", "--resource-group", "--workspace-name"},
    "ml model download": {"--name", "--version", "--download-path", "--resource-group", "--workspace-name"},
    "acr build": {"--registry", "--image", "--file"},
    "acr repository show": {"--name", "--image"},
    "acr repository update": {"--name", "--image", "--write-enabled"},
    "extension add": {"--name", "--upgrade", "--only-show-errors"},
    "login": {"--service-principal", "--username", "--tenant", "--federated-token", "--allow-no-subscriptions"},
    "account show": set(),
    "account set": {"--subscription"},
}
AZ_GLOBAL_FLAGS = {"--query", "--output"}


def az_calls(script: str) -> list[tuple[str, list[str]]]:
    """Each `az` invocation of a script: its command words and the flags it passes."""
    joined = re.sub(r"\\\n\s*", " ", script)
    # Azure's $(Variable) macros are text to bash; their ")" must not end a command.
    joined = MACRO.sub("MACRO", joined)
    calls = []
    for match in re.finditer(r"(?:^|[\s(;|&])az\s+([^|;)\n]*)", joined):
        words = shlex.split(match.group(1).replace("$(", "").replace("\\", ""), posix=True)
        command = " ".join(itertools.takewhile(lambda w: not w.startswith("-"), words))
        calls.append((command, [w for w in words if w.startswith("--")]))
    return calls


def test_the_az_scan_reads_commands_and_flags():
    script = 'x=$(az acr repository show --name "$A" \\\n  --image "$i" --query digest --output tsv)'
    assert az_calls(script) == [("acr repository show", ["--name", "--image", "--query", "--output"])]


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: p.stem)
def test_every_az_command_and_flag_exists(path):
    for job in jobs_of(path):
        for step in job.steps:
            for command, flags in az_calls(script_of(step)):
                assert command in AZ_COMMAND_FLAGS, f"{path.name}: az {command} is not a command we checked"
                unknown = set(flags) - AZ_COMMAND_FLAGS[command] - AZ_GLOBAL_FLAGS
                assert not unknown, f"{path.name}: az {command} has no {sorted(unknown)}"


@pytest.mark.parametrize(
    ("pipeline", "alias", "tags"),
    [
        (spec.DEV_BUILD_AND_DEPLOY, "train", [spec.MODEL_REGISTERED_TAG]),
        (spec.QA_DEPLOY, "devdeploy", None),
        (spec.DEV_DELETE_AFTER_24_HOURS, "devdeploy", None),
    ],
    ids=lambda v: getattr(v, "key", v),
)
def test_manual_runs_pick_a_main_run_that_has_what_they_need(pipeline, alias, tags):
    # `branch` and `tags` of a pipeline resource choose the run a manual run uses; a triggered
    # run uses the run that triggered it. Build_and_Deploy needs the `model` artifact, which
    # only a run tagged model-registered publishes.
    (resource,) = [r for r in document(pipeline)["resources"]["pipelines"] if r["pipeline"] == alias]
    assert resource["branch"] == "main"
    assert resource.get("tags") == tags


def test_a_pipeline_that_signs_in_with_a_main_only_connection_links_only_main(shared):
    """Microsoft Learn ("Define approvals and checks", Branch control): the check validates
    the branches of all the resources a run links, and for a linked pipeline the branch of
    the run it consumes. So a pipeline on the deploying connection (protected `main` only)
    may link no other repository (the engine's is `develop`), and only `main` runs of others."""
    endpoints = {
        e.id: e.inputs["serviceEndpointName"] for e in shared.resources if e.type.endswith(":ServiceEndpointAzureRM")
    }
    main_only = {
        endpoints[c.inputs["targetResourceId"]]
        for c in shared.resources
        if c.type.endswith(":CheckBranchControl")
        and c.inputs["targetResourceType"] == "endpoint"
        and c.inputs["allowedBranches"] == spec.MAIN_BRANCH
    }
    assert main_only == {spec.SERVICE_CONNECTION}
    checked = [p for p in spec.PIPELINES if p.uses_service_connection and p.service_connection in main_only]
    assert {p.key for p in checked} >= {spec.DEV_BUILD_AND_DEPLOY.key, spec.PROD_DEPLOYMENT.key}
    for pipeline in checked:
        resources = load(ROOT / pipeline.yml_path).get("resources") or {}
        assert not pipeline.uses_engine_repository, pipeline.key
        assert resources.get("repositories") in (None, []), f"{pipeline.key} links another repository"
        for linked in resources.get("pipelines") or []:
            # What a manual run consumes, and what a triggered run can have come from.
            assert linked["branch"] == spec.short_branch(spec.MAIN_BRANCH), pipeline.key
            assert linked["trigger"]["branches"]["include"] == [spec.short_branch(spec.MAIN_BRANCH)], pipeline.key


def _build_tag_commands(path: Path) -> bool:
    text = path.read_text()
    return "##vso[build.addbuildtag]" in text or any(
        _build_tag_commands(path.parent / t) for t in re.findall(r"template:\s*(\S+\.yml)", text)
    )


def test_a_run_tags_itself_only_where_the_build_service_may_add_tags():
    # The agent adds a tag with the job's own connection (the job token's identity, the
    # project's build service); "Edit build quality" is the build permission that adds tags.
    tagging = {p.key for p in spec.PIPELINES if _build_tag_commands(ROOT / p.yml_path)}
    assert tagging == {spec.TRAIN_EVALUATE_REGISTER.key}
    for key in tagging:
        assert "EditBuildQuality" in spec.BUILD_SERVICE_PERMISSIONS.get(key, ()), key


def hosted_jobs() -> list[tuple[str, Job]]:
    return [(path.stem, job) for path in ALL_PIPELINES for job in jobs_of(path) if not job.agentless]


@pytest.mark.parametrize("path", ALL_PIPELINES, ids=lambda p: p.stem)
def test_every_hosted_job_sets_a_timeout_the_hosted_agents_allow(path):
    # Unset, a job gets 60 minutes (and 0 means the hosted maximum): say it, and stay within
    # what a paid Microsoft-hosted parallel job may run.
    for job in jobs_of(path):
        if job.agentless:
            continue
        assert job.timeout_minutes is not None, f"{path.name} job {job.name} sets no timeoutInMinutes"
        assert 0 < job.timeout_minutes <= HOSTED_PAID_MAX_MINUTES, f"{path.name} job {job.name}"


def test_the_first_deploy_asks_for_a_paid_parallel_job_before_anything_else():
    longest = max(job.timeout_minutes or 0 for _, job in hosted_jobs())
    # Not vacuous: the ML jobs need more than the free tier's hour.
    assert longest > HOSTED_FREE_MAX_MINUTES
    readme = (ROOT / "docs" / "operations.md").read_text()
    step0 = readme[readme.index("**0. What must exist first.**") : readme.index("**1. ")]
    assert "paid Microsoft-hosted parallel jobs" in step0
    assert f"{HOSTED_FREE_MAX_MINUTES} minutes" in step0 and f"{longest} minutes" in step0
    # Why two: how long a dev deploy holds one while it waits for a teardown's destroy.
    (cancel,) = [j for j in jobs_of(ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path) if j.name == "cancel_teardown"]
    (wait,) = [s["env"]["TEARDOWN_WAIT_MINUTES"] for s in cancel.steps if "TEARDOWN_WAIT_MINUTES" in s.get("env", {})]
    assert f"its {wait}\n  minutes" in step0 or f"its {wait} minutes" in step0


def test_a_run_by_hand_of_each_triggered_pipeline_picks_what_its_trigger_would():
    # Definitions created through the API may not fire their triggers before each has run once
    # (docs/assumptions.md): the first-deploy runbook then starts a link by hand, which is right
    # only if a manual run resolves its pipeline resource to the run its trigger would have
    # given it: the newest run on the trigger's branch, carrying the trigger's tags.
    checked = 0
    for pipeline in spec.PIPELINES:
        for resource in (document(pipeline).get("resources") or {}).get("pipelines", []):
            if "trigger" not in resource:
                continue
            trigger = resource["trigger"]
            assert resource["branch"] in trigger["branches"]["include"], pipeline.key
            assert resource.get("tags", []) == trigger.get("tags", []), pipeline.key
            checked += 1
    assert checked == 3


def test_the_first_deploy_runbook_starts_every_triggered_pipeline_by_hand_if_its_trigger_does_not():
    readme = (ROOT / "docs" / "operations.md").read_text()
    step6 = readme[readme.index("**6. The pipelines.**") : readme.index("## Moving state to Azure Blob storage")]
    assert "#999" in step6 and "#953" in step6
    triggered = [p for p in spec.PIPELINES if p.repository_trigger or p.completion_trigger or p.queued_by]
    assert len(triggered) == 5
    for pipeline in triggered:
        assert f"`{pipeline.name}`" in step6, pipeline.name


# A pipeline's check of a model version or name, in bash (`[[ "$v" =~ re ]]`) or Python
# (`re.fullmatch(r"re", v)`): the variable checked and the rule.
_BASH_CHECK = re.compile(r'\[\[ "\$(\w+)" =~ (\S+) \]\]')
_PYTHON_CHECK = re.compile(r're\.fullmatch\(r"([^"]+)", (\w+)\)')


def test_every_pipeline_checks_a_model_version_and_name_by_the_configs_own_rule():
    # Both feed the image tag every environment stack pulls (components/serving/image.py), so a
    # pipeline's copy of a rule must be the config's, not a look-alike.
    (version_rule,) = [m.pattern for m in MODEL_VERSION.metadata if getattr(m, "pattern", None)]
    name_rule = ServingConfig.model_json_schema(by_alias=True)["properties"]["modelName"]["pattern"]
    checks: dict[str, set[str]] = {"version": set(), "name": set()}
    for path in sorted(PIPELINES_DIR.rglob("*.yml")):
        text = path.read_text()
        found = [(var, rule) for var, rule in _BASH_CHECK.findall(text)]
        found += [(var, f"^{rule}$") for rule, var in _PYTHON_CHECK.findall(text)]
        for var, rule in found:
            kind = "version" if "version" in var.lower() else "name" if var.lower() == "name" else None
            if kind is not None:
                expected = version_rule if kind == "version" else name_rule
                assert rule == expected, f"{path.name} checks its model {kind} by {rule}, the config by {expected}"
                checks[kind].add(path.relative_to(PIPELINES_DIR).as_posix())
    assert checks == {
        "version": {
            "ml-train-evaluate-register.yml",
            "templates/deploy.yml",
            "templates/model-artifact.yml",
            "templates/pulumi.yml",
        },
        "name": {"templates/model-artifact.yml"},
    }
