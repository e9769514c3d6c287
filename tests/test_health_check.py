"""The post-deploy health check: declared after the workload, re-run on a new image, and
a probe that really polls an HTTP endpoint (tested against a loopback server)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest

from commands import health_probe
from commands.health_probe import smoke_score, wait_healthy
from components.config.errors import ConfigError
from components.types import PROJECT
from offline.evaluate import stack_config
from tests.support.evaluations import ENVIRONMENTS, WORKLOAD, deploy
from tests.support.local_command import run_main, run_module
from tests.support.loopback import serve

COMMAND = "command:local:Command"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_health_check_polls_the_health_route_after_the_workload(served, stack):
    run = served[stack]
    command = run.named("health-check-probe")
    assert command.inputs["create"] == "python3 -m commands.health_probe"
    assert command.inputs["environment"] == {
        "HEALTH_URL": run.outputs["healthUrl"],
        "HEALTH_ATTEMPTS": "20",
        "HEALTH_INTERVAL_SECONDS": "15",
    }
    assert run.waits_for(command, run.one(WORKLOAD[stack]).urn)
    assert command.inputs["triggers"] == [run.outputs["image"]]
    assert command.parent.endswith("digitre:serving:HealthCheck::health-check")


def test_a_new_version_re_triggers_the_check(served, shared):
    again = deploy("qa", shared, version="8").named("health-check-probe")
    assert again.inputs["triggers"] != served["qa"].named("health-check-probe").inputs["triggers"]


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
    return probe_with({"HEALTH_URL": url, "HEALTH_ATTEMPTS": "2", "HEALTH_INTERVAL_SECONDS": "0"})


def test_the_command_the_stack_runs_exits_by_health():
    with server([200]) as url:
        assert run_probe(url).returncode == 0
    with server([503]) as url:
        failed = run_probe(url)
    assert failed.returncode == 1
    assert "unhealthy after 2 attempts" in failed.stderr
    assert run_probe("file:///etc/passwd").returncode == 2


# --- The smoke score: the probe against loopback servers. The deploy pipeline runs it after
# `pulumi up` with the served version's sample (pipelines/templates/score-sample.yml). ---


def key(name: str) -> str:
    return f"{PROJECT}:{name}"


def test_a_secret_health_check_section_is_rejected_before_any_resource(shared):
    # Its settings reach the probe's environment, and the state, decrypted.
    config, _ = stack_config("qa")
    section = config.get(key("healthCheck"), '{"attempts": 20}')
    run = deploy("qa", shared, overrides={key("healthCheck"): section}, secrets=[key("healthCheck")])
    assert isinstance(run.error, ConfigError), run.error
    assert f"{PROJECT}:healthCheck must not be a secret: it reaches the post-deploy check in plain text" in str(
        run.error
    )
    assert run.resources == []


class _Scoring(http.server.BaseHTTPRequestHandler):
    """GET answers 200; POST answers from `answers`, one per request (the last repeats)."""

    answers: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []
    received: ClassVar[list[bytes]] = []

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"Healthy")

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        status, headers, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def scoring(answers: list[tuple[int, dict[str, str], bytes]]) -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    handler = type("Handler", (_Scoring,), {"answers": list(answers), "received": received})
    with serve(handler) as url:
        yield url, received


JSON_OK = (200, {"Content-Type": "application/json"}, b'{"prices": [320000.0]}')


def test_a_json_answer_scores():
    with scoring([JSON_OK]) as (url, received):
        assert smoke_score(f"{url}/score", b'{"data": []}', 3, 0, log=lambda _: None) is True
    assert received == [b'{"data": []}']


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((200, {"Content-Type": "text/html"}, b"<html>ok</html>"), "HTTP 200 but the answer is not JSON"),
        ((500, {"Content-Type": "application/json"}, b'{"message": "boom"}'), "HTTP 500"),
        ((400, {}, b"bad input"), "HTTP 400"),
        ((307, {"Location": "https://elsewhere/score"}, b""), "HTTP 307 to https://elsewhere/score"),
    ],
)
def test_an_answer_that_is_not_a_score_fails_at_once(answer, problem):
    lines: list[str] = []
    with scoring([answer, JSON_OK]) as (url, received):
        assert smoke_score(f"{url}/score", b"{}", 5, 0, log=lines.append) is False
    assert len(received) == 1
    assert problem in lines[0]


def test_a_gateway_error_is_retried_within_the_attempts():
    sleeps: list[float] = []
    with scoring([(503, {}, b""), (502, {}, b""), JSON_OK]) as (url, received):
        assert smoke_score(f"{url}/score", b"{}", 5, 2, sleep=sleeps.append, log=lambda _: None) is True
    assert (len(received), sleeps) == (3, [2, 2])
    with scoring([(504, {}, b"")]) as (url, received):
        assert smoke_score(f"{url}/score", b"{}", 3, 0, log=lambda _: None) is False
    assert len(received) == 3


def probe_with(env: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    """The probe's process, with this machine's environment but none of its HEALTH_ and
    SCORE_ settings, `env` on top (None: the variable unset)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTH_", "SCORE_"))}
    for name, value in env.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return run_module("commands.health_probe", base)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "HEALTH_URL is not set"),
        (
            {"HEALTH_URL": "ftp://engine/"},
            "HEALTH_URL must be an http:// or https:// URL with a host, got 'ftp://engine/'",
        ),
        ({"HEALTH_URL": "http:///"}, "HEALTH_URL must be an http:// or https:// URL with a host"),
        ({"HEALTH_URL": "http://engine:99999/"}, "HEALTH_URL must be an http:// or https:// URL with a host"),
        ({"HEALTH_URL": "http://[::1/"}, "HEALTH_URL must be an http:// or https:// URL with a host"),
        (
            {"HEALTH_URL": "http://e/", "HEALTH_ATTEMPTS": "many"},
            "HEALTH_ATTEMPTS must be an integer 1..60, got 'many'",
        ),
        ({"HEALTH_URL": "http://e/", "HEALTH_ATTEMPTS": "0"}, "HEALTH_ATTEMPTS must be an integer 1..60, got '0'"),
        (
            {"HEALTH_URL": "http://e/", "HEALTH_INTERVAL_SECONDS": "-1"},
            "HEALTH_INTERVAL_SECONDS must be a number 0..60",
        ),
        ({"HEALTH_URL": "http://e/", "SCORE_URL": "http://e/score"}, "SCORE_URL and SCORE_REQUEST go together"),
        (
            {"HEALTH_URL": "http://e/", "SCORE_URL": "http://e/s", "SCORE_REQUEST": "{oops"},
            "SCORE_REQUEST must be JSON",
        ),
        (
            {"HEALTH_URL": "http://e/", "SCORE_URL": "http://e/s", "SCORE_REQUEST": '"x"'},
            "SCORE_REQUEST must be a JSON object or array",
        ),
        (
            {"HEALTH_URL": "http://e/", "SCORE_URL": "http://e/s", "SCORE_REQUEST": json.dumps({"x": "y" * 20_000})},
            "SCORE_REQUEST must be at most 16384 bytes, got 20009",
        ),
        (
            {"HEALTH_URL": "http://e/", "SCORE_URL": "file:///s", "SCORE_REQUEST": "{}"},
            "SCORE_URL must be an http:// or https:// URL",
        ),
    ],
)
def test_a_bad_setting_is_one_line_not_a_traceback(env, message):
    # The command's own entry point, given the settings as its environment (an exception
    # escaping it would be the traceback); the process around it is run below.
    result = run_main(lambda: health_probe.main(env))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"health_probe: {message}"), result.stderr


