"""The post-deploy health check: fails the update when the engine does not answer. Whether
the model scores is proven after `pulumi up` by the deploy pipeline, with the served
version's own sample request (pipelines/templates/score-sample.yml): the sample belongs to
the model version, not to the stack, so it is no input here and never shows in a preview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import local


@dataclass(frozen=True)
class HealthCheckArgs:
    url: pulumi.Input[str]
    attempts: int
    interval_seconds: int
    # What re-runs the check: the served image (so a new model version is checked).
    triggers: Sequence[pulumi.Input[str]]


class HealthCheck(pulumi.ComponentResource):
    """Owns one local command that polls the engine's health route with bounded retries on
    the machine running `pulumi up`. pulumi-command never runs it during preview; it runs
    again whenever a trigger (the image) or a setting changes."""

    def __init__(self, name: str, args: HealthCheckArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:HealthCheck", name, None, opts)
        environment: dict[str, pulumi.Input[str]] = {
            "HEALTH_URL": args.url,
            "HEALTH_ATTEMPTS": str(args.attempts),
            "HEALTH_INTERVAL_SECONDS": str(args.interval_seconds),
        }
        self.command = local.Command(
            f"{name}-probe",
            create="python3 -m commands.health_probe",
            environment=environment,
            triggers=list(args.triggers),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"stdout": self.command.stdout})
