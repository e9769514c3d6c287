"""Waits, bounded, until a service connection can list given secrets of a Key Vault.

A Key Vault-linked variable group is only created when, at that moment, the provider can
list the vault's secrets through the service connection and finds every linked one
enabled. That needs the secret, the connection's federated credential and its Key Vault
role, and Azure documents up to ten minutes before a new role assignment takes effect on a
vault. So the shared stack runs `python3 -m commands.key_vault_link_probe` (a
pulumi-command resource) between those and the group: it asks Azure DevOps exactly what the
provider asks (the service endpoint proxy's `AzureKeyVaultSecrets` data source, paged with
`AzureKeyVaultSecretsWithSkipToken`) until the answer lists the secrets, and fails the
update with the last answer when the attempts run out.

Standard library only. Settings from the environment: AZDO_ORG_SERVICE_URL,
AZDO_PROJECT_ID, SERVICE_CONNECTION_ID, KEY_VAULT_NAME, SECRET_NAMES (comma-separated),
PROBE_ATTEMPTS, PROBE_INTERVAL_SECONDS, and AZDO_PERSONAL_ACCESS_TOKEN (inherited from
`pulumi up`, never stored in state). Only secret names are read, never values.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from typing import Any

API_VERSION = "7.1-preview.1"
# The provider's key_vault.search_depth default: pages it reads after the first.
SEARCH_DEPTH = 20


class ProbeError(Exception):
    pass


class EndpointProxy:
    """Azure DevOps' service endpoint proxy for one project and service connection."""

    def __init__(self, organization_url: str, project_id: str, endpoint_id: str, token: str):
        self.url = (
            f"{organization_url.rstrip('/')}/{project_id}/_apis/serviceendpoint/endpointproxy"
            f"?endpointId={urllib.parse.quote(endpoint_id)}&api-version={API_VERSION}"
        )
        self.auth = "Basic " + base64.b64encode(f":{token}".encode()).decode()

    def secrets_page(self, vault: str, skip_token: str = "") -> tuple[list[dict[str, Any]], str]:
        """One page of the vault's secrets (metadata only) and the token of the next."""
        parameters = {"KeyVaultName": vault}
        source = "AzureKeyVaultSecrets"
        if skip_token:
            parameters["SkipToken"] = skip_token
            source = "AzureKeyVaultSecretsWithSkipToken"
        body = {
            "dataSourceDetails": {"dataSourceName": source, "parameters": parameters},
            "resultTransformationDetails": {},
        }
        request = urllib.request.Request(
            self.url,
            method="POST",
            data=json.dumps(body).encode(),
            headers={"Authorization": self.auth, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read().decode() or "{}")
        if str(answer.get("statusCode", "")).lower() != "ok":
            raise ProbeError(f"{answer.get('statusCode')}: {answer.get('errorMessage')}")
        listed = json.loads((answer.get("result") or ["{}"])[0])
        next_link = listed.get("nextLink") or ""
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(next_link).query).get("$skiptoken", [""])[0]
        return list(listed.get("value") or []), token


def enabled_secrets(proxy: EndpointProxy, vault: str, wanted: Iterable[str], depth: int = SEARCH_DEPTH) -> set[str]:
    """The wanted secrets the provider would find enabled, paging as it does."""
    missing, found, token = set(wanted), set(), ""
    for _ in range(depth + 1):
        page, token = proxy.secrets_page(vault, token)
        for secret in page:
            name = str(secret.get("id", "")).rstrip("/").rsplit("/", 1)[-1]
            if name in missing and (secret.get("attributes") or {}).get("enabled"):
                found.add(name)
        missing -= found
        if not missing or not token:
            break
    return found


def wait_for(
    proxy: EndpointProxy,
    vault: str,
    wanted: Sequence[str],
    attempts: int,
    interval_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Polls until every wanted secret is listed; returns the attempt that saw them."""
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            missing = set(wanted) - enabled_secrets(proxy, vault, wanted)
            if not missing:
                return attempt
            last = f"not listed yet: {', '.join(sorted(missing))}"
        except (ProbeError, urllib.error.URLError, ValueError) as error:
            last = str(error)
        print(f"attempt {attempt}/{attempts}: {last}", flush=True)
        if attempt < attempts:
            sleep(interval_seconds)
    raise ProbeError(
        f"the service connection cannot list {', '.join(wanted)} in {vault} after {attempts} attempts: {last}"
    )


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    proxy = EndpointProxy(
        env["AZDO_ORG_SERVICE_URL"],
        env["AZDO_PROJECT_ID"],
        env["SERVICE_CONNECTION_ID"],
        env["AZDO_PERSONAL_ACCESS_TOKEN"],
    )
    wanted = [name for name in env["SECRET_NAMES"].split(",") if name]
    try:
        attempt = wait_for(
            proxy, env["KEY_VAULT_NAME"], wanted, int(env["PROBE_ATTEMPTS"]), float(env["PROBE_INTERVAL_SECONDS"])
        )
    except ProbeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"the service connection lists {', '.join(wanted)} (attempt {attempt})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
