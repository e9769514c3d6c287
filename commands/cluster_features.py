"""Make sure an AKS cluster has the settings a feature needs, or fail by name.

pulumi-azure-native sends the ManagedCluster at an API version older than some settings
(components/serving/https_entry.py says which, and at which version they are read). This command
reads the cluster at that version with the Azure CLI (`az rest`); for each setting not at its
value it runs the `az aks update` flags that turn it on, one setting at a time, then reads the
cluster again and succeeds only when every setting holds. A setting with no flags, or any
setting in `require` mode (a cluster this program did not create), is only checked. A cluster
that already has everything is left alone: running it again changes nothing.

Run by `pulumi up`'s local command on the machine that runs it, signed in with `az login` (in
the pipelines, the AzureCLI@2 task's session). Standard library only. The environment gives
CLUSTER_ID (the cluster's resource id), CLUSTER_API_VERSION, CLUSTER_FEATURES (JSON: a list of
{"path": "properties.a.b", "value": ..., "enable": ["--flag", ...] or null}),
CLUSTER_FEATURES_MODE (`enable` or `require`), AZURE_CLI_MINIMUM (a version such as 2.86.0)
and AZ (default `az`). Exit 0 when every setting holds, 1 when one does not, 2 on bad input,
no Azure CLI, or one older than the minimum.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AZ = "az"
# Azure Resource Manager in the Azure public cloud, as the rest of this program assumes.
ARM = "https://management.azure.com"
# `az aks update` waits for the cluster's long-running update; minutes are normal.
UPDATE_TIMEOUT_SECONDS = 3600.0
READ_TIMEOUT_SECONDS = 120.0
MODES = ("enable", "require")


@dataclass(frozen=True)
class Feature:
    path: str
    value: object
    enable: tuple[str, ...] | None


@dataclass(frozen=True)
class Settings:
    cluster_id: str
    api_version: str
    features: tuple[Feature, ...]
    mode: str
    minimum_cli: tuple[int, ...]

    @property
    def group_and_name(self) -> tuple[str, str]:
        parts = self.cluster_id.strip("/").split("/")
        return parts[3], parts[7]


# Runs the Azure CLI with these arguments: (exit code, stdout, stderr).
Az = Callable[[Sequence[str], float], tuple[int, str, str]]


def az_runner(az: str) -> Az:
    def run(args: Sequence[str], timeout: float) -> tuple[int, str, str]:
        try:
            done = subprocess.run([az, *args], capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return 1, "", f"no answer within {timeout:.0f} s"
        return done.returncode, done.stdout, done.stderr

    return run


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _lookup(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1][:300]


def missing(cluster: Mapping[str, Any], features: Sequence[Feature]) -> list[Feature]:
    return [f for f in features if _lookup(cluster, f.path) != f.value]


def read_cluster(run: Az, settings: Settings) -> Mapping[str, Any] | str:
    url = f"{ARM}{settings.cluster_id}?api-version={settings.api_version}"
    code, out, err = run(["rest", "--method", "get", "--url", url, "--output", "json"], READ_TIMEOUT_SECONDS)
    if code != 0:
        return f"az rest could not read the cluster: {_last_line(err)}"
    try:
        document = json.loads(out)
    except ValueError:
        return "az rest answered with something that is not JSON"
    return document if isinstance(document, Mapping) else "az rest answered with something that is not an object"


def describe(feature: Feature) -> str:
    return f"{feature.path} = {json.dumps(feature.value)}"


def ensure(run: Az, settings: Settings, log: Callable[[str], None] = print) -> bool:
    cluster = read_cluster(run, settings)
    if isinstance(cluster, str):
        log(cluster)
        return False
    todo = missing(cluster, settings.features)
    if not todo:
        log(f"ready: the cluster has every setting ({len(settings.features)}) at API {settings.api_version}")
        return True
    group, name = settings.group_and_name
    for feature in todo:
        if settings.mode != "enable" or not feature.enable:
            continue
        log(f"turning on {describe(feature)}: az aks update {' '.join(feature.enable)}")
        update = ["aks", "update", "--resource-group", group, "--name", name, *feature.enable, "--output", "none"]
        code, _, err = run(update, UPDATE_TIMEOUT_SECONDS)
        if code != 0:
            log(f"az aks update {' '.join(feature.enable)} failed: {_last_line(err)}")
            return False
    cluster = read_cluster(run, settings)
    if isinstance(cluster, str):
        log(cluster)
        return False
    still = missing(cluster, settings.features)
    for feature in still:
        how = (
            f"az aks update --resource-group {group} --name {name} {' '.join(feature.enable)}" if feature.enable else ""
        )
        log(f"missing: {describe(feature)}" + (f" (turn it on with {how})" if how else ""))
    return not still


def check_cli(run: Az, minimum: tuple[int, ...]) -> str | None:
    code, out, err = run(["version", "--output", "json"], READ_TIMEOUT_SECONDS)
    if code != 0:
        return f"az version failed: {_last_line(err)}"
    try:
        found = str(json.loads(out).get("azure-cli", ""))
    except (ValueError, AttributeError):
        return "az version answered with something that is not JSON"
    if version(found) < minimum:
        wanted = ".".join(str(n) for n in minimum)
        return (
            f"Azure CLI {found or 'of unknown version'} is older than {wanted}, which these settings need: az upgrade"
        )
    return None


def _settings(env: Mapping[str, str]) -> Settings | str:
    cluster_id = env.get("CLUSTER_ID", "")
    parts = cluster_id.strip("/").split("/")
    if len(parts) != 8 or parts[2].lower() != "resourcegroups":
        return f"CLUSTER_ID must be a managed cluster's resource id, got {cluster_id!r}"
    mode = env.get("CLUSTER_FEATURES_MODE", "")
    if mode not in MODES:
        return f"CLUSTER_FEATURES_MODE must be one of {', '.join(MODES)}, got {mode!r}"
    try:
        raw = json.loads(env.get("CLUSTER_FEATURES", ""))
        features = tuple(
            Feature(str(f["path"]), f["value"], tuple(f["enable"]) if f.get("enable") else None) for f in raw
        )
    except (ValueError, TypeError, KeyError):
        return "CLUSTER_FEATURES must be a JSON list of objects with path, value and enable"
    minimum = version(env.get("AZURE_CLI_MINIMUM", ""))
    api_version = env.get("CLUSTER_API_VERSION", "")
    if not features or not minimum or not api_version:
        return "CLUSTER_FEATURES, AZURE_CLI_MINIMUM and CLUSTER_API_VERSION are required"
    return Settings(cluster_id, api_version, features, mode, minimum)


def main(env: Mapping[str, str] | None = None) -> int:
    """The command; `env` is the process's environment unless given (the tests give it)."""
    env = os.environ if env is None else env
    settings = _settings(env)
    if isinstance(settings, str):
        print(settings, file=sys.stderr)
        return 2
    run = az_runner(env.get("AZ", AZ))
    try:
        refused = check_cli(run, settings.minimum_cli)
        if refused is not None:
            print(refused, file=sys.stderr)
            return 2
        if ensure(run, settings):
            return 0
    except FileNotFoundError:
        print("the Azure CLI (az) is not installed: https://aka.ms/installazurecli", file=sys.stderr)
        return 2
    _, name = settings.group_and_name
    print(f"cluster {name} lacks settings its HTTPS entry needs (see above)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
