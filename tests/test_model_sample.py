"""The smoke request travels with the model (issue 17, item 1): training puts the engine's
sample request in the `model` artifact and tags its run with the version; every deploy reads
the deployed version's artifact, refuses one without a usable sample, and posts the sample to
the scoring route after `pulumi up`. The pipelines' own scripts run for real with bash; the
real inference server judges the scoring step in tests/test_serving_contract.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.devops import pipelines as spec

# Every pipeline that deploys a model, and the environment its deploy job serves.
from tests.support.model_sample import (
    COMMIT,
    DEPLOYS,
    ENGINE_SAMPLE,
    READ,
    artifact_dir,
    build_tags,
    deploy_job,
    pulumi_up,
    run_training,
    score_step,
    set_variables,
    step_named,
)
from tests.support.pipeline_jobs import macro_env, run_script

pytestmark = pytest.mark.slow_tool


def test_training_puts_the_engines_sample_in_the_model_artifact_and_tags_the_version(tmp_path):
    result, artifact = run_training(tmp_path, sample=ENGINE_SAMPLE.read_bytes())
    assert result.returncode == 0, result.stderr
    assert (artifact / "sample-request.json").read_bytes() == ENGINE_SAMPLE.read_bytes()
    model = json.loads((artifact / "model.json").read_text())
    assert (model["name"], model["version"], model["metrics"]) == ("estimation-model", "7", {"mae": 1.5})
    variables = set_variables(result.stdout)
    assert variables["MODEL_REGISTERED"] == "true"
    assert build_tags(variables) == ["model-registered", "model-version-7"]


@pytest.mark.parametrize(("sample", "problem"), [(None, "No such file"), (b"{oops", "Expecting")])
def test_a_registered_model_without_a_usable_sample_fails_training_and_publishes_nothing(tmp_path, sample, problem):
    result, artifact = run_training(tmp_path, sample=sample)
    assert result.returncode != 0
    assert "the engine's job wrote no usable sample-request.json beside registration.json" in result.stderr
    assert problem in result.stderr and "docs/engine-contract.md" in result.stderr
    assert "MODEL_REGISTERED" not in set_variables(result.stdout)
    assert not (artifact / "model.json").exists()


def test_a_model_that_lost_the_evaluation_needs_no_sample(tmp_path):
    result, _ = run_training(tmp_path, registered=False)
    assert result.returncode == 0, result.stderr
    assert set_variables(result.stdout) == {}


def test_a_version_that_cannot_be_a_tag_fails_training(tmp_path):
    result, _ = run_training(tmp_path, sample=b"{}", version="7\n##vso[build.addbuildtag]evil")
    assert result.returncode != 0
    assert "##vso[" not in result.stdout


# --- Every deploy reads the version's artifact, then scores its sample after `pulumi up` ---


@pytest.mark.parametrize("pipeline", DEPLOYS, ids=lambda p: p.key)
def test_every_deploy_reads_the_versions_artifact_and_scores_its_sample_after_pulumi_up(pipeline):
    job = deploy_job(pipeline)
    names = [s.get("displayName", "") for s in job.steps]
    read, up = names.index(READ), pulumi_up(job)
    score = job.steps.index(score_step(job))
    assert read < up < score == len(job.steps) - 1
    # A failed read stops the deploy; the score runs only when `pulumi up` succeeded.
    assert all("condition" not in s for s in job.steps[read:])
    assert score_step(job)["__parameters__"]["stack"] == DEPLOYS[pipeline]
    # The sample reaches the check at run time, never `pulumi up`: nothing a preview compares.
    up_step = job.steps[up]
    assert "MODEL_SAMPLE" not in json.dumps(up_step)
    assert score_step(job)["env"]["MODEL_SAMPLE"] == "$(MODEL_SAMPLE)"


@pytest.mark.parametrize("pipeline", [spec.CUSTOM_QA_DEPLOY, spec.PROD_DEPLOYMENT], ids=lambda p: p.key)
def test_a_deploy_by_version_number_takes_the_artifact_of_the_run_that_registered_it(tmp_path, pipeline):
    job = deploy_job(pipeline)
    (download,) = [s for s in job.steps if s.get("task") == "DownloadPipelineArtifact@2"]
    inputs = download["inputs"]
    # The training definition's id, from the platform variable group the shared stack writes.
    queued_by = spec.TRAIN_EVALUATE_REGISTER.queued_by
    assert queued_by is not None
    assert inputs["definition"] == f"$({queued_by.definition_id_variable})"
    assert (inputs["buildType"], inputs["buildVersionToDownload"]) == ("specific", "latestFromBranch")
    assert inputs["branchName"] == spec.MAIN_BRANCH
    assert inputs["artifactName"] == "model"
    # The tag asked for is the one training adds to the run that registered that version.
    result, _ = run_training(tmp_path, sample=b"{}", version="12")
    (tag,) = [t for t in build_tags(set_variables(result.stdout)) if t != spec.MODEL_REGISTERED_TAG]
    assert inputs["tags"].replace("$(MODEL_VERSION)", "12") == tag
    # The version is known before the download: requested, or the one qa serves.
    names = [s.get("displayName", "") for s in job.steps]
    version_step = next(
        i for i, n in enumerate(names) if n in ("Use the requested model version", "Read the model version qa serves")
    )
    assert version_step < job.steps.index(download) < names.index(READ)


def write_artifact(directory: Path, sample: bytes | None, version: str = "7") -> None:
    directory.mkdir(parents=True)
    model = {"name": "estimation-model", "version": version, "metrics": {}, "engineCommit": COMMIT}
    (directory / "model.json").write_text(json.dumps(model))
    if sample is not None:
        (directory / "sample-request.json").write_bytes(sample)


def run_read(tmp_path: Path, pipeline: spec.Pipeline, sample: bytes | None, version: str = "7", requested: str = "7"):
    job = deploy_job(pipeline)
    write_artifact(artifact_dir(job, tmp_path), sample, version)
    step = step_named(job, READ)
    macros = {"Pipeline.Workspace": str(tmp_path), "MODEL_VERSION": requested}
    return run_script(step["bash"], macros, macro_env(step, macros), tmp_path)


def read_groups(pipelines) -> list[list[spec.Pipeline]]:
    """The pipelines grouped by what their read step runs: the same compiled step reading the
    artifact from the same place runs once for all of its pipelines (prod and custom qa read
    the version's artifact alike); a pipeline whose step differs gets a run of its own."""
    groups: dict[str, list[spec.Pipeline]] = {}
    for pipeline in pipelines:
        job = deploy_job(pipeline)
        same = json.dumps([step_named(job, READ), str(artifact_dir(job, Path("/workspace")))], sort_keys=True)
        groups.setdefault(same, []).append(pipeline)
    return list(groups.values())


def group_id(group: list[spec.Pipeline]) -> str:
    return "+".join(p.key for p in group)


LARGEST = json.dumps({"data": "x" * (16384 - len('{"data": ""}'))}).encode()


UNUSABLE = [
    (None, "No such file"),
    (b"price me", "Expecting value"),
    (b'"a string"', "it is not a JSON object or array"),
    (LARGEST + b" ", "it has 16385 bytes, more than 16384"),
]
# Every unusable sample on the first group's read, and one on each other group's: the groups'
# read scripts differ only in where the artifact is (test_the_read_groups_differ_only_in_where_
# the_artifact_is), which each group's own run exercises.
REFUSALS = [(read_groups(DEPLOYS)[0], *unusable) for unusable in UNUSABLE] + [
    (group, *UNUSABLE[i % len(UNUSABLE)]) for i, group in enumerate(read_groups(DEPLOYS)) if i
]


@pytest.mark.parametrize(
    ("pipelines", "sample", "problem"),
    REFUSALS,
    ids=[f"{group_id(g)}-{problem}" for g, _, problem in REFUSALS],
)
def test_every_deploy_refuses_an_artifact_without_a_usable_sample(tmp_path, pipelines, sample, problem):
    result = run_read(tmp_path, pipelines[0], sample)
    assert result.returncode == 1
    assert "setvariable" not in result.stdout
    assert "model estimation-model version 7: the model artifact carries no usable sample-request.json" in result.stderr
    assert problem in result.stderr
    # What the engine repo must write, and where to read about it.
    assert "The engine's training job must write sample-request.json" in result.stderr
    assert "beside registration.json in its registration output (docs/engine-contract.md)" in result.stderr


@pytest.mark.parametrize("pipelines", read_groups(DEPLOYS), ids=group_id)
def test_every_deploy_hands_the_sample_on_as_a_file(tmp_path, pipelines):
    assert len(LARGEST) == 16384
    pipeline = pipelines[0]
    result = run_read(tmp_path, pipeline, LARGEST)
    assert result.returncode == 0, result.stderr
    sample = Path(set_variables(result.stdout)["MODEL_SAMPLE"])
    assert sample == artifact_dir(deploy_job(pipeline), tmp_path) / "sample-request.json"
    assert sample.read_bytes() == LARGEST


@pytest.mark.parametrize("pipelines", read_groups([spec.CUSTOM_QA_DEPLOY, spec.PROD_DEPLOYMENT]), ids=group_id)
def test_an_artifact_of_another_version_is_refused(tmp_path, pipelines):
    result = run_read(tmp_path, pipelines[0], b"{}", version="6", requested="7")
    assert result.returncode == 1
    assert "the run tagged model-version-7 published model version 6" in result.stderr


def test_the_read_groups_hold_every_deploy_once_and_keep_different_steps_apart():
    groups = read_groups(DEPLOYS)
    assert sorted(p.key for group in groups for p in group) == sorted(p.key for p in DEPLOYS)
    for group in groups:
        reads = [(step_named(deploy_job(p), READ), artifact_dir(deploy_job(p), Path("/w"))) for p in group]
        assert all(read == reads[0] for read in reads), group_id(group)
    # dev reads the artifact of its own training run, qa that of the dev deploy it promotes.
    dev, qa = (next(g for g in groups if p in g) for p in (spec.DEV_BUILD_AND_DEPLOY, spec.QA_DEPLOY))
    assert dev is not qa


def test_the_read_groups_differ_only_in_where_the_artifact_is():
    # So a refusal shown on one group's read holds for every group's.
    scripts = set()
    for group in read_groups(DEPLOYS):
        lines = step_named(deploy_job(group[0]), READ)["bash"].splitlines()
        (where,) = [i for i, line in enumerate(lines) if line.startswith("from=")]
        scripts.add("\n".join(lines[:where] + lines[where + 1 :]))
    assert len(scripts) == 1
    # Every problem is refused on some group, and every group refuses one.
    assert {problem for _, _, problem in REFUSALS} == {problem for _, problem in UNUSABLE}
    assert {group_id(g) for g, _, _ in REFUSALS} == {group_id(g) for g in read_groups(DEPLOYS)}


def test_the_reads_size_limit_is_the_probes(tmp_path):
    # The probe refuses what the read refuses, by the same limit (commands/health_probe.py).
    env = {**os.environ, "HEALTH_URL": "http://e/", "SCORE_URL": "http://e/s"}
    run = [sys.executable, "-m", "commands.health_probe"]
    over = subprocess.run(run, env={**env, "SCORE_REQUEST": (LARGEST + b" ").decode()}, capture_output=True, text=True)
    assert over.returncode == 2 and "at most 16384 bytes" in over.stderr
