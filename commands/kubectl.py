"""What the commands that ask an AKS cluster share: the kubeconfig on disk only while kubectl
runs, one kubectl call with a deadline, and one answer when kubectl is missing. Standard
library only. The kubeconfig reaches the commands on standard input: it stays a Pulumi
secret and never sits in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

# On PATH on Microsoft-hosted ubuntu-24.04 agents and after `az aks install-cli`.
KUBECTL = "kubectl"


@contextmanager
def kubeconfig_file(kubeconfig: str) -> Iterator[str]:
    """The kubeconfig's path: mkstemp creates the file readable by this user only, and it is
    removed whatever happens."""
    handle, path = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(kubeconfig)
        yield path
    finally:
        os.unlink(path)


def with_kubeconfig(kubeconfig: str, kubectl: str, wait: Callable[[str], bool]) -> bool | None:
    """`wait(kubeconfig path)`, or None (reported on stderr) when there is no kubectl to run."""
    with kubeconfig_file(kubeconfig) as path:
        try:
            return wait(path)
        except FileNotFoundError:
            print(f"{kubectl} not found: install kubectl and kubelogin (az aks install-cli)", file=sys.stderr)
            return None


def run_kubectl(
    kubectl: str, args: Sequence[str], kubeconfig_path: str, timeout: float
) -> subprocess.CompletedProcess[str] | str:
    """kubectl's answer, or why there is none."""
    try:
        return subprocess.run(
            [kubectl, *args, "--kubeconfig", kubeconfig_path],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout:.0f} s"


def last_error(done: subprocess.CompletedProcess[str]) -> str:
    """The line that says why kubectl failed (its last on stderr), at most 300 characters."""
    return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]
