"""prod: the engine's Helm release, its values against the chart's schema, and the chart."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from components.serving.contract import ServingContract
from components.serving.engine_release import CHART_PATH, chart_values
from offline.evaluate import ROOT
from tests.support.evaluations import CUSTOM_PROD_AKS, CUSTOM_SERVING

CHART = ROOT / CHART_PATH
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def release(served):
    return served["prod"].one(RELEASE)


def test_a_failed_release_rolls_back_and_a_deploy_upgrades_in_place(release):
    """Helm's atomic install and upgrade: a release that fails within its timeout is rolled back
    and what it created is deleted, so the engine keeps serving the last good revision; a deploy
    upgrades the release in place, never replaces it."""
    inputs = release.inputs
    assert (ROOT / inputs["chart"] / "Chart.yaml").is_file()
    assert inputs["atomic"] is True and inputs["cleanupOnFail"] is True
    assert inputs["createNamespace"] is True
    assert "replace" not in inputs and "skipAwait" not in inputs


def test_release_is_deployed_after_the_registry_grant(served, release):
    pull = next(
        r
        for r in served["prod"].of_type("azure-native:authorization:RoleAssignment")
        if r.name.endswith("kubelet-acrpull")
    )
    assert served["prod"].waits_for(release, pull.urn)


def test_release_values_from_stack_config_satisfy_the_chart_schema(release):
    values = release.inputs["values"]
    jsonschema.validate(values, SCHEMA)
    # Requests equal limits: guaranteed QoS.
    assert values["resources"]["requests"] == values["resources"]["limits"]
    assert release.is_secret("values.appInsightsConnectionString")


def test_size_replica_bounds_and_timeout_come_from_config(customised):
    assert {"cpu": 0.5, "memoryGb": 1.5}.items() <= CUSTOM_SERVING["prod"].items()
    assert {"minReplicas": 3, "maxReplicas": 10, "helmTimeoutSeconds": 900}.items() <= CUSTOM_PROD_AKS.items()
    inputs = customised["prod"].one(RELEASE).inputs
    values = inputs["values"]
    jsonschema.validate(values, SCHEMA)
    assert inputs["timeout"] == 900
    # Cores and GiB as Kubernetes quantities.
    assert values["resources"]["requests"] == {"cpu": "500m", "memory": "1536Mi"}
    assert (values["autoscaling"]["minReplicas"], values["autoscaling"]["maxReplicas"]) == (3, 10)
    # A budget of pods that may go, whatever the floor: a drain never waits on it.
    assert values["podDisruptionBudget"] == {"maxUnavailable": 1}


def valid_values() -> dict:
    return chart_values(
        image_repository="crdigitre.azurecr.io/estimation-engine",
        image_tag="estimation-model-7",
        image_digest="sha256:" + "0123456789abcdef" * 4,
        contract=ServingContract(port=5001, health_path="/", score_path="/score"),
        cpu=0.5,
        memory_gb=1.5,
        min_replicas=2,
        max_replicas=4,
        target_cpu_utilization=70,
        app_insights_connection_string="InstrumentationKey=x",
        entry={
            "gateway": {
                "className": "approuting-istio",
                "name": "engine",
                "host": "engine.example.com",
                "tlsOptions": {
                    "kubernetes.azure.com/tls-cert-keyvault-uri": "https://kvexample.vault.azure.net/certificates/engine-tls",
                    "kubernetes.azure.com/tls-cert-service-account": "https-entry",
                },
                "identity": {"serviceAccount": "https-entry", "clientId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
                "dnsZoneResourceIds": [],
            }
        },
    )


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("image", "repository"), ""),
        (("image", "repository"), "docker.io/library/nginx"),
        (("image", "tag"), "-bad"),
        # Only a content digest pins the bytes: no tag, no other algorithm, no missing digest.
        (("image", "digest"), "estimation-model-7"),
        (("image", "digest"), "sha256:" + "0123456789ABCDEF" * 4),
        (("image", "digest"), ""),
        (("containerPort",), 0),
        (("resources", "limits", "memory"), "2GB"),
        (("autoscaling", "minReplicas"), 0),
        (("service", "type"), "NodePort"),
        (("service", "type"), "LoadBalancer"),
        (("gateway",), None),
        (("gateway", "className"), "webapprouting.kubernetes.azure.com"),
        (("gateway", "host"), ""),
        (("gateway", "host"), "https://engine.example.com"),
        # The implementation names its Service `<gateway>-approuting-istio`, under 63 characters.
        (("gateway", "name"), "g" * 47),
        (("gateway", "tlsOptions"), {}),
        (
            ("gateway", "tlsOptions", "kubernetes.azure.com/tls-cert-keyvault-uri"),
            "http://kvexample.vault.azure.net/certificates/engine-tls",
        ),
        # A versioned URI would pin the certificate: a renewal would not be picked up.
        (
            ("gateway", "tlsOptions", "kubernetes.azure.com/tls-cert-keyvault-uri"),
            "https://kvexample.vault.azure.net/certificates/engine-tls/0123456789abcdef0123456789abcdef",
        ),
        (("gateway", "tlsOptions", "insecure"), "true"),
        (("gateway", "identity", "clientId"), "not-a-guid"),
        (("gateway", "dnsZoneResourceIds"), ["digitre.com"]),
        (("unknownKey",), True),
    ],
)
def test_the_schema_rejects_bad_values(path, bad):
    values = copy.deepcopy(valid_values())
    jsonschema.validate(values, SCHEMA)
    target = values
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, SCHEMA)


def test_the_chart_defaults_are_exactly_the_schema_keys():
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(defaults) == set(SCHEMA["properties"])
    # The stack sets every value.
    assert set(SCHEMA["required"]) == set(valid_values()) == set(SCHEMA["properties"])


def templates() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((CHART / "templates").glob("*"))}


def schema_has(dotted: str) -> bool:
    node = SCHEMA
    for part in dotted.split("."):
        if "$ref" in node:
            node = SCHEMA["definitions"][node["$ref"].rsplit("/", 1)[1]]
        node = node.get("properties", {}).get(part)
        if node is None:
            return False
    return True


def test_schema_lookup_follows_refs_and_misses_unknown_keys():
    assert schema_has("resources.limits.cpu")
    assert not schema_has("resources.limits.gpu")
    assert not schema_has("nope")


def test_every_value_a_template_reads_is_in_the_schema():
    used = {m for text in templates().values() for m in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", text)}
    assert {"image.repository", "healthPath", "autoscaling.minReplicas"} <= used
    missing = sorted(dotted for dotted in used if not schema_has(dotted))
    assert missing == [], f"read by templates, absent from values.schema.json: {missing}"


def test_deployment_runs_non_root_read_only_with_probes_and_resources():
    deployment = templates()["deployment.yaml"]
    for needle in (
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        'drop: ["ALL"]',
        "type: RuntimeDefault",
        "livenessProbe:",
        "readinessProbe:",
        "path: {{ .Values.healthPath }}",
        "toYaml .Values.resources",
        "secretKeyRef:",
        "automountServiceAccountToken: false",
    ):
        assert needle in deployment, needle
    assert "appInsightsConnectionString" not in deployment  # only via the Secret


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == Path(CHART_PATH).name
