"""Runs a module of `commands/` the way `pulumi up`'s local commands do: `python -m <module>`
from the project's root, standard input and environment given."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from offline.evaluate import ROOT


def run_module(module: str, env: Mapping[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
