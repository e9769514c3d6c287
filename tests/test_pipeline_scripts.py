"""The pipelines' own scripts, run for real with bash: against a loopback stand-in for the
Azure DevOps Builds REST API (7.1), and with stand-ins for `az` and `uv` that record what they
are asked. What is checked is what the script does, not how it is written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.support.loopback import JsonHandler, serve
from tests.support.model_sample import COMMIT, run_training
from tests.support.pipeline_jobs import expand, jobs_of, load, macro_env, run_script, runtime_condition, script_of

pytestmark = pytest.mark.slow_tool

# BuildStatus, the values statusFilter takes (vsts-rest-api-specs, specification/build/7.1/build.json).
BUILD_STATUS = {"none", "inProgress", "completed", "cancelling", "postponed", "notStarted", "all"}
TOKEN = "job-token"
PROJECT_ID = "0000-project"


def document_of(pipeline: spec.Pipeline) -> dict:
    return load(ROOT / pipeline.yml_path)


def step_script(pipeline: spec.Pipeline, job_name: str, marker: str) -> str:
    (job,) = [j for j in jobs_of(ROOT / pipeline.yml_path) if j.name == job_name]
    (script,) = [script_of(s) for s in job.steps if marker in script_of(s)]
    return script


TEARDOWN_DEFINITION = "5"
DEPLOY_DEFINITION = "9"


@dataclass
class Builds:
    """What the stand-in Azure DevOps knows and was asked: teardown runs by id and status, the
    state of each one's destroy stage in its timeline, and the dev deploy runs."""

    status: dict[int, str]
    # The state of a teardown's `destroy` stage record (absent: its timeline has none).
    destroy_stage: dict[int, str] = field(default_factory=dict)
    # How many more status reads a running or cancelling build answers before it completes.
    polls_until_done: dict[int, int] = field(default_factory=dict)
    # The newest successful dev deploy on main, and the dev deploys running now.
    newest: int | None = None
    deploys_running: list[int] = field(default_factory=list)
    refuse_lists: bool = False
    requests: list[tuple[str, str, dict[str, list[str]], object]] = field(default_factory=list)
    # Cancels that reached a teardown whose destroy stage had started: each one a locked state.
    cancelled_while_destroying: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def timeline(builds: Builds, build: int) -> dict:
    """A teardown's timeline as Timeline - Get answers it: a record per stage, job and task (only
    the stages carry the YAML stage name as `identifier`)."""
    records = [
        {"type": "Stage", "identifier": "notify", "name": "Announce the teardown", "state": "completed"},
        {"type": "Stage", "identifier": "wait", "name": "Wait 24 hours", "state": "completed"},
        {"type": "Phase", "identifier": "destroy.destroy", "name": "destroy", "state": "pending"},
        {"type": "Task", "identifier": None, "name": "pulumi destroy --stack dev", "state": "pending"},
    ]
    if build in builds.destroy_stage:
        records.append(
            {
                "type": "Stage",
                "identifier": "destroy",
                "name": "Destroy the dev stack",
                "state": builds.destroy_stage[build],
            }
        )
    return {"records": records}


@contextmanager
def devops(builds: Builds) -> Iterator[str]:
    class Handler(JsonHandler):
        def _record(self, body: object = None) -> tuple[str, dict[str, list[str]]]:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            with builds.lock:
                builds.requests.append((self.command, url.path, query, body))
            assert self.headers["Authorization"] == f"Bearer {TOKEN}"
            assert query["api-version"] == ["7.1"]
            return url.path, query

        def _list(self, query: dict[str, list[str]]) -> list[dict]:
            (definition,) = query["definitions"]
            (wanted,) = query["statusFilter"]
            assert wanted in BUILD_STATUS, f"statusFilter={wanted} is no BuildStatus value"
            if definition == DEPLOY_DEFINITION:
                assert query["branchName"] == [spec.MAIN_BRANCH]
                if "resultFilter" in query:
                    return [] if builds.newest is None else [{"id": builds.newest}]
                return [{"id": i, "status": "inProgress"} for i in builds.deploys_running if wanted == "inProgress"]
            assert definition == TEARDOWN_DEFINITION
            return [{"id": i, "status": s} for i, s in builds.status.items() if s == wanted]

        def do_GET(self) -> None:
            path, query = self._record()
            prefix = f"/{PROJECT_ID}/_apis/build/builds"
            if builds.refuse_lists and path == prefix:
                return self.answer({"message": "TF400813: not authorized"}, 401)
            if path == prefix:
                value = self._list(query)
                return self.answer({"count": len(value), "value": value})
            if path.endswith("/timeline"):
                return self.answer(timeline(builds, int(path.split("/")[-2])))
            build = int(path.rsplit("/", 1)[1])
            with builds.lock:
                left = builds.polls_until_done.get(build, 0)
                if left == 0 and builds.status[build] in ("cancelling", "inProgress"):
                    builds.status[build] = "completed"
                builds.polls_until_done[build] = max(left - 1, 0)
                return self.answer({"id": build, "status": builds.status[build]})

        def do_PATCH(self) -> None:
            body = self.read_json()
            path, _ = self._record(body)
            build = int(path.rsplit("/", 1)[1])
            assert body == {"status": "cancelling"}
            with builds.lock:
                if builds.destroy_stage.get(build) in ("inProgress", "completed"):
                    builds.cancelled_while_destroying.append(build)
                builds.status[build] = "cancelling"
            self.answer({"id": build, "status": "cancelling"})

    with serve(Handler) as url:
        yield url


