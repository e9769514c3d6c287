"""A model-serving container group on Azure Container Instances (dev and QA)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import pulumi
from pulumi_azure_native import containerinstance as aci
from pulumi_azure_native import operationalinsights

from components.serving.contract import ServingContract

E = TypeVar("E", bound=Enum)

# What Microsoft Learn lists as needing the container group deleted and created again (OS
# type; CPU, memory or GPU; restart policy; network profile; availability zone): a change
# to any of these replaces the group (docs/assumptions.md, "Changes Azure cannot apply in
# place"). The provider replaces on a property only when the REST spec marks it create-only
# or its own list names it, and its list has no container group entry.
IMMUTABLE_PROPERTIES = ("osType", "containers[*].resources", "restartPolicy", "subnetIds", "zones")


@dataclass(frozen=True)
class LogAnalyticsTarget:
    """The shared Log Analytics workspace the container group sends its logs to."""

    resource_group_name: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    customer_id: pulumi.Input[str]


@dataclass(frozen=True)
class ModelServiceArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    container_group_name: str
    dns_name_label: str
    dns_name_label_reuse: str
    image: pulumi.Input[str]
    registry_login_server: pulumi.Input[str]
    pull_identity_id: pulumi.Input[str]
    contract: ServingContract
    cpu: float
    memory_gb: float
    restart_policy: str
    app_insights_connection_string: pulumi.Input[str]
    log_analytics: LogAnalyticsTarget
    tags: Mapping[str, str]


class ModelService(pulumi.ComponentResource):
    """Owns the container group that runs the Azure ML inference server image: pulled from
    the shared registry with the shared user-assigned identity (no registry password),
    probed on the health route, reachable on a DNS label that cannot be taken over, its logs
    in the shared Log Analytics workspace."""

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:ModelService", name, None, opts)
        port = args.contract.port
        # ACI ships logs with the workspace key (it has no managed-identity option for this).
        keys = operationalinsights.get_shared_keys_output(
            resource_group_name=args.log_analytics.resource_group_name,
            workspace_name=args.log_analytics.workspace_name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        primary_key: pulumi.Output[str] = keys.primary_shared_key.apply(lambda key: key or "")
        workspace_key: pulumi.Output[str] = pulumi.Output.secret(primary_key)  # type: ignore[arg-type]

        def probe(initial_delay: int) -> aci.ContainerProbeArgs:
            return aci.ContainerProbeArgs(
                http_get=aci.ContainerHttpGetArgs(path=args.contract.health_path, port=port, scheme=aci.Scheme.HTTP),
                initial_delay_seconds=initial_delay,
                period_seconds=10,
                timeout_seconds=5,
                failure_threshold=3,
            )

        self.container_group = aci.ContainerGroup(
            f"{name}-aci",
            container_group_name=args.container_group_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            os_type=aci.OperatingSystemTypes.LINUX,
            sku=aci.ContainerGroupSku.STANDARD,
            restart_policy=provider_value(aci.ContainerGroupRestartPolicy, args.restart_policy),
            identity=aci.ContainerGroupIdentityArgs(
                type=aci.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[args.pull_identity_id],
            ),
            image_registry_credentials=[
                aci.ImageRegistryCredentialArgs(server=args.registry_login_server, identity=args.pull_identity_id)
            ],
            containers=[
                aci.ContainerArgs(
                    name="engine",
                    image=args.image,
                    ports=[aci.ContainerPortArgs(port=port, protocol=aci.ContainerNetworkProtocol.TCP)],
                    resources=aci.ResourceRequirementsArgs(
                        requests=aci.ResourceRequestsArgs(cpu=args.cpu, memory_in_gb=args.memory_gb)
                    ),
                    liveness_probe=probe(initial_delay=60),
                    readiness_probe=probe(initial_delay=10),
                    environment_variables=[
                        aci.EnvironmentVariableArgs(
                            name="APPLICATIONINSIGHTS_CONNECTION_STRING",
                            # Secret whatever its source: it carries the instrumentation key.
                            secure_value=pulumi.Output.secret(args.app_insights_connection_string),
                        ),
                    ],
                )
            ],
            ip_address=aci.IpAddressArgs(
                type=aci.ContainerGroupIpAddressType.PUBLIC,
                ports=[aci.PortArgs(port=port, protocol=aci.ContainerGroupNetworkProtocol.TCP)],
                dns_name_label=args.dns_name_label,
                auto_generated_domain_name_label_scope=provider_value(
                    aci.DnsNameLabelReusePolicy, args.dns_name_label_reuse
                ),
            ),
            diagnostics=aci.ContainerGroupDiagnosticsArgs(
                log_analytics=aci.LogAnalyticsArgs(
                    workspace_id=args.log_analytics.customer_id,
                    workspace_key=workspace_key,
                    workspace_resource_id=args.log_analytics.workspace_id,
                    log_type=aci.LogAnalyticsLogType.CONTAINER_INSIGHTS,
                )
            ),
            tags=dict(args.tags),
            # The group has a fixed name: a replacement must delete the old one first.
            opts=pulumi.ResourceOptions(
                parent=self, replace_on_changes=list(IMMUTABLE_PROPERTIES), delete_before_replace=True
            ),
        )
        fqdn = self.container_group.ip_address.apply(lambda ip: ip.fqdn if ip else "")
        self.base_url = pulumi.Output.concat("http://", fqdn, ":", str(port))
        self.health_url = pulumi.Output.concat(self.base_url, args.contract.health_path)
        self.scoring_url = pulumi.Output.concat(self.base_url, args.contract.score_path)
        self.register_outputs({"healthUrl": self.health_url, "scoringUrl": self.scoring_url})


def provider_value(enum: type[E], value: str) -> E:
    """The member of the provider's enum that `value` names, whatever its case: config says
    `NoReuse` as Microsoft's prose does, while the API's enum (and so the provider's) spells
    it `Noreuse`."""
    for member in enum:
        if str(member.value).lower() == value.lower():
            return member
    raise ValueError(f"{value!r} is not one of {', '.join(str(m.value) for m in enum)}")
