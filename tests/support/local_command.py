"""Runs a module of `commands/` the way `pulumi up`'s local commands do: `python -m <module>`
from the project's root, standard input and environment given; or its `main` in this process,
answering as the process would (exit code, stdout, stderr) without starting one."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from contextlib import redirect_stderr, redirect_stdout

from offline.evaluate import ROOT

TIMEOUT_SECONDS = 60


def run_module(
    module: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def run_main(main: Callable[[], int | None], timeout: int = TIMEOUT_SECONDS) -> subprocess.CompletedProcess[str]:
    """`main()` (a command's entry point with its environment and standard input bound), with
    what it prints captured. A SystemExit ends it as it ends the process (a message goes to
    stderr and exits 1). Any other exception is not caught: in the process it would be a
    traceback, so it fails the test that called this. Like the process, it is stopped after
    `timeout` seconds (a TimeoutError), so a command that waits where it should refuse fails
    fast."""

    def stop(signum: int, frame: object) -> None:
        raise TimeoutError(f"the command did not finish within {timeout} s")

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(timeout)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main()
            except SystemExit as done:
                if done.code is None or isinstance(done.code, int):
                    code = done.code
                else:
                    print(done.code, file=sys.stderr)
                    code = 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return subprocess.CompletedProcess(["main"], code or 0, out.getvalue(), err.getvalue())
