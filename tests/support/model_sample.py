"""What the model-sample, pipeline-script and serving-contract tests share: the deploy jobs,
their read and score steps, and a run of training's result step."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.support.inference_server import SERVING
from tests.support.pipeline_jobs import Job, jobs_of, run_script, script_of

# Every pipeline that deploys a model, and the environment its deploy job serves.
DEPLOYS = {
    spec.DEV_BUILD_AND_DEPLOY: "dev",
    spec.QA_DEPLOY: "qa",
    spec.CUSTOM_QA_DEPLOY: "qa",
    spec.PROD_DEPLOYMENT: "prod",
}
READ = "Read model name and version"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENGINE_SAMPLE = SERVING / "sample_request.json"


def deploy_job(pipeline: spec.Pipeline) -> Job:
    (job,) = [j for j in jobs_of(ROOT / pipeline.yml_path) if j.name == f"deploy_{DEPLOYS[pipeline]}"]
    return job


def step_named(job: Job, display_name: str) -> dict[str, Any]:
    (step,) = [s for s in job.steps if s.get("displayName") == display_name]
    return step


def pulumi_up(job: Job) -> int:
    (index,) = [i for i, s in enumerate(job.steps) if s.get("__template__") == "pulumi.yml"]
    return index


def score_step(job: Job) -> dict[str, Any]:
    (step,) = [s for s in job.steps if s.get("__template__") == "score-sample.yml"]
    return step


def artifact_dir(job: Job, workspace: Path) -> Path:
    """Where the job's download step puts the `model` artifact."""
    (download,) = [s for s in job.steps if "download" in s or s.get("task") == "DownloadPipelineArtifact@2"]
    if "download" in download:
        return workspace / download["download"] / download["artifact"]
    return Path(download["inputs"]["targetPath"].replace("$(Pipeline.Workspace)", str(workspace)))


def set_variables(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^##vso\[task\.setvariable variable=(\w+)\](.*)$", stdout, re.MULTILINE))


# --- Training: the sample goes into the artifact, the run is tagged with the version ---


def train_step() -> tuple[Job, dict[str, Any]]:
    (job,) = jobs_of(ROOT / spec.TRAIN_EVALUATE_REGISTER.yml_path)
    (step,) = [s for s in job.steps if "registration.json" in script_of(s)]
    return job, step


def run_training(tmp_path: Path, registered: bool = True, sample: bytes | None = None, version: str = "7"):
    """Training's result step, with `az ml job download` writing the engine job's registration
    output (registration.json and, unless None, sample-request.json)."""
    output = tmp_path / "job-output" / "named-outputs" / "registration"
    output.mkdir(parents=True)
    result = {"registered": registered, "name": "estimation-model", "version": version, "metrics": {"mae": 1.5}}
    (output / "registration.json").write_text(json.dumps(result))
    if sample is not None:
        (output / "sample-request.json").write_bytes(sample)
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(
        f'#!/bin/bash\nwhile [ $# -gt 0 ]; do [ "$1" = --download-path ] && out=$2; shift; done\n'
        f'mkdir -p "$out" && cp -r "{tmp_path / "job-output"}/." "$out/"\n'
    )
    (bin_dir / "az").chmod(0o755)
    engine = tmp_path / "engine" / "src"
    engine.mkdir(parents=True)
    (engine / "score.py").write_text((SERVING / "context" / "score.py").read_text())
    (engine / "requirements.txt").write_text("numpy\n")
    staging = tmp_path / "staging"
    macros = {
        "Build.ArtifactStagingDirectory": str(staging),
        "AML_JOB_NAME": "job-1",
        "Pipeline.Workspace": str(tmp_path),
    }
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "ENGINE_COMMIT": COMMIT}
    _, step = train_step()
    return run_script(script_of(step), macros, env, tmp_path), staging / "model"


def build_tags(stdout_by_variables: dict[str, str]) -> list[str]:
    """The tags training's tag step adds, run with the variables earlier steps set."""
    job, _ = train_step()
    (step,) = [s for s in job.steps if "##vso[build.addbuildtag]" in script_of(s)]
    result = run_script(script_of(step), stdout_by_variables, {}, ROOT)
    assert result.returncode == 0, result.stderr
    return re.findall(r"^##vso\[build\.addbuildtag\](.*)$", result.stdout, re.MULTILINE)
