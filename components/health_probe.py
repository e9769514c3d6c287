"""Wait until a model endpoint answers its health route, or fail.

Run by the post-deploy health check (`python3 -m components.health_probe`) on the machine
running `pulumi up`; standard library only, so it needs nothing installed. Settings come
from the environment: HEALTH_URL, HEALTH_ATTEMPTS, HEALTH_INTERVAL_SECONDS.
Exit 0 when healthy, 1 when every attempt failed.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable


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
    for attempt in range(1, attempts + 1):
        problem = probe(url, timeout)
        if problem is None:
            log(f"healthy: {url} (attempt {attempt}/{attempts})")
            return True
        log(f"not healthy yet: {url}: {problem} (attempt {attempt}/{attempts})")
        if attempt < attempts:
            sleep(interval)
    return False


def main() -> int:
    url = os.environ["HEALTH_URL"]
    if not url.startswith(("http://", "https://")):
        print(f"HEALTH_URL must be an http(s) URL, got {url!r}", file=sys.stderr)
        return 2
    attempts = int(os.environ.get("HEALTH_ATTEMPTS", "20"))
    interval = float(os.environ.get("HEALTH_INTERVAL_SECONDS", "15"))
    if wait_healthy(url, attempts, interval):
        return 0
    print(f"unhealthy after {attempts} attempts: {url}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
