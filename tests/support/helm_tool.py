"""The real Helm that `scripts/install-helm.sh` installs, run on the engine chart.

A missing Helm fails the chart tests: `.ci/run` and the PR pipeline install it first. Only
where Helm cannot be installed at all may `DIGITRE_HELM_UNAVAILABLE` (set to the reason) turn
those failures into skips; nothing in this repository sets it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate.utils import major_minor

from components.serving.engine_release import CHART_PATH
from offline.evaluate import ROOT, Evaluation

INSTALL_SCRIPT = ROOT / "scripts" / "install-helm.sh"
HELM = ROOT / ".tools" / "bin" / "helm"
CHART = ROOT / CHART_PATH
UNAVAILABLE_ENV = "DIGITRE_HELM_UNAVAILABLE"
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "azure-native:containerservice:ManagedCluster"
# With `aks.kubernetesVersion` unset, AKS picks the cluster's version from the minors it supports
# (a window that moves on); the chart must then hold on every one of them (AKS's release calendar
# on 2026-11-29, docs/assumptions.md).
AKS_SUPPORTED_MINORS = ("1.34", "1.35", "1.36", "1.37")


def script_pin(name: str) -> str:
    """A `NAME="value"` pin of the install script."""
    match = re.search(rf'^{name}="([^"]+)"$', INSTALL_SCRIPT.read_text(), re.M)
    if match is None:
        raise AssertionError(f"{INSTALL_SCRIPT.name} pins no {name}")
    return match.group(1)


def require_helm() -> Path:
    if HELM.is_file() and os.access(HELM, os.X_OK):
        return HELM
    reason = os.environ.get(UNAVAILABLE_ENV, "").strip()
    if reason:
        pytest.skip(f"Helm deliberately unavailable ({UNAVAILABLE_ENV}): {reason}")
    pytest.fail(
        f"Helm is not installed at {HELM}: run `bash scripts/install-helm.sh` "
        f"(.ci/run does), or set {UNAVAILABLE_ENV}=<reason> where it cannot be installed",
        pytrace=False,
    )


class Helm:
    """Runs the installed Helm with its own home under `home`, so no user state leaks in."""

    def __init__(self, binary: Path, home: Path):
        self.binary = binary
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            # Nothing here may reach a cluster.
            "KUBECONFIG": str(home / "no-kubeconfig"),
        }
        self.home = home

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], env=self.env, capture_output=True, text=True, timeout=120)

    def values_file(self, values: Mapping[str, Any], name: str = "values.json") -> Path:
        # JSON is YAML: the values reach Helm exactly as the Release would send them.
        path = self.home / name
        path.write_text(json.dumps(values))
        return path

    def _target(self, namespace: str, kube_version: str, values: Mapping[str, Any]) -> tuple[str, ...]:
        """What `lint` and `template` both need: the release's namespace, the cluster's
        Kubernetes version and the values."""
        return ("--namespace", namespace, "--kube-version", kube_version, "--values", str(self.values_file(values)))

    def lint(self, values: Mapping[str, Any], namespace: str, kube_version: str) -> subprocess.CompletedProcess[str]:
        return self.run("lint", "--strict", str(CHART), *self._target(namespace, kube_version, values))

    def template(
        self,
        release: str,
        namespace: str,
        values: Mapping[str, Any],
        kube_version: str,
        chart: Path = CHART,
        extra: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        return self.run("template", release, str(chart), *self._target(namespace, kube_version, values), *extra)

    def render(
        self, release: str, namespace: str, values: Mapping[str, Any], kube_version: str, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Every manifest `helm template` renders; fails the test when Helm refuses."""
        result = self.template(release, namespace, values, kube_version, **kwargs)
        assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
        return [doc for doc in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if doc]


def kube_versions(run: Evaluation) -> tuple[str, ...]:
    """The Kubernetes minors the release must render for: the cluster's configured version, or
    with none configured (or an existing cluster), every minor AKS supports."""
    configured = {r.inputs.get("kubernetesVersion") for r in run.of_type(CLUSTER)} - {None}
    if configured:
        return tuple(sorted(major_minor(str(v)) for v in configured))
    return AKS_SUPPORTED_MINORS
