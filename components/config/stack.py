"""A stack's model: what every stack sets, then what its role reads, and for an environment
what its serving platform reads. The union picks the model, so a key the stack does not read
is an unknown key of its own model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, Discriminator, Field, Tag, TypeAdapter

from components.config.base import Role, Section
from components.config.environment import AciConfig, AksConfig, HealthCheckConfig
from components.config.serving import MODEL_VERSION, AciServingConfig, AksServingConfig, ServingConfig
from components.config.shared import (
    AmlComputeConfig,
    DevOpsConfig,
    EnvironmentConfig,
    KeyVaultConfig,
    MonitoringConfig,
    RegistryConfig,
    StorageConfig,
)
from components.regions import AZURE_REGIONS
from components.types import MANAGED_BY, PROJECT, STACK_NAME


def _has_letter_or_digit(value: str) -> str:
    # A tag of spaces or punctuation only says nothing about who owns or pays for a resource.
    if not any(c.isalnum() for c in value) or value != value.strip():
        raise ValueError("blank, or spaces around it")
    return value


def _azure_region(value: str) -> str:
    if value not in AZURE_REGIONS:
        raise ValueError("not an Azure region")
    return value


_ROLES = "one of shared, environment"


class BaseStackConfig(Section):
    """What every stack sets, whatever its role."""

    stack: Annotated[
        str,
        Field(
            pattern=STACK_NAME,
            description="2-8 lowercase letters or digits starting with a letter (it feeds Azure resource names)",
        ),
    ]
    role: Annotated[Role, Field(description=_ROLES)]
    owner: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9 ._@+-]{1,256}$",
            description="1-256 letters, digits, spaces or . _ @ + -, with a letter or digit and no space "
            "at either end (the owner tag, e.g. a team mail)",
        ),
        AfterValidator(_has_letter_or_digit),
    ]
    cost_center: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9._-]{1,64}$",
            description="1-64 letters, digits or . _ -, with a letter or digit (the cost-center tag)",
        ),
        AfterValidator(_has_letter_or_digit),
    ]
    location: Annotated[
        str,
        Field(description="an Azure region's programmatic name such as westeurope (the list: components/regions.py)"),
        AfterValidator(_azure_region),
    ] = "westeurope"
    prefix: Annotated[
        str,
        Field(
            pattern=STACK_NAME,
            description="2-8 lowercase letters or digits starting with a letter (it starts every Azure name)",
        ),
    ] = "digitre"

    @property
    def tags(self) -> dict[str, str]:
        """The tags every taggable Azure resource of this stack carries."""
        return {
            "project": PROJECT,
            "environment": self.stack,
            "managed-by": MANAGED_BY,
            "owner": self.owner,
            "cost-center": self.cost_center,
        }


class SharedStackConfig(BaseStackConfig):
    """The shared platform's stack: what every environment uses, and the environment table."""

    role: Annotated[Literal[Role.SHARED], Field(description=_ROLES)]
    # No default: which environments exist, and what guards them, is the platform's own choice.
    environments: Annotated[
        dict[Annotated[str, Field(pattern=STACK_NAME)], EnvironmentConfig],
        Field(
            min_length=1,
            max_length=10,
            description="a map of 1-10 environment stack names (2-8 lowercase letters or digits each) to objects "
            "with keys servingPlatform, mainOnly, approval",
        ),
    ]
    devops: DevOpsConfig
    registry: RegistryConfig = RegistryConfig()
    aml_compute: AmlComputeConfig = AmlComputeConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    key_vault: KeyVaultConfig = KeyVaultConfig()
    storage: StorageConfig = StorageConfig()


class EnvironmentStackConfig(BaseStackConfig):
    """What an environment's stack sets on either serving platform."""

    role: Annotated[Literal[Role.ENVIRONMENT], Field(description=_ROLES)]
    shared_stack: Annotated[
        str,
        Field(
            pattern=r"^([A-Za-z0-9._-]{1,100}/){0,2}[A-Za-z0-9._-]{1,100}$",
            description="a stack reference such as organization/digitre-mlops/shared",
        ),
    ] = f"organization/{PROJECT}/shared"
    model_version: Annotated[str | None, MODEL_VERSION] = None
    # Either platform's; each platform's model narrows it.
    serving: ServingConfig
    health_check: HealthCheckConfig = HealthCheckConfig()


class AciStackConfig(EnvironmentStackConfig):
    """An environment served by a container group (ACI): plain HTTP on a public address."""

    serving: AciServingConfig = AciServingConfig()
    aci: AciConfig = AciConfig()


class AksStackConfig(EnvironmentStackConfig):
    """An environment served by a Helm release on AKS, over HTTPS only."""

    serving: AksServingConfig
    aks: AksConfig


def _platform(raw: dict[str, Any]) -> str:
    # Anything but aks is validated as aci, whose model then names a bad platform by its rule.
    serving = raw.get("serving")
    return "aks" if isinstance(serving, dict) and serving.get("platform") == "aks" else "aci"


# A stack's config: its role picks the model, and an environment's serving platform picks the
# section it reads, so a key the stack does not read is an unknown key of its own model.
StackConfig = Annotated[
    Annotated[SharedStackConfig, Tag(Role.SHARED.value)]
    | Annotated[
        Annotated[
            Annotated[AciStackConfig, Tag("aci")] | Annotated[AksStackConfig, Tag("aks")], Discriminator(_platform)
        ],
        Tag(Role.ENVIRONMENT.value),
    ],
    Discriminator(lambda raw: raw.get("role")),
]
STACK = TypeAdapter[SharedStackConfig | AciStackConfig | AksStackConfig](StackConfig)


def _variants(annotation: Any, tags: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type[BaseStackConfig]]]:
    """Each model of the union with the tags that select it, e.g. (environment, aks)."""
    if get_origin(annotation) is Annotated:
        inner, *meta = get_args(annotation)
        tags += tuple(m.tag for m in meta if isinstance(m, Tag))
        yield from _variants(inner, tags)
    elif isinstance(annotation, type) and issubclass(annotation, BaseStackConfig):
        yield tags, annotation
    else:
        for member in get_args(annotation):
            yield from _variants(member, tags)


# (shared,), (environment, aci), (environment, aks): what the messages name a key's readers by.
VARIANTS: dict[tuple[str, ...], type[BaseStackConfig]] = dict(_variants(StackConfig))
