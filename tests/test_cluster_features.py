"""commands/cluster_features.py, the check that turns the HTTPS entry's implementation on: it
reads the cluster at the API version that has the settings, runs `az aks update` only for what
is missing (only on a cluster made here), reads again, and a second run changes nothing. `az` is
a stand-in that keeps a cluster document on disk, answers `az version`, `az rest` and
`az aks update` as the real one would, and records every call."""

from __future__ import annotations

import json
import os
import shlex
import textwrap
from pathlib import Path

import pytest

from commands import cluster_features
from commands.cluster_features import Feature, missing, version
from components.serving import https_entry
from tests.support.local_command import run_main, run_module

CLUSTER_ID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-digitre-prod/providers/Microsoft.ContainerService/managedClusters/aks-digitre-prod"
FEATURES = [
    {"path": f.path, "value": f.value, "enable": list(f.enable) if f.enable else None}
    for f in https_entry.CLUSTER_FEATURES
]
# What the provider creates (components/serving/aks.py with https_entry.cluster_ingress_profile()).
CREATED = {
    "id": CLUSTER_ID,
    "properties": {
        "oidcIssuerProfile": {"enabled": True, "issuerURL": "https://issuer/"},
        "securityProfile": {"workloadIdentity": {"enabled": True}},
        "addonProfiles": {https_entry.KEY_VAULT_SECRETS_PROVIDER: {"enabled": True}},
        "ingressProfile": {"webAppRouting": {"enabled": True, "nginx": {"defaultIngressControllerType": "None"}}},
    },
}
# What `az aks update <flag>` changes, as Azure would.
EFFECTS = {
    "--enable-gateway-api": ["properties", "ingressProfile", "gatewayAPI", "installation", "Standard"],
    "--enable-app-routing-istio": [
        "properties",
        "ingressProfile",
        "webAppRouting",
        "gatewayAPIImplementations",
        "appRoutingIstio",
        "mode",
        "Enabled",
    ],
}


def _applied(cluster: dict, flags: list[str]) -> dict:
    """The cluster after `az aks update <flag>` for each of `flags`, as Azure would leave it."""
    cluster = json.loads(json.dumps(cluster))
    for flag in flags:
        effect = EFFECTS[flag]
        node = cluster
        for key in effect[:-2]:
            node = node.setdefault(key, {})
        node[effect[-2]] = effect[-1]
    return cluster


