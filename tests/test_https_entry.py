"""prod over HTTPS only: the application routing add-on, the Ingress the release publishes,
the add-on's certificate grant on the shared Key Vault, and the controller's closed HTTP port."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace

import jsonschema
import pytest
import yaml

from components import roles
from components.serving.aks import KEY_VAULT_SECRETS_PROVIDER, _app_routing_object_id
from components.serving.engine_release import CHART_PATH
from components.serving.ingress import (
    CONTROLLER_API_VERSION,
    CONTROLLER_KIND,
    DEFAULT_CONTROLLER,
    FORCE_SSL_REDIRECT_ANNOTATION,
    INGRESS_CLASS,
    KEY_VAULT_CERTIFICATE_ANNOTATION,
    KEY_VAULT_HOST_SUFFIX,
    TLS_SECRET_PREFIX,
)
from offline.evaluate import ROOT, mock_app_routing_identity, stack_config
from tests.conftest import deploy, prod_aks

CHART = ROOT / CHART_PATH
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "azure-native:containerservice:ManagedCluster"
GRANT = "azure-native:authorization:RoleAssignment"
PATCH = f"kubernetes:{CONTROLLER_API_VERSION}:{CONTROLLER_KIND}Patch"
PROBE = "command:local:Command"
ZONE = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-digitre-prod/providers/Microsoft.Network/dnszones/digitre.com"
# What Pulumi.prod.yaml sets.
HOST = "engine.digitre.com"
CERTIFICATE = "estimation-engine-tls"


@pytest.fixture(scope="module")
def prod(served):
    return served["prod"]


def grants(run) -> dict[str, list]:
    by_role: dict[str, list] = {}
    for grant in run.of_type(GRANT):
        by_role.setdefault(grant.inputs["roleDefinitionId"].rsplit("/", 1)[1], []).append(grant)
    return by_role


def addon_object_id(run) -> str:
    """The add-on identity the mocked cluster reports (the deployer's grant is scoped to the cluster)."""
    (admin,) = grants(run)[roles.AKS_RBAC_CLUSTER_ADMIN]
    return mock_app_routing_identity(admin.inputs["scope"])["objectId"]


def test_the_add_on_names_are_the_ones_microsoft_documents():
    assert INGRESS_CLASS == "webapprouting.kubernetes.azure.com"
    assert KEY_VAULT_CERTIFICATE_ANNOTATION == "kubernetes.azure.com/tls-cert-keyvault-uri"
    assert TLS_SECRET_PREFIX == "keyvault-"
    assert (CONTROLLER_API_VERSION, CONTROLLER_KIND, DEFAULT_CONTROLLER) == (
        "approuting.kubernetes.azure.com/v1alpha1",
        "NginxIngressController",
        "default",
    )
    assert FORCE_SSL_REDIRECT_ANNOTATION == "nginx.ingress.kubernetes.io/force-ssl-redirect"
    assert KEY_VAULT_SECRETS_PROVIDER == "azureKeyvaultSecretsProvider"
    assert KEY_VAULT_HOST_SUFFIX == ".vault.azure.net"


def test_the_cluster_runs_the_application_routing_add_on_with_the_key_vault_provider(prod):
    cluster = prod.one(CLUSTER)
    assert cluster.inputs["ingressProfile"] == {"webAppRouting": {"enabled": True}}
    assert cluster.inputs["addonProfiles"][KEY_VAULT_SECRETS_PROVIDER] == {
        "enabled": True,
        "config": {"enableSecretRotation": "true"},
    }


def test_the_release_is_published_only_by_its_https_ingress(prod, shared):
    values = prod.one(RELEASE).inputs["values"]
    assert values["service"] == {"type": "ClusterIP", "port": 80}
    assert values["ingress"] == {
        "className": INGRESS_CLASS,
        "host": HOST,
        "keyVaultCertificateUri": f"https://{shared.outputs['keyVaultName']}.vault.azure.net/certificates/{CERTIFICATE}",
    }
    jsonschema.validate(values, SCHEMA)


def test_the_host_and_certificate_come_from_config(shared):
    ingress = {"host": "price.example.org", "certificateName": "price-tls"}
    run = deploy("prod", shared, overrides=prod_aks(ingress=ingress))
    assert run.error is None, run.error
    values = run.one(RELEASE).inputs["values"]["ingress"]
    assert values["host"] == "price.example.org"
    assert values["keyVaultCertificateUri"].endswith("/certificates/price-tls")
    assert run.outputs["healthUrl"] == "https://price.example.org/"


def test_health_check_and_scoring_url_use_https_on_the_host(prod):
    assert prod.outputs["healthUrl"] == f"https://{HOST}/"
    assert prod.outputs["scoringUrl"] == f"https://{HOST}/score"
    assert prod.named("health-check-probe").inputs["environment"]["HEALTH_URL"] == f"https://{HOST}/"
    assert "http://" not in json.dumps(prod.outputs)


def test_the_add_on_identity_reads_the_certificate_in_the_shared_vault_before_the_release(prod, shared):
    (grant,) = grants(prod)[roles.KEY_VAULT_CERTIFICATE_USER]
    assert grant.inputs["scope"] == shared.outputs["keyVaultId"]
    assert grant.inputs["principalId"] == addon_object_id(prod)
    assert grant.inputs["principalType"] == "ServicePrincipal"
    assert grant.inputs["roleDefinitionId"].startswith("/subscriptions/")
    assert grant.urn in prod.one(RELEASE).depends_on
    # Read-only, on the vault alone; no DNS zone configured, so no DNS grant.
    assert roles.DNS_ZONE_CONTRIBUTOR not in grants(prod)
    assert roles.KEY_VAULT_ADMINISTRATOR not in grants(prod)


def test_the_controller_answers_no_plain_http_and_is_checked_after_it(prod):
    patch = prod.one(PATCH)
    assert patch.inputs == {
        "apiVersion": CONTROLLER_API_VERSION,
        "kind": CONTROLLER_KIND,
        "metadata": {"name": DEFAULT_CONTROLLER},
        "spec": {"httpDisabled": True},
    }
    # The add-on makes the default controller: patch it once the release has rolled out.
    assert prod.one(RELEASE).urn in patch.depends_on
    assert patch.urn in prod.named("health-check-probe").depends_on


@pytest.mark.parametrize("model", ["served", "nothing yet"])
def test_the_patch_waits_for_the_add_on_and_its_effect_is_proven(model, prod, runs):
    """The add-on's operator makes its CRD and the `default` controller on its own after the
    cluster exists; a patch sent before that fails (no CRD) or is refused (a server-side apply
    would create the controller without its required fields). And an operator older than the
    field would drop `httpDisabled` silently: the controller's Service is checked afterwards."""
    run = prod if model == "served" else runs["prod"]
    patch = run.one(PATCH)
    present = run.named("ingress-controller-present")
    https_only = run.named("ingress-controller-https-only")
    provider = run.one("pulumi:providers:kubernetes")
    for wait, expect in ((present, "present"), (https_only, "https-only")):
        assert wait.type == PROBE
        assert wait.inputs["create"] == "python3 -m commands.ingress_controller"
        assert wait.inputs["environment"] == {
            "CONTROLLER_EXPECT": expect,
            "CONTROLLER_ATTEMPTS": "40",
            "CONTROLLER_INTERVAL_SECONDS": "15",
        }
        assert wait.inputs["stdin"] == provider.inputs["kubeconfig"]
        assert wait.is_secret("stdin") and "stdin" in wait.additional_secret_outputs
        assert wait.inputs["triggers"][0].endswith("/aks-digitre-prod")
    assert present.urn in patch.depends_on
    assert patch.urn in https_only.depends_on
    if model == "served":
        assert run.one(RELEASE).urn in present.depends_on
        assert https_only.urn in run.named("health-check-probe").depends_on


def test_a_preview_declares_the_patch_and_its_waits(shared):
    # pulumi-command runs no local command in a preview, and pulumi-kubernetes does not send a
    # Patch resource to the cluster then: a preview never needs the add-on's CRD to exist.
    run = deploy("prod", shared, preview=True)
    assert run.error is None, run.error
    assert run.one(PATCH).inputs["spec"] == {"httpDisabled": True}
    assert run.named("ingress-controller-present").type == PROBE
    assert run.named("ingress-controller-https-only").type == PROBE


def test_before_any_model_the_grant_is_made_and_the_port_closed(runs):
    run = runs["prod"]
    assert run.of_type(RELEASE) == []
    patch = run.one(PATCH)
    assert patch.inputs["spec"] == {"httpDisabled": True}
    cluster_grants = {g.urn for role in (roles.AKS_RBAC_CLUSTER_ADMIN, roles.ACR_PULL) for g in grants(run)[role]}
    assert cluster_grants <= set(patch.depends_on)
    (grant,) = grants(run)[roles.KEY_VAULT_CERTIFICATE_USER]
    assert grant.inputs["principalId"] == addon_object_id(run)


def test_a_dns_zone_is_attached_to_the_add_on_and_granted(shared):
    config, _ = stack_config("prod")
    ingress = {**json.loads(config["digitre-mlops:aks"])["ingress"], "dnsZoneId": ZONE}
    run = deploy("prod", shared, overrides=prod_aks(ingress=ingress))
    assert run.error is None, run.error
    routing = run.one(CLUSTER).inputs["ingressProfile"]["webAppRouting"]
    assert routing == {"enabled": True, "dnsZoneResourceIds": [ZONE]}
    (dns,) = grants(run)[roles.DNS_ZONE_CONTRIBUTOR]
    assert dns.inputs["scope"] == ZONE
    assert dns.inputs["principalId"] == addon_object_id(run)
    assert dns.urn in run.one(RELEASE).depends_on


def test_an_existing_cluster_must_already_run_the_add_on():
    def profile(routing):
        return SimpleNamespace(web_app_routing=routing)

    enabled = SimpleNamespace(enabled=True, identity=SimpleNamespace(object_id="oid"))
    assert _app_routing_object_id(profile(enabled)) == "oid"
    for missing in (
        None,
        SimpleNamespace(enabled=False, identity=None),
        SimpleNamespace(enabled=True, identity=None),
    ):
        with pytest.raises(ValueError, match="no application routing add-on identity"):
            _app_routing_object_id(profile(missing))
    with pytest.raises(ValueError, match="az aks approuting enable"):
        _app_routing_object_id(None)


def test_the_chart_ingress_uses_the_add_on_names():
    text = (CHART / "templates" / "ingress.yaml").read_text()
    assert f"{KEY_VAULT_CERTIFICATE_ANNOTATION}: {{{{ .Values.ingress.keyVaultCertificateUri | quote }}}}" in text
    assert f'{FORCE_SSL_REDIRECT_ANNOTATION}: "true"' in text
    # The TLS Secret is the one the add-on fills for this Ingress: prefix + the Ingress's name.
    assert "  name: {{ $fullname }}\n" in text
    assert f"secretName: {TLS_SECRET_PREFIX}{{{{ $fullname }}}}" in text
    assert "ingressClassName: {{ .Values.ingress.className }}" in text
    assert "pathType: Exact" in text and "Prefix" not in text
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert defaults["ingress"]["className"] == INGRESS_CLASS
    assert defaults["service"]["type"] == "ClusterIP"
    assert SCHEMA["properties"]["ingress"]["properties"]["className"] == {"enum": [INGRESS_CLASS]}
    assert SCHEMA["properties"]["service"]["properties"]["type"] == {"enum": ["ClusterIP"]}


def test_the_pinned_sdk_exposes_the_add_on_and_its_identity():
    # The fields components/serving/aks.py sets and reads, in the installed pulumi-azure-native.
    from pulumi_azure_native.containerservice import ManagedClusterIngressProfileWebAppRoutingArgs, outputs

    args = inspect.signature(ManagedClusterIngressProfileWebAppRoutingArgs).parameters
    assert {"enabled", "dns_zone_resource_ids", "nginx"} <= set(args)
    assert isinstance(outputs.ManagedClusterIngressProfileWebAppRoutingResponse.identity, property)
    assert isinstance(outputs.UserAssignedIdentityManagedClusterResponse.object_id, property)


def test_the_pinned_sdk_cannot_enable_the_gateway_api_successor_yet():
    # Microsoft ends managed NGINX support after November 2026 (README: support horizon). When an
    # upgraded SDK can enable the add-on's Gateway API implementation, this fails: migrate then.
    from pulumi_azure_native.containerservice import (
        ManagedClusterIngressProfileArgs,
        ManagedClusterIngressProfileWebAppRoutingArgs,
    )

    settings = {
        *inspect.signature(ManagedClusterIngressProfileArgs).parameters,
        *inspect.signature(ManagedClusterIngressProfileWebAppRoutingArgs).parameters,
    }
    assert not {name for name in settings if "gateway" in name or "istio" in name}