def fake_sleep(tmp_path: Path) -> dict[str, str]:
    """A `sleep` that returns at once and counts its calls."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sleep").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/sleeps\n')
    (bin_dir / "sleep").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def cancel_step() -> dict:
    (job,) = [j for j in jobs_of(ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path) if j.name == "cancel_teardown"]
    (step,) = [s for s in job.steps if "cancelling" in script_of(s)]
    return step


def run_cancel(tmp_path: Path, builds: Builds, **overrides: str):
    step = cancel_step()
    with devops(builds) as url:
        macros = {"System.CollectionUri": f"{url}/", "System.TeamProjectId": PROJECT_ID}
        # The step's own settings (the destroy stage's name, how long to wait), as the YAML sets them.
        settings = {k: v for k, v in step["env"].items() if not v.startswith("$(")}
        env = {
            **settings,
            "SYSTEM_ACCESSTOKEN": TOKEN,
            "TEARDOWN_DEFINITION_ID": TEARDOWN_DEFINITION,
            **overrides,
            **fake_sleep(tmp_path),
        }
        return run_script(script_of(step), macros, env, tmp_path)


def patched(builds: Builds) -> set[int]:
    return {int(path.rsplit("/", 1)[1]) for method, path, _, _ in builds.requests if method == "PATCH"}


def sleeps(tmp_path: Path) -> list[str]:
    return (tmp_path / "sleeps").read_text().split() if (tmp_path / "sleeps").exists() else []


def status_reads(builds: Builds, build: int) -> int:
    """How often the cancel read `build`'s status."""
    return sum(1 for method, path, _, _ in builds.requests if method == "GET" and path.endswith(f"/builds/{build}"))


@pytest.fixture(scope="module")
def cancelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Builds, list[str]]:
    """One run of the cancel over teardowns in every state, each its own build: waiting
    (11 notStarted, 15 postponed), running before its destroy stage (12), stopping (13), done
    (14), and running with its destroy stage started (21 inProgress) or finished (22
    completed). Returns (the run, what the stand-in was asked, the sleeps)."""
    tmp_path = tmp_path_factory.mktemp("cancel")
    builds = Builds(
        status={
            11: "notStarted",
            12: "inProgress",
            13: "cancelling",
            14: "completed",
            15: "postponed",
            21: "inProgress",
            22: "inProgress",
        },
        destroy_stage={12: "pending", 21: "inProgress", 22: "completed"},
        polls_until_done={12: 2, 21: 3, 22: 1},
    )
    result = run_cancel(tmp_path, builds)
    return result, builds, sleeps(tmp_path)


def test_the_cancel_stops_every_teardown_that_waits_and_waits_until_it_stopped(cancelled):
    result, builds, slept = cancelled
    assert result.returncode == 0, result.stderr
    assert patched(builds) == {11, 12, 15}
    assert all(status == "completed" for status in builds.status.values())
    for build in (11, 12, 13, 15):
        assert f"teardown run {build} stopped" in result.stdout
    # 12 answered "cancelling" twice before it completed: read three times, 30 s apart.
    assert status_reads(builds, 12) == 3
    assert status_reads(builds, 14) == 0
    # Only the definition of the teardown pipeline is listed, one status at a time.
    lists = [q for method, path, q, _ in builds.requests if method == "GET" and path.endswith("/builds")]
    assert {q["definitions"][0] for q in lists} == {TEARDOWN_DEFINITION}
    assert all(len(q["statusFilter"]) == 1 and "," not in q["statusFilter"][0] for q in lists)
    # 2 waits for 12, 3 for 21, 1 for 22 (the next test): every wait is 30 s.
    assert slept == ["30"] * 6


def test_a_teardown_that_destroys_is_never_cancelled_and_the_deploy_waits_for_it(cancelled):
    # Its destroy stage running (21) or done while the run still finishes (22).
    result, builds, _ = cancelled
    assert result.returncode == 0, result.stderr
    assert builds.cancelled_while_destroying == []
    assert not patched(builds) & {21, 22}
    for build, reads in ((21, 4), (22, 2)):
        assert f"teardown run {build} is destroying dev: waiting until it has finished" in result.stdout
        assert f"teardown run {build} stopped" in result.stdout
        # Read until it completed, not once.
        assert status_reads(builds, build) == reads
        assert builds.status[build] == "completed"


def test_the_cancel_fails_rather_than_deploy_over_a_teardown_that_does_not_stop(tmp_path):
    builds = Builds(status={21: "inProgress"}, destroy_stage={21: "inProgress"}, polls_until_done={21: 10_000})
    result = run_cancel(tmp_path, builds, TEARDOWN_WAIT_MINUTES="1")
    assert result.returncode == 1
    assert "teardown run 21 is still inProgress after 1 minutes" in result.stderr
    # Two reads a minute, 30 s apart, then it gives up.
    assert status_reads(builds, 21) == 2
    assert len(sleeps(tmp_path)) == 2
    assert patched(builds) == set()


