"""What every config model shares: how a section's keys are spelled and checked, and the
role that picks a stack's model."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo


class Role(StrEnum):
    """What a stack builds. `shared` is the long-lived platform; `environment` serves models."""

    SHARED = "shared"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class RequiredBecause:
    """Beside a required key inside a section: why the stack's role or platform needs it."""

    reason: str


class Section(BaseModel):
    """An object of the stack file: camelCase keys, an unknown key refused, frozen once read."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, validate_by_name=False)


def model_of(annotation: Any) -> Any:
    """The model inside `Model | None` or a list or map of models, else the annotation itself."""
    members = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    return members[0] if members else annotation


def is_section(field: FieldInfo) -> bool:
    """Whether the field holds an object of the stack file (or a list or map of them)."""
    model = model_of(field.annotation)
    return isinstance(model, type) and issubclass(model, Section)
