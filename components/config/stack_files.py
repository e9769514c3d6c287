"""The environments' `serving` sections, read from the stack files outside a Pulumi program:
what the build pipeline names the image by. No Pulumi here, and only the serving models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from components.config.base import Role
from components.config.serving import MODEL_VERSION, ServingConfig
from components.types import PROJECT


class StackFileError(ValueError):
    """A stack file read outside a Pulumi program (by a pipeline's command) breaks a rule."""


def environment_servings(root: Path) -> dict[str, ServingConfig]:
    """Each environment stack file's `serving` section under `root`, validated as the stack
    validates it: what a pipeline reads to name the image the stacks will pull."""
    found: dict[str, ServingConfig] = {}
    for path in sorted(root.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        if config.get(f"{PROJECT}:role") != Role.ENVIRONMENT.value:
            continue
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        section: Any = config.get(f"{PROJECT}:serving", {})
        if isinstance(section, str):  # `pulumi config set` may store an object as JSON text
            section = json.loads(section)
        try:
            found[stack] = ServingConfig.model_validate(section)
        except ValidationError as err:
            raise StackFileError(f"{path.name}: {PROJECT}:serving is invalid: {err}") from None
    if not found:
        raise StackFileError(f"no environment stack file (Pulumi.<stack>.yaml with role environment) in {root}")
    return found


def check_model_version(version: str) -> str:
    """`version` if the stacks accept it as `modelVersion`, so a pipeline names no image they refuse."""
    try:
        TypeAdapter(Annotated[str, MODEL_VERSION]).validate_python(version)
    except ValidationError:
        raise StackFileError(f"{version!r} is not a model version: {MODEL_VERSION.description}") from None
    return version
