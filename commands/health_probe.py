"""Wait until a model endpoint answers its health route, then prove that it scores.

Run by the post-deploy health check (`python3 -m commands.health_probe`) on the machine
running `pulumi up`; standard library only, so it needs nothing installed. Settings come
from the environment:

- HEALTH_URL (required): the health route, http:// or https://.
- HEALTH_ATTEMPTS (1..60, default 20), HEALTH_INTERVAL_SECONDS (0..60, default 15).
- SCORE_URL and SCORE_REQUEST (both or neither): the scoring route and a sample request
  (JSON). Once healthy, the sample is posted and the check passes only on a 2xx answer
  whose body is JSON: a model that cannot score fails the update.

Exit 0 when healthy (and scoring), 1 when not, 2 on a bad setting (one line on stderr).
HTTPS certificates are verified against the system's trust store.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from commands.polling import poll

# Gateways answer these while a rollout or a load balancer catches up: worth another try.
# Anything else from the scoring route is the model's own answer.
TRANSIENT_STATUSES = frozenset({502, 503, 504})
# Enough for any prediction; a larger answer is not what a sample request should produce.
MAX_ANSWER_BYTES = 1 << 20
MAX_SAMPLE_BYTES = 16 << 10


class SettingsError(ValueError):
    """A setting the probe cannot work with; its message is the one line the user sees."""


@dataclass(frozen=True)
class Settings:
    health_url: str
    attempts: int
    interval: float
    score_url: str | None = None
    sample: bytes | None = None


def settings_from(environ: Mapping[str, str]) -> Settings:
    health_url = _url(environ, "HEALTH_URL")
    if health_url is None:
        raise SettingsError("HEALTH_URL is not set: it must be the endpoint's http(s) health URL")
    attempts = _number(environ, "HEALTH_ATTEMPTS", "20", int, 1, 60)
    interval = _number(environ, "HEALTH_INTERVAL_SECONDS", "15", float, 0, 60)
    score_url = _url(environ, "SCORE_URL")
    raw_sample = environ.get("SCORE_REQUEST")
    if (score_url is None) != (raw_sample is None):
        raise SettingsError("SCORE_URL and SCORE_REQUEST go together: set both or neither")
    sample = None if raw_sample is None else _sample(raw_sample)
    return Settings(health_url, int(attempts), float(interval), score_url, sample)


def _url(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and value == value.strip()
        _ = parts.port  # an out-of-range or non-numeric port raises here, not mid-probe
    except ValueError:
        valid = False
    if not valid:
        raise SettingsError(f"{name} must be an http:// or https:// URL with a host, got {value!r}")
    return value


def _number(
    environ: Mapping[str, str], name: str, default: str, kind: type[int] | type[float], low: int, high: int
) -> float:
    value = environ.get(name, default)
    try:
        number = kind(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        noun = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name} must be {noun} {low}..{high}, got {value!r}")
    return number


def _sample(value: str) -> bytes:
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise SettingsError(f"SCORE_REQUEST must be JSON: {error}") from None
    if not isinstance(parsed, dict | list):
        raise SettingsError("SCORE_REQUEST must be a JSON object or array")
    body = value.encode()
    if len(body) > MAX_SAMPLE_BYTES:
        raise SettingsError(f"SCORE_REQUEST must be at most {MAX_SAMPLE_BYTES} bytes, got {len(body)}")
    return body


def probe(url: str, timeout: float) -> str | None:
    """None when the endpoint answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return str(getattr(error, "reason", error))


def wait_healthy(
    url: str,
    attempts: int,
    interval: float,
    *,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> bool:
    def attempt(label: str) -> bool:
        problem = probe(url, timeout)
        if problem is None:
            log(f"healthy: {url} ({label})")
            return True
        log(f"not healthy yet: {url}: {problem} ({label})")
        return False

    return poll(attempts, interval, attempt, sleep)


@dataclass(frozen=True)
class Answer:
    """What the scoring route made of the sample: `problem` is None when it scored."""

    problem: str | None
    transient: bool = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body, which would "score" an
    # empty request: a redirect is reported instead.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_POST = urllib.request.build_opener(_NoRedirect)


def score(url: str, sample: bytes, timeout: float) -> Answer:
    """Post the sample; it scored when the answer is 2xx and its body is JSON."""
    request = urllib.request.Request(
        url, data=sample, method="POST", headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with _POST.open(request, timeout=timeout) as response:
            status, body = response.status, response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as error:
        where = f" to {error.headers.get('Location')}" if 300 <= error.code < 400 else ""
        return Answer(f"HTTP {error.code}{where}", transient=error.code in TRANSIENT_STATUSES)
    except (urllib.error.URLError, OSError) as error:
        return Answer(str(getattr(error, "reason", error)), transient=True)
    if not 200 <= status < 300:
        return Answer(f"HTTP {status}", transient=status in TRANSIENT_STATUSES)
    if len(body) > MAX_ANSWER_BYTES:
        return Answer(f"HTTP {status} with an answer over {MAX_ANSWER_BYTES} bytes")
    try:
        json.loads(body)
    except ValueError:
        return Answer(f"HTTP {status} but the answer is not JSON: {body[:80]!r}")
    return Answer(None)


def smoke_score(
    url: str,
    sample: bytes,
    attempts: int,
    interval: float,
    *,
    timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> bool:
    """Score the sample; retry only what a gateway or the network caused."""

    def attempt(label: str) -> bool | None:
        answer = score(url, sample, timeout)
        if answer.problem is None:
            log(f"scored: {url} answered the sample request with JSON ({label})")
            return True
        log(f"cannot score: {url}: {answer.problem} ({label})")
        return False if answer.transient else None

    return poll(attempts, interval, attempt, sleep)


def main(environ: Mapping[str, str] | None = None) -> int:
    try:
        settings = settings_from(os.environ if environ is None else environ)
    except SettingsError as error:
        print(f"health_probe: {error}", file=sys.stderr)
        return 2
    if not wait_healthy(settings.health_url, settings.attempts, settings.interval):
        print(f"unhealthy after {settings.attempts} attempts: {settings.health_url}", file=sys.stderr)
        return 1
    if settings.score_url is None or settings.sample is None:
        return 0
    if not smoke_score(settings.score_url, settings.sample, settings.attempts, settings.interval):
        print(f"the model does not score the sample request: {settings.score_url}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
