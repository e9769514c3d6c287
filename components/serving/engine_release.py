"""The estimation engine on AKS: the Helm release of `charts/estimation-engine`, reached
only through the HTTPS entry, whose values it renders (components/serving/https_entry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as kubernetes

from components.serving.contract import ServingContract

# Relative to the project directory (where `pulumi up` runs), so the state holds no
# machine-specific path.
CHART_PATH = "charts/estimation-engine"
RELEASE_NAME = "estimation-engine"
# Cluster-internal: only the HTTPS entry's proxies talk to it, and TLS ends there.
SERVICE_TYPE = "ClusterIP"
SERVICE_PORT = 80


def chart_values(
    *,
    image_repository: pulumi.Input[str],
    image_tag: str,
    image_digest: pulumi.Input[str],
    contract: ServingContract,
    cpu: float,
    memory_gb: float,
    min_replicas: int,
    max_replicas: int,
    target_cpu_utilization: int,
    app_insights_connection_string: pulumi.Input[str],
    entry: Mapping[str, Any],
) -> dict[str, Any]:
    """The chart's values from stack config, and those the HTTPS entry hands the chart;
    `values.schema.json` is their contract."""
    quantities = {"cpu": f"{round(cpu * 1000)}m", "memory": f"{round(memory_gb * 1024)}Mi"}
    return {
        # Pulled by digest, so every replica runs the bytes this deploy resolved; the tag names
        # the version in the pods' labels. IfNotPresent: a cached copy of a digest is those
        # same bytes, and a pod start then needs no registry.
        "image": {
            "repository": image_repository,
            "tag": image_tag,
            "digest": image_digest,
            "pullPolicy": "IfNotPresent",
        },
        "containerPort": contract.port,
        "healthPath": contract.health_path,
        "scorePath": contract.score_path,
        # Requests equal limits: guaranteed QoS, no noisy-neighbour throttling surprises.
        "resources": {"requests": dict(quantities), "limits": dict(quantities)},
        "autoscaling": {
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "targetCPUUtilizationPercentage": target_cpu_utilization,
        },
        # One pod at a time through node drains and upgrades; never a floor of available pods,
        # which with minReplicas 1 would forbid every eviction and block the drain.
        "podDisruptionBudget": {"maxUnavailable": 1},
        "service": {"type": SERVICE_TYPE, "port": SERVICE_PORT},
        **entry,
        "appInsightsConnectionString": app_insights_connection_string,
        "nodeSelector": {"workload": "estimation-engine"},
    }


@dataclass(frozen=True)
class EngineReleaseArgs:
    namespace: str
    values: Mapping[str, Any]
    timeout_seconds: int


class EngineRelease(pulumi.ComponentResource):
    """Owns the Helm release (atomic: a failed upgrade rolls back; created or upgraded in
    place). Its revision changes with each deploy, for what must be checked again then. The
    cluster's Kubernetes provider comes in `opts.providers`, and what must exist first in
    `opts.depends_on`."""

    def __init__(self, name: str, args: EngineReleaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:EngineRelease", name, None, opts)
        self.release = kubernetes.helm.v3.Release(
            f"{name}-release",
            kubernetes.helm.v3.ReleaseArgs(
                name=RELEASE_NAME,
                chart=CHART_PATH,
                namespace=args.namespace,
                create_namespace=True,
                atomic=True,
                cleanup_on_fail=True,
                timeout=args.timeout_seconds,
                max_history=10,
                values=dict(args.values),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.revision: pulumi.Output[str] = self.release.status.apply(lambda status: str(status.revision))
        self.register_outputs({"revision": self.revision})
