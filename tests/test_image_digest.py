"""prod pulls its image by digest: the lookup `pulumi up` runs (against a stand-in Azure CLI),
what the release is handed, and that only a locked tag is deployed."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path

import pytest

from commands import image_digest
from components.serving.image_digest import COMMAND
from tests.support.evaluations import deploy
from tests.support.local_command import run_main, run_module

RELEASE = "kubernetes:helm.sh/v3:Release"
DIGEST = "sha256:" + hashlib.sha256(b"the image").hexdigest()
IMAGE = "estimation-engine:estimation-model-7"


def record(digest: object = DIGEST, write_enabled: object = False) -> dict:
    """A tag's record as `az acr repository show --image` prints it (Azure/azure-cli acr
    repository.py: the registry's `tag` object)."""
    return {
        "name": "estimation-model-7",
        "digest": digest,
        "createdTime": "2026-11-29T10:00:00Z",
        "changeableAttributes": {
            "deleteEnabled": not write_enabled,
            "writeEnabled": write_enabled,
            "readEnabled": True,
            "listEnabled": True,
        },
    }


def fake_az(folder: Path, code: int, stdout: str, stderr: str = "") -> Path:
    """An `az` that records its arguments in `folder/argv` (one a line) and answers once (a
    bash script: it starts in a fraction of Python's time)."""
    script = folder / "az"
    # Lines joined, not dedented: the answers may hold line breaks of their own.
    lines = [
        "#!/bin/bash",
        f"printf '%s\\n' \"$@\" > {shlex.quote(str(folder / 'argv'))}",
        f"printf '%s' {shlex.quote(stdout)}",
        f"printf '%s' {shlex.quote(stderr)} >&2",
        f"exit {code}",
    ]
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def run_lookup(tmp_path: Path, code: int, stdout: str, stderr: str = "", *, process: bool = False):
    """The lookup against a stand-in `az` answering once: `main` in this process, or with
    `process` `python3 -m commands.image_digest` as `pulumi up` runs it (one per exit code)."""
    az = fake_az(tmp_path, code, stdout, stderr)
    env = {"PATH": os.environ["PATH"], "REGISTRY_NAME": "crdigitreshared42fe68", "IMAGE": IMAGE, "AZ": str(az)}
    if process:
        return run_module("commands.image_digest", env)
    return run_main(lambda: image_digest.main(env))


def test_a_locked_tag_prints_its_digest_and_nothing_else(tmp_path):
    result = run_lookup(tmp_path, 0, json.dumps(record()), process=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == DIGEST
    argv = (tmp_path / "argv").read_text().splitlines()
    assert " ".join(argv) == f"acr repository show --name crdigitreshared42fe68 --image {IMAGE} --output json"


def test_a_tag_that_is_not_locked_is_refused(tmp_path):
    result = run_lookup(tmp_path, 0, json.dumps(record(write_enabled=True)))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{IMAGE} is not locked" in result.stderr


@pytest.mark.parametrize("write_enabled", [True, None, "false"])
def test_only_write_enabled_false_is_locked(write_enabled):
    # The lookup above reads the record with `digest_of`; these are the other unlocked records.
    with pytest.raises(image_digest.DigestError, match=f"{IMAGE} is not locked"):
        image_digest.digest_of(record(write_enabled=write_enabled), IMAGE)


def test_a_record_without_a_sha256_digest_is_refused(tmp_path):
    result = run_lookup(tmp_path, 0, json.dumps(record(digest="sha256:abc")))
    assert result.returncode == 1 and result.stdout == ""
    assert "has no sha256 digest" in result.stderr


@pytest.mark.parametrize("digest", [None, "", "sha256:abc", DIGEST.upper(), "sha512:" + "0" * 128])
def test_only_a_lowercase_sha256_digest_is_one(digest):
    with pytest.raises(image_digest.DigestError, match="has no sha256 digest"):
        image_digest.digest_of(record(digest=digest), IMAGE)


def test_a_failing_cli_fails_the_lookup_with_its_message(tmp_path):
    result = run_lookup(tmp_path, 1, "", "ERROR: The requested data does not exist.", process=True)
    assert result.returncode == 1 and result.stdout == ""
    assert "The requested data does not exist." in result.stderr


def test_output_that_is_not_a_record_is_refused(tmp_path):
    assert "printed no JSON" in run_lookup(tmp_path, 0, "WARNING: something\n").stderr
    assert "no JSON object" in run_lookup(tmp_path, 0, json.dumps([record()])).stderr


def test_a_missing_cli_or_setting_is_named():
    missing = run_main(lambda: image_digest.main({"REGISTRY_NAME": "r"}))
    assert missing.returncode == 2 and missing.stdout == "" and missing.stderr == "error: IMAGE not set\n"
    with pytest.raises(image_digest.DigestError, match="not found"):
        image_digest.resolve("r", IMAGE, az="/nonexistent/az")


def test_prod_pulls_the_digest_its_lookup_resolved(served, shared):
    run = served["prod"]
    lookup = run.named("engine-image-lookup")
    assert lookup.inputs["create"] == COMMAND == "python3 -m commands.image_digest"
    assert lookup.parent.endswith("digitre:serving:ImageDigest::engine-image")
    image = run.one(RELEASE).inputs["values"]["image"]
    # The lookup asks for the very tag the release labels the pods with, in the shared registry.
    assert lookup.inputs["environment"]["IMAGE"] == f"estimation-engine:{image['tag']}"
    registry = lookup.inputs["environment"]["REGISTRY_NAME"]
    assert registry == shared.outputs["registryName"]
    assert image["repository"] == f"{shared.outputs['registryLoginServer']}/estimation-engine"
    assert image["digest"] == lookup.outputs["stdout"]
    assert image_digest.DIGEST.fullmatch(image["digest"])
    # Re-run (and so re-resolved) only for another image or registry.
    assert lookup.inputs["triggers"] == [registry, lookup.inputs["environment"]["IMAGE"]]


def test_another_version_is_looked_up_again(served, shared):
    again = deploy("prod", shared, version="8").named("engine-image-lookup")
    assert again.inputs["triggers"] != served["prod"].named("engine-image-lookup").inputs["triggers"]


def test_nothing_is_looked_up_where_nothing_is_pulled_by_digest(runs, served):
    # dev and qa run on ACI, which pulls the locked tag; without a version nothing is served.
    for run in [*runs.values(), served["dev"], served["qa"]]:
        assert not [r for r in run.resources if r.inputs.get("create") == COMMAND], run.stack
