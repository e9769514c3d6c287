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
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from commands.kubectl import KUBECTL, last_error, run_kubectl, with_kubeconfig
from commands.polling import bounds, poll


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
        done = run_kubectl(kubectl, ["auth", "can-i", check.verb, check.resource, *scope], kubeconfig_path, timeout)
        if isinstance(done, str):
            return done
        # kubectl prints "yes" when allowed and "no[ - reason]" when not, and exits 1 for
        # both a "no" and an error (e.g. no credentials yet), so the answer is read, not the code.
        answer = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
        if done.returncode == 0 and answer == "yes":
            return None
        return answer[:300] if answer else last_error(done)

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
    def attempt(label: str) -> bool:
        problems = [(check, why) for check in checks if (why := run(check)) is not None]
        if not problems:
            log(f"cluster access granted ({label})")
            return True
        for check, why in problems:
            log(f"not yet allowed to {check.describe()}: {why} ({label})")
        return False

    return poll(attempts, interval, attempt, sleep)


def main(env: Mapping[str, str] | None = None, stdin: TextIO | None = None) -> int:
    """The command; `env` and `stdin` are the process's own unless given (the tests give them)."""
    env = os.environ if env is None else env
    kubeconfig = (sys.stdin if stdin is None else stdin).read()
    namespace = env.get("ACCESS_NAMESPACE", "")
    if not kubeconfig.strip() or not namespace:
        print("a kubeconfig on standard input and ACCESS_NAMESPACE are required", file=sys.stderr)
        return 2
    wait = bounds(env, "ACCESS")
    if isinstance(wait, str):
        print(wait, file=sys.stderr)
        return 2
    attempts, interval = wait
    kubectl = env.get("KUBECTL", KUBECTL)
    granted = with_kubeconfig(
        kubeconfig,
        kubectl,
        lambda path: wait_for_access(release_checks(namespace), kubectl_runner(kubectl, path), attempts, interval),
    )
    if granted is None:
        return 2
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
