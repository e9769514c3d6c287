"""The serving contract an environment stack sets, and the model version it serves: with
`stack_files`, all that the build pipeline reads, so this module imports no Pulumi."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from components.config.base import Section
from components.types import Float, Int

PLATFORMS = "one of aci, aks"
Platform = Annotated[Literal["aci", "aks"], Field(description=PLATFORMS)]

# `modelVersion`: it feeds the image tag, so the build pipeline checks a version by this rule too.
MODEL_VERSION = Field(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$",
    description="a registered model version: 1-30 letters, digits or . _ - (it feeds the image tag)",
)

_HttpPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]{0,100}$", description="an HTTP path starting with /")]


class ServingConfig(Section):
    """The serving contract on either platform: one definition for ACI, the Helm chart and
    the health check. Port and routes default to the Azure ML inference HTTP server's."""

    platform: Platform = "aci"
    repository: Annotated[
        str,
        Field(
            pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
            max_length=64,
            description="a registry repository: lowercase letters, digits and . _ - /, at most 64",
        ),
    ] = "estimation-engine"
    model_name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$",
            description="an Azure ML model name: 1-60 letters, digits or _ . - (it feeds the image tag)",
        ),
    ] = "estimation-model"
    port: Annotated[Int, Field(ge=1, le=65535, description="an integer 1..65535")] = 5001
    health_path: _HttpPath = "/"
    score_path: _HttpPath = "/score"
    cpu: Annotated[Float, Field(ge=0.25, le=4, description="a number of cores 0.25..4")] = 1.0
    memory_gb: Annotated[Float, Field(ge=0.5, le=16, description="a number of GB 0.5..16")] = 1.5


# The platform's own value tells the stack models apart, so each platform's section takes only it.
class AciServingConfig(ServingConfig):
    """The serving contract: one definition for the container group, the Helm chart and the
    health check. Port and routes default to the Azure ML inference HTTP server's."""

    platform: Annotated[Literal["aci"], Field(description=PLATFORMS)] = "aci"


class AksServingConfig(ServingConfig):
    """The serving contract on AKS (see `serving` on ACI)."""

    platform: Annotated[Literal["aks"], Field(description=PLATFORMS)]
