"""Wait until the identity running `pulumi up` may deploy to the AKS cluster, or fail.

Azure RBAC on AKS applies a new role assignment only after it reaches the cluster's
authorization server (up to five minutes, Microsoft Learn: "Use Azure RBAC for Kubernetes
Authorization"). A Helm install started before that gets 403 and its atomic release rolls
back, so the release waits for this check. It asks the API server itself, with
`kubectl auth can-i` (a SelfSubjectAccessReview), whether the caller may do what the release
does, and retries a bounded number of times.

Run by the access wait in `components/serving/aks.py` (`python3 -m commands.cluster_access`) on the
machine running `pulumi up`; standard library only. The kubeconfig arrives on standard input
(it stays a Pulumi secret and never sits in the environment); the rest from the environment:
ACCESS_NAMESPACE, ACCESS_ATTEMPTS, ACCESS_INTERVAL_SECONDS, and KUBECTL (default `kubectl`).
Exit 0 when every check says yes, 1 when the attempts ran out, 2 on bad input or no kubectl.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# On PATH on Microsoft-hosted ubuntu-24.04 agents and after `az aks install-cli`.
KUBECTL = "kubectl"


@dataclass(frozen=True)
class Check:
    """One `kubectl auth can-i` question; `namespace` None asks cluster-wide."""

    verb: str
    resource: str
    namespace: str | None

    def describe(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource} {where}"


def release_checks(namespace: str) -> tuple[Check, ...]:
    """What the Helm release does: create its namespace, then its workload in it."""
    return (
        Check("create", "namespaces", None),
        Check("create", "deployments.apps", namespace),
        Check("create", "secrets", namespace),
    )


# What one check returns: None when allowed, else why not.
Runner = Callable[[Check], str | None]


def kubectl_runner(kubectl: str, kubeconfig_path: str, timeout: float = 60.0) -> Runner:
    def run(check: Check) -> str | None:
        scope = ["--namespace", check.namespace] if check.namespace else ["--all-namespaces"]
        command = [kubectl, "auth", "can-i", check.verb, check.resource, *scope, "--kubeconfig", kubeconfig_path]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return f"no answer within {timeout:.0f} s"
        # kubectl prints "yes" when allowed and "no[ - reason]" when not, and exits 1 for
        # both a "no" and an error (e.g. no credentials yet), so the answer is read, not the code.
        answer = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
        if done.returncode == 0 and answer == "yes":
            return None
        detail = answer or (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return detail[:300]

    return run


def wait_for_access(
    checks: Sequence[Check],
    run: Runner,
    attempts: int,
    interval: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> bool:
    for attempt in range(1, attempts + 1):
        problems = [(check, why) for check in checks if (why := run(check)) is not None]
        if not problems:
            log(f"cluster access granted (attempt {attempt}/{attempts})")
            return True
        for check, why in problems:
            log(f"not yet allowed to {check.describe()}: {why} (attempt {attempt}/{attempts})")
        if attempt < attempts:
            sleep(interval)
    return False


def main() -> int:
    kubeconfig = sys.stdin.read()
    namespace = os.environ.get("ACCESS_NAMESPACE", "")
    if not kubeconfig.strip() or not namespace:
        print("a kubeconfig on standard input and ACCESS_NAMESPACE are required", file=sys.stderr)
        return 2
    attempts = int(os.environ.get("ACCESS_ATTEMPTS", "40"))
    interval = float(os.environ.get("ACCESS_INTERVAL_SECONDS", "15"))
    kubectl = os.environ.get("KUBECTL", KUBECTL)
    # mkstemp creates the file readable by this user only; it is removed whatever happens.
    handle, path = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(kubeconfig)
        try:
            granted = wait_for_access(release_checks(namespace), kubectl_runner(kubectl, path), attempts, interval)
        except FileNotFoundError:
            print(f"{kubectl} not found: install kubectl and kubelogin (az aks install-cli)", file=sys.stderr)
            return 2
    finally:
        os.unlink(path)
    if granted:
        return 0
    print(
        f"no cluster-admin after {attempts} attempts {interval:g} s apart: the identity running pulumi up must be "
        "the pipelines' identity or listed in digitre-mlops:aks.deployers (and logged in with az login)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
