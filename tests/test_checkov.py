"""checkov, the scanner platform teams run on IaC, as a judge: the serving Dockerfile, the
engine chart as Helm renders it with the prod stack's values, and every pipeline file. A
finding fails the test unless it is skipped inline with the reason a reviewer needs; the skips
are the ones listed here, each with the fact it rests on checked.

One checkov run (tests/support/checkov_tool.py) also scans canaries, files built to fail, so the test
proves the scanner sees what it is pointed at, the skip syntax is the one checkov reads, and
its Azure Pipelines runner reads only the file names the copies are given.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.serving.contract import ServingContract
from offline.evaluate import ROOT, Evaluation
from tests.support import checkov_tool
from tests.support.checkov_tool import NO_REASON, PIPELINE_SUFFIX, Report
from tests.support.helm_tool import RELEASE, Helm, kube_versions, require_helm
from tests.support.inference_server import install_server

pytestmark = pytest.mark.slow_tool

DOCKERFILE = ROOT / "serving" / "Dockerfile"
PIPELINES = ROOT / "pipelines"
DEPLOYMENT_TEMPLATE = ROOT / "charts" / "estimation-engine" / "templates" / "deployment.yaml"
# Each finding skipped inline, and why (the reason itself is in the skip; this is the list a
# reviewer signs off). A new skip, or one gone, fails the test until it is reviewed here.
REVIEWED_SKIPS = {
    # The platforms probe the container themselves: see test_the_platforms_probe_the_container.
    ("dockerfile", "CKV_DOCKER_2"),
    # Its reader takes it from the environment only: see test_the_connection_string_is_read_from_the_environment.
    ("kubernetes", "CKV_K8S_35"),
}
# A reason says what makes the finding not apply here, in words a reviewer can check.
MIN_REASON_WORDS = 8

CANARY_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    # Skipped without a reason: checkov records its placeholder, which the test refuses.
    "metadata": {"name": "canary", "annotations": {"checkov.io/skip1": "CKV_K8S_35"}},
    "spec": {
        "selector": {"matchLabels": {"app": "canary"}},
        "template": {
            "metadata": {"labels": {"app": "canary"}},
            "spec": {
                "containers": [
                    {
                        "name": "canary",
                        "image": "crcanary.azurecr.io/canary:1.0",
                        "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                    }
                ]
            },
        },
    },
}
# A container job on a :latest image fails CKV_AZUREPIPELINES_1 wherever the runner reads it.
CANARY_PIPELINE = "jobs:\n  - job: canary\n    container: ubuntu:latest\n    steps:\n      - bash: echo canary\n"
# A steps-only template that marks a variable secret (CKV_AZUREPIPELINES_3) once wrapped in a job.
CANARY_TEMPLATE = 'steps:\n  - bash: echo "##vso[task.setvariable variable=x;issecret=true]y"\n'


@pytest.fixture(scope="module")
def prod(served: dict[str, Evaluation]) -> Evaluation:
    return served["prod"]


@pytest.fixture(scope="module")
def rendered(prod: Evaluation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The prod release as Helm renders it, for every Kubernetes minor it must run on."""
    helm = Helm(require_helm(), tmp_path_factory.mktemp("helm-home"))
    release = prod.one(RELEASE).inputs
    return {
        f"prod-{version}": helm.render(release["name"], release["namespace"], release["values"], version)
        for version in kube_versions(prod)
    }


def pipeline_files() -> dict[str, str]:
    """Every pipeline YAML by its path under pipelines/, `/` as `_`."""
    files = sorted(PIPELINES.rglob("*.yml"))
    assert len(files) > 8, "expected the eight pipelines and their templates"
    return {str(p.relative_to(PIPELINES).with_suffix("")).replace("/", "_"): p.read_text() for p in files}


@pytest.fixture(scope="module")
def report(rendered: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory) -> Report:
    checkov = checkov_tool.install()
    root = tmp_path_factory.mktemp("checkov") / "scan"
    pipelines = {**pipeline_files(), "canary": CANARY_PIPELINE, "canary-template": CANARY_TEMPLATE}
    layout = checkov_tool.lay_out(root, DOCKERFILE, {**rendered, "canary": [CANARY_DEPLOYMENT]}, pipelines)
    # The same failing job under a name the runner does not read.
    (layout.pipelines / "canary-ignored.yml").write_text(CANARY_PIPELINE)
    return checkov_tool.scan(checkov, layout, tmp_path_factory.mktemp("checkov-home"))


def is_canary(finding: checkov_tool.Finding) -> bool:
    return "/canary" in finding.file


def test_checkov_is_the_pinned_version_and_parsed_everything(report):
    assert set(report.reports) == set(checkov_tool.FRAMEWORKS)
    for framework in checkov_tool.FRAMEWORKS:
        summary = report.summary(framework)
        assert summary["checkov_version"] == checkov_tool.pinned_version() == "3.3.30"
        assert summary["parsing_errors"] == 0, framework
        assert summary["passed"] > 0, framework


def test_every_target_was_scanned(report, rendered):
    assert report.files("dockerfile") == {"/image/Dockerfile"}
    assert report.files("kubernetes") == {f"/chart/{name}.yaml" for name in [*rendered, "canary"]}
    # Every pipeline file yields results: the runner checks jobs, and a template of steps only
    # is wrapped in one job for that (checkov_tool.pipeline_copy).
    scanned = report.files("azure_pipelines")
    assert scanned == {
        f"/pipelines/{name}{PIPELINE_SUFFIX}" for name in [*pipeline_files(), "canary", "canary-template"]
    }


