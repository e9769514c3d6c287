"""The post-deploy health check: fails the update when the engine does not answer, or
does not score the sample request."""

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
    # The scoring route and the sample request (JSON text) to post once healthy; without a
    # sample the check proves health only.
    score_url: pulumi.Input[str] | None = None
    sample_request: str | None = None


class HealthCheck(pulumi.ComponentResource):
    """Owns one local command that polls the engine's health route with bounded retries on
    the machine running `pulumi up`, then posts the sample request to the scoring route.
    pulumi-command never runs it during preview; it runs again whenever a trigger (the
    image) or a setting changes."""

    def __init__(self, name: str, args: HealthCheckArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:HealthCheck", name, None, opts)
        environment: dict[str, pulumi.Input[str]] = {
            "HEALTH_URL": args.url,
            "HEALTH_ATTEMPTS": str(args.attempts),
            "HEALTH_INTERVAL_SECONDS": str(args.interval_seconds),
        }
        if args.sample_request is not None:
            if args.score_url is None:
                raise ValueError("a sample request needs the scoring route's URL")
            environment.update(SCORE_URL=args.score_url, SCORE_REQUEST=args.sample_request)
        else:
            pulumi.log.warn(
                "no healthCheck.sampleRequest: the post-deploy check proves the engine answers, "
                "not that its model scores",
                resource=self,
            )
        self.command = local.Command(
            f"{name}-probe",
            create="python3 -m commands.health_probe",
            environment=environment,
            triggers=list(args.triggers),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"stdout": self.command.stdout})
