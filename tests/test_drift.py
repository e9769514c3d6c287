"""The nightly drift check, `[Platform]-Drift`: its scope, the Pulumi command its jobs run (the
real step script, with a stand-in `pulumi` that records what it is asked), and the mail its
notify job sends (the real step, with a stand-in `curl`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from commands.drift import NOT_REFRESHED, exclude_patterns, pattern_matches
from commands.preview_summary import summarise
from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.support.pipeline_jobs import jobs_of, load, macro_env, run_script, script_of

FIXTURES = ROOT / "tests" / "fixtures" / "preview_events"


def test_patterns_match_as_pulumis_engine_matches_them():
    # pkg/resource/deploy/deployment.go getMatcher: `**` any text, `*` any text but a colon.
    urn = "urn:pulumi:prod::digitre-mlops::digitre:aks:EngineRelease$kubernetes:helm.sh/v3:Release::engine-release"
    assert pattern_matches("urn:pulumi:prod::digitre-mlops::**", urn)
    assert pattern_matches("urn:pulumi:*::*::**$kubernetes:**", urn)
    assert not pattern_matches("urn:pulumi:*::**$kubernetes:*", urn)  # `*` stops at the colon of `helm.sh/v3:`
    assert not pattern_matches("urn:pulumi:*::*::kubernetes:**", urn)  # a parent comes first
    assert pattern_matches(urn, urn) and not pattern_matches(urn + "x", urn)
    assert not pattern_matches("urn:pulumi:prod::digitre-mlops::a.b", "urn:pulumi:prod::digitre-mlops::aXb")


def test_the_drift_check_leaves_out_exactly_the_azure_devops_and_in_cluster_resources(every_run):
    patterns = exclude_patterns()
    left_out = set()
    for run in every_run:
        for resource in run.resources:
            if any(pattern_matches(p, resource.urn) for p in patterns):
                left_out.add(resource.type)
                assert resource.custom, resource.urn
    prefixes = tuple(prefix for prefix, _ in NOT_REFRESHED)
    declared = {r.type for run in every_run for r in run.resources}
    assert left_out == {t for t in declared if t.startswith(prefixes)}
    # The Helm release and the controller patch (prod), the Azure DevOps side (shared).
    assert "kubernetes:helm.sh/v3:Release" in left_out
    assert "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM" in left_out
    # Providers and everything in Azure are refreshed.
    assert not any(t.startswith(("pulumi:providers:", "azure-native:", "command:")) for t in left_out)


def test_every_reason_says_why_a_resource_is_not_refreshed():
    assert [prefix for prefix, _ in NOT_REFRESHED] == ["azuredevops:index/", "kubernetes:"]
    assert all(len(reason) > 40 for _, reason in NOT_REFRESHED)


FAKE_PULUMI = """#!/bin/bash
printf '%s\\n' "$*" >> "$PULUMI_LOG"
if [ "$1" = preview ]; then
  echo "streaming=${PULUMI_ENABLE_STREAMING_JSON_PREVIEW:-}" >> "$PULUMI_LOG"
  echo '{"sequence":1,"timestamp":1,"cancelEvent":{}}'
  exit "${PREVIEW_EXIT:-0}"
