"""checkov, the IaC scanner platform teams run, from its own pinned environment
(`tests/fixtures/checkov/uv.lock`: its pins clash with Pulumi's), on copies of what this
repository ships, laid out the way checkov's runners find them.

The scan runs offline: `--skip-download` (no Prisma Cloud guidelines, no policies from an
API), no configuration file of this machine (a fresh HOME and working directory), and none of
checkov's settings from the environment (`CKV_SKIP_CHECK` would silently skip checks).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.evaluate import ROOT
from tests.support.locked_environment import sync

PROJECT = ROOT / "tests" / "fixtures" / "checkov"
ENVIRONMENT = PROJECT / ".venv"
CHECKOV = ENVIRONMENT / "bin" / "checkov"
SCAN_TIMEOUT = 600.0
FRAMEWORKS = ("dockerfile", "kubernetes", "azure_pipelines")
# checkov's Azure Pipelines runner reads only files whose names end so
# (checkov/azure_pipelines/runner.py, `is_workflow_file`).
PIPELINE_SUFFIX = ".azure-pipelines.yml"
# What checkov records as the reason of a skip that gives none (checkov/kubernetes/kubernetes_utils.py
# `get_skipped_checks`, checkov/common/util/suppression.py).
NO_REASON = "No comment provided"
# checkov reads its settings from variables with these prefixes (and a config file).
SETTING_PREFIXES = ("CKV_", "BC_", "CHECKOV_", "PRISMA_")


def pinned_version() -> str:
    """The checkov version the fixture's project pins exactly."""
    project = PROJECT / "pyproject.toml"
    (dependency,) = [d for d in _dependencies(project) if d.startswith("checkov")]
    name, _, version = dependency.partition("==")
    if name != "checkov" or not version:
        raise AssertionError(f"{project} must pin checkov exactly (checkov==X.Y.Z), has {dependency!r}")
    return version


def _dependencies(project: Path) -> list[str]:
    import tomllib

    return list(tomllib.loads(project.read_text())["project"]["dependencies"])


def install() -> Path:
    """checkov's environment from its lock (network to PyPI on a cold cache); its executable."""
    sync(PROJECT, ENVIRONMENT, "checkov")
    return CHECKOV


def pipeline_copy(text: str) -> str:
    """A pipeline file as checkov's Azure Pipelines runner can check it: a steps-only template
    wrapped in one job, since its step checks look at `jobs[].steps[]` and `stages[].jobs[].steps[]`
    only (checkov/azure_pipelines/checks/job/SetSecretVariable.py)."""
    document = yaml.safe_load(text)
    if isinstance(document, dict) and "steps" in document and not {"jobs", "stages"} & set(document):
        return yaml.safe_dump({"jobs": [{"job": "template", "steps": document["steps"]}]}, sort_keys=False)
    return text


@dataclass(frozen=True)
class Layout:
    """Where each kind of file goes in the scanned folder."""

    root: Path

    @property
    def image(self) -> Path:
        return self.root / "image"

    @property
    def chart(self) -> Path:
        return self.root / "chart"

    @property
    def pipelines(self) -> Path:
        return self.root / "pipelines"


def lay_out(
    root: Path,
    dockerfile: Path,
    manifests: Mapping[str, Sequence[Mapping[str, Any]]],
    pipelines: Mapping[str, str],
) -> Layout:
    """The Dockerfile as `image/Dockerfile`, each rendering of the chart as `chart/<name>.yaml`,
    and each pipeline file (by its name in the repository) as `pipelines/<name>.azure-pipelines.yml`."""
    layout = Layout(root)
    for folder in (layout.image, layout.chart, layout.pipelines):
        folder.mkdir(parents=True)
    shutil.copyfile(dockerfile, layout.image / "Dockerfile")
    for name, docs in manifests.items():
        (layout.chart / f"{name}.yaml").write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    for name, text in pipelines.items():
        (layout.pipelines / f"{name}{PIPELINE_SUFFIX}").write_text(pipeline_copy(text))
    return layout


@dataclass(frozen=True)
class Finding:
    framework: str
    check_id: str
    resource: str
    file: str
    reason: str = ""

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.check_id} on {self.resource} in {self.file}{reason}"


@dataclass(frozen=True)
class Report:
    """checkov's JSON report: one entry per framework that found something to scan."""

    reports: Mapping[str, Mapping[str, Any]]

    def summary(self, framework: str) -> Mapping[str, Any]:
        return self.reports[framework]["summary"]

    def _results(self, kind: str) -> list[Finding]:
        return [
            Finding(
                framework,
                c["check_id"],
                c["resource"],
                c["file_path"],
                (c.get("check_result") or {}).get("suppress_comment", ""),
            )
            for framework, report in self.reports.items()
            for c in report["results"][kind]
        ]

    @property
    def failed(self) -> list[Finding]:
        return self._results("failed_checks")

    @property
    def skipped(self) -> list[Finding]:
        return self._results("skipped_checks")

    @property
    def passed(self) -> list[Finding]:
        return self._results("passed_checks")

    def files(self, framework: str) -> set[str]:
        return {f.file for f in [*self.passed, *self.failed, *self.skipped] if f.framework == framework}


def scan(checkov: Path, layout: Layout, home: Path) -> Report:
    """checkov on the laid-out folder for the three frameworks, offline; its JSON report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES) and k != "VIRTUAL_ENV"}
    env.update(HOME=str(home), LOG_LEVEL="WARNING")
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            ".",
            "--framework",
            *FRAMEWORKS,
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        cwd=layout.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCAN_TIMEOUT,
        check=False,
    )
    # checkov exits 1 when a check fails: the findings are the test's to report, by name.
    if result.returncode not in (0, 1):
        raise AssertionError(f"checkov exited {result.returncode}:\n{result.stderr[-4000:]}")
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(
            f"checkov printed no JSON report:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        ) from None
    reports = answer if isinstance(answer, list) else [answer]
    return Report({r["check_type"]: r for r in reports})