def fake_az(folder: Path, cluster: dict, cli: str = "2.86.0", update_fails: bool = False) -> Path:
    """An `az` that answers `version`, `rest` (the cluster as the updates so far left it) and
    `aks update`, and records each call in `folder/calls.log` (see `calls`). A bash script
    that reads the cluster after each set of updates from files written here (bash starts in
    a fraction of Python's time)."""
    flags = list(EFFECTS)
    for n in range(2 ** len(flags)):
        chosen = [flag for i, flag in enumerate(flags) if n >> i & 1]
        (folder / f"cluster{''.join(chosen)}.json").write_text(json.dumps(_applied(cluster, chosen)))
    version = json.dumps({"azure-cli": cli, "azure-cli-core": cli, "extensions": {}})
    script = folder / "az"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/bash
            set -u
            folder={shlex.quote(str(folder))}
            (IFS=$'\\x1f'; printf '%s\\n' "$*") >> "$folder/calls.log"
            touch "$folder/applied"
            if [ "${{1:-}}" = version ]; then
              printf '%s\\n' {shlex.quote(version)}
            elif [ "${{1:-}}" = rest ]; then
              state=""
              for flag in {" ".join(flags)}; do
                if grep -qx -- "$flag" "$folder/applied"; then state="$state$flag"; fi
              done
              cat "$folder/cluster$state.json"
            elif [ "${{1:-}} ${{2:-}}" = "aks update" ]; then
              if {"true" if update_fails else "false"}; then
                echo "(BadRequest) the cluster is busy" >&2
                exit 1
              fi
              for arg in "$@"; do
                case "$arg" in {"|".join(flags)}) echo "$arg" >> "$folder/applied" ;; esac
              done
            else
              exit 2
            fi
            """
        )
    )
    script.chmod(0o755)
    return script


def calls(folder: Path) -> list[list[str]]:
    return [line.split("\x1f") for line in (folder / "calls.log").read_text().splitlines()]


def run(folder: Path, mode: str = "enable", *, process: bool = False, **env: str):
    """The command with the stand-in `az` in `folder`: its `main` in this process, or with
    `process` the real `python -m commands.cluster_features` (one per exit code below)."""
    settings = {
        **os.environ,
        "AZ": str(folder / "az"),
        "CLUSTER_ID": CLUSTER_ID,
        "CLUSTER_API_VERSION": https_entry.CLUSTER_API_VERSION,
        "CLUSTER_FEATURES": json.dumps(FEATURES),
        "CLUSTER_FEATURES_MODE": mode,
        "AZURE_CLI_MINIMUM": https_entry.MINIMUM_AZURE_CLI,
        **env,
    }
    if process:
        return run_module("commands.cluster_features", settings)
    return run_main(lambda: cluster_features.main(settings))


def updates(folder: Path) -> list[list[str]]:
    return [c for c in calls(folder) if c[:2] == ["aks", "update"]]


def test_a_new_cluster_gets_the_gateway_api_then_the_implementation_and_a_second_run_changes_nothing(tmp_path):
    fake_az(tmp_path, CREATED)
    done = run(tmp_path, process=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # Gateway API CRDs first, then the implementation, as Microsoft's migration guide orders them.
    assert updates(tmp_path) == [
        [
            "aks",
            "update",
            "--resource-group",
            "rg-digitre-prod",
            "--name",
            "aks-digitre-prod",
            "--enable-gateway-api",
            "--output",
            "none",
        ],
        [
            "aks",
            "update",
            "--resource-group",
            "rg-digitre-prod",
            "--name",
            "aks-digitre-prod",
            "--enable-app-routing-istio",
            "--output",
            "none",
        ],
    ]
    reads = [c for c in calls(tmp_path) if c[:1] == ["rest"]]
    assert reads[0] == [
        "rest",
        "--method",
        "get",
        "--url",
        f"https://management.azure.com{CLUSTER_ID}?api-version={https_entry.CLUSTER_API_VERSION}",
        "--output",
        "json",
    ]
    (tmp_path / "calls.log").unlink()
    again = run(tmp_path)
    assert again.returncode == 0 and updates(tmp_path) == []
    assert "ready: the cluster has every setting" in again.stdout


def test_what_a_later_update_dropped_is_turned_on_again(tmp_path):
    """The provider's updates at its older API version might drop the settings: the check,
    run again after such an update, restores exactly what is missing."""
    enabled = json.loads(json.dumps(CREATED))
    enabled["properties"]["ingressProfile"]["gatewayAPI"] = {"installation": "Standard"}
    fake_az(tmp_path, enabled)
    done = run(tmp_path)
    assert done.returncode == 0, done.stdout
    assert [u[6] for u in updates(tmp_path)] == ["--enable-app-routing-istio"]


def test_a_looked_up_cluster_is_only_checked_and_the_fix_is_named(tmp_path):
    fake_az(tmp_path, CREATED)
    done = run(tmp_path, mode="require", process=True)
    assert done.returncode == 1
    assert updates(tmp_path) == []
    assert (
        'missing: properties.ingressProfile.gatewayAPI.installation = "Standard" (turn it on with '
        "az aks update --resource-group rg-digitre-prod --name aks-digitre-prod --enable-gateway-api)" in done.stdout
    )
    assert "cluster aks-digitre-prod lacks settings" in done.stderr


def test_a_setting_no_flag_turns_on_fails_by_name(tmp_path):
    no_oidc = json.loads(json.dumps(CREATED))
    no_oidc["properties"]["oidcIssuerProfile"]["enabled"] = False
    fake_az(tmp_path, no_oidc)
    done = run(tmp_path)
    assert done.returncode == 1
    assert "missing: properties.oidcIssuerProfile.enabled = true" in done.stdout


def test_a_failed_update_fails_the_deploy(tmp_path):
    fake_az(tmp_path, CREATED, update_fails=True)
    done = run(tmp_path)
    assert done.returncode == 1
    assert "az aks update --enable-gateway-api failed: (BadRequest) the cluster is busy" in done.stdout


def test_an_azure_cli_older_than_the_minimum_is_refused(tmp_path):
    fake_az(tmp_path, CREATED, cli="2.85.0")
    done = run(tmp_path)
    assert done.returncode == 2
    assert (
        f"Azure CLI 2.85.0 is older than {https_entry.MINIMUM_AZURE_CLI}" in done.stderr and "az upgrade" in done.stderr
    )
    assert [c[0] for c in calls(tmp_path)] == ["version"]


def test_no_azure_cli_is_reported(tmp_path):
    done = run(tmp_path, AZ=str(tmp_path / "none"))
    assert done.returncode == 2 and "Azure CLI (az) is not installed" in done.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"CLUSTER_ID": "aks-digitre-prod"},
        {"CLUSTER_FEATURES_MODE": "maybe"},
        {"CLUSTER_FEATURES": "[{}]"},
        {"AZURE_CLI_MINIMUM": ""},
    ],
)
def test_bad_input_is_refused_with_one_line(tmp_path, env):
    fake_az(tmp_path, CREATED)
    done = run(tmp_path, **env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "calls.log").exists()


def test_the_process_exits_2_with_the_one_line_on_bad_input(tmp_path):
    fake_az(tmp_path, CREATED)
    done = run(tmp_path, CLUSTER_ID="aks-digitre-prod", process=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "CLUSTER_ID must be a managed cluster's resource id, got 'aks-digitre-prod'\n"
    assert not (tmp_path / "calls.log").exists()


def test_versions_compare_numerically_and_settings_by_value():
    assert version("2.86.0") > version("2.9.1") and version("2.100.0") > version("2.86.0")
    created = missing(CREATED, [Feature(f.path, f.value, None) for f in https_entry.CLUSTER_FEATURES])
    assert [f.path for f in created] == [f.path for f in https_entry.CLUSTER_FEATURES if f.enable]
