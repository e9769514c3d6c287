"""The Gateway API's own schemas as a judge: the npm package @kubernetes-models/gateway-api,
pinned by tests/gateway_api/package-lock.json and installed with `npm ci` (.ci/run and the PR
pipeline do), run by Node.js on what Helm renders. kubernetes-validate knows no CRD kinds."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from offline.evaluate import ROOT

JUDGE = ROOT / "tests" / "gateway_api"
PACKAGE = JUDGE / "node_modules" / "@kubernetes-models" / "gateway-api" / "package.json"
API_GROUP = "gateway.networking.k8s.io"


def require_judge() -> str:
    node = shutil.which("node")
    if node is None or not PACKAGE.is_file():
        pytest.fail(
            f"the Gateway API judge is not installed: run `npm ci --prefix {JUDGE.relative_to(ROOT)}` "
            "(.ci/run does; it needs Node.js and npm)",
            pytrace=False,
        )
    return node


def is_gateway_api(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(f"{API_GROUP}/")


def judge(docs: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """For each manifest, None when the Gateway API's schemas accept it, else their complaint."""
    done = subprocess.run(
        [require_judge(), str(JUDGE / "judge.mjs")],
        input=json.dumps(list(docs)),
        capture_output=True,
        text=True,
        cwd=JUDGE,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the Gateway API judge failed:\n{done.stderr}"
    verdicts = json.loads(done.stdout)
    assert len(verdicts) == len(docs)
    return verdicts


def installed_version() -> str:
    return str(json.loads(PACKAGE.read_text())["version"])
