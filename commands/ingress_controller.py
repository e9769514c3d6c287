"""Wait for the application routing add-on's default NGINX controller, bounded, or fail.

The add-on is enabled with the cluster, but its operator installs the NginxIngressController
CRD and creates the `default` controller itself, at its own pace, after the cluster exists
(Azure/aks-app-routing-operator: `loadCRDs` at start-up, then the default controller's
reconciler). Two questions are asked of the API server with kubectl, each until it says yes:

- `present`: does the `default` NginxIngressController exist? The HTTPS-only patch is a
  server-side apply, which would otherwise fail on a missing CRD (pulumi-kubernetes retries
  that for about 30 s) or try to create the controller without its required fields.
- `https-only`: does the controller's Service (`nginx` in `app-routing-system`) publish 443
  and not 80? This proves the patch took effect: an operator older than 0.2.5 does not know
  `httpDisabled`, and the API server would silently drop the field.

Run by components/serving/ingress.py (`python3 -m commands.ingress_controller`) on the machine
running `pulumi up`; standard library only. The kubeconfig arrives on standard input; the rest
from the environment: CONTROLLER_EXPECT (`present` or `https-only`), CONTROLLER_ATTEMPTS,
CONTROLLER_INTERVAL_SECONDS, and KUBECTL (default `kubectl`).
Exit 0 when the answer is yes, 1 when the attempts ran out, 2 on bad input or no kubectl.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from commands.kubectl import KUBECTL, last_error, run_kubectl, with_kubeconfig
from commands.polling import poll

# The CRD's plural and group (config/crd/bases/approuting.kubernetes.azure.com_nginxingresscontrollers.yaml).
CONTROLLER_RESOURCE = "nginxingresscontrollers.approuting.kubernetes.azure.com"
# The default controller's name, its resources' name prefix (its Service's name) and namespace
# (pkg/controller/nginxingress/default.go, pkg/config/config.go).
DEFAULT_CONTROLLER = "default"
CONTROLLER_SERVICE = "nginx"
CONTROLLER_NAMESPACE = "app-routing-system"
HTTP_PORT = "80"
HTTPS_PORT = "443"


@dataclass(frozen=True)
class Question:
    """One kubectl query and how to read its answer: None when yes, else why not."""

    describe: str
    args: tuple[str, ...]
    judge: Callable[[str], str | None]


def _exists(stdout: str) -> str | None:
    return None if stdout.strip() else "not there yet"


def _https_only(stdout: str) -> str | None:
    ports = set(stdout.split())
    if HTTP_PORT in ports:
        return f"its Service still publishes port {HTTP_PORT} (ports: {' '.join(sorted(ports))})"
    if HTTPS_PORT not in ports:
        return f"its Service publishes no port {HTTPS_PORT} (ports: {' '.join(sorted(ports)) or 'none'})"
    return None


QUESTIONS = {
    "present": Question(
        f"the add-on's {DEFAULT_CONTROLLER} NginxIngressController",
        ("get", CONTROLLER_RESOURCE, DEFAULT_CONTROLLER, "--output", "name"),
        _exists,
    ),
    "https-only": Question(
        f"the add-on's controller Service {CONTROLLER_NAMESPACE}/{CONTROLLER_SERVICE} on {HTTPS_PORT} only",
        (
            "get",
            "service",
            CONTROLLER_SERVICE,
            "--namespace",
            CONTROLLER_NAMESPACE,
            "--output",
            "jsonpath={.spec.ports[*].port}",
        ),
        _https_only,
    ),
}

# What one query returns: None when the answer is yes, else why not.
Runner = Callable[[Question], str | None]


def kubectl_runner(kubectl: str, kubeconfig_path: str, timeout: float = 60.0) -> Runner:
    def run(question: Question) -> str | None:
        done = run_kubectl(kubectl, question.args, kubeconfig_path, timeout)
        if isinstance(done, str):
            return done
        if done.returncode != 0:
            # A missing CRD ("doesn't have a resource type"), NotFound, or no token yet.
            return last_error(done)
        return question.judge(done.stdout)

    return run


def wait_until(
    question: Question,
    run: Runner,
    attempts: int,
    interval: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> bool:
    def attempt(label: str) -> bool:
        why = run(question)
        if why is None:
            log(f"ready: {question.describe} ({label})")
            return True
        log(f"not yet: {question.describe}: {why} ({label})")
        return False

    return poll(attempts, interval, attempt, sleep)


def _settings(env: Mapping[str, str]) -> tuple[Question, int, float] | str:
    expect = env.get("CONTROLLER_EXPECT", "")
    if expect not in QUESTIONS:
        return f"CONTROLLER_EXPECT must be one of {', '.join(QUESTIONS)}, got {expect!r}"
    try:
        attempts = int(env.get("CONTROLLER_ATTEMPTS", "40"))
        interval = float(env.get("CONTROLLER_INTERVAL_SECONDS", "15"))
    except ValueError:
        return "CONTROLLER_ATTEMPTS and CONTROLLER_INTERVAL_SECONDS must be numbers"
    if attempts < 1 or interval < 0:
        return "CONTROLLER_ATTEMPTS must be at least 1 and CONTROLLER_INTERVAL_SECONDS not negative"
    return QUESTIONS[expect], attempts, interval


def main() -> int:
    kubeconfig = sys.stdin.read()
    settings = _settings(os.environ)
    if isinstance(settings, str) or not kubeconfig.strip():
        print(settings if isinstance(settings, str) else "a kubeconfig on standard input is required", file=sys.stderr)
        return 2
    question, attempts, interval = settings
    kubectl = os.environ.get("KUBECTL", KUBECTL)
    ready = with_kubeconfig(
        kubeconfig, kubectl, lambda path: wait_until(question, kubectl_runner(kubectl, path), attempts, interval)
    )
    if ready is None:
        return 2
    if ready:
        return 0
    print(
        f"gave up after {attempts} attempts {interval:g} s apart waiting for {question.describe}: "
        "check the application routing add-on (kubectl get nginxingresscontroller default -o yaml)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
