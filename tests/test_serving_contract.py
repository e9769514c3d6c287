"""The serving contract judged by the real Azure ML inference HTTP server.

`serving/Dockerfile` is read, the files it copies are laid out, and what its ENTRYPOINT and
CMD start runs (azureml-inference-server-http from its own pinned environment, with the
Dockerfile's ENV) on a free loopback port. The health route and port that ACI's probes, the
chart's probes and the post-deploy check use must answer there, the scoring route must
score, and the post-deploy check itself must pass against it, and fail when the model
cannot score.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.config.serving import ServingConfig
from components.devops import pipelines as spec
from components.serving.contract import ServingContract
from offline.evaluate import ROOT
from tests.support.evaluations import ENVIRONMENTS, WORKLOAD, section
from tests.support.inference_server import (
    LAUNCHER,
    SERVING,
    Image,
    Layout,
    RunningServer,
    install_server,
    lay_out,
    read_dockerfile,
    running,
)
from tests.support.local_command import run_module
from tests.support.model_sample import (
    DEPLOYS,
    ENGINE_SAMPLE,
    READ,
    artifact_dir,
    deploy_job,
    run_training,
    score_step,
    set_variables,
    step_named,
)
from tests.support.pipeline_jobs import macro_env, run_script, script_of

pytestmark = pytest.mark.slow_tool

SAMPLE = (SERVING / "sample_request.json").read_bytes()
# A request the stand-in model cannot score (a house without its number of rooms): valid JSON
# that training and the deploy's read accept, on which the engine's run() raises, so the real
# server stays healthy on GET / and answers POST /score with a 500.
UNSCORABLE = json.dumps({"data": [{"surface_m2": 80}]}).encode()
MODEL = json.loads((SERVING / "context" / "model" / "model.json").read_text())
COMMAND = "command:local:Command"


@pytest.fixture(scope="module")
def image() -> Image:
    return read_dockerfile()


@pytest.fixture(scope="module")
def server_python() -> Path:
    return install_server()


@pytest.fixture(scope="module")
def engine(image: Image, server_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The image with the stand-in scoring script and model, serving."""
    layout = lay_out(image, SERVING / "context", tmp_path_factory.mktemp("image"))
    with running(layout, server_python) as server:
        yield server


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def post(url: str, body: bytes) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def contract_of(stack: str) -> ServingContract:
    serving = ServingConfig.model_validate(section(stack, "serving"))
    return ServingContract(serving.port, serving.health_path, serving.score_path)


def health_checks(run) -> list[tuple[str, str, int | None]]:
    """(who, path, container port) of every health request the stack declares; the
    post-deploy check's port is the public endpoint's, not the container's."""
    checks: list[tuple[str, str, int | None]] = []
    workload = run.one(WORKLOAD[run.stack])
    if run.stack == "prod":
        values = workload.inputs["values"]
        # The chart's liveness and readiness probes: httpGet on healthPath, port `http`
        # (containerPort) in charts/estimation-engine/templates/deployment.yaml.
        checks.append(("chart probes", values["healthPath"], values["containerPort"]))
    else:
        container = workload.inputs["containers"][0]
        for probe in ("livenessProbe", "readinessProbe"):
            http_get = container[probe]["httpGet"]
            checks.append((f"ACI {probe}", http_get["path"], http_get["port"]))
    health_url = run.named("health-check-probe").inputs["environment"]["HEALTH_URL"]
    checks.append(("post-deploy check", urllib.parse.urlsplit(health_url).path, None))
    return checks


def test_the_base_image_is_pinned_by_digest(image):
    # A tag can move (and `latest` always does); a digest is one set of bytes.
    assert re.fullmatch(r"mcr\.microsoft\.com/azureml/minimal-py312-inference@sha256:[0-9a-f]{64}", image.base), (
        image.base
    )
    assert "latest" not in image.base


def test_the_image_runs_the_inference_server_as_its_non_root_user(image):
    assert image.entrypoint == ["azmlinfsrv"]
    assert image.user == "1000:1000"
    # uid 1000 is only assumed to be dockeruser: the build itself must check it.
    assert 'test "$(id -u dockeruser):$(id -g dockeruser)" = "1000:1000"' in image.runs
    # One entry script: the one the server is given is the one Azure ML's variable names.
    assert image.argument("--entry_script") == image.env["AZUREML_ENTRY_SCRIPT"]
    assert image.workdir == image.env["AML_APP_ROOT"]


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_image_serves_on_the_contract_port(image, served, stack):
    contract = contract_of(stack)
    assert int(image.argument("--port")) == contract.port
    assert image.expose == [contract.port]
    ports = {port for _, _, port in health_checks(served[stack]) if port is not None}
    assert ports == {contract.port}


# The server's own defaults, read from one run of its environment's Python: the host it binds
# (before LAUNCHER rebinds it) on the first line, then the server's `--help`.
DEFAULTS = (
    "import contextlib, runpy, sys\n"
    "from azureml_inference_server_http import amlserver\n"
    "print(amlserver.DEFAULT_HOST, flush=True)\n"
    "sys.argv = ['-c', 'azmlinfsrv', '--help']\n"
    "with contextlib.suppress(SystemExit):\n"
    "    exec(LAUNCHER)\n"
)


