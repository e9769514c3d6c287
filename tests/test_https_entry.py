"""prod over HTTPS only, through the HTTPS entry (components/serving/https_entry.py): the Gateway
API implementation turned on (and kept on) in the cluster, the entry's identity, its grants and
federated credential, the values it hands the chart, its waits and its HTTPS-only proof."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace

import jsonschema
import pytest

from components import roles
from components.devops.service_connection import TOKEN_EXCHANGE_AUDIENCE as DEVOPS_AUDIENCE
from components.serving import https_entry
from components.serving.aks import _oidc_issuer_url
from components.serving.engine_release import CHART_PATH
from offline.evaluate import ROOT, mock_issuer
from tests.support import ledger
from tests.support.evaluations import CUSTOM_PROD_AKS, PROD_ZONE

CHART = ROOT / CHART_PATH
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER = "azure-native:containerservice:ManagedCluster"
GRANT = "azure-native:authorization:RoleAssignment"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
COMMAND = "command:local:Command"
SECTION = "AKS, Kubernetes and Helm"
ZONE = PROD_ZONE
# What Pulumi.prod.yaml sets.
HOST = "engine.digitre.com"
CERTIFICATE = "estimation-engine-tls"
NAMESPACE = "estimation-engine"


@pytest.fixture(scope="module")
def prod(served):
    return served["prod"]


def grants(run) -> dict[str, list]:
    by_role: dict[str, list] = {}
    for grant in run.of_type(GRANT):
        by_role.setdefault(grant.inputs["roleDefinitionId"].rsplit("/", 1)[1], []).append(grant)
    return by_role


def entry(run):
    return run.one(https_entry.TYPE)


def row(words: str) -> ledger.Row:
    (found,) = [r for r in ledger.rows(SECTION) if words in r.fact]
    return found


def test_the_implementation_names_are_the_ones_microsoft_documents():
    documented = ledger.quoted(row("application routing add-on's Gateway API implementation").fact)
    assert https_entry.GATEWAY_CLASS in documented
    assert https_entry.MINIMUM_AZURE_CLI in documented
    for feature in https_entry.CLUSTER_FEATURES:
        for flag in feature.enable or ():
            assert f"az aks update {flag}" in documented, flag
    tls = ledger.quoted(row("listener `tls.options`").fact)
    assert {
        https_entry.KEY_VAULT_URI_OPTION,
        https_entry.SERVICE_ACCOUNT_OPTION,
        https_entry.KEY_VAULT_SECRETS_PROVIDER,
    } <= set(tls)
    service = ledger.quoted(row("Deployment and Service").fact)
    assert f"{https_entry.GATEWAY_NAME}-{https_entry.GATEWAY_CLASS}" == https_entry.PUBLIC_SERVICE
    assert f"<gateway>-{https_entry.GATEWAY_CLASS}" in service and str(https_entry.STATUS_PORT) in service
    assert https_entry.KEY_VAULT_HOST_SUFFIX == ".vault.azure.net"
    # One audience for every federated credential in Entra ID.
    assert https_entry.TOKEN_EXCHANGE_AUDIENCE == DEVOPS_AUDIENCE
    assert https_entry.TOKEN_EXCHANGE_AUDIENCE in ledger.quoted(
        row("federated credential for a Kubernetes service account").fact
    )


def test_the_cluster_settings_are_the_apis_own():
    """The settings the check reads, at the version that first has them, as the stable API
    spec names them (the ledger row quotes them from the spec)."""
    documented = ledger.quoted(row("stable ManagedCluster API").fact)
    assert https_entry.CLUSTER_API_VERSION in documented
    needed = {f.path.removeprefix("properties."): f.value for f in https_entry.CLUSTER_FEATURES if f.enable}
    assert needed == {
        "ingressProfile.gatewayAPI.installation": "Standard",
        "ingressProfile.webAppRouting.gatewayAPIImplementations.appRoutingIstio.mode": "Enabled",
    }
    for path, value in needed.items():
        assert path in documented and value in documented
    # What the DNS and TLS integration needs besides: checked, never turned on by the check.
    required = {f.path for f in https_entry.CLUSTER_FEATURES if not f.enable}
    assert required == {
        "properties.ingressProfile.webAppRouting.enabled",
        "properties.oidcIssuerProfile.enabled",
        "properties.securityProfile.workloadIdentity.enabled",
        f"properties.addonProfiles.{https_entry.KEY_VAULT_SECRETS_PROVIDER}.enabled",
    }


def test_the_pinned_sdk_cannot_send_the_implementations_settings():
    # Why a check with the Azure CLI turns them on: the installed SDK's ManagedCluster (API
    # 2025-09-01) has no field for them. When an upgraded SDK has, this fails: declare them on
    # the cluster then, and drop the check's `enable` flags.
    from pulumi_azure_native.containerservice import (
        ManagedClusterIngressProfileArgs,
        ManagedClusterIngressProfileWebAppRoutingArgs,
        managed_cluster,
    )

    settings = {
        *inspect.signature(ManagedClusterIngressProfileArgs).parameters,
        *inspect.signature(ManagedClusterIngressProfileWebAppRoutingArgs).parameters,
    }
    assert not {name for name in settings if "gateway" in name or "istio" in name}
    assert "Uses Azure REST API version 2025-09-01" in inspect.getsource(managed_cluster)
    assert "2025-09-01" in row("pulumi-azure-native 3.29.0").fact


def test_the_cluster_runs_the_add_on_without_its_nginx_and_with_the_key_vault_provider(prod):
    cluster = prod.one(CLUSTER)
    # No default NGINX controller, so no public load balancer of its own; no zone on the add-on's
    # identity (the entry keeps DNS with its own identity).
    assert cluster.inputs["ingressProfile"] == {
        "webAppRouting": {"enabled": True, "nginx": {"defaultIngressControllerType": "None"}}
    }
    assert cluster.inputs["addonProfiles"][https_entry.KEY_VAULT_SECRETS_PROVIDER] == {
        "enabled": True,
        "config": {"enableSecretRotation": "true"},
    }
    assert cluster.inputs["oidcIssuerProfile"] == {"enabled": True}
    assert cluster.inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}


def test_the_default_nginx_controller_is_never_created(prod):
    from pulumi_azure_native.containerservice import NginxIngressControllerType

    assert NginxIngressControllerType.NONE.value == "None"
    assert "`None`" in row("default NGINX").fact
    routing = prod.one(CLUSTER).inputs["ingressProfile"]["webAppRouting"]
    assert routing["nginx"] == {"defaultIngressControllerType": NginxIngressControllerType.NONE.value}


def test_the_release_renders_the_entrys_gateway_and_nothing_public_of_its_own(prod, shared):
    values = prod.one(RELEASE).inputs["values"]
    assert values["service"] == {"type": "ClusterIP", "port": 80}
    identity = prod.one(IDENTITY)
    assert values["gateway"] == {
        "className": https_entry.GATEWAY_CLASS,
        "name": https_entry.GATEWAY_NAME,
        "host": HOST,
        "tlsOptions": {
            https_entry.KEY_VAULT_URI_OPTION: f"https://{shared.outputs['keyVaultName']}.vault.azure.net/certificates/{CERTIFICATE}",
            https_entry.SERVICE_ACCOUNT_OPTION: https_entry.SERVICE_ACCOUNT,
        },
        "identity": {"serviceAccount": https_entry.SERVICE_ACCOUNT, "clientId": identity.outputs["clientId"]},
        "dnsZoneResourceIds": [],
    }
    assert "ingress" not in values and "networkPolicy" not in values
    jsonschema.validate(values, SCHEMA)


def test_the_host_and_certificate_come_from_config(customised):
    ingress = CUSTOM_PROD_AKS["ingress"]
    assert (ingress["host"], ingress["certificateName"]) == ("price.digitre.com", "price-tls") != (HOST, CERTIFICATE)
    run = customised["prod"]
    values = run.one(RELEASE).inputs["values"]["gateway"]
    assert values["host"] == "price.digitre.com"
    assert values["tlsOptions"][https_entry.KEY_VAULT_URI_OPTION].endswith("/certificates/price-tls")
    assert run.outputs["healthUrl"] == "https://price.digitre.com/"
    (reader,) = grants(run)[roles.KEY_VAULT_SECRETS_USER]
    assert reader.inputs["scope"].endswith("/secrets/price-tls")


def test_health_check_and_scoring_url_use_https_on_the_host(prod):
    assert prod.outputs["healthUrl"] == f"https://{HOST}/"
    assert prod.outputs["scoringUrl"] == f"https://{HOST}/score"
    assert prod.named("health-check-probe").inputs["environment"]["HEALTH_URL"] == f"https://{HOST}/"
    assert "http://" not in json.dumps(prod.outputs)
    assert entry(prod).outputs["baseUrl"] == f"https://{HOST}"


def test_the_identity_is_federated_with_the_entrys_service_account(prod):
    identity = prod.one(IDENTITY)
    assert identity.inputs["resourceName"] == "id-digitre-prod-https"
    assert identity.inputs["resourceGroupName"] == "rg-digitre-prod"
    assert identity.urn.split("::")[-2].endswith(
        f"{https_entry.TYPE}$azure-native:managedidentity:UserAssignedIdentity"
    )
    federation = prod.one(FEDERATION)
    cluster_id = prod.one(CLUSTER).id
    assert federation.inputs == {
        "federatedIdentityCredentialResourceName": https_entry.SERVICE_ACCOUNT,
        "resourceName": identity.inputs["resourceName"],
        "resourceGroupName": "rg-digitre-prod",
        "issuer": mock_issuer(cluster_id),
        "subject": f"system:serviceaccount:{NAMESPACE}:{https_entry.SERVICE_ACCOUNT}",
        "audiences": [https_entry.TOKEN_EXCHANGE_AUDIENCE],
    }
    # Azure deletes it with the identity; a new identity gets a new one.
    assert federation.deleted_with == identity.urn
    assert identity.delete_before_replace
    # The chart's service account is the one federated, in the release's namespace.
    release = prod.one(RELEASE).inputs
    assert release["namespace"] == NAMESPACE
    assert release["values"]["gateway"]["identity"]["serviceAccount"] == https_entry.SERVICE_ACCOUNT
    assert prod.waits_for(prod.one(RELEASE), federation.urn)


def test_the_identity_reads_only_the_certificates_secret_before_the_release(prod, shared):
    (reader,) = grants(prod)[roles.KEY_VAULT_SECRETS_USER]
    assert reader.inputs["scope"] == f"{shared.outputs['keyVaultId']}/secrets/{CERTIFICATE}"
    assert reader.inputs["principalId"] == prod.one(IDENTITY).outputs["principalId"]
    assert reader.inputs["principalType"] == "ServicePrincipal"
    assert prod.waits_for(prod.one(RELEASE), reader.urn)
    # Nothing else on the vault, and no DNS grant without a zone.
    on_vault = [g for g in prod.of_type(GRANT) if g.inputs["scope"].startswith(shared.outputs["keyVaultId"])]
    assert on_vault == [reader]
    assert roles.DNS_ZONE_CONTRIBUTOR not in grants(prod)


def test_a_dns_zone_is_granted_to_the_entrys_identity_and_rendered(customised):
    assert CUSTOM_PROD_AKS["ingress"]["dnsZoneId"] == ZONE
    run = customised["prod"]
    (dns,) = grants(run)[roles.DNS_ZONE_CONTRIBUTOR]
    assert dns.inputs["scope"] == ZONE
    assert dns.inputs["principalId"] == run.one(IDENTITY).outputs["principalId"]
    assert run.waits_for(run.one(RELEASE), dns.urn)
    assert run.one(RELEASE).inputs["values"]["gateway"]["dnsZoneResourceIds"] == [ZONE]
    # The add-on's own identity is not asked to keep it.
    assert "dnsZoneResourceIds" not in run.one(CLUSTER).inputs["ingressProfile"]["webAppRouting"]


def test_the_implementation_is_turned_on_by_a_bounded_check_before_the_release(prod):
    check = prod.named("https-entry-implementation")
    assert check.type == COMMAND
    assert check.inputs["create"] == "python3 -m commands.cluster_features"
    environment = check.inputs["environment"]
    cluster = prod.one(CLUSTER)
    assert environment["CLUSTER_ID"] == cluster.id
    assert environment["CLUSTER_API_VERSION"] == https_entry.CLUSTER_API_VERSION
    assert environment["CLUSTER_FEATURES_MODE"] == "enable"
    assert environment["AZURE_CLI_MINIMUM"] == https_entry.MINIMUM_AZURE_CLI
    assert json.loads(environment["CLUSTER_FEATURES"]) == [
        {"path": f.path, "value": f.value, "enable": list(f.enable) if f.enable else None}
        for f in https_entry.CLUSTER_FEATURES
    ]
    assert check.inputs["triggers"] == [cluster.id, cluster.outputs["eTag"]]
    class_wait = prod.named("https-entry-gateway-class")
    assert check.urn in class_wait.depends_on
    # Asked again whenever the check ran again.
    assert class_wait.inputs["triggers"] == [cluster.id, check.id]
    assert prod.waits_for(prod.one(RELEASE), class_wait.urn) and prod.waits_for(prod.one(RELEASE), check.urn)


def test_the_implementation_check_runs_again_after_each_cluster_update_only(prod, prod_by_someone_else, customised):
    """Converges: the same cluster asks nothing again (same triggers); any update of the cluster
    by the provider (a new eTag) runs the check again, which turns back on what it dropped."""
    again = prod_by_someone_else  # prod's deploy evaluated a second time
    assert again.named("https-entry-implementation").inputs == prod.named("https-entry-implementation").inputs
    changed = customised["prod"]  # the same cluster with other settings
    assert changed.one(CLUSTER).inputs != prod.one(CLUSTER).inputs
    before, after = (r.named("https-entry-implementation").inputs["triggers"] for r in (prod, changed))
    assert before[0] == after[0] and before[1] != after[1]
    assert "eTag" in row("PUT at an older API version").fact


def test_the_waits_ask_the_cluster_with_the_secret_kubeconfig_within_the_access_bounds(prod):
    provider = prod.one("pulumi:providers:kubernetes")
    for name in ("https-entry-gateway-class", "https-entry-https-only"):
        wait = prod.named(name)
        assert wait.inputs["create"] == "python3 -m commands.https_entry"
        assert wait.inputs["stdin"] == provider.inputs["kubeconfig"]
        assert wait.is_secret("stdin") and "stdin" in wait.additional_secret_outputs
        assert wait.inputs["environment"]["ENTRY_ATTEMPTS"] == "40"
        assert wait.inputs["environment"]["ENTRY_INTERVAL_SECONDS"] == "15"
    class_wait = prod.named("https-entry-gateway-class")
    # Asked once the caller's access to the cluster is effective.
    assert prod.waits_for(class_wait, prod.named("aks-access-wait").urn)
    assert class_wait.inputs["environment"]["ENTRY_GATEWAY_CLASS"] == https_entry.GATEWAY_CLASS


def test_the_https_only_proof_asks_about_the_gateways_service_after_each_deploy(prod):
    proof = prod.named("https-entry-https-only")
    release = prod.one(RELEASE)
    assert {
        k: v for k, v in proof.inputs["environment"].items() if k not in ("ENTRY_ATTEMPTS", "ENTRY_INTERVAL_SECONDS")
    } == {
        "ENTRY_EXPECT": "https-only",
        "ENTRY_SERVICE": f"{https_entry.GATEWAY_NAME}-{https_entry.GATEWAY_CLASS}",
        "ENTRY_NAMESPACE": NAMESPACE,
        "ENTRY_PUBLIC_PORT": "443",
        "ENTRY_STATUS_PORT": str(https_entry.STATUS_PORT),
    }
    # After the release, asked again with each of its revisions; the health check comes after it.
    assert release.urn in proof.depends_on
    assert proof.inputs["triggers"] == [prod.one(CLUSTER).id, str(release.outputs["status"]["revision"])]
    assert prod.waits_for(prod.named("health-check-probe"), proof.urn)
    said = entry(prod).outputs
    assert said["httpsOnlyProven"] is True
    assert said["listeners"] == [{"name": "https", "protocol": "HTTPS", "port": 443, "hostname": HOST}]
    assert said["publicPorts"] == [443] and said["gatewayClassName"] == https_entry.GATEWAY_CLASS


def test_a_preview_declares_the_check_and_the_waits(prod_preview):
    # pulumi-command runs no local command in a preview: it never needs az or the cluster.
    run = prod_preview
    for name in ("https-entry-implementation", "https-entry-gateway-class", "https-entry-https-only"):
        assert run.named(name).type == COMMAND


def test_before_any_model_the_entry_is_readied_and_nothing_is_public(runs):
    run = runs["prod"]
    assert run.of_type(RELEASE) == []
    names = {r.name for r in run.of_type(COMMAND)}
    assert {"https-entry-implementation", "https-entry-gateway-class"} <= names
    assert "https-entry-https-only" not in names
    assert entry(run).outputs["httpsOnlyProven"] is False
    assert roles.KEY_VAULT_SECRETS_USER in grants(run)


def test_an_existing_cluster_must_already_have_the_implementation(prod_existing):
    run = prod_existing
    check = run.named("https-entry-implementation")
    assert check.inputs["environment"]["CLUSTER_FEATURES_MODE"] == "require"
    assert check.inputs["environment"]["CLUSTER_ID"].endswith(
        "/rg-platform-aks/providers/containerservice/ManagedCluster/aks-platform"
    )
    assert run.one(FEDERATION).inputs["issuer"] == mock_issuer(check.inputs["environment"]["CLUSTER_ID"])


def test_an_existing_cluster_must_have_an_oidc_issuer():
    assert _oidc_issuer_url(SimpleNamespace(enabled=True, issuer_url="https://issuer/")) == "https://issuer/"
    for missing in (
        None,
        SimpleNamespace(enabled=False, issuer_url=None),
        SimpleNamespace(enabled=True, issuer_url=""),
    ):
        with pytest.raises(ValueError, match="az aks update --enable-oidc-issuer --enable-workload-identity"):
            _oidc_issuer_url(missing)
