"""The post-deploy health check: declared after the workload, re-run on a new image, and
a probe that really polls an HTTP endpoint (tested against a loopback server)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import pytest

from components.health_probe import wait_healthy
from tests.conftest import ENVIRONMENTS, WORKLOAD, deploy
from tests.loopback import serve

COMMAND = "command:local:Command"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_health_check_polls_the_health_route_after_the_workload(served, stack):
    run = served[stack]
    command = run.named("health-check-probe")
    assert command.inputs["create"] == "python3 -m components.health_probe"
    assert command.inputs["environment"] == {
        "HEALTH_URL": run.outputs["healthUrl"],
        "HEALTH_ATTEMPTS": "20",
        "HEALTH_INTERVAL_SECONDS": "15",
    }
    assert run.one(WORKLOAD[stack]).urn in command.depends_on
    assert command.inputs["triggers"] == [run.outputs["image"]]
    assert command.parent.endswith("digitre:serving:HealthCheck::health-check")


def test_a_new_version_re_triggers_the_check(served, shared):
    again = deploy("qa", shared, version="8").one(COMMAND)
    assert again.inputs["triggers"] != served["qa"].one(COMMAND).inputs["triggers"]


class _Handler(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"Healthy" if status == 200 else b"starting")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def server(statuses: list[int]) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"statuses": list(statuses)})
    with serve(handler) as url:
        yield f"{url}/"


def test_healthy_endpoint_passes_at_once():
    lines: list[str] = []
    with server([200]) as url:
        assert wait_healthy(url, attempts=3, interval=0, log=lines.append) is True
    assert len(lines) == 1


def test_endpoint_that_becomes_healthy_passes_within_the_retries():
    sleeps: list[float] = []
    with server([503, 503, 200]) as url:
        assert wait_healthy(url, attempts=5, interval=2, sleep=sleeps.append, log=lambda _: None) is True
    assert sleeps == [2, 2]


def test_unhealthy_endpoint_fails_after_bounded_attempts():
    sleeps: list[float] = []
    with server([500]) as url:
        assert wait_healthy(url, attempts=3, interval=1, sleep=sleeps.append, log=lambda _: None) is False
    assert sleeps == [1, 1]


def test_unreachable_endpoint_fails():
    with server([200]) as url:
        pass  # the server is gone once the block ends
    assert wait_healthy(url, attempts=2, interval=0, timeout=1, log=lambda _: None) is False


def run_probe(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEALTH_URL": url, "HEALTH_ATTEMPTS": "2", "HEALTH_INTERVAL_SECONDS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "components.health_probe"], env=env, capture_output=True, text=True, check=False
    )


def test_the_command_the_stack_runs_exits_by_health():
    with server([200]) as url:
        assert run_probe(url).returncode == 0
    with server([503]) as url:
        failed = run_probe(url)
    assert failed.returncode == 1
    assert "unhealthy after 2 attempts" in failed.stderr
    assert run_probe("file:///etc/passwd").returncode == 2
