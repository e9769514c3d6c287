"""What an environment serves: the image of a model version, and how to reach it.

One definition of the serving contract (port, health route, scoring route) feeds the ACI
container, the Helm chart's values and the post-deploy health check. The model version
comes from `digitre-mlops:modelVersion` when the deploy pipeline passes it; otherwise the
stack keeps serving the version it last deployed, read from its own outputs, so a preview
or an infrastructure change never proposes to roll the model back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pulumi

from components.serving.image import ServingImage

# The stack output that records the served version; read back when the key is absent.
SERVED_VERSION_OUTPUT = "modelVersion"


@dataclass(frozen=True)
class ServingContract:
    """Where the engine listens and what it answers: its port, its health and scoring routes."""

    port: int
    health_path: str
    score_path: str


def image_reference(login_server: pulumi.Input[str], image: ServingImage) -> pulumi.Output[str]:
    """The full reference an environment pulls: `<login server>/<repository>:<tag>`."""
    return pulumi.Output.concat(login_server, "/", image.name)


class VersionSource(StrEnum):
    CONFIG = "config"
    LAST_DEPLOYMENT = "last-deployment"
    NONE = "none"


@dataclass(frozen=True)
class ServedModel:
    """The model version this update serves, and where that choice came from."""

    version: str | None
    source: VersionSource


def self_reference_name() -> str:
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


async def resolve_served_model(model_version: str | None) -> ServedModel:
    """The version config names wins; else the version this stack exported last time; else
    nothing yet."""
    if model_version is not None:
        return ServedModel(model_version, VersionSource.CONFIG)
    previous = pulumi.StackReference("previous-deployment", stack_name=self_reference_name())
    details = await previous.get_output_details(SERVED_VERSION_OUTPUT)
    if details.value:
        return ServedModel(str(details.value), VersionSource.LAST_DEPLOYMENT)
    return ServedModel(None, VersionSource.NONE)
