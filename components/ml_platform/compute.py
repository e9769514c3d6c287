"""The AML compute cluster the training pipelines run on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml


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
    steps: idle, it costs nothing."""

    def __init__(self, name: str, args: MlComputeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:ml:MlCompute", name, None, opts)
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
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.compute_name = self.cluster.name
        self.register_outputs({"computeName": self.compute_name})
