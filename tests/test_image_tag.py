"""One image name: the build pipeline pushes exactly the image the environment stacks pull,
derived from the same stack config by the same function, also for a non-default config."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from commands.image_tag import image_for, main
from components.config.stack_files import StackFileError
from components.devops import pipelines as spec
from components.serving.image import image_tag
from components.types import PROJECT
from offline.evaluate import ROOT
from tests.support.evaluations import CUSTOM_IMAGE, ENVIRONMENTS, MODEL_VERSION, WORKLOAD
from tests.support.pipeline_jobs import jobs_of, script_of

BUILD_AND_DEPLOY = ROOT / spec.DEV_BUILD_AND_DEPLOY.yml_path
CUSTOM = CUSTOM_IMAGE


def build_script() -> str:
    (build,) = [job for job in jobs_of(BUILD_AND_DEPLOY) if job.name == "build"]
    (script,) = [script_of(s) for s in build.steps if "commands.image_tag" in script_of(s)]
    return script


def pipeline_image_command() -> list[str]:
    """The arguments the build pipeline passes to `python -m commands.image_tag`."""
    (line,) = [line for line in build_script().splitlines() if "commands.image_tag" in line]
    match = re.search(r"image=\$\(uv run --locked python -m commands\.image_tag (.*)\)\s*$", line.strip())
    assert match, f"the build no longer computes the image with commands.image_tag: {line}"
    return shlex.split(match.group(1))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def pipeline_image(root: Path, version: str, registered_model: str) -> Result:
    """The pipeline's own command line, with the model artifact's variables filled in, run
    in-process (tests/test_serving.py runs the module's entry point as a real process)."""
    env_values = {"$MODEL_VERSION": version, "$MODEL_NAME": registered_model}
    args = [env_values.get(arg, arg) for arg in pipeline_image_command()]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--root", str(root)])
    return Result(code, out.getvalue(), err.getvalue())


def stack_files(tmp_path: Path, serving: Mapping[str, object] | None = None, only: str | None = None) -> Path:
    """Copies of the real stack files, with `serving` merged into one or every environment."""
    for source in ROOT.glob("Pulumi.*.yaml"):
        document = yaml.safe_load(source.read_text())
        config = document["config"]
        stack = source.name.split(".")[1]
        if serving and config[f"{PROJECT}:role"] == "environment" and only in (None, stack):
            config[f"{PROJECT}:serving"] = {**config.get(f"{PROJECT}:serving", {}), **serving}
        (tmp_path / source.name).write_text(yaml.safe_dump(document))
    return tmp_path


def test_the_build_passes_the_artifacts_version_and_registered_name():
    assert pipeline_image_command() == ["--version", "$MODEL_VERSION", "--registered-model", "$MODEL_NAME"]
    script = build_script()
    assert '--image "$image"' in script.split("az acr build", 1)[1].splitlines()[0]
    assert "SERVING_REPOSITORY" not in script


def test_default_config_names_the_default_image(tmp_path):
    result = pipeline_image(stack_files(tmp_path), MODEL_VERSION, "estimation-model")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"estimation-engine:estimation-model-{MODEL_VERSION}"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_a_non_default_repository_and_model_name_match_on_both_sides(tmp_path, shared, customised, stack):
    pushed = pipeline_image(stack_files(tmp_path, CUSTOM), MODEL_VERSION, CUSTOM["modelName"])
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == f"pricing/valuation-engine:valuation_model-{MODEL_VERSION}"

    # The customised environments serve CUSTOM's repository and model (among other settings).
    run = customised[stack]
    pulled = run.outputs["image"]
    assert pulled == f"{shared.outputs['registryLoginServer']}/{pushed.stdout.strip()}"
    workload = run.one(WORKLOAD[stack])
    if stack == "prod":
        image = workload.inputs["values"]["image"]
        assert f"{image['repository']}:{image['tag']}" == pulled
    else:
        assert workload.inputs["containers"][0]["image"] == pulled


def test_stacks_that_disagree_on_the_image_are_refused(tmp_path):
    result = pipeline_image(stack_files(tmp_path, CUSTOM, only="qa"), MODEL_VERSION, "estimation-model")
    assert result.returncode == 1
    assert "error: the environment stacks name different images" in result.stderr
    assert f"qa: pricing/valuation-engine:valuation_model-{MODEL_VERSION}" in result.stderr and result.stdout == ""


def test_a_model_registered_under_another_name_is_refused(tmp_path):
    result = pipeline_image(stack_files(tmp_path), MODEL_VERSION, "some-other-model")
    assert result.returncode == 1
    assert "Azure ML registered model 'some-other-model'" in result.stderr
    assert "serving.modelName 'estimation-model'" in result.stderr


@pytest.mark.parametrize("version", ["", "-1", "7; rm -rf /", "a" * 31])
def test_a_version_the_stacks_would_refuse_is_refused(tmp_path, version):
    with pytest.raises(StackFileError, match="is not a model version"):
        image_for(version, root=stack_files(tmp_path))


def test_no_environment_stack_is_an_error(tmp_path):
    with pytest.raises(StackFileError, match="no environment stack file"):
        image_for("7", root=tmp_path)


def test_an_invalid_serving_section_names_the_file(tmp_path):
    stack_files(tmp_path, {"repository": "Not A Repository"}, only="dev")
    with pytest.raises(StackFileError, match=r"Pulumi\.dev\.yaml: digitre-mlops:serving is invalid"):
        image_for("7", root=tmp_path)


def test_the_tag_is_model_and_version_lowercased():
    assert image_tag("Price_Model", "3.1") == "price_model-3.1"
