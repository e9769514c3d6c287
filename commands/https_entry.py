"""Wait for prod's HTTPS entry in the cluster, bounded, or fail by name.

Two questions are asked of the API server with kubectl, each until it says yes
(components/serving/https_entry.py says which names to ask about):

- `gateway-class`: has the GatewayClass ENTRY_GATEWAY_CLASS been accepted by its controller
  (status condition `Accepted` is `True`)? The implementation installs it some time after it
  is turned on; the release's Gateway needs it (and its CRDs) before it can be installed.
- `https-only`: does the Gateway's public Service ENTRY_SERVICE in ENTRY_NAMESPACE publish
  ENTRY_PUBLIC_PORT, not port 80, and no other port than the implementation's status port
  ENTRY_STATUS_PORT? This proves after each deploy that nothing public answers plain HTTP.

Run by `pulumi up`'s local commands (`python3 -m commands.https_entry`) on the machine running
it; standard library only. The kubeconfig arrives on standard input; the rest from the
environment: ENTRY_EXPECT, the names above, ENTRY_ATTEMPTS, ENTRY_INTERVAL_SECONDS, and
KUBECTL (default `kubectl`).
Exit 0 when the answer is yes, 1 when the attempts ran out, 2 on bad input or no kubectl.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from commands.kubectl import KUBECTL, last_error, run_kubectl, with_kubeconfig
from commands.polling import bounds, poll

HTTP_PORT = "80"


@dataclass(frozen=True)
class Question:
    """One kubectl query and how to read its answer: None when yes, else why not."""

    describe: str
    args: tuple[str, ...]
    judge: Callable[[str], str | None]


def _accepted(stdout: str) -> str | None:
    status = stdout.strip()
    return None if status == "True" else f"not accepted yet (Accepted: {status or 'no condition'})"


def https_only(public: str, status: str) -> Callable[[str], str | None]:
    def judge(stdout: str) -> str | None:
        ports = set(stdout.split())
        shown = " ".join(sorted(ports)) or "none"
        if HTTP_PORT in ports:
            return f"its Service still publishes port {HTTP_PORT} (ports: {shown})"
        if public not in ports:
            return f"its Service publishes no port {public} (ports: {shown})"
        others = ports - {public, status}
        if others:
            return f"its Service publishes ports other than {public}: {' '.join(sorted(others))}"
        return None

    return judge


def question(env: Mapping[str, str]) -> Question | str:
    expect = env.get("ENTRY_EXPECT", "")
    if expect == "gateway-class":
        name = env.get("ENTRY_GATEWAY_CLASS", "")
        if not name:
            return "ENTRY_GATEWAY_CLASS is required for gateway-class"
        condition = 'jsonpath={.status.conditions[?(@.type=="Accepted")].status}'
        return Question(f"GatewayClass {name}", ("get", "gatewayclass", name, "--output", condition), _accepted)
    if expect == "https-only":
        service, namespace = env.get("ENTRY_SERVICE", ""), env.get("ENTRY_NAMESPACE", "")
        public, status = env.get("ENTRY_PUBLIC_PORT", ""), env.get("ENTRY_STATUS_PORT", "")
        if not (service and namespace and public.isdigit() and status.isdigit()):
            return "ENTRY_SERVICE, ENTRY_NAMESPACE, ENTRY_PUBLIC_PORT and ENTRY_STATUS_PORT are required for https-only"
        ports = "jsonpath={.spec.ports[*].port}"
        return Question(
            f"the gateway's Service {namespace}/{service} on {public} only",
            ("get", "service", service, "--namespace", namespace, "--output", ports),
            https_only(public, status),
        )
    return f"ENTRY_EXPECT must be gateway-class or https-only, got {expect!r}"


# What one query returns: None when the answer is yes, else why not.
Runner = Callable[[Question], str | None]


def kubectl_runner(kubectl: str, kubeconfig_path: str, timeout: float = 60.0) -> Runner:
    def run(asked: Question) -> str | None:
        done = run_kubectl(kubectl, asked.args, kubeconfig_path, timeout)
        if isinstance(done, str):
            return done
        if done.returncode != 0:
            # A missing CRD ("doesn't have a resource type"), NotFound, or no token yet.
            return last_error(done)
        return asked.judge(done.stdout)

    return run


def wait_until(
    asked: Question,
    run: Runner,
    attempts: int,
    interval: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> bool:
    def attempt(label: str) -> bool:
        why = run(asked)
        if why is None:
            log(f"ready: {asked.describe} ({label})")
            return True
        log(f"not yet: {asked.describe}: {why} ({label})")
        return False

    return poll(attempts, interval, attempt, sleep)


def main(env: Mapping[str, str] | None = None, stdin: TextIO | None = None) -> int:
    """The command; `env` and `stdin` are the process's own unless given (the tests give them)."""
    env = os.environ if env is None else env
    kubeconfig = (sys.stdin if stdin is None else stdin).read()
    asked, wait = question(env), bounds(env, "ENTRY")
    if isinstance(asked, str) or isinstance(wait, str):
        print(asked if isinstance(asked, str) else wait, file=sys.stderr)
        return 2
    if not kubeconfig.strip():
        print("a kubeconfig on standard input is required", file=sys.stderr)
        return 2
    attempts, interval = wait
    kubectl = env.get("KUBECTL", KUBECTL)
    ready = with_kubeconfig(
        kubeconfig, kubectl, lambda path: wait_until(asked, kubectl_runner(kubectl, path), attempts, interval)
    )
    if ready is None:
        return 2
    if ready:
        return 0
    print(f"gave up after {attempts} attempts {interval:g} s apart waiting for {asked.describe}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
