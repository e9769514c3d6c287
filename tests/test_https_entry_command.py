"""The waits of the HTTPS entry (commands/https_entry.py): `gateway-class` until the
implementation's GatewayClass is accepted, `https-only` until the gateway's public Service
publishes 443 and not 80. kubectl is a stand-in that answers the way the real one does (exit 1
with the reason on stderr for a missing resource type or object)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from commands import https_entry
from commands.https_entry import https_only, question, wait_until
from components.serving import https_entry as component
from tests.support.fake_kubectl import calls as recorded
from tests.support.fake_kubectl import fake_kubectl as kubectl_stand_in
from tests.support.local_command import run_main, run_module

KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: []\n"
NO_CRD = 'error: the server doesn\'t have a resource type "gatewayclasses"'
NOT_FOUND = 'Error from server (NotFound): gatewayclasses.gateway.networking.k8s.io "approuting-istio" not found'
CLASS = {"ENTRY_EXPECT": "gateway-class", "ENTRY_GATEWAY_CLASS": component.GATEWAY_CLASS}
SERVICE = {
    "ENTRY_EXPECT": "https-only",
    "ENTRY_SERVICE": component.PUBLIC_SERVICE,
    "ENTRY_NAMESPACE": "estimation-engine",
    "ENTRY_PUBLIC_PORT": "443",
    "ENTRY_STATUS_PORT": str(component.STATUS_PORT),
}


def fake_kubectl(tmp_path: Path, answers: list[tuple[int, str]]) -> Path:
    """Answers in turn (exit code, output: stdout when 0, stderr otherwise)."""
    return kubectl_stand_in(tmp_path, [(code, text, "") if code == 0 else (code, "", text) for code, text in answers])


def command(env: dict[str, str], stdin: str = KUBECONFIG, *, process: bool = False):
    """The command: its `main` in this process, or with `process` `python3 -m
    commands.https_entry` as the local command runs it (one per exit code below)."""
    if process:
        return run_module("commands.https_entry", env, stdin)
    return run_main(lambda: https_entry.main(env, io.StringIO(stdin)))


def run(
    tmp_path: Path,
    settings: dict[str, str],
    answers: list[tuple[int, str]],
    attempts: int = 4,
    *,
    process: bool = False,
):
    env = {
        **os.environ,
        "KUBECTL": str(fake_kubectl(tmp_path, answers)),
        **settings,
        "ENTRY_ATTEMPTS": str(attempts),
        "ENTRY_INTERVAL_SECONDS": "0",
    }
    return command(env, process=process)


def calls(tmp_path: Path) -> list[list[str]]:
    return [call["argv"] for call in recorded(tmp_path)]


def test_gateway_class_waits_until_accepted(tmp_path):
    done = run(
        tmp_path, CLASS, [(1, NO_CRD), (1, NOT_FOUND), (0, ""), (0, "False"), (0, "True")], attempts=5, process=True
    )
    assert done.returncode == 0, done.stderr
    argv = calls(tmp_path)
    assert len(argv) == 5
    assert argv[0][:5] == [
        "get",
        "gatewayclass",
        component.GATEWAY_CLASS,
        "--output",
        'jsonpath={.status.conditions[?(@.type=="Accepted")].status}',
    ]
    assert "--kubeconfig" in argv[0]
    assert "doesn't have a resource type" in done.stdout and "not accepted yet (Accepted: False)" in done.stdout


def test_gateway_class_gives_up_after_the_bounded_attempts_naming_it(tmp_path):
    done = run(tmp_path, CLASS, [(1, NOT_FOUND)], attempts=3, process=True)
    assert done.returncode == 1
    assert len(calls(tmp_path)) == 3
    assert f"gave up after 3 attempts 0 s apart waiting for GatewayClass {component.GATEWAY_CLASS}" in done.stderr


def test_https_only_waits_until_port_80_is_gone(tmp_path):
    done = run(tmp_path, SERVICE, [(1, "not found"), (0, "15021 80 443"), (0, "15021 443")])
    assert done.returncode == 0, done.stderr
    argv = calls(tmp_path)
    assert argv[0][:7] == [
        "get",
        "service",
        component.PUBLIC_SERVICE,
        "--namespace",
        "estimation-engine",
        "--output",
        "jsonpath={.spec.ports[*].port}",
    ]
    assert "still publishes port 80" in done.stdout


def test_a_gateway_that_answers_plain_http_fails_the_update_by_name(tmp_path):
    done = run(tmp_path, SERVICE, [(0, "15021 80 443")], attempts=2)
    assert done.returncode == 1
    assert "still publishes port 80" in done.stdout
    assert f"the gateway's Service estimation-engine/{component.PUBLIC_SERVICE} on 443 only" in done.stderr


@pytest.mark.parametrize(
    ("stdout", "ok"),
    [("15021 443", True), ("443", True), ("443 80", False), ("", False), ("15021", False), ("443 8443", False)],
)
def test_https_only_reads_the_ports(stdout, ok):
    assert (https_only("443", str(component.STATUS_PORT))(stdout) is None) is ok


@pytest.mark.parametrize(
    "settings",
    [
        {"ENTRY_EXPECT": "maybe"},
        {"ENTRY_EXPECT": "gateway-class"},
        {**SERVICE, "ENTRY_PUBLIC_PORT": "https"},
        {**CLASS, "ENTRY_ATTEMPTS": "0"},
    ],
)
def test_bad_input_is_refused_with_one_line(tmp_path, settings):
    env = {**os.environ, "KUBECTL": str(tmp_path / "none"), "ENTRY_INTERVAL_SECONDS": "0", **settings}
    done = command(env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_process_exits_2_with_the_one_line_on_bad_input(tmp_path):
    env = {**os.environ, "KUBECTL": str(tmp_path / "none"), "ENTRY_EXPECT": "maybe"}
    done = command(env, process=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "ENTRY_EXPECT must be gateway-class or https-only, got 'maybe'\n"


def test_no_kubeconfig_is_refused(tmp_path):
    env = {**os.environ, **CLASS, "KUBECTL": str(tmp_path / "none"), "ENTRY_ATTEMPTS": "1"}
    done = command(env, " \n")
    assert done.returncode == 2 and done.stderr == "a kubeconfig on standard input is required\n"


def test_no_kubectl_is_reported_not_retried(tmp_path):
    env = {**os.environ, "KUBECTL": str(tmp_path / "none"), **CLASS}
    done = command(env)
    assert done.returncode == 2
    assert "az aks install-cli" in done.stderr


def test_the_wait_sleeps_between_attempts_only():
    slept: list[float] = []
    answers = iter(["not yet", "not yet", None])
    asked = question(CLASS)
    assert not isinstance(asked, str)
    assert wait_until(asked, lambda _: next(answers), 5, 9, sleep=slept.append, log=lambda _: None)
    assert slept == [9, 9]