def test_a_teardown_whose_destroy_stage_cannot_be_found_stops_the_deploy(tmp_path):
    # Were the stage's record missing (another name, another timeline shape), cancelling could
    # stop a destroy half-way: the deploy stops instead, saying why.
    builds = Builds(status={31: "inProgress"})
    result = run_cancel(tmp_path, builds)
    assert result.returncode == 1
    assert "no single stage 'destroy' in its timeline" in result.stderr
    assert patched(builds) == set()


def test_a_refused_list_fails_the_cancel_and_so_the_deploy(tmp_path):
    builds = Builds(status={41: "inProgress"}, destroy_stage={41: "pending"}, refuse_lists=True)
    result = run_cancel(tmp_path, builds)
    assert result.returncode != 0
    assert [m for m, *_ in builds.requests] == ["GET"]


def test_with_nothing_pending_the_cancel_does_nothing(tmp_path):
    builds = Builds(status={31: "completed"})
    result = run_cancel(tmp_path, builds)
    assert result.returncode == 0, result.stderr
    assert [m for m, *_ in builds.requests] == ["GET"] * 4


def timeout_of(pipeline: spec.Pipeline, job_name: str) -> int:
    for stage in document_of(pipeline).get("stages", []):
        for job in stage.get("jobs", []):
            if job.get("job") == job_name or job.get("deployment") == job_name:
                return int(job["timeoutInMinutes"])
    raise KeyError(job_name)


def test_the_deploy_waits_longer_than_a_teardowns_destroy_stage_may_run():
    env = cancel_step()["env"]
    (stage,) = [
        s for s in document_of(spec.DEV_DELETE_AFTER_24_HOURS)["stages"] if s["stage"] == env["TEARDOWN_DESTROY_STAGE"]
    ]
    # The stage named is the one whose job runs `pulumi destroy`.
    destroying = {
        (job.stage, job.name)
        for job in jobs_of(ROOT / spec.DEV_DELETE_AFTER_24_HOURS.yml_path)
        for step in job.steps
        if step.get("__template__") == "pulumi.yml" and step["__parameters__"]["command"] == "destroy"
    }
    assert destroying == {(env["TEARDOWN_DESTROY_STAGE"], "destroy")}
    # Its jobs run one after the other; the deploy outwaits both their timeouts, and its own
    # job outlasts that wait.
    stage_minutes = sum(int(j["timeoutInMinutes"]) for j in stage["jobs"])
    wait = int(env["TEARDOWN_WAIT_MINUTES"])
    assert wait > stage_minutes
    assert timeout_of(spec.DEV_BUILD_AND_DEPLOY, "cancel_teardown") > wait


def test_the_dev_deploy_starts_after_the_cancel():
    jobs = {job.name: job for job in jobs_of(ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path)}
    assert jobs["deploy_dev"].stage == jobs["cancel_teardown"].stage == "deploy"
    assert jobs["deploy_dev"].depends_on == ["cancel_teardown"]