def test_checkov_reports_no_finding_without_a_reasoned_skip(report):
    findings = [f for f in report.failed if not is_canary(f)]
    assert findings == [], "checkov findings (fix them, or skip inline with a reason):\n" + "\n".join(
        map(str, findings)
    )
    skipped = [f for f in report.skipped if not is_canary(f)]
    unreasoned = [f for f in skipped if f.reason.strip() in ("", NO_REASON) or len(f.reason.split()) < MIN_REASON_WORDS]
    assert unreasoned == [], "skips without a reason a reviewer can check:\n" + "\n".join(map(str, unreasoned))
    assert {(f.framework, f.check_id) for f in skipped} == REVIEWED_SKIPS


def test_the_canaries_fail_as_built(report):
    canary = {(f.framework, f.check_id, Path(f.file).name) for f in report.failed if is_canary(f)}
    # A tag without a digest (CKV_K8S_43), the node's own uids (CKV_K8S_40): what the chart fixes.
    assert {("kubernetes", "CKV_K8S_43", "canary.yaml"), ("kubernetes", "CKV_K8S_40", "canary.yaml")} <= canary
    assert ("azure_pipelines", "CKV_AZUREPIPELINES_1", f"canary{PIPELINE_SUFFIX}") in canary
    assert ("azure_pipelines", "CKV_AZUREPIPELINES_3", f"canary-template{PIPELINE_SUFFIX}") in canary
    # The annotation is the skip syntax checkov reads; without "=reason" it records its placeholder.
    (skip,) = [f for f in report.skipped if is_canary(f)]
    assert (skip.check_id, skip.reason) == ("CKV_K8S_35", NO_REASON)


def test_the_azure_pipelines_runner_reads_only_its_file_names(report):
    files = {Path(f).name for f in report.files("azure_pipelines")}
    assert f"canary{PIPELINE_SUFFIX}" in files
    assert "canary-ignored.yml" not in files
    assert checkov_tool.PIPELINE_SUFFIX == ".azure-pipelines.yml"


def test_ci_installs_checkovs_environment_before_the_tests():
    text = (ROOT / ".ci" / "run").read_text()
    install = text.index("uv sync --project tests/fixtures/checkov --locked")
    assert install < text.index("uv run --locked pytest")
    assert "tests/fixtures/checkov/.venv" in text and checkov_tool.ENVIRONMENT == ROOT / "tests/fixtures/checkov/.venv"


def test_a_steps_template_is_scanned_inside_a_job_and_a_pipeline_as_it_is():
    template = (PIPELINES / "templates" / "setup.yml").read_text()
    assert checkov_tool.pipeline_copy(template).startswith("jobs:\n- job: template\n  steps:\n")
    pipeline = (PIPELINES / "qa-deploy.yml").read_text()
    assert checkov_tool.pipeline_copy(pipeline) == pipeline


# --- what each skip rests on ---------------------------------------------------------------


def skip_reason(text: str, check_id: str) -> str:
    """The reason an inline skip of `check_id` gives in a Dockerfile comment or a chart annotation."""
    match = re.search(rf"(?:checkov:skip={check_id}:|checkov\.io/skip\d+: \"{check_id}=)([^\"\n]+)", text)
    assert match, f"no inline skip of {check_id}"
    return match.group(1)


def test_the_skips_are_inline_where_the_reviewer_reads_them():
    assert "liveness and readiness probes" in skip_reason(DOCKERFILE.read_text(), "CKV_DOCKER_2")
    reason = skip_reason(DEPLOYMENT_TEMPLATE.read_text(), "CKV_K8S_35")
    # checkov splits the annotation at "=": a reason holding one would break the skip.
    assert "=" not in reason and "APPLICATIONINSIGHTS_CONNECTION_STRING" in reason


def test_the_platforms_probe_the_container(served, rendered):
    """CKV_DOCKER_2's skip: liveness and readiness probes on the health route, wherever the image runs."""
    health = ServingContract(port=5001, health_path="/", score_path="/score").health_path
    for stack in ("dev", "qa"):
        (container,) = served[stack].one("azure-native:containerinstance:ContainerGroup").inputs["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] == health, (stack, probe)
    for docs in rendered.values():
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] == health, probe
    assert "HEALTHCHECK" not in [line.split(" ", 1)[0] for line in DOCKERFILE.read_text().splitlines()]


def test_the_connection_string_is_read_from_the_environment(rendered):
    """CKV_K8S_35's skip: the Azure Monitor exporter of the inference server's locked environment
    takes the connection string from APPLICATIONINSIGHTS_CONNECTION_STRING (there is no file
    setting), and the pod gets it from the chart's Secret, never in its spec."""
    for docs in rendered.values():
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (variable,) = [e for e in container["env"] if e["name"] == "APPLICATIONINSIGHTS_CONNECTION_STRING"]
        assert set(variable) == {"name", "valueFrom"} and "secretKeyRef" in variable["valueFrom"]
    python = install_server()
    key = "00000000-0000-4000-8000-000000000001"
    in_code = "00000000-0000-4000-8000-000000000002"
    # From the variable alone; and a key given in code (as the inference server gives its own)
    # with its ingestion endpoint from the variable.
    probe = (
        "from azure.monitor.opentelemetry.exporter._connection_string_parser import ConnectionStringParser as P\n"
        "for p in (P(), P(f'InstrumentationKey={sys.argv[1]}')):\n"
        "    print(p.instrumentation_key, p.endpoint)\n"
    )
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={key};IngestionEndpoint=https://in.example/"}
    result = subprocess.run(
        [str(python), "-c", "import sys\n" + probe, in_code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [key, "https://in.example/", in_code, "https://in.example/"]
