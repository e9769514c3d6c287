"""The bounded wait before the Key Vault-linked variable group: the same endpoint-proxy
request the azuredevops provider makes, against a loopback stand-in for Azure DevOps."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest

from commands import key_vault_link_probe as probe
from tests.support.loopback import JsonHandler, serve

VAULT = "kvdigitreshared42fe68"


def secret(name: str, enabled: bool = True) -> dict[str, Any]:
    return {"id": f"https://{VAULT}.vault.azure.net/secrets/{name}", "attributes": {"enabled": enabled}}


class FakeEndpointProxy(JsonHandler):
    # One answer per request, in order (the last one repeats).
    answers: ClassVar[list[dict[str, Any]]] = []
    requests: ClassVar[list[tuple[str, dict[str, Any], str]]] = []

    def do_POST(self) -> None:
        self.requests.append((self.path, self.read_json(), self.headers["Authorization"]))
        self.answer(self.answers[min(len(self.requests), len(self.answers)) - 1])


def listed(*secrets: dict[str, Any], next_token: str = "") -> dict[str, Any]:
    page: dict[str, Any] = {"value": list(secrets)}
    if next_token:
        page["nextLink"] = f"https://{VAULT}.vault.azure.net:443/secrets?api-version=7.0&$skiptoken={next_token}"
    return {"statusCode": "ok", "result": [json.dumps(page)]}


FORBIDDEN = {"statusCode": "forbidden", "errorMessage": "Caller is not authorized to perform action on resource."}


@contextmanager
def proxy(*answers: dict[str, Any]) -> Iterator[probe.EndpointProxy]:
    FakeEndpointProxy.answers = list(answers)
    FakeEndpointProxy.requests = []
    with serve(FakeEndpointProxy) as url:
        yield probe.EndpointProxy(url, "project-1", "endpoint-1", "pat")


def test_it_asks_what_the_provider_asks():
    with proxy(listed(secret("sendgrid-api-key"))) as client:
        assert probe.wait_for(client, VAULT, ["sendgrid-api-key"], attempts=1, interval_seconds=0) == 1
    ((path, body, auth),) = FakeEndpointProxy.requests
    assert path == "/project-1/_apis/serviceendpoint/endpointproxy?endpointId=endpoint-1&api-version=7.1-preview.1"
    assert body["dataSourceDetails"] == {
        "dataSourceName": "AzureKeyVaultSecrets",
        "parameters": {"KeyVaultName": VAULT},
    }
    assert auth == "Basic " + base64.b64encode(b":pat").decode()


def test_it_waits_while_the_role_assignment_propagates():
    slept: list[float] = []
    with proxy(FORBIDDEN, FORBIDDEN, listed(secret("sendgrid-api-key"))) as client:
        attempt = probe.wait_for(
            client, VAULT, ["sendgrid-api-key"], attempts=5, interval_seconds=10, sleep=slept.append
        )
    assert attempt == 3
    assert slept == [10, 10]


def test_a_disabled_or_missing_secret_is_not_enough_and_the_wait_is_bounded():
    slept: list[float] = []
    with (
        proxy(listed(secret("sendgrid-api-key", enabled=False), secret("other"))) as client,
        pytest.raises(probe.ProbeError, match="after 3 attempts: not listed yet: sendgrid-api-key"),
    ):
        probe.wait_for(client, VAULT, ["sendgrid-api-key"], attempts=3, interval_seconds=1, sleep=slept.append)
    assert len(FakeEndpointProxy.requests) == 3
    assert slept == [1, 1]


def test_it_pages_with_the_skip_token_as_the_provider_does():
    with proxy(listed(secret("a"), next_token="page-2"), listed(secret("sendgrid-api-key"))) as client:
        assert probe.enabled_secrets(client, VAULT, ["sendgrid-api-key"]) == {"sendgrid-api-key"}
    second = FakeEndpointProxy.requests[1][1]["dataSourceDetails"]
    assert second == {
        "dataSourceName": "AzureKeyVaultSecretsWithSkipToken",
        "parameters": {"KeyVaultName": VAULT, "SkipToken": "page-2"},
    }


def test_it_reads_no_more_pages_than_the_provider():
    endless = listed(secret("a"), next_token="more")
    with proxy(endless) as client:
        assert probe.enabled_secrets(client, VAULT, ["sendgrid-api-key"]) == set()
    assert len(FakeEndpointProxy.requests) == probe.SEARCH_DEPTH + 1


def test_main_fails_the_update_with_the_last_answer(capsys):
    with proxy(FORBIDDEN) as client:
        env = {
            "AZDO_ORG_SERVICE_URL": client.url.split("/project-1/")[0],
            "AZDO_PROJECT_ID": "project-1",
            "SERVICE_CONNECTION_ID": "endpoint-1",
            "KEY_VAULT_NAME": VAULT,
            "SECRET_NAMES": "sendgrid-api-key",
            "PROBE_ATTEMPTS": "1",
            "PROBE_INTERVAL_SECONDS": "0",
            "AZDO_PERSONAL_ACCESS_TOKEN": "pat",
        }
        assert probe.main(env) == 1
    assert "forbidden: Caller is not authorized" in capsys.readouterr().err