def test_the_process_exits_2_with_the_one_line_on_a_bad_setting():
    result = probe_with({"HEALTH_URL": "http://e/", "HEALTH_ATTEMPTS": "many"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr == "health_probe: HEALTH_ATTEMPTS must be an integer 1..60, got 'many'\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made here (nothing secret is committed); an
    elliptic-curve key, made in milliseconds where an RSA key takes a search for primes."""
    directory = tmp_path_factory.mktemp("tls")
    cert, private_key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(private_key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, private_key


def test_the_probe_checks_an_https_endpoint_and_its_certificate(certificate):
    with serve(type("Handler", (_Scoring,), {"answers": [JSON_OK], "received": []}), certificate) as url:
        settings = {"HEALTH_URL": f"{url}/", "HEALTH_ATTEMPTS": "1", "HEALTH_INTERVAL_SECONDS": "0"}
        score = {"SCORE_URL": f"{url}/score", "SCORE_REQUEST": '{"data": []}'}
        trusted = probe_with({**settings, **score, "SSL_CERT_FILE": str(certificate[0])})
        untrusted = probe_with({**settings, **score, "SSL_CERT_FILE": None})
        lines: list[str] = []
        scored_untrusted = smoke_score(f"{url}/score", b"{}", 1, 0, log=lines.append)
    # The scoring request verifies the certificate too, not only the health request.
    assert scored_untrusted is False and "CERTIFICATE_VERIFY_FAILED" in lines[0]
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "scored:" in trusted.stdout
    # A certificate the machine does not trust fails the check: verification stays on.
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout
