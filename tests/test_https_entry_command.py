"""The waits around the HTTPS-only patch of the add-on's default controller: `present` until
the operator made its CRD and the `default` NginxIngressController, `https-only` until the
controller's Service dropped port 80. kubectl is a stand-in that answers the way the real one
does (exit 1 with the reason on stderr for a missing resource type or object)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from commands.ingress_controller import (
    CONTROLLER_NAMESPACE,
    CONTROLLER_RESOURCE,
    CONTROLLER_SERVICE,
    DEFAULT_CONTROLLER,
    QUESTIONS,
    wait_until,
)
from components.serving.ingress import CONTROLLER_API_VERSION, CONTROLLER_KIND
from components.serving.ingress import DEFAULT_CONTROLLER as PATCHED_CONTROLLER
from offline.evaluate import ROOT
from tests.fake_kubectl import calls as recorded
from tests.fake_kubectl import fake_kubectl as kubectl_stand_in
from tests.local_command import run_module

KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: []\n"
NO_CRD = 'error: the server doesn\'t have a resource type "nginxingresscontrollers"'
NOT_FOUND = 'Error from server (NotFound): nginxingresscontrollers.approuting.kubernetes.azure.com "default" not found'


def fake_kubectl(tmp_path: Path, answers: list[tuple[int, str]]) -> Path:
    """Answers in turn (exit code, output: stdout when 0, stderr otherwise)."""
    return kubectl_stand_in(tmp_path, [(code, text, "") if code == 0 else (code, "", text) for code, text in answers])


def run(tmp_path: Path, expect: str, answers: list[tuple[int, str]], attempts: int = 4, stdin: str = KUBECONFIG):
    env = {
        **os.environ,
        "KUBECTL": str(fake_kubectl(tmp_path, answers)),
        "CONTROLLER_EXPECT": expect,
        "CONTROLLER_ATTEMPTS": str(attempts),
        "CONTROLLER_INTERVAL_SECONDS": "0",
    }
    return run_module("commands.ingress_controller", env, stdin)


def calls(tmp_path: Path) -> list[list[str]]:
    return [call["argv"] for call in recorded(tmp_path)]


def test_present_waits_through_a_missing_crd_and_a_missing_controller(tmp_path):
    done = run(tmp_path, "present", [(1, NO_CRD), (1, NOT_FOUND), (0, f"{CONTROLLER_KIND.lower()}.x/default")])
    assert done.returncode == 0, done.stderr
    argv = calls(tmp_path)
    assert len(argv) == 3
    assert argv[0][:5] == ["get", CONTROLLER_RESOURCE, DEFAULT_CONTROLLER, "--output", "name"]
    assert "--kubeconfig" in argv[0]
    assert "doesn't have a resource type" in done.stdout and "not found" in done.stdout


def test_present_gives_up_after_the_bounded_attempts(tmp_path):
    done = run(tmp_path, "present", [(1, NO_CRD)], attempts=3)
    assert done.returncode == 1
    assert len(calls(tmp_path)) == 3
    assert "gave up after 3 attempts" in done.stderr


def test_https_only_waits_until_port_80_is_gone(tmp_path):
    done = run(tmp_path, "https-only", [(0, "80 443"), (0, "443")])
    assert done.returncode == 0, done.stderr
    argv = calls(tmp_path)
    assert argv[0][:7] == [
        "get",
        "service",
        CONTROLLER_SERVICE,
        "--namespace",
        CONTROLLER_NAMESPACE,
        "--output",
        "jsonpath={.spec.ports[*].port}",
    ]
    assert "still publishes port 80" in done.stdout


def test_a_field_the_operator_dropped_fails_the_update(tmp_path):
    # An operator older than `httpDisabled` keeps port 80 however long one waits.
    done = run(tmp_path, "https-only", [(0, "80 443")], attempts=2)
    assert done.returncode == 1
    assert "still publishes port 80" in done.stdout


@pytest.mark.parametrize(("stdout", "ok"), [("443", True), ("443 80", False), ("", False), ("8443", False)])
def test_https_only_reads_the_ports(stdout, ok):
    assert (QUESTIONS["https-only"].judge(stdout) is None) is ok


@pytest.mark.parametrize(
    ("env", "stdin"),
    [({"CONTROLLER_EXPECT": "maybe"}, KUBECONFIG), ({"CONTROLLER_EXPECT": "present"}, " \n")],
)
def test_bad_input_is_refused_with_one_line(tmp_path, env, stdin):
    done = run_module("commands.ingress_controller", {**os.environ, "KUBECTL": str(tmp_path / "none"), **env}, stdin)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_kubectl_is_reported_not_retried(tmp_path):
    env = {**os.environ, "KUBECTL": str(tmp_path / "none"), "CONTROLLER_EXPECT": "present"}
    done = run_module("commands.ingress_controller", env, KUBECONFIG)
    assert done.returncode == 2
    assert "az aks install-cli" in done.stderr


def test_the_wait_sleeps_between_attempts_only():
    slept: list[float] = []
    answers = iter(["not yet", "not yet", None])
    assert wait_until(QUESTIONS["present"], lambda _: next(answers), 5, 9, sleep=slept.append, log=lambda _: None)
    assert slept == [9, 9]


def test_the_names_asked_are_the_operators_and_the_patchs():
    """The CRD's plural.group, the default controller, its Service (named by its prefix, `nginx`)
    and namespace, as Azure/aks-app-routing-operator defines them; the patch targets the same."""
    group = CONTROLLER_API_VERSION.split("/")[0]
    assert (
        CONTROLLER_RESOURCE
        == f"nginxingresscontrollers.{group}"
        == "nginxingresscontrollers.approuting.kubernetes.azure.com"
    )
    assert DEFAULT_CONTROLLER == PATCHED_CONTROLLER == "default"
    assert CONTROLLER_SERVICE == "nginx"
    assert CONTROLLER_NAMESPACE == "app-routing-system"
    # The chart admits traffic from that same namespace.
    values = yaml.safe_load((ROOT / "charts/estimation-engine/values.yaml").read_text())
    namespace_labels = values["networkPolicy"]["ingressController"]["namespaceLabels"]
    assert namespace_labels == {"kubernetes.io/metadata.name": CONTROLLER_NAMESPACE}
