"""How callers reach prod: HTTPS only, through a Gateway of the AKS application routing
add-on's Gateway API implementation (GatewayClass `approuting-istio`).

`HttpsEntry` is the one place that knows the implementation. It turns it on in the cluster,
gives it an identity to read the TLS certificate (and keep the host's DNS record) with,
hands the chart the values of its Gateway, and proves after each deploy that the public
Service answers on 443 only. The chart (`charts/estimation-engine/templates/gateway.yaml`)
renders what these values describe; the policy pack, the plan and the stacks know the entry
only through its type token and outputs. Swapping the implementation is this module and the
chart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import containerservice as aks
from pulumi_azure_native import managedidentity
from pulumi_command import local

from components import roles
from components.serving.aks import BoundedWait

TYPE = "digitre:serving:HttpsEntry"
# The add-on's Gateway API implementation and the GatewayClass it serves.
GATEWAY_CLASS = "approuting-istio"
# The Gateway the chart renders, in the release's namespace. The implementation provisions its
# Deployment and Service as `<gateway>-<class>` beside it.
GATEWAY_NAME = "engine"
PUBLIC_SERVICE = f"{GATEWAY_NAME}-{GATEWAY_CLASS}"
# One listener: HTTPS on 443. Istio's gateway Service also publishes its readiness port.
LISTENER = {"name": "https", "protocol": "HTTPS", "port": 443}
STATUS_PORT = 15021
# Listener TLS options the add-on's operator reads: it syncs the Key Vault certificate into a
# Secret with the workload identity of the named service account and points the listener at it.
KEY_VAULT_URI_OPTION = "kubernetes.azure.com/tls-cert-keyvault-uri"
SERVICE_ACCOUNT_OPTION = "kubernetes.azure.com/tls-cert-service-account"
# That service account, in the Gateway's namespace; the add-on's external-dns uses it too.
SERVICE_ACCOUNT = "https-entry"
# Entra ID's audience for a federated credential (workload identity).
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
# Key Vault object URIs in the Azure public cloud: https://<vault>.vault.azure.net/certificates/<name>.
KEY_VAULT_HOST_SUFFIX = ".vault.azure.net"
# The add-on profile key of the Azure Key Vault provider for the Secrets Store CSI driver, which
# the operator's certificate sync runs on.
KEY_VAULT_SECRETS_PROVIDER = "azureKeyvaultSecretsProvider"

# The cluster settings the implementation needs, read at the first stable ManagedCluster API
# that has them (pulumi-azure-native 3.29.0 sends 2025-09-01, which has neither). `enable` is
# what `az aks update` turns a missing one on with; None: the cluster must already have it.
CLUSTER_API_VERSION = "2026-02-01"
MINIMUM_AZURE_CLI = "2.86.0"


@dataclass(frozen=True)
class ClusterFeature:
    path: str
    value: object
    enable: tuple[str, ...] | None = None


CLUSTER_FEATURES = (
    ClusterFeature("properties.ingressProfile.webAppRouting.enabled", True),
    ClusterFeature("properties.oidcIssuerProfile.enabled", True),
    ClusterFeature("properties.securityProfile.workloadIdentity.enabled", True),
    ClusterFeature(f"properties.addonProfiles.{KEY_VAULT_SECRETS_PROVIDER}.enabled", True),
    ClusterFeature("properties.ingressProfile.gatewayAPI.installation", "Standard", ("--enable-gateway-api",)),
    ClusterFeature(
        "properties.ingressProfile.webAppRouting.gatewayAPIImplementations.appRoutingIstio.mode",
        "Enabled",
        ("--enable-app-routing-istio",),
    ),
)


def cluster_ingress_profile() -> aks.ManagedClusterIngressProfileArgs:
    """What a cluster made here declares for the entry: the application routing add-on (its
    operator syncs the certificate and runs external-dns for Gateways) without its default NGINX
    controller, which would otherwise open a public load balancer of its own."""
    return aks.ManagedClusterIngressProfileArgs(
        web_app_routing=aks.ManagedClusterIngressProfileWebAppRoutingArgs(
            enabled=True,
            nginx=aks.ManagedClusterIngressProfileNginxArgs(
                default_ingress_controller_type=aks.NginxIngressControllerType.NONE
            ),
        )
    )


def cluster_addons() -> dict[str, aks.ManagedClusterAddonProfileArgs]:
    """The Key Vault provider for the Secrets Store CSI driver; rotation picks up a renewed
    certificate."""
    return {
        KEY_VAULT_SECRETS_PROVIDER: aks.ManagedClusterAddonProfileArgs(
            enabled=True, config={"enableSecretRotation": "true"}
        )
    }


def certificate_uri(vault_name: pulumi.Input[str], certificate_name: str) -> pulumi.Output[str]:
    """The certificate's URI without a version, so the operator always takes its current one
    (a renewed certificate is picked up without a deploy)."""
    return pulumi.Output.concat("https://", vault_name, KEY_VAULT_HOST_SUFFIX, "/certificates/", certificate_name)


@dataclass(frozen=True)
class Published:
    """What the entry publishes, as its `publish` step deployed it: the resources the
    HTTPS-only proof waits for, and a value that changes with each deploy of them."""

    resources: Sequence[pulumi.Resource]
    revision: pulumi.Input[str]


# Deploys what the entry publishes, given the chart values this entry hands it and what must
# exist before it.
Publish = Callable[[Mapping[str, Any], Sequence[pulumi.Resource]], Published]


@dataclass(frozen=True)
class HttpsEntryArgs:
    # The cluster: its id and eTag (which changes with every update of it), the group and OIDC
    # issuer of a created or looked-up one, the kubeconfig for the waits, and whether this
    # program created it (then it may turn the implementation on; else the owner must have).
    cluster_id: pulumi.Input[str]
    cluster_etag: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    kubeconfig: pulumi.Input[str]
    cluster_created_here: bool
    # The entry's identity lives in the environment's group.
    resource_group_name: pulumi.Input[str]
    location: str
    identity_name: str
    namespace: str
    host: str
    key_vault_id: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    certificate_name: str
    subscription_id: pulumi.Input[str]
    wait: BoundedWait
    tags: Mapping[str, str]
    dns_zone_id: str | None = None
    # Without it (no model served yet) nothing is published and there is nothing to prove.
    publish: Publish | None = None


class HttpsEntry(pulumi.ComponentResource):
    """Owns prod's public HTTPS entry: the Gateway API implementation turned on in the cluster
    (or required of a looked-up one), a user-assigned identity federated with the entry's
    service account that may read the TLS certificate's secret (and, with a DNS zone, keep the
    host's record), a bounded wait for the GatewayClass, the chart values of the Gateway, and,
    after each deploy of what it publishes, the proof that its public Service answers on 443
    and not on 80. The identity and its federated credential are protected like every identity
    of the platform (components/lifecycle.py): the chart's service account is wired to its
    client id. The rest holds no data, and the next update makes again whatever is lost."""

    def __init__(self, name: str, args: HttpsEntryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:HttpsEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.implementation = self._implementation(name, args)
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-id",
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            # Its region cannot change in place, and its fixed name must be free before a new one
            # is made; protected, such a replacement is refused at preview instead.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(replace_on_changes=["location"], delete_before_replace=True, protect=True),
            ),
        )
        self.federated_credential = managedidentity.FederatedIdentityCredential(
            f"{name}-federation",
            federated_identity_credential_resource_name=SERVICE_ACCOUNT,
            resource_name_=self.identity.name,
            resource_group_name=args.resource_group_name,
            issuer=args.oidc_issuer_url,
            subject=f"system:serviceaccount:{args.namespace}:{SERVICE_ACCOUNT}",
            audiences=[TOKEN_EXCHANGE_AUDIENCE],
            # Azure deletes an identity's credentials with it: replaced with it, never deleted alone
            # after it.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(deleted_with=self.identity, protect=True)),
        )
        # The certificate's secret only (a certificate's key is the secret of its name): the
        # shared vault holds other secrets this identity has no use for.
        self.certificate_reader = roles.grant(
            f"{name}-certificate-reader",
            role=roles.KEY_VAULT_SECRETS_USER,
            principal_id=self.identity.principal_id,
            scope=pulumi.Output.concat(args.key_vault_id, "/secrets/", args.certificate_name),
            subscription_id=args.subscription_id,
            opts=child,
        )
        self.grants: list[pulumi.Resource] = [self.certificate_reader]
        if args.dns_zone_id is not None:
            self.grants.append(
                roles.grant(
                    f"{name}-dns-zone-contributor",
                    role=roles.DNS_ZONE_CONTRIBUTOR,
                    principal_id=self.identity.principal_id,
                    scope=args.dns_zone_id,
                    subscription_id=args.subscription_id,
                    opts=child,
                )
            )
        self.class_ready = self._wait(
            name,
            "gateway-class",
            args,
            {"ENTRY_GATEWAY_CLASS": GATEWAY_CLASS},
            # Asked again whenever the check ran again (it may have turned the implementation back on).
            [args.cluster_id, self.implementation.id],
            [self.implementation],
        )
        # What the published workload needs first.
        self.before_publish: list[pulumi.Resource] = [
            self.implementation,
            self.class_ready,
            self.federated_credential,
            *self.grants,
        ]
        # The chart's `gateway` section (charts/estimation-engine/templates/gateway.yaml).
        gateway: dict[str, Any] = {
            "className": GATEWAY_CLASS,
            "name": GATEWAY_NAME,
            "host": args.host,
            "tlsOptions": {
                KEY_VAULT_URI_OPTION: certificate_uri(args.key_vault_name, args.certificate_name),
                SERVICE_ACCOUNT_OPTION: SERVICE_ACCOUNT,
            },
            "identity": {"serviceAccount": SERVICE_ACCOUNT, "clientId": self.identity.client_id},
            "dnsZoneResourceIds": [args.dns_zone_id] if args.dns_zone_id else [],
        }
        self.chart_values: dict[str, Any] = {"gateway": gateway}
        self.base_url = f"https://{args.host}"
        self.https_only: local.Command | None = None
        self.ready: list[pulumi.Resource] = list(self.before_publish)
        if args.publish is not None:
            published = args.publish(self.chart_values, self.before_publish)
            ports = {"ENTRY_SERVICE": PUBLIC_SERVICE, "ENTRY_NAMESPACE": args.namespace}
            ports.update(ENTRY_PUBLIC_PORT=str(LISTENER["port"]), ENTRY_STATUS_PORT=str(STATUS_PORT))
            # Asked again after each deploy of what is published, and when the cluster is replaced.
            self.https_only = self._wait(
                name, "https-only", args, ports, [args.cluster_id, published.revision], list(published.resources)
            )
            self.ready = [*published.resources, self.https_only]
        self.register_outputs(
            {
                "baseUrl": self.base_url,
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [{**LISTENER, "hostname": args.host}],
                "publicPorts": [LISTENER["port"]],
                "httpsOnlyProven": self.https_only is not None,
                "identityClientId": self.identity.client_id,
            }
        )

    def _implementation(self, name: str, args: HttpsEntryArgs) -> local.Command:
        """The cluster settings the implementation needs, read at the API version that has them
        and turned on with the Azure CLI where missing (only on a cluster made here). The
        provider later updates the cluster at its own, older API version; the check runs again
        after every such update (the cluster's eTag changes with each), so a setting that update
        dropped would be turned on again, and an unchanged cluster is not asked again."""
        features = [{"path": f.path, "value": f.value, "enable": f.enable} for f in CLUSTER_FEATURES]
        return local.Command(
            f"{name}-implementation",
            create="python3 -m commands.cluster_features",
            environment={
                "CLUSTER_ID": args.cluster_id,
                "CLUSTER_API_VERSION": CLUSTER_API_VERSION,
                "CLUSTER_FEATURES": json.dumps(features),
                "CLUSTER_FEATURES_MODE": "enable" if args.cluster_created_here else "require",
                "AZURE_CLI_MINIMUM": MINIMUM_AZURE_CLI,
            },
            triggers=[args.cluster_id, args.cluster_etag],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _wait(
        self,
        name: str,
        expect: str,
        args: HttpsEntryArgs,
        settings: Mapping[str, str],
        triggers: list[pulumi.Input[str]],
        depends_on: list[pulumi.Resource],
    ) -> local.Command:
        return local.Command(
            f"{name}-{expect}",
            create="python3 -m commands.https_entry",
            # On standard input, not in the environment, as for the access wait (components/serving/aks.py).
            stdin=args.kubeconfig,
            environment={
                "ENTRY_EXPECT": expect,
                **settings,
                "ENTRY_ATTEMPTS": str(args.wait.attempts),
                "ENTRY_INTERVAL_SECONDS": str(args.wait.interval_seconds),
            },
            triggers=triggers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, additional_secret_outputs=["stdin"]),
        )
