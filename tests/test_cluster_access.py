"""The access wait's probe: asks the API server (kubectl auth can-i) until the caller may
deploy the release, bounded, with the kubeconfig read from standard input."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from commands import cluster_access
from commands.cluster_access import KUBECTL, Check, kubectl_runner, release_checks, wait_for_access
from components.config.environment import RBAC_PROPAGATION_SECONDS, AccessWaitConfig
from tests.support.fake_kubectl import calls
from tests.support.fake_kubectl import fake_kubectl as kubectl_stand_in
from tests.support.local_command import run_main, run_module

KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: []\n"


# Settings that keep a case short should the command, broken, ever get past its refusal.
QUICK = {"ACCESS_ATTEMPTS": "1", "ACCESS_INTERVAL_SECONDS": "0"}


def fake_kubectl(tmp_path: Path, answers: list[str]) -> Path:
    """kubectl answering `auth can-i` in turn: "yes" (exit 0), "no - reason" (stdout, exit 1),
    or an "error: ..." on stderr (exit 1)."""
    return kubectl_stand_in(
        tmp_path,
        [(1, "", a) if a.startswith("error:") else (0 if a == "yes" else 1, a, "") for a in answers],
    )


def run_command(
    env: dict[str, str], stdin: str = KUBECONFIG, *, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """The command, kubeconfig on stdin: its `main` in this process, or with `process`
    `python3 -m commands.cluster_access` as the local command runs it (one per exit code)."""
    if process:
        return run_module("commands.cluster_access", env, stdin)
    return run_main(lambda: cluster_access.main(env, io.StringIO(stdin)))


def run_probe(
    tmp_path: Path, answers: list[str], attempts: int = 3, *, process: bool = False
) -> subprocess.CompletedProcess[str]:
    kubectl = fake_kubectl(tmp_path, answers)
    env = {
        **os.environ,
        "KUBECTL": str(kubectl),
        "ACCESS_NAMESPACE": "estimation-engine",
        "ACCESS_ATTEMPTS": str(attempts),
        "ACCESS_INTERVAL_SECONDS": "0",
    }
    return run_command(env, process=process)


def test_checks_are_what_the_release_does():
    assert release_checks("ns") == (
        Check("create", "namespaces", None),
        Check("create", "deployments.apps", "ns"),
        Check("create", "secrets", "ns"),
    )


def test_succeeds_once_the_api_server_says_yes(tmp_path):
    # The first round is refused (grant not propagated yet), the second allowed.
    done = run_probe(tmp_path, ["no", "no", "no", "yes"])
    assert done.returncode == 0, done.stderr
    seen = calls(tmp_path)
    assert len(seen) == 6
    assert seen[0]["argv"][:5] == ["auth", "can-i", "create", "namespaces", "--all-namespaces"]
    assert seen[1]["argv"][:6] == ["auth", "can-i", "create", "deployments.apps", "--namespace", "estimation-engine"]
    # The kubeconfig came from standard input, into a file only its owner can read, removed after.
    assert all(c["kubeconfig"] == KUBECONFIG for c in seen)
    assert all(c["mode"] & (stat.S_IRWXG | stat.S_IRWXO) == 0 for c in seen)
    assert not Path(seen[0]["path"]).exists()
    assert "cluster access granted (attempt 2/3)" in done.stdout


def test_fails_after_the_bounded_attempts_and_says_who_may_deploy(tmp_path):
    done = run_probe(tmp_path, ["no - Azure does not have opinion for this user."], attempts=2, process=True)
    assert done.returncode == 1
    assert len(calls(tmp_path)) == 6
    assert "digitre-mlops:aks.deployers" in done.stderr
    assert "Azure does not have opinion for this user." in done.stdout
    assert not Path(calls(tmp_path)[0]["path"]).exists()


def test_an_error_is_not_a_yes(tmp_path):
    # e.g. kubelogin missing or not logged in: kubectl exits 1 with the reason on stderr.
    done = run_probe(tmp_path, ["error: exec: executable kubelogin not found"], attempts=1)
    assert done.returncode == 1
    assert "executable kubelogin not found" in done.stdout


def test_no_kubectl_is_reported_not_retried(tmp_path):
    env = {
        **os.environ,
        "KUBECTL": str(tmp_path / "missing-kubectl"),
        "ACCESS_NAMESPACE": "ns",
        "ACCESS_ATTEMPTS": "5",
    }
    done = run_command(env)
    assert done.returncode == 2
    assert "az aks install-cli" in done.stderr


@pytest.mark.parametrize("stdin", ["", "   \n"])
def test_missing_kubeconfig_is_refused(tmp_path, stdin):
    env = {**os.environ, **QUICK, "KUBECTL": str(tmp_path / "none"), "ACCESS_NAMESPACE": "ns"}
    done = run_command(env, stdin)
    assert done.returncode == 2
    assert done.stderr == "a kubeconfig on standard input and ACCESS_NAMESPACE are required\n"


@pytest.mark.parametrize(
    ("name", "value"),
    [("ACCESS_ATTEMPTS", "forty"), ("ACCESS_INTERVAL_SECONDS", "soon"), ("ACCESS_ATTEMPTS", "0")],
)
def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path, name, value):
    env = {**os.environ, **QUICK, "KUBECTL": str(tmp_path / "none"), "ACCESS_NAMESPACE": "ns", name: value}
    done = run_command(env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and name in done.stderr


def test_the_process_exits_2_with_the_one_line_on_a_bad_setting():
    done = run_command({**os.environ, "ACCESS_NAMESPACE": "ns", "ACCESS_ATTEMPTS": "forty"}, process=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "ACCESS_ATTEMPTS and ACCESS_INTERVAL_SECONDS must be numbers\n"


def test_wait_sleeps_between_attempts_only():
    slept: list[float] = []
    answers = iter([None, "no", None, None, None, None])
    granted = wait_for_access(
        release_checks("ns"),
        lambda check: next(answers),
        attempts=3,
        interval=7,
        sleep=slept.append,
        log=lambda _: None,
    )
    assert granted is True
    assert slept == [7]


def test_runner_reads_the_answer_not_only_the_exit_code(tmp_path):
    kubectl = fake_kubectl(tmp_path, ["yes"])
    config = tmp_path / "config"
    config.write_text(KUBECONFIG)
    run = kubectl_runner(str(kubectl), str(config))
    assert run(Check("create", "namespaces", None)) is None
    kubectl = fake_kubectl(tmp_path, ["no"])
    shutil.rmtree(tmp_path / "calls")
    assert run(Check("create", "namespaces", None)) == "no"


def test_uses_the_kubectl_on_path_by_default(tmp_path):
    fake = fake_kubectl(tmp_path, ["yes"])
    assert fake.name == KUBECTL == "kubectl"
    env = {k: v for k, v in os.environ.items() if k != "KUBECTL"}
    env.update(PATH=f"{tmp_path}{os.pathsep}{env.get('PATH', '')}", ACCESS_NAMESPACE="ns", ACCESS_ATTEMPTS="1")
    done = run_command(env, process=True)  # PATH is the process's: kubectl is looked up there
    assert done.returncode == 0, done.stderr
    assert len(calls(tmp_path)) == 3
    # The process's own standard input reached kubectl as the kubeconfig.
    assert all(c["kubeconfig"] == KUBECONFIG for c in calls(tmp_path))


def test_default_wait_outlasts_the_documented_propagation():
    # Microsoft Learn: a new role assignment can take up to five minutes to reach AKS.
    wait = AccessWaitConfig()
    assert RBAC_PROPAGATION_SECONDS == 300
    assert wait.attempts * wait.interval_seconds >= 2 * RBAC_PROPAGATION_SECONDS
