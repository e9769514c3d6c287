"""How callers reach prod: HTTPS only, through AKS's application routing add-on (managed NGINX).

The chart's Ingress (`charts/estimation-engine/templates/ingress.yaml`) names the add-on's
IngressClass and the Key Vault certificate; this module holds the add-on's names, grants the
add-on's identity what it must read or write, and closes the plain-HTTP port of the add-on's
default controller, so the engine has no public plain-HTTP endpoint at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as kubernetes
from pulumi_command import local

from components import roles
from components.config import AccessWaitConfig

# The IngressClass the add-on creates for its default NGINX controller.
INGRESS_CLASS = "webapprouting.kubernetes.azure.com"
# The Ingress annotation the add-on reads to fetch a TLS certificate from Key Vault.
KEY_VAULT_CERTIFICATE_ANNOTATION = "kubernetes.azure.com/tls-cert-keyvault-uri"
# The add-on puts that certificate in the Secret named this prefix + the Ingress's name.
TLS_SECRET_PREFIX = "keyvault-"
# Redirect the engine's host to HTTPS even if the controller's HTTP port were ever reopened.
FORCE_SSL_REDIRECT_ANNOTATION = "nginx.ingress.kubernetes.io/force-ssl-redirect"
# The add-on's controller is a cluster-scoped custom resource; it creates one named `default`.
CONTROLLER_API_VERSION = "approuting.kubernetes.azure.com/v1alpha1"
CONTROLLER_KIND = "NginxIngressController"
DEFAULT_CONTROLLER = "default"
# Key Vault object URIs in the Azure public cloud: https://<vault>.vault.azure.net/certificates/<name>.
KEY_VAULT_HOST_SUFFIX = ".vault.azure.net"


def certificate_uri(vault_name: pulumi.Input[str], certificate_name: str) -> pulumi.Output[str]:
    """The certificate's URI without a version, so the add-on always takes its current one
    (a renewed certificate is picked up without a deploy)."""
    return pulumi.Output.concat("https://", vault_name, KEY_VAULT_HOST_SUFFIX, "/certificates/", certificate_name)


def https_base_url(host: str) -> str:
    return f"https://{host}"


@dataclass(frozen=True)
class IngressAccessArgs:
    addon_object_id: pulumi.Input[str]
    key_vault_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    dns_zone_id: str | None = None


class IngressAccess(pulumi.ComponentResource):
    """Owns what the application routing add-on's identity may do: read the TLS certificate
    in the shared Key Vault (Key Vault Certificate User on the vault, which uses Azure RBAC)
    and, with a DNS zone, keep the host's record in it (DNS Zone Contributor on the zone).
    These are the grants `az aks approuting update --attach-kv` and `az aks approuting zone
    add --attach-zones` would make by hand."""

    def __init__(self, name: str, args: IngressAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:aks:IngressAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.certificate_reader = roles.grant(
            f"{name}-kv-certificate-user",
            role=roles.KEY_VAULT_CERTIFICATE_USER,
            principal_id=args.addon_object_id,
            scope=args.key_vault_id,
            subscription_id=args.subscription_id,
            opts=child,
        )
        self.grants: list[pulumi.Resource] = [self.certificate_reader]
        if args.dns_zone_id is not None:
            self.grants.append(
                roles.grant(
                    f"{name}-dns-zone-contributor",
                    role=roles.DNS_ZONE_CONTRIBUTOR,
                    principal_id=args.addon_object_id,
                    scope=args.dns_zone_id,
                    subscription_id=args.subscription_id,
                    opts=child,
                )
            )
        self.register_outputs({"certificateReaderId": self.certificate_reader.id})


@dataclass(frozen=True)
class HttpsOnlyControllerArgs:
    provider: kubernetes.Provider
    # The provider's kubeconfig (secret) and the cluster, for the bounded waits around the patch.
    kubeconfig: pulumi.Input[str]
    cluster_id: pulumi.Input[str]
    wait: AccessWaitConfig
    depends_on: Sequence[pulumi.Resource]


class HttpsOnlyController(pulumi.ComponentResource):
    """Owns one server-side-apply patch of the add-on's default NginxIngressController that
    sets `httpDisabled`: the controller's public load balancer then listens on 443 only, so
    nothing answers plain HTTP. The add-on re-applies only the fields it sets itself (class
    name, name prefix, load balancer annotations), so this field stays ours.

    The add-on's operator makes the CRD and the `default` controller on its own, some time
    after the cluster exists: a bounded wait holds the patch until the controller is there,
    and a second one fails the update unless the controller's Service really dropped port 80
    (an operator that predates the field would drop it silently). pulumi-command runs neither
    during preview, and pulumi-kubernetes does not send a Patch resource to the cluster then."""

    def __init__(self, name: str, args: HttpsOnlyControllerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:aks:HttpsOnlyController", name, None, opts)
        self.present = self._wait(name, "present", args, [args.cluster_id], list(args.depends_on))
        self.patch = kubernetes.apiextensions.CustomResourcePatch(
            f"{name}-http-disabled",
            api_version=CONTROLLER_API_VERSION,
            kind=CONTROLLER_KIND,
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=DEFAULT_CONTROLLER),
            spec={"httpDisabled": True},
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[*args.depends_on, self.present]
            ),
        )
        self.https_only = self._wait(name, "https-only", args, [args.cluster_id, self.patch.id], [self.patch])
        # What a check of the public endpoint must wait for.
        self.ready: list[pulumi.Resource] = [self.patch, self.https_only]
        self.register_outputs({})

    def _wait(
        self,
        name: str,
        expect: str,
        args: HttpsOnlyControllerArgs,
        triggers: list[pulumi.Input[str]],
        depends_on: list[pulumi.Resource],
    ) -> local.Command:
        return local.Command(
            f"{name}-{expect}",
            create="python3 -m commands.ingress_controller",
            # On standard input, not in the environment, as for the access wait (components/serving/aks.py).
            stdin=args.kubeconfig,
            environment={
                "CONTROLLER_EXPECT": expect,
                "CONTROLLER_ATTEMPTS": str(args.wait.attempts),
                "CONTROLLER_INTERVAL_SECONDS": str(args.wait.interval_seconds),
            },
            # Asked again when the cluster is replaced (and, after the patch, when the patch is).
            triggers=triggers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, additional_secret_outputs=["stdin"]),
        )
