"""A tool's own uv environment, made from its lock: checkov and the inference server pin
packages that clash with Pulumi's, so each runs from a project of its own under
tests/fixtures/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# A cold uv cache downloads every package from PyPI.
INSTALL_TIMEOUT = 900.0
# Environments synced by this test process: one `uv sync` each is enough (several modules
# use the same tool, and the lock does not change while the tests run).
_SYNCED: set[tuple[Path, Path]] = set()


def sync(project: Path, environment: Path, what: str) -> None:
    """`uv sync --locked` of `project` into `environment`, once per test process; fails naming
    `what` it was for."""
    if (project, environment) in _SYNCED:
        return
    # Under `uv run`, UV is the uv binary itself (uv-static `EnvVars::UV`): on PATH, `uv` may be
    # a version manager's shim, a shell script that costs a tenth of a second a call.
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise AssertionError(f"uv is not on PATH: {what} runs from its own uv environment")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(UV_PROJECT_ENVIRONMENT=str(environment), UV_PYTHON_DOWNLOADS="never")
    command = [uv, "sync", "--project", str(project), "--locked", "--quiet"]
    # `--check` only compares the environment with the lock: a tenth of a second where a sync
    # of an environment already in step still byte-compiles every installed file again.
    result = subprocess.run(
        [*command, "--check"], env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )
    if result.returncode != 0:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    if result.returncode != 0:
        raise AssertionError(f"uv sync of {what}'s environment failed:\n{result.stderr[-4000:]}")
    _SYNCED.add((project, environment))
