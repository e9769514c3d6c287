"""The AML compute cluster the training pipelines run on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml

# What Azure ML cannot change on an existing AmlCompute: its update operation takes scale
# settings only, and a PUT over the cluster with another VM size or priority is accepted
# and not applied (docs/assumptions.md, "Changes Azure cannot apply in place"): every
# property the cluster is given under `properties` but its scale settings. The provider
# does not replace on any of them itself: `properties` is a union of compute kinds, which
# its diff does not look into for create-only properties.
IMMUTABLE_PROPERTIES = (
    "properties.computeType",
    "properties.disableLocalAuth",
    "properties.properties.osType",
    "properties.properties.vmSize",
    "properties.properties.vmPriority",
    "properties.properties.remoteLoginPortPublicAccess",
    # Not set here: the SDK sends its default (true) for it.
    "properties.properties.enableNodePublicIp",
)


@dataclass(frozen=True)
class MlComputeArgs:
    resource_group_name: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    location: str
    compute_name: str
    vm_size: str
    max_nodes: int
    idle_seconds_before_scale_down: int
    low_priority: bool
    tags: Mapping[str, str]


class MlCompute(pulumi.ComponentResource):
    """Owns the AmlCompute cluster. It always exists and scales to zero nodes when idle, which
    replaces the old pipelines' "create the compute if missing" and "delete the compute"
    steps: idle, it costs nothing. A change Azure ML cannot apply to it (VM size, priority,
    ...) replaces it, deleting the old cluster first: it holds no data, and its name is
    fixed by config. Not protected for that reason."""

    def __init__(self, name: str, args: MlComputeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:ml_platform:MlCompute", name, None, opts)
        priority = ml.VmPriority.LOW_PRIORITY if args.low_priority else ml.VmPriority.DEDICATED
        self.cluster = ml.Compute(
            f"{name}-cluster",
            compute_name=args.compute_name,
            workspace_name=args.workspace_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            identity=ml.ManagedServiceIdentityArgs(type=ml.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
            properties=ml.AmlComputeArgs(
                compute_type=ml.ComputeType.AML_COMPUTE,
                disable_local_auth=True,
                properties=ml.AmlComputePropertiesArgs(
                    os_type=ml.OsType.LINUX,
                    vm_size=args.vm_size,
                    vm_priority=priority,
                    scale_settings=ml.ScaleSettingsArgs(
                        min_node_count=0,
                        max_node_count=args.max_nodes,
                        node_idle_time_before_scale_down=f"PT{args.idle_seconds_before_scale_down}S",
                    ),
                    remote_login_port_public_access=ml.RemoteLoginPortPublicAccess.DISABLED,
                ),
            ),
            tags=dict(args.tags),
            # The name is fixed, and the provider refuses to create over an existing resource:
            # delete first. A running training job on the old cluster fails with it.
            opts=pulumi.ResourceOptions(
                parent=self, replace_on_changes=list(IMMUTABLE_PROPERTIES), delete_before_replace=True
            ),
        )
        self.compute_name = self.cluster.name
        self.register_outputs({"computeName": self.compute_name})