@pytest.fixture(scope="module")
def server_defaults(server_python: Path) -> tuple[str, str]:
    """(the host the server binds by default, its --help text)."""
    result = subprocess.run(
        [str(server_python), "-c", f"LAUNCHER = {LAUNCHER!r}\n{DEFAULTS}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    host, _, help_text = result.stdout.partition("\n")
    assert help_text, result.stdout + result.stderr
    return host.strip(), help_text


def test_the_contract_port_is_the_servers_own_default(image, server_defaults):
    # What the server listens on without --port, from the real server's help.
    _, help_text = server_defaults
    match = re.search(r"--port PORT\s+The serving port of the server\. Default is (\d+)\.", help_text)
    assert match is not None, help_text
    assert int(match.group(1)) == int(image.argument("--port"))


def test_in_the_container_the_server_listens_on_every_interface(server_defaults):
    # ACI's and the kubelet's probes reach the container's own IP, not its loopback; the
    # tests rebind to 127.0.0.1 (LAUNCHER) only because they run on a shared machine.
    host, _ = server_defaults
    assert host == "0.0.0.0"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_every_health_check_path_answers_on_the_real_server(engine, served, stack):
    for who, path, _ in health_checks(served[stack]):
        status, body = get(engine.url + path)
        assert (status, body) == (200, b"Healthy"), who


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_scoring_route_scores(engine, served, stack):
    path = urllib.parse.urlsplit(served[stack].outputs["scoringUrl"]).path
    status, content_type, body = post(engine.url + path, SAMPLE)
    assert status == 200
    assert content_type.startswith("application/json")
    expected = [
        round(MODEL["intercept"] + sum(w * row[k] for k, w in MODEL["coefficients"].items()), 2)
        for row in json.loads(SAMPLE)["data"]
    ]
    assert json.loads(body) == {"prices": expected}


def test_the_server_writes_only_under_tmp(engine):
    # The chart's read-only root filesystem mounts a writable /tmp and nothing else: every
    # file the running server created, and every file it holds open for writing, must be
    # there (the root holds the image's files, the HOME of its user and /tmp).
    post(engine.url + "/score", SAMPLE)
    written = _created(engine.layout) | _open_for_writing(engine)
    outside = sorted(str(p) for p in written if not p.is_relative_to(engine.layout.tmp))
    assert outside == [], outside
    # gunicorn's control socket goes to XDG_RUNTIME_DIR (the Dockerfile's /tmp), not HOME.
    assert (engine.layout.tmp / "gunicorn.ctl").exists()


def _created(layout: Layout) -> set[Path]:
    copied = {layout.path(destination) for _, destination in layout.image.copies}
    return {
        path
        for path in layout.root.rglob("*")
        if not path.is_dir() and not any(path == c or path.is_relative_to(c) for c in copied)
    }


def _open_for_writing(server: RunningServer) -> set[Path]:
    found = set()
    for pid in server.pids():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
                flags = int(Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().split("flags:")[1].split()[0], 8)
            except (OSError, IndexError):
                continue
            writable = flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
            path = Path(target.removesuffix(" (deleted)"))
            if writable and path.is_relative_to(server.layout.root):
                found.add(path)
    return found


def run_probe(engine: RunningServer, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HEALTH_URL": f"{engine.url}/",
        "HEALTH_ATTEMPTS": "3",
        "HEALTH_INTERVAL_SECONDS": "0",
        "SCORE_URL": f"{engine.url}/score",
        "SCORE_REQUEST": SAMPLE.decode(),
        **settings,
    }
    return run_module("commands.health_probe", env, timeout=120)


def test_the_post_deploy_check_passes_when_the_model_scores(engine):
    result = run_probe(engine)
    assert result.returncode == 0, result.stderr
    assert "healthy:" in result.stdout
    assert "scored:" in result.stdout


def test_the_post_deploy_check_fails_when_the_model_cannot_score(engine):
    # Healthy on GET /, so a health-only check would pass this deploy.
    assert get(engine.url + "/") == (200, b"Healthy")
    result = run_probe(engine, SCORE_REQUEST=UNSCORABLE.decode())
    assert result.returncode == 1
    assert "healthy:" in result.stdout
    assert "cannot score:" in result.stdout and "HTTP 500" in result.stdout
    assert result.stderr.strip() == f"the model does not score the sample request: {engine.url}/score"
    # A model error is the model's answer, not a gateway's: no retries.
    assert result.stdout.count("cannot score:") == 1


# --- The deploy pipelines' own scripts, end to end: training writes the artifact with the
# engine's sample, the deploy reads it, and its scoring step posts it to the real server. ---


@pytest.fixture(scope="module")
def trained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `model` artifact training's own step publishes with the engine's sample (one run;
    each deploy below gets a copy)."""
    trained, artifact = run_training(tmp_path_factory.mktemp("train"), sample=ENGINE_SAMPLE.read_bytes())
    assert trained.returncode == 0, trained.stderr
    return artifact


@pytest.fixture(scope="module")
def unscorable_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact of a model whose engine raises on its own sample (UNSCORABLE)."""
    trained, artifact = run_training(tmp_path_factory.mktemp("train-unscorable"), sample=UNSCORABLE)
    assert trained.returncode == 0, trained.stderr
    return artifact


def deploy_scoring(
    tmp_path: Path, pipeline: spec.Pipeline, server: RunningServer, artifact: Path
) -> subprocess.CompletedProcess[str]:
    job = deploy_job(pipeline)
    workspace = tmp_path / "deploy"
    target = artifact_dir(job, workspace)
    target.parent.mkdir(parents=True)
    shutil.copytree(artifact, target)
    read_step = step_named(job, READ)
    macros = {"Pipeline.Workspace": str(workspace), "MODEL_VERSION": "7"}
    read = run_script(read_step["bash"], macros, macro_env(read_step, macros), tmp_path)
    assert read.returncode == 0, read.stderr
    # `pulumi up` has run; `pulumi stack output` answers the stack's endpoint outputs.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(
        "#!/bin/bash\n"
        'echo "$*" >> "$PULUMI_LOG"\n'
        'case "$1 $2 $3" in\n'
        f'  "stack output healthUrl") echo "{server.url}/" ;;\n'
        f'  "stack output scoringUrl") echo "{server.url}/score" ;;\n'
        "esac\n"
    )
    (bin_dir / "pulumi").chmod(0o755)
    step = score_step(job)
    variables = {**set_variables(read.stdout), "PULUMI_BACKEND_URL": "azblob://pulumi-state"}
    env = {
        **macro_env(step, variables),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PULUMI_LOG": str(tmp_path / "pulumi.log"),
    }
    result = run_script(script_of(step), variables, env, ROOT, timeout=120)
    stack = step["__parameters__"]["stack"]
    assert (tmp_path / "pulumi.log").read_text().splitlines() == [
        "login azblob://pulumi-state",
        f"stack output healthUrl --stack {stack}",
        f"stack output scoringUrl --stack {stack}",
    ]
    return result


def deploy_groups(pipelines) -> list[list[spec.Pipeline]]:
    """The deploys grouped by what their read and scoring steps run: the same compiled read
    step reading the artifact from the same place, then the same scoring script (the stack it
    asks for its endpoints aside: each deploy's STACK is checked below), run once for all of
    them (custom qa and prod today); a deploy whose steps differ gets a run of its own."""
    groups: dict[str, list[spec.Pipeline]] = {}
    for pipeline in pipelines:
        job = deploy_job(pipeline)
        read = [step_named(job, READ), str(artifact_dir(job, Path("/workspace")))]
        same = json.dumps([*read, script_of(score_step(job))], sort_keys=True)
        groups.setdefault(same, []).append(pipeline)
    return list(groups.values())


def group_id(group: list[spec.Pipeline]) -> str:
    return "+".join(p.key for p in group)


@pytest.mark.parametrize("pipelines", deploy_groups(DEPLOYS), ids=group_id)
def test_every_deploy_passes_when_the_engine_scores_the_models_own_sample(
    engine, trained_artifact, tmp_path, pipelines
):
    # Each deploy of the group asks for its own environment's endpoints.
    assert all(score_step(deploy_job(p))["env"]["STACK"] == DEPLOYS[p] for p in pipelines)
    result = deploy_scoring(tmp_path, pipelines[0], engine, trained_artifact)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "posting the sample request of model estimation-model version 7" in result.stdout
    assert "scored:" in result.stdout


def test_the_deploy_groups_hold_every_deploy_once():
    groups = deploy_groups(DEPLOYS)
    assert sorted(p.key for group in groups for p in group) == sorted(p.key for p in DEPLOYS)
    # dev reads the artifact of its own training run, qa that of the dev deploy it promotes.
    assert len(groups) >= 3


def score_groups(pipelines) -> list[list[spec.Pipeline]]:
    """The deploys grouped by the script their scoring step runs: score-sample.yml compiled
    alike for every deploy (its `stack` reaches the script as STACK, which the passing runs
    above check for each deploy) fails alike on a 500, so it runs once per distinct script."""
    groups: dict[str, list[spec.Pipeline]] = {}
    for pipeline in pipelines:
        groups.setdefault(script_of(score_step(deploy_job(pipeline))), []).append(pipeline)
    return list(groups.values())


@pytest.mark.parametrize("pipelines", score_groups(DEPLOYS), ids=group_id)
def test_every_deploy_fails_when_the_engines_run_raises_on_its_own_sample(
    engine, unscorable_artifact, tmp_path, pipelines
):
    result = deploy_scoring(tmp_path, pipelines[0], engine, unscorable_artifact)
    assert result.returncode == 1
    assert "healthy:" in result.stdout and "HTTP 500" in result.stdout
    assert f"the model does not score the sample request: {engine.url}/score" in result.stderr
