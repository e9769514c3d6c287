"""The pipelines' own scripts, run for real with bash: against a loopback stand-in for the
Azure DevOps Builds REST API (7.1), and with stand-ins for `az` and `uv` that record what they
are asked. What is checked is what the script does, not how it is written."""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.loopback import serve
from tests.pipeline_jobs import jobs_of, load, run_script, script_of

# BuildStatus, the values statusFilter takes (vsts-rest-api-specs, specification/build/7.1/build.json).
BUILD_STATUS = {"none", "inProgress", "completed", "cancelling", "postponed", "notStarted", "all"}
TOKEN = "job-token"
PROJECT_ID = "0000-project"


def step_script(pipeline: spec.Pipeline, job_name: str, marker: str) -> str:
    (job,) = [j for j in jobs_of(ROOT / pipeline.yml_path) if j.name == job_name]
    (script,) = [script_of(s) for s in job.steps if marker in script_of(s)]
    return script


@dataclass
class Builds:
    """What the stand-in Azure DevOps knows and was asked."""

    status: dict[int, str]
    # How many more status reads a build answers before it reports completed.
    polls_until_done: dict[int, int] = field(default_factory=dict)
    newest: int | None = None
    refuse_lists: bool = False
    requests: list[tuple[str, str, dict[str, list[str]], object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def devops(builds: Builds) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, body: object, code: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self, body: object = None) -> tuple[str, dict[str, list[str]]]:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            with builds.lock:
                builds.requests.append((self.command, url.path, query, body))
            assert self.headers["Authorization"] == f"Bearer {TOKEN}"
            assert query["api-version"] == ["7.1"]
            return url.path, query

        def do_GET(self) -> None:
            path, query = self._record()
            prefix = f"/{PROJECT_ID}/_apis/build/builds"
            if builds.refuse_lists and path == prefix:
                return self._answer({"message": "TF400813: not authorized"}, 401)
            if path == prefix:
                if "resultFilter" in query:
                    newest = [] if builds.newest is None else [{"id": builds.newest}]
                    return self._answer({"count": len(newest), "value": newest})
                (wanted,) = query["statusFilter"]
                assert wanted in BUILD_STATUS, f"statusFilter={wanted} is no BuildStatus value"
                value = [{"id": i, "status": s} for i, s in builds.status.items() if s == wanted]
                return self._answer({"count": len(value), "value": value})
            build = int(path.rsplit("/", 1)[1])
            with builds.lock:
                left = builds.polls_until_done.get(build, 0)
                if left == 0 and builds.status[build] == "cancelling":
                    builds.status[build] = "completed"
                builds.polls_until_done[build] = max(left - 1, 0)
                return self._answer({"id": build, "status": builds.status[build]})

        def do_PATCH(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            path, _ = self._record(body)
            build = int(path.rsplit("/", 1)[1])
            assert body == {"status": "cancelling"}
            with builds.lock:
                builds.status[build] = "cancelling"
            self._answer({"id": build, "status": "cancelling"})

    with serve(Handler) as url:
        yield url


def fake_sleep(tmp_path: Path) -> dict[str, str]:
    """A `sleep` that returns at once and counts its calls."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sleep").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/sleeps\n')
    (bin_dir / "sleep").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin:{Path(sys.executable).parent}"}


def run_cancel(tmp_path: Path, builds: Builds):
    script = step_script(spec.DEV_BUILD_AND_DEPLOY, "cancel_teardown", "cancelling")
    with devops(builds) as url:
        macros = {"System.CollectionUri": f"{url}/", "System.TeamProjectId": PROJECT_ID}
        env = {"SYSTEM_ACCESSTOKEN": TOKEN, "TEARDOWN_DEFINITION_ID": "5", **fake_sleep(tmp_path)}
        return run_script(script, macros, env, tmp_path)


def test_the_cancel_stops_every_pending_teardown_and_waits_until_it_stopped(tmp_path):
    builds = Builds(
        status={11: "notStarted", 12: "inProgress", 13: "cancelling", 14: "completed", 15: "postponed"},
        polls_until_done={12: 2},
    )
    result = run_cancel(tmp_path, builds)
    assert result.returncode == 0, result.stderr
    patched = {int(path.rsplit("/", 1)[1]) for method, path, _, _ in builds.requests if method == "PATCH"}
    assert patched == {11, 12, 15}
    assert all(status == "completed" for status in builds.status.values())
    for build in (11, 12, 13, 15):
        assert f"teardown run {build} stopped" in result.stdout
    # Only the definition of the teardown pipeline is listed, one status at a time.
    lists = [q for method, path, q, _ in builds.requests if method == "GET" and path.endswith("/builds")]
    assert {q["definitions"][0] for q in lists} == {"5"}
    assert all(len(q["statusFilter"]) == 1 and "," not in q["statusFilter"][0] for q in lists)
    assert (tmp_path / "sleeps").read_text().split() == ["10", "10"]


def test_the_cancel_fails_rather_than_deploy_over_a_teardown_that_does_not_stop(tmp_path):
    builds = Builds(status={21: "inProgress"}, polls_until_done={21: 10_000})
    result = run_cancel(tmp_path, builds)
    assert result.returncode == 1
    assert "teardown run 21 is still cancelling after 15 minutes" in result.stderr
    assert len((tmp_path / "sleeps").read_text().split()) == 90


def test_a_refused_list_fails_the_cancel_and_so_the_deploy(tmp_path):
    builds = Builds(status={41: "inProgress"}, refuse_lists=True)
    result = run_cancel(tmp_path, builds)
    assert result.returncode != 0
    assert [m for m, *_ in builds.requests] == ["GET"]


def test_with_nothing_pending_the_cancel_does_nothing(tmp_path):
    builds = Builds(status={31: "completed"})
    result = run_cancel(tmp_path, builds)
    assert result.returncode == 0, result.stderr
    assert [m for m, *_ in builds.requests] == ["GET"] * 4


def test_the_dev_deploy_starts_after_the_cancel():
    jobs = {job.name: job for job in jobs_of(ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path)}
    assert jobs["deploy_dev"].stage == jobs["cancel_teardown"].stage == "deploy"
    assert jobs["deploy_dev"].depends_on == ["cancel_teardown"]


@pytest.mark.parametrize(("newest", "superseded"), [(700, "false"), (701, "true"), (None, "true")])
def test_a_teardown_destroys_only_after_the_newest_dev_deploy(tmp_path, newest, superseded):
    script = step_script(spec.DEV_DELETE_AFTER_24_HOURS, "newest", "superseded")
    builds = Builds(status={}, newest=newest)
    with devops(builds) as url:
        macros = {"System.CollectionUri": f"{url}/", "System.TeamProjectId": PROJECT_ID}
        env = {"SYSTEM_ACCESSTOKEN": TOKEN, "DEPLOY_DEFINITION_ID": "9", "DEPLOY_RUN_ID": "700"}
        result = run_script(script, macros, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"##vso[task.setvariable variable=superseded;isOutput=true]{superseded}" in result.stdout
    ((_, _, query, _),) = builds.requests
    assert query["definitions"] == ["9"] and query["branchName"] == [spec.MAIN_BRANCH]
    assert query["statusFilter"] == ["completed"] and query["resultFilter"] == ["succeeded"]
    assert query["$top"] == ["1"] and query["queryOrder"] == ["finishTimeDescending"]


def test_the_destroy_job_runs_only_when_not_superseded():
    jobs = {job.name: job for job in jobs_of(ROOT / spec.DEV_DELETE_AFTER_24_HOURS.yml_path)}
    assert jobs["destroy"].depends_on == ["newest"]
    (stage,) = [s for s in load(ROOT / spec.DEV_DELETE_AFTER_24_HOURS.yml_path)["stages"] if s["stage"] == "destroy"]
    (destroy,) = [j for j in stage["jobs"] if j.get("job") == "destroy"]
    assert destroy["condition"] == "and(succeeded(), eq(dependencies.newest.outputs['check.superseded'], 'false'))"
    (check,) = [s for s in jobs["newest"].steps if s.get("name") == "check"]
    assert "superseded;isOutput=true" in check["bash"]


# The image build: `az` and `uv` stand-ins; the image name is computed by the real module.

FAKE_AZ = """#!/bin/bash
echo "$*" >> "$AZ_LOG"
state=$(cat "$ACR_STATE")
case "$1 $2 $3" in
  "acr repository show")
    [ "$state" = absent ] && { echo "ERROR: image not found" >&2; exit 3; }
    if [[ "$*" == *writeEnabled* ]]; then [ "$state" = unlocked ] && echo true || echo false; fi
    if [[ "$*" == *digest* ]]; then echo sha256:0123; fi ;;
  "ml model download")
    while [ $# -gt 0 ]; do
      case "$1" in --name) name=$2 ;; --download-path) path=$2 ;; esac; shift
    done
    mkdir -p "$path/$name/model" && echo weights > "$path/$name/model/model.pkl" ;;
  "acr build --registry") echo unlocked > "$ACR_STATE" ;;
  "acr repository update") echo locked > "$ACR_STATE" ;;