@pytest.mark.parametrize(
    ("newest", "running", "superseded"),
    [(700, [], "false"), (701, [], "true"), (None, [], "true"), (700, [702], "true")],
)
def test_a_teardown_destroys_only_after_the_newest_dev_deploy_and_none_running(tmp_path, newest, running, superseded):
    script = step_script(spec.DEV_DELETE_AFTER_24_HOURS, "newest", "superseded")
    builds = Builds(status={}, newest=newest, deploys_running=running)
    with devops(builds) as url:
        macros = {"System.CollectionUri": f"{url}/", "System.TeamProjectId": PROJECT_ID}
        env = {"SYSTEM_ACCESSTOKEN": TOKEN, "DEPLOY_DEFINITION_ID": DEPLOY_DEFINITION, "DEPLOY_RUN_ID": "700"}
        result = run_script(script, macros, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"##vso[task.setvariable variable=superseded;isOutput=true]{superseded}" in result.stdout
    (succeeded, in_progress) = [query for _, _, query, _ in builds.requests]
    assert succeeded["definitions"] == [DEPLOY_DEFINITION] and succeeded["branchName"] == [spec.MAIN_BRANCH]
    assert succeeded["statusFilter"] == ["completed"] and succeeded["resultFilter"] == ["succeeded"]
    assert succeeded["$top"] == ["1"] and succeeded["queryOrder"] == ["finishTimeDescending"]
    assert in_progress["definitions"] == [DEPLOY_DEFINITION] and in_progress["statusFilter"] == ["inProgress"]


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


FAKE_ML_DOWNLOAD = """#!/bin/bash
# az ml job download: the registration output of a job that registered version 7.
while [ $# -gt 0 ]; do
  case "$1" in --download-path) path=$2 ;; esac; shift
done
mkdir -p "$path/named-outputs/registration"
echo '{"registered": true, "name": "estimation-model", "version": "7", "metrics": {"rmse": 1.0}}' \\
  > "$path/named-outputs/registration/registration.json"
echo '{"data": [{"surface_m2": 80, "rooms": 3}]}' > "$path/named-outputs/registration/sample-request.json"
"""


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


# The image is built from the engine commit the model was trained from (item 7 of issue 14).


def engine_origin(tmp_path: Path) -> tuple[Path, str, str]:
    """A bare repository standing in for Azure Repos: develop holds the commit a model was
    trained from and a newer one that changed score.py; returns (origin, trained, newest)."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    work = tmp_path / "engine-work"
    work.mkdir()
    git(work, "init", "-q")
    (work / "src").mkdir()
    commits = []
    for body in ("def init(): return 'trained'\n", "def init(): return 'newer'\n"):
        (work / "src" / "score.py").write_text(body)
        (work / "src" / "requirements.txt").write_text("numpy\n")
        git(work, "add", "src")
        git(work, "commit", "-q", "-m", body)
        commits.append(git(work, "rev-parse", "HEAD"))
    git(work, "push", "-q", str(origin), "HEAD:refs/heads/develop")
    return origin, commits[0], commits[1]


def agent_checkout(origin: Path, target: Path, version: str) -> None:
    """What the agent's checkout of an Azure Repos repository does with `fetchDepth: 1` and a
    version: fetch that very commit (`+<sha>`), then check it out detached."""
    target.mkdir(parents=True)
    git(target, "init", "-q")
    git(target, "remote", "add", "origin", origin.as_uri())
    git(target, "fetch", "-q", "--depth", "1", "origin", f"+{version}")
    git(target, "checkout", "-q", "--detach", version)


ARTIFACT_CHECK = "Check the model artifact carries its engine commit's scoring files"


def build_job_step(display_name: str) -> dict:
    (job,) = [j for j in jobs_of(ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path) if j.name == "build"]
    (step,) = [s for s in job.steps if s.get("displayName") == display_name]
    return step


def set_variables(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^##vso\[task\.setvariable variable=(\w+)\](.*)$", stdout, re.MULTILINE))


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The engine's origin (engine_origin), made once: the tests only fetch from it."""
    return engine_origin(tmp_path_factory.mktemp("origin"))


@dataclass
class Chain:
    """A model's way from Extract-Prepare to its image, each step the pipelines' own script."""

    passed: str  # the engine commit Extract-Prepare queued training with
    train: Path  # the training run's workspace (its engine checkout)
    deploy: Path  # Build_and_Deploy's workspace
    published: subprocess.CompletedProcess[str]  # training's result step
    built: subprocess.CompletedProcess[str]  # the image build
    az_log: list[str]  # what the build asked `az`


@pytest.fixture(scope="module")
def chain(origin: tuple[Path, str, str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """One run of the chain: Extract-Prepare queues training with the engine commit it
    prepared the data from (develop has moved on since), training checks that commit out and
    publishes the `model` artifact, Build_and_Deploy reads and checks the artifact and builds a
    new image (none in the registry yet) from it. The tests below read what it left."""
    tmp_path = tmp_path_factory.mktemp("chain")
    origin_path, trained, newest = origin
    prepare = tmp_path / "prepare"
    agent_checkout(origin_path, prepare / "engine", trained)
    runs = Runs()
    assert run_queue(prepare, runs).returncode == 0
    ((*_, body, _),) = runs.requests
    assert isinstance(body, dict)
    passed = body["resources"]["repositories"][spec.ENGINE_ALIAS]["version"]
    assert passed == trained != newest
    # Training checks the engine out at the version it was queued with and records it.
    (job,) = jobs_of(ROOT / spec.TRAIN_EVALUATE_REGISTER.yml_path)
    (pin,) = [s for s in job.steps if s.get("displayName") == "Train from the engine commit the run was queued with"]
    train = tmp_path / "train-run"
    agent_checkout(origin_path, train / "engine", passed)
    pinned = run_script(pin["bash"], {"Pipeline.Workspace": str(train)}, {"QUEUED_WITH": passed}, tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    # Its result step writes the `model` artifact where Build_and_Deploy's `download: train`
    # puts it: <its workspace>/train/model.
    deploy = tmp_path / "deploy-run"
    fake = tmp_path / "ml-bin"
    fake.mkdir()
    (fake / "az").write_text(FAKE_ML_DOWNLOAD)
    (fake / "az").chmod(0o755)
    script = step_script(spec.TRAIN_EVALUATE_REGISTER, "train_evaluate_register", "az ml job download")
    macros = {"Pipeline.Workspace": str(train), "Build.ArtifactStagingDirectory": str(deploy / "train")}
    env = {"PATH": f"{fake}:/usr/bin:/bin", **set_variables(pinned.stdout)}
    published = run_script(script, macros, env, tmp_path)
    assert published.returncode == 0, published.stderr
    # Build_and_Deploy: no engine checkout, only the artifact, whose commit is the one passed.
    read = run_script(
        build_job_step("Read model name and version")["bash"], {"Pipeline.Workspace": str(deploy)}, {}, tmp_path
    )
    assert read.returncode == 0, read.stderr
    variables = set_variables(read.stdout)
    assert variables["ENGINE_COMMIT"] == passed
    checked = run_script(
        build_job_step(ARTIFACT_CHECK)["bash"], {"Pipeline.Workspace": str(deploy)}, variables, tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    assert not (deploy / "engine").exists()
    built, log = run_build(deploy, "absent", artifact_made=True)
    return Chain(passed, train, deploy, published, built, log)


def test_the_image_is_built_from_the_engine_files_of_the_commit_extract_prepare_passed(chain):
    assert chain.built.returncode == 0, chain.built.stderr
    # Training published the registered version with the commit it trained from.
    assert "##vso[task.setvariable variable=MODEL_REGISTERED]true" in chain.published.stdout
    model = json.loads((chain.deploy / "train" / "model" / "model.json").read_text())
    assert (model["version"], model["engineCommit"]) == ("7", chain.passed)
    context = chain.deploy / "temp" / "image"
    for name in ("score.py", "requirements.txt"):
        at_commit = subprocess.run(
            ["git", "show", f"{chain.passed}:src/{name}"],
            cwd=chain.train / "engine",
            capture_output=True,
            text=True,
            check=True,
        )
        assert (context / name).read_text() == at_commit.stdout
    assert (context / "score.py").read_text() == "def init(): return 'trained'\n"


def test_a_new_image_is_built_from_the_model_and_engine_then_locked(chain):
    result, log = chain.built, chain.az_log
    assert result.returncode == 0, result.stderr
    builds = [i for i, line in enumerate(log) if line.startswith("acr build ")]
    locks = [i for i, line in enumerate(log) if line.startswith("acr repository update ")]
    assert len(builds) == 1 and len(locks) == 1 and builds[0] < locks[0]
    context = chain.deploy / "temp" / "image"
    assert log[builds[0]] == f"acr build --registry crdigitre --image {IMAGE} --file serving/Dockerfile {context}"
    assert (
        log[locks[0]] == f"acr repository update --name crdigitre --image {IMAGE} --write-enabled false --output none"
    )
    assert (context / "model" / "model" / "model.pkl").is_file()
    assert (context / "score.py").is_file() and (context / "requirements.txt").is_file()
    assert f"{IMAGE} built and locked (sha256:0123)" in result.stdout


def test_training_whose_checkout_is_not_the_commit_it_was_queued_with_publishes_nothing(tmp_path, origin):
    origin_path, trained, newest = origin
    # What a checkout of develop's newest commit gives, hours after Extract-Prepare's.
    agent_checkout(origin_path, tmp_path / "engine", newest)
    (job,) = jobs_of(ROOT / spec.TRAIN_EVALUATE_REGISTER.yml_path)
    (pin,) = [s for s in job.steps if s.get("displayName") == "Train from the engine commit the run was queued with"]
    result = run_script(pin["bash"], {"Pipeline.Workspace": str(tmp_path)}, {"QUEUED_WITH": trained}, tmp_path)
    assert result.returncode != 0
    assert set_variables(result.stdout) == {}
    # Every later step of the job (Azure ML job, result, artifact, tag) runs only if it succeeded.
    later = job.steps[job.steps.index(pin) + 1 :]
    assert later and all("succeeded()" in s.get("condition", "succeeded()") for s in later)


@pytest.mark.parametrize(
    ("commit", "files", "built"),
    [
        (COMMIT, ("score.py", "requirements.txt"), True),
        # An artifact from before training recorded its commit and files.
        ("", ("score.py", "requirements.txt"), False),
        ("", (), False),
        (COMMIT, ("requirements.txt",), False),
        (COMMIT, ("score.py",), False),
    ],
)
def test_no_image_is_built_without_the_models_engine_commit_and_its_files(tmp_path, commit, files, built):
    engine = tmp_path / "train" / "model" / "engine"
    engine.mkdir(parents=True)
    for name in files:
        (engine / name).write_text("x\n")
    env = {"ENGINE_COMMIT": commit, "MODEL_NAME": "estimation-model", "MODEL_VERSION": "7"}
    result = run_script(build_job_step(ARTIFACT_CHECK)["bash"], {"Pipeline.Workspace": str(tmp_path)}, env, tmp_path)
    assert (result.returncode == 0) is built


def test_the_build_job_checks_the_artifacts_engine_files_before_it_builds():
    (job,) = [j for j in jobs_of(ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path) if j.name == "build"]
    # No engine checkout: the deploying connection's branch check would refuse its `develop`.
    assert [s["checkout"] for s in job.steps if "checkout" in s] == ["self"]
    names = [s.get("displayName", s.get("checkout", s.get("download", ""))) for s in job.steps]
    read = names.index("Read model name and version")
    check = names.index(ARTIFACT_CHECK)
    (build,) = [i for i, s in enumerate(job.steps) if "az acr build" in script_of(s)]
    assert read < check < build
    # A failed check stops the build (no step between runs whatever happened before).
    assert all("condition" not in s for s in job.steps[check : build + 1])


def test_training_records_the_engine_commit_it_was_queued_with(tmp_path):
    commit = engine_checkout(tmp_path)
    (job,) = jobs_of(ROOT / spec.TRAIN_EVALUATE_REGISTER.yml_path)
    (step,) = [s for s in job.steps if s.get("displayName") == "Train from the engine commit the run was queued with"]
    same = run_script(step["bash"], {"Pipeline.Workspace": str(tmp_path)}, {"QUEUED_WITH": commit}, tmp_path)
    assert same.returncode == 0, same.stderr
    assert f"##vso[task.setvariable variable=ENGINE_COMMIT]{commit}" in same.stdout
    other = run_script(step["bash"], {"Pipeline.Workspace": str(tmp_path)}, {"QUEUED_WITH": "1" * 40}, tmp_path)
    assert other.returncode != 0
    assert "setvariable" not in other.stdout
    # It runs before the Azure ML job, and reads the version the run was queued with.
    assert job.steps.index(step) < next(i for i, s in enumerate(job.steps) if "az ml job create" in script_of(s))
    assert step["env"]["QUEUED_WITH"] == "$(ENGINE_RESOURCE_VERSION)"
    variables = {v.get("name"): v.get("value") for v in document_of(spec.TRAIN_EVALUATE_REGISTER)["variables"]}
    assert variables["ENGINE_RESOURCE_VERSION"] == f"$[ resources.repositories.{spec.ENGINE_ALIAS}.version ]"


def test_the_model_artifact_names_the_engine_commit(tmp_path):
    # `az ml job download` leaves the job's registration output under --download-path; the
    # artifact carries the scoring files of the job's engine checkout.
    result, artifact = run_training(tmp_path, sample=b'{"data": []}', version="8")
    assert result.returncode == 0, result.stderr
    model = json.loads((artifact / "model.json").read_text())
    assert model == {"name": "estimation-model", "version": "8", "metrics": {"mae": 1.5}, "engineCommit": COMMIT}
    assert sorted(p.name for p in (artifact / "engine").iterdir()) == ["requirements.txt", "score.py"]
    assert json.loads((artifact / "sample-request.json").read_text()) == {"data": []}


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
    ("name", "version", "commit", "accepted"),
    [
        ("estimation-model", "7", COMMIT, True),
        # An artifact from before training recorded the commit: read, with no commit.
        ("estimation-model", "7", None, True),
        ('x" ; curl evil #', "7", COMMIT, False),
        ("estimation-model", "7\n##vso[task.setvariable variable=ACR_NAME]evil", COMMIT, False),
        ("estimation-model", "7", "main; curl evil", False),
        ("estimation-model", "7", COMMIT + "\n##vso[task.setvariable variable=ACR_NAME]evil", False),
    ],
)
def test_the_model_artifact_is_checked_before_its_values_become_variables(tmp_path, name, version, commit, accepted):
    (job,) = [j for j in jobs_of(ROOT / spec.QA_DEPLOY.yml_path) if j.name == "deploy_qa"]
    (step,) = [s for s in job.steps if s.get("displayName") == "Read model name and version"]
    artifact = tmp_path / "devdeploy" / "model"
    artifact.mkdir(parents=True)
    model = {"name": name, "version": version, "metrics": {}}
    if commit is not None:
        model["engineCommit"] = commit
    (artifact / "model.json").write_text(json.dumps(model))
    (artifact / "sample-request.json").write_text('{"data": []}')
    result = run_script(step["bash"], {"Pipeline.Workspace": str(tmp_path)}, {}, tmp_path)
    assert (result.returncode == 0) is accepted
    commands = [line for line in result.stdout.splitlines() if line.startswith("##vso[")]
    if accepted:
        assert commands == [
            f"##vso[task.setvariable variable=MODEL_NAME]{name}",
            f"##vso[task.setvariable variable=MODEL_VERSION]{version}",
            f"##vso[task.setvariable variable=ENGINE_COMMIT]{commit or ''}",
            f"##vso[task.setvariable variable=MODEL_SAMPLE]{artifact / 'sample-request.json'}",
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
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            url = urlparse(self.path)
            body = self.read_json()
            runs.requests.append(("POST", url.path, parse_qs(url.query), body, self.headers["Authorization"]))
            code, answer = (403, {"message": "TF215106: not allowed to queue"}) if runs.refuse else (200, {"id": 901})
            self.answer(answer, code)

    with serve(Handler) as url:
        yield url


def queue_step() -> dict:
    (job,) = jobs_of(ROOT / spec.EXTRACT_PREPARE.yml_path)
    (step,) = [s for s in job.steps if s.get("__template__") == "queue-pipeline.yml"]
    assert job.steps[-1] is step, "the queue is the job's last step: it runs only after the Azure ML job"
    return step


def engine_checkout(tmp_path: Path) -> str:
    """A git repository at <workspace>/engine with one commit, as the job's checkout of the
    engine; returns that commit."""
    engine = tmp_path / "engine"
    engine.mkdir()
    git(engine, "init", "-q")
    (engine / "README").write_text("engine\n")
    git(engine, "add", "README")
    git(engine, "commit", "-q", "-m", "engine")
    return git(engine, "rev-parse", "HEAD")


def git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def run_queue(tmp_path: Path, runs: Runs):
    step = queue_step()
    with runs_api(runs) as url:
        macros = {
            "System.CollectionUri": f"{url}/",
            "System.TeamProjectId": PROJECT_ID,
            "System.AccessToken": TOKEN,
            "Pipeline.Workspace": str(tmp_path),
            spec.TRAIN_EVALUATE_REGISTER.queued_by.definition_id_variable: "77",  # type: ignore[union-attr]
        }
        return run_script(script_of(step), macros, macro_env(step, macros), tmp_path)


def test_extract_prepare_queues_training_on_main_with_its_job_token_and_its_engine_commit(tmp_path):
    commit = engine_checkout(tmp_path)
    runs = Runs()
    result = run_queue(tmp_path, runs)
    assert result.returncode == 0, result.stderr
    ((method, path, query, body, auth),) = runs.requests
    assert (method, path, query["api-version"]) == ("POST", f"/{PROJECT_ID}/_apis/pipelines/77/runs", ["7.1"])
    assert auth == f"Bearer {TOKEN}"
    # The queued training checks out the engine commit this run prepared the data with
    # (RepositoryResourceParameters: refName and version).
    assert body == {
        "resources": {
            "repositories": {
                "self": {"refName": spec.MAIN_BRANCH},
                spec.ENGINE_ALIAS: {"refName": spec.ENGINE_BRANCH, "version": commit},
            }
        }
    }
    assert "run 901" in result.stdout


def test_a_refused_queue_fails_extract_prepare(tmp_path):
    engine_checkout(tmp_path)
    result = run_queue(tmp_path, Runs(refuse=True))
    assert result.returncode != 0


def test_without_an_engine_checkout_nothing_is_queued(tmp_path):
    runs = Runs()
    result = run_queue(tmp_path, runs)
    assert result.returncode != 0
    assert runs.requests == []


@pytest.mark.parametrize(
    ("repository", "branch", "reason", "queues"),
    [
        # A commit to the engine's develop, whatever reason Azure reports for it (#9003).
        (spec.ENGINE_REPOSITORY, spec.ENGINE_BRANCH, "ResourceTrigger", True),
        (spec.ENGINE_REPOSITORY, spec.ENGINE_BRANCH, "IndividualCI", True),
        # By hand from main of this repository.
        (spec.PLATFORM_REPOSITORY, spec.MAIN_BRANCH, "Manual", True),
        # By hand from a feature branch, or a develop branch of this repository: never.
        (spec.PLATFORM_REPOSITORY, "refs/heads/feature/x", "Manual", False),
        (spec.PLATFORM_REPOSITORY, spec.ENGINE_BRANCH, "Manual", False),
        # Another engine branch.
        (spec.ENGINE_REPOSITORY, spec.MAIN_BRANCH, "IndividualCI", False),
    ],
)
def test_the_queue_runs_only_for_an_engine_commit_or_a_run_from_main(repository, branch, reason, queues):
    step = queue_step()
    variables = {"Build.Repository.Name": repository, "Build.SourceBranch": branch, "Build.Reason": reason}
    assert runtime_condition(step["condition"], variables) is queues
    assert runtime_condition(step["condition"], variables, succeeded=False) is False


# The Azure ML wait (templates/aml-job.yml): short `az ml job show` calls, each after a new
# sign-in with a new federated token from the job's OIDC endpoint (Oidctoken - Create).

FAKE_AZ_ML = """#!/bin/bash
echo "$*" >> "$AZ_LOG"
case "$1 $2 $3" in
  "account show --query") echo sub-0001 ;;
  "ml job create") echo job-42 ;;
  "ml job show")
    if [[ "$*" == *services.Studio.endpoint* ]]; then echo https://ml.azure.com/runs/job-42; exit 0; fi
    # The next status of the list; the last one repeats.
    status=$(head -n 1 "$STATUSES")
    [ "$(wc -l < "$STATUSES")" -gt 1 ] && sed -i 1d "$STATUSES"
    echo "$status" ;;
esac
exit 0
"""


@dataclass
class Oidc:
    """The stand-in OIDC endpoint of the job: a new token for each request, or a refusal."""

    refuse: bool = False
    requests: list[tuple[str, dict[str, list[str]], dict[str, str], object]] = field(default_factory=list)


@contextmanager
def oidc_endpoint(oidc: Oidc) -> Iterator[str]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            url = urlparse(self.path)
            body = self.read_json()
            oidc.requests.append((url.path, parse_qs(url.query), dict(self.headers), body))
            answer = {"message": "no"} if oidc.refuse else {"oidcToken": f"federated-{len(oidc.requests)}"}
            self.answer(answer, 401 if oidc.refuse else 200)

    with serve(Handler) as url:
        yield url


def aml_step(max_minutes: int = 220, poll_seconds: int = 120) -> dict:
    template = load(ROOT / "pipelines" / "templates" / "aml-job.yml")
    parameters = {p["name"]: p.get("default") for p in template["parameters"]}
    parameters.update(jobFile="aml/train.yml", maxMinutes=str(max_minutes), pollSeconds=str(poll_seconds))
    (step,) = expand(template["steps"], parameters, ROOT / "pipelines" / "templates")
    return step


def run_aml_wait(tmp_path: Path, statuses: list[str], oidc: Oidc, **parameters: int):
    step = aml_step(**parameters)
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "az").write_text(FAKE_AZ_ML)
    (bin_dir / "az").chmod(0o755)
    (tmp_path / "statuses").write_text("\n".join(statuses) + "\n")
    with oidc_endpoint(oidc) as url:
        macros = {
            "Pipeline.Workspace": str(tmp_path),
            "AML_RESOURCE_GROUP": "rg-digitre-shared",
            "AML_WORKSPACE": "mlw-digitre",
            "AML_COMPUTE": "cpu",
        }
        env = {
            # What the step maps in (its `env`), then what AzureCLI@2 sets for its script.
            "SYSTEM_ACCESSTOKEN": TOKEN,
            "SYSTEM_OIDCREQUESTURI": f"{url}/{PROJECT_ID}/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken",
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": "conn-0001",
            "AZURESUBSCRIPTION_CLIENT_ID": "client-0001",
            "AZURESUBSCRIPTION_TENANT_ID": "tenant-0001",
            "AZ_LOG": str(tmp_path / "az.log"),
            "STATUSES": str(tmp_path / "statuses"),
            **fake_sleep(tmp_path),
        }
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        result = run_script(step["inputs"]["inlineScript"], macros, env, tmp_path)
    log = (tmp_path / "az.log").read_text().splitlines()
    return result, log


def test_the_azure_ml_wait_signs_in_with_a_new_federated_token_before_every_call(tmp_path):
    oidc = Oidc()
    result, log = run_aml_wait(tmp_path, ["Queued", "Running", "Running", "Completed"], oidc)
    assert result.returncode == 0, result.stderr
    shows = [
        i for i, line in enumerate(log) if line.startswith("ml job show --name job-42") and "--query status" in line
    ]
    assert len(shows) == 4
    tokens = []
    for show in shows:
        # Right before each call: a sign-in as the task's connection, then its subscription again.
        login, account = log[show - 2], log[show - 1]
        assert login.startswith(
            "login --service-principal --username client-0001 --tenant tenant-0001 --federated-token "
        )
        assert login.endswith(" --allow-no-subscriptions --output none")
        assert account == "account set --subscription sub-0001"
        tokens.append(login.split("--federated-token ")[1].split()[0])
    # Each sign-in used a token asked for then.
    assert tokens == ["federated-1", "federated-2", "federated-3", "federated-4"]
    assert len(oidc.requests) == 4
    for path, query, headers, body in oidc.requests:
        assert path == f"/{PROJECT_ID}/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken"
        assert query == {"api-version": ["7.1"], "serviceConnectionId": ["conn-0001"]}
        assert headers["Authorization"] == f"Bearer {TOKEN}" and headers["Content-Type"] == "application/json"
        assert body == {}
    # Each new token is masked in the log before it is used.
    assert [line for line in result.stdout.splitlines() if "setsecret" in line] == [
        f"##vso[task.setsecret]{token}" for token in tokens
    ]
    assert "##vso[task.setvariable variable=AML_JOB_NAME]job-42" in result.stdout
    assert "Azure ML job job-42 completed: https://ml.azure.com/runs/job-42" in result.stdout
    assert sleeps(tmp_path) == ["120", "120", "120"]


@pytest.mark.parametrize("status", ["Failed", "Canceled", "NotResponding", "Paused"])
def test_an_azure_ml_job_that_ends_otherwise_fails_the_step_with_its_studio_link(tmp_path, status):
    # The stand-in answers `status` from the first call on, and to every later one.
    result, log = run_aml_wait(tmp_path, [status], Oidc())
    assert result.returncode == 1
    assert f"Azure ML job job-42 ended {status}: https://ml.azure.com/runs/job-42" in result.stderr
    # It stops following the job as soon as the job has ended.
    assert len([line for line in log if "--query status" in line]) == 1


def test_the_wait_gives_up_after_its_minutes_and_says_the_job_goes_on(tmp_path):
    result, log = run_aml_wait(tmp_path, ["Running"], Oidc(), max_minutes=4, poll_seconds=120)
    assert result.returncode == 1
    assert "still Running after 4 minutes" in result.stderr and "goes on in Azure ML" in result.stderr
    assert len([line for line in log if "--query status" in line]) == 2
    assert sleeps(tmp_path) == ["120", "120"]


def test_without_a_new_federated_token_the_wait_stops_before_calling_azure(tmp_path):
    oidc = Oidc(refuse=True)
    result, log = run_aml_wait(tmp_path, ["Running", "Completed"], oidc)
    assert result.returncode != 0
    assert len(oidc.requests) == 1
    assert not any(line.startswith(("login", "ml job show")) for line in log)


@pytest.mark.parametrize(
    ("pipeline", "job"),
    [(spec.EXTRACT_PREPARE, "extract_prepare"), (spec.TRAIN_EVALUATE_REGISTER, "train_evaluate_register")],
)
def test_each_azure_ml_wait_ends_before_its_job_times_out(pipeline, job):
    (compiled,) = [j for j in jobs_of(ROOT / pipeline.yml_path) if j.name == job]
    (wait,) = [s for s in compiled.steps if s.get("__template__") == "aml-job.yml"]
    timeout = int(next(j for j in document_of(pipeline)["jobs"] if j["job"] == job)["timeoutInMinutes"])
    # Room for the checkouts before and the steps after; the pipeline reports the job's fate
    # itself rather than being cut off.
    assert int(wait["__parameters__"]["maxMinutes"]) + 15 <= timeout