fi
"""


def pulumi_step(pipeline: spec.Pipeline, stack: str) -> dict[str, Any]:
    (job,) = [j for j in jobs_of(ROOT / pipeline.yml_path) if j.name == f"preview_{stack}"]
    (step,) = [s for s in job.steps if s.get("__template__") == "pulumi.yml" and "task" in s]
    return step


def run_pulumi_step(tmp_path: Path, pipeline: spec.Pipeline, stack: str, preview_exit: int = 0):
    step = pulumi_step(pipeline, stack)
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    temp = tmp_path / "agent-temp"
    temp.mkdir()
    macros = {"Agent.TempDirectory": str(temp)}
    env = macro_env(step, macros) | {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PULUMI_LOG": str(tmp_path / "pulumi.log"),
        "PULUMI_BACKEND_URL": "azblob://state",
        "PULUMI_SECRETS_PROVIDER": "azurekeyvault://kv.vault.azure.net/keys/pulumi",
        "PREVIEW_EXIT": str(preview_exit),
    }
    result = run_script(script_of(step), macros, env, ROOT)
    calls = (tmp_path / "pulumi.log").read_text().splitlines()
    return result, calls, temp / f"pulumi-events-{stack}.jsonl"


def test_the_drift_job_refreshes_fails_on_any_change_and_keeps_the_events(tmp_path):
    # The first stack's step, run for real; every other stack's is this one (the next test).
    stack = spec.PLATFORM_DRIFT.stacks[0]
    result, calls, events = run_pulumi_step(tmp_path, spec.PLATFORM_DRIFT, stack)
    assert result.returncode == 0, result.stderr
    preview, streaming = calls[-2:]
    words = preview.split()
    assert words[:2] == ["preview", "--json"] and "--color never" in preview
    assert f"--stack {stack}" in preview and "--policy-pack policy" in preview
    assert "--refresh" in words and "--expect-no-changes" in words
    excluded = [words[i + 1] for i, w in enumerate(words) if w == "--exclude"]
    assert excluded == exclude_patterns()
    # The engine's events, streamed rather than the digest that drops policy violations.
    assert streaming == "streaming=true"
    assert events.read_text() == '{"sequence":1,"timestamp":1,"cancelEvent":{}}\n'


@pytest.mark.parametrize("stack", spec.PLATFORM_DRIFT.stacks[1:])
def test_every_stacks_drift_step_is_the_one_run_above_with_its_own_name(stack):
    first = spec.PLATFORM_DRIFT.stacks[0]
    renamed = re.sub(rf"\b{first}\b", stack, json.dumps(pulumi_step(spec.PLATFORM_DRIFT, first)))
    assert pulumi_step(spec.PLATFORM_DRIFT, stack) == json.loads(renamed)


def test_a_drifted_stack_fails_its_job(tmp_path):
    # `--expect-no-changes` makes pulumi exit non-zero on a change: the step, so the job, fails.
    result, _, _ = run_pulumi_step(tmp_path, spec.PLATFORM_DRIFT, "dev", preview_exit=255)
    assert result.returncode != 0


def test_the_pull_request_preview_neither_refreshes_nor_expects_no_changes(tmp_path):
    result, calls, events = run_pulumi_step(tmp_path, spec.PR_PREVIEW, "qa")
    assert result.returncode == 0, result.stderr
    preview = calls[-2]
    assert preview.startswith("preview --json --color never")
    assert "--refresh" not in preview and "--expect-no-changes" not in preview and "--exclude" not in preview
    assert events.is_file()


def test_every_stack_is_checked_read_only_and_the_key_reaches_only_the_notify_job():
    jobs = {job.name: job for job in jobs_of(ROOT / spec.PLATFORM_DRIFT.yml_path)}
    assert {name for name in jobs if name.startswith("preview_")} == {
        f"preview_{s}" for s in spec.PLATFORM_DRIFT.stacks
    }
    for stack in spec.PLATFORM_DRIFT.stacks:
        parameters = pulumi_step(spec.PLATFORM_DRIFT, stack)["__parameters__"]
        assert parameters["serviceConnection"] == spec.PREVIEW_SERVICE_CONNECTION
        assert parameters["command"] == "preview" and parameters["refresh"] == "true"
    document = load(ROOT / spec.PLATFORM_DRIFT.yml_path)
    assert [v["group"] for v in document["variables"]] == [spec.PLATFORM_VARIABLE_GROUP]
    (notify,) = [s for s in document["stages"] if s["stage"] == "notify"]
    assert notify["dependsOn"] == "drift" and notify["condition"] == "failed()"
    (job,) = notify["jobs"]
    assert [v["group"] for v in job["variables"]] == [spec.NOTIFICATION_VARIABLE_GROUP, spec.NOTIFICATION_SECRETS_GROUP]


FAKE_CURL = """#!/bin/bash
printf '%s\\n' "$@" > "$CURL_LOG"
"""


def publish(folder: Path, stack: str, fixture: str) -> None:
    target = folder / f"summary-{stack}" / f"{stack}.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(summarise(stack, (FIXTURES / fixture).read_text().splitlines()).to_json()))


def run_notify(tmp_path: Path):
    (job,) = [j for j in jobs_of(ROOT / spec.PLATFORM_DRIFT.yml_path) if j.name == "notify"]
    (step,) = [s for s in job.steps if "sendgrid" in script_of(s)]
    workspace = tmp_path / "workspace"
    publish(workspace, "shared", "shared-no-changes.jsonl")
    publish(workspace, "dev", "dev-drifted.jsonl")
    publish(workspace, "qa", "qa-failed.jsonl")  # prod published nothing: its job did not finish
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(FAKE_CURL)
    (bin_dir / "curl").chmod(0o755)
    temp = tmp_path / "agent-temp"
    temp.mkdir()
    macros = {
        "Agent.TempDirectory": str(temp),
        "Pipeline.Workspace": str(workspace),
        "sendgrid-api-key": "SG.secret",
        "NOTIFY_FROM": "mlops@digitre.example",
        "NOTIFY_TO": "platform@digitre.example, oncall@digitre.example",
        "System.CollectionUri": "https://dev.azure.com/digitre/",
        "System.TeamProject": "DigitRE",
        "Build.BuildId": "812",
        "Build.BuildNumber": "drift-20261130.1",
    }
    env = macro_env(step, macros)
    assert env.pop("STACKS") == "${{ join(',', parameters.stacks) }}"
    env |= {
        "STACKS": ",".join(spec.PLATFORM_DRIFT.stacks),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "CURL_LOG": str(tmp_path / "curl.log"),
    }
    result = run_script(script_of(step), macros, env, ROOT)
    return result, (tmp_path / "curl.log").read_text().splitlines(), temp / "mail.json"


def test_the_platform_team_is_told_what_drifted_and_what_could_not_be_checked(tmp_path):
    result, curl, mail_file = run_notify(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "https://api.sendgrid.com/v3/mail/send" in curl
    assert "Authorization: Bearer SG.secret" in curl
    mail = json.loads(mail_file.read_text())
    assert mail["personalizations"] == [
        {"to": [{"email": "platform@digitre.example"}, {"email": "oncall@digitre.example"}]}
    ]
    assert mail["from"] == {"email": "mlops@digitre.example"}
    assert mail["subject"] == "DigitRE drift check: dev changed outside Pulumi; no result for qa, prod"
    (content,) = mail["content"]
    body = content["value"]
    assert "stack dev: preview succeeded; 0 to create, 1 to update" in body
    assert "update azure-native:containerinstance:ContainerGroup engine-aci (tags)" in body
    assert "error: Program failed with an unhandled exception" in body
    assert "stack prod: no result" in body
    assert "https://dev.azure.com/digitre/DigitRE/_build/results?buildId=812" in body
    assert all(prefix in body for prefix, _ in NOT_REFRESHED)
    # The key goes to SendGrid's header only: never into the mail or the log.
    assert "SG.secret" not in mail_file.read_text() and "SG.secret" not in result.stdout + result.stderr