esac
exit 0
"""


def run_build(tmp_path: Path, state: str, model_name: str = "estimation-model", artifact_made: bool = False):
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ)
    # `uv run --locked python ...` is the locked environment's python, which runs these tests.
    (bin_dir / "uv").write_text(
        f'#!/bin/sh\n[ "$1 $2 $3" = "run --locked python" ] && shift 3\nexec {sys.executable} "$@"\n'
    )
    for tool in ("az", "uv"):
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "self").symlink_to(ROOT)
    # The engine's scoring files arrive in the training run's `model` artifact.
    if not artifact_made:
        engine = tmp_path / "train" / "model" / "engine"
        engine.mkdir(parents=True)
        (engine / "score.py").write_text("def init(): pass\n")
        (engine / "requirements.txt").write_text("numpy\n")
    (tmp_path / "temp").mkdir()
    (tmp_path / "acr-state").write_text(state)
    script = step_script(spec.DEV_BUILD_AND_DEPLOY, "build", "az acr build")
    macros = {"Pipeline.Workspace": str(tmp_path), "Agent.TempDirectory": str(tmp_path / "temp")}
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "AZ_LOG": str(tmp_path / "az.log"),
        "ACR_STATE": str(tmp_path / "acr-state"),
        "MODEL_NAME": model_name,
        "MODEL_VERSION": "7",
        "ACR_NAME": "crdigitre",
        "AML_RESOURCE_GROUP": "rg-digitre-shared",
        "AML_WORKSPACE": "mlw-digitre",
    }
    result = run_script(script, macros, env, tmp_path)
    log = (tmp_path / "az.log").read_text().splitlines() if (tmp_path / "az.log").exists() else []
    return result, log


IMAGE = "estimation-engine:estimation-model-7"


def test_a_new_image_is_built_from_the_model_and_engine_then_locked(tmp_path):
    result, log = run_build(tmp_path, "absent")
    assert result.returncode == 0, result.stderr
    builds = [i for i, line in enumerate(log) if line.startswith("acr build ")]
    locks = [i for i, line in enumerate(log) if line.startswith("acr repository update ")]
    assert len(builds) == 1 and len(locks) == 1 and builds[0] < locks[0]
    context = tmp_path / "temp" / "image"
    assert log[builds[0]] == f"acr build --registry crdigitre --image {IMAGE} --file serving/Dockerfile {context}"
    assert (
        log[locks[0]] == f"acr repository update --name crdigitre --image {IMAGE} --write-enabled false --output none"
    )
    assert (context / "model" / "model" / "model.pkl").is_file()
    assert (context / "score.py").is_file() and (context / "requirements.txt").is_file()
    assert f"{IMAGE} built and locked (sha256:0123)" in result.stdout


FAKE_ML_DOWNLOAD = """#!/bin/bash
# az ml job download: the registration output of a job that registered version 7.
while [ $# -gt 0 ]; do
  case "$1" in --download-path) path=$2 ;; esac; shift
done
mkdir -p "$path/named-outputs/registration"
echo '{"registered": true, "name": "estimation-model", "version": "7", "metrics": {"rmse": 1.0}}' \\
  > "$path/named-outputs/registration/registration.json"
"""


def test_the_image_is_built_from_the_scoring_files_training_publishes_with_the_model(tmp_path):
    # Train-Evaluate-Register's step writes the `model` artifact; `download: train` puts it at
    # $(Pipeline.Workspace)/train/model, where Build_and_Deploy reads the engine's files.
    engine = tmp_path / "engine" / "src"
    engine.mkdir(parents=True)
    (engine / "score.py").write_text("def init(): pass  # trained with this\n")
    (engine / "requirements.txt").write_text("numpy==2.1.0\n")
    fake = tmp_path / "ml-bin"
    fake.mkdir()
    (fake / "az").write_text(FAKE_ML_DOWNLOAD)
    (fake / "az").chmod(0o755)
    script = step_script(spec.TRAIN_EVALUATE_REGISTER, "train_evaluate_register", "az ml job download")
    macros = {"Pipeline.Workspace": str(tmp_path), "Build.ArtifactStagingDirectory": str(tmp_path / "train")}
    result = run_script(script, macros, {"PATH": f"{fake}:/usr/bin:/bin"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "##vso[task.setvariable variable=MODEL_REGISTERED]true" in result.stdout
    model = tmp_path / "train" / "model"
    assert json.loads((model / "model.json").read_text())["version"] == "7"
    # Build_and_Deploy's job has no engine checkout: only the artifact.
    trained_with = {name: (engine / name).read_text() for name in ("score.py", "requirements.txt")}
    shutil.rmtree(tmp_path / "engine")
    built, _ = run_build(tmp_path, "absent", artifact_made=True)
    assert built.returncode == 0, built.stderr
    context = tmp_path / "temp" / "image"
    assert {name: (context / name).read_text() for name in trained_with} == trained_with


def test_a_locked_image_of_the_same_version_is_deployed_unchanged(tmp_path):
    result, log = run_build(tmp_path, "locked")
    assert result.returncode == 0, result.stderr
    assert not any(line.startswith(("acr build", "ml model download", "acr repository update")) for line in log)
    assert "deploying it unchanged" in result.stdout


def test_an_unlocked_existing_tag_fails_the_build(tmp_path):
    result, log = run_build(tmp_path, "unlocked")
    assert result.returncode == 1
    assert "is not locked" in result.stderr
    assert not any(line.startswith(("acr build", "acr repository update")) for line in log)


def test_a_model_registered_under_another_name_fails_before_anything_is_built(tmp_path):
    result, log = run_build(tmp_path, "absent", model_name="another-model")
    assert result.returncode != 0
    assert "Azure ML registered model 'another-model'" in result.stderr
    assert log == []


@pytest.mark.parametrize(
    ("version", "accepted"),
    [("12", True), ("3.1-rc_2", True), ("7\n##vso[task.setvariable variable=PULUMI_BACKEND_URL]file://x", False)],
)
def test_a_requested_model_version_is_checked_before_it_becomes_a_logging_command(tmp_path, version, accepted):
    (job,) = [j for j in jobs_of(ROOT / spec.CUSTOM_QA_DEPLOY.yml_path) if j.name == "deploy_qa"]
    (step,) = [s for s in job.steps if s.get("displayName") == "Use the requested model version"]
    result = run_script(step["bash"], {}, {"VERSION": version}, tmp_path)
    assert (result.returncode == 0) is accepted
    commands = [line for line in result.stdout.splitlines() if line.startswith("##vso[")]
    assert commands == ([f"##vso[task.setvariable variable=MODEL_VERSION]{version}"] if accepted else [])


@pytest.mark.parametrize(
    ("name", "version", "accepted"),
    [
        ("estimation-model", "7", True),
        ('x" ; curl evil #', "7", False),
        ("estimation-model", "7\n##vso[task.setvariable variable=ACR_NAME]evil", False),
    ],
)
def test_the_model_artifact_is_checked_before_its_values_become_variables(tmp_path, name, version, accepted):
    (job,) = [j for j in jobs_of(ROOT / spec.QA_DEPLOY.yml_path) if j.name == "deploy_qa"]
    (step,) = [s for s in job.steps if s.get("displayName") == "Read model name and version"]
    artifact = tmp_path / "devdeploy" / "model"
    artifact.mkdir(parents=True)
    (artifact / "model.json").write_text(json.dumps({"name": name, "version": version, "metrics": {}}))
    result = run_script(step["bash"], {"Pipeline.Workspace": str(tmp_path)}, {}, tmp_path)
    assert (result.returncode == 0) is accepted
    commands = [line for line in result.stdout.splitlines() if line.startswith("##vso[")]
    if accepted:
        assert commands == [
            f"##vso[task.setvariable variable=MODEL_NAME]{name}",
            f"##vso[task.setvariable variable=MODEL_VERSION]{version}",
        ]
    else:
        assert commands == []


# Extract-Prepare's last step queues Train-Evaluate-Register (templates/queue-pipeline.yml).


@dataclass
class Runs:
    """The stand-in Runs API (pipelines 7.1): what it was asked and whether it refuses."""

    refuse: bool = False
    requests: list[tuple[str, str, dict[str, list[str]], object, str]] = field(default_factory=list)


@contextmanager
def runs_api(runs: Runs) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            url = urlparse(self.path)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            runs.requests.append(("POST", url.path, parse_qs(url.query), body, self.headers["Authorization"]))
            code, answer = (403, {"message": "TF215106: not allowed to queue"}) if runs.refuse else (200, {"id": 901})
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serve(Handler) as url:
        yield url


def queue_step() -> dict:
    (job,) = jobs_of(ROOT / spec.EXTRACT_PREPARE.yml_path)
    (step,) = [s for s in job.steps if s.get("__template__") == "queue-pipeline.yml"]
    assert job.steps[-1] is step, "the queue is the job's last step: it runs only after the Azure ML job"
    return step


def run_queue(tmp_path: Path, runs: Runs):
    step = queue_step()
    with runs_api(runs) as url:
        macros = {
            "System.CollectionUri": f"{url}/",
            "System.TeamProjectId": PROJECT_ID,
            "System.AccessToken": TOKEN,
            spec.TRAIN_EVALUATE_REGISTER.queued_by.definition_id_variable: "77",  # type: ignore[union-attr]
        }
        env = {
            k: re.sub(r"\$\(([^)]+)\)", lambda m: macros.get(m.group(1), m.group(0)), v) for k, v in step["env"].items()
        }
        return run_script(script_of(step), macros, env, tmp_path)


def test_extract_prepare_queues_training_on_main_with_its_job_token(tmp_path):
    runs = Runs()
    result = run_queue(tmp_path, runs)
    assert result.returncode == 0, result.stderr
    ((method, path, query, body, auth),) = runs.requests
    assert (method, path, query["api-version"]) == ("POST", f"/{PROJECT_ID}/_apis/pipelines/77/runs", ["7.1"])
    assert auth == f"Bearer {TOKEN}"
    assert body == {"resources": {"repositories": {"self": {"refName": spec.MAIN_BRANCH}}}}
    assert "run 901" in result.stdout


def test_a_refused_queue_fails_extract_prepare(tmp_path):
    result = run_queue(tmp_path, Runs(refuse=True))
    assert result.returncode != 0


def test_the_queue_runs_only_after_success_and_only_for_the_engine_or_main():
    step = queue_step()
    assert step["condition"] == (
        "and(succeeded(), or(eq(variables['Build.Reason'], 'ResourceTrigger'), "
        f"eq(variables['Build.SourceBranch'], '{spec.MAIN_BRANCH}')))"
    )
