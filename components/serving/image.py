"""The serving image's name, in one place for the stacks and the build pipeline.

Both sides derive `<serving.repository>:<serving.modelName>-<version>` from the same stack
config with the same function: the stacks from their validated `serving` section, the build
pipeline from the environment stacks' files (`python -m commands.image_tag --version <v>`,
run with the locked dependencies). One image is built and promoted dev -> qa -> prod, so the
environment stacks must agree on the name; the command refuses to print one when they do
not, and when Azure ML registered the model under another name than `serving.modelName`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from components.config import PROJECT, EnvironmentStackConfig, Role, ServingConfig

ROOT = Path(__file__).resolve().parents[2]


def image_tag(model_name: str, version: str) -> str:
    """The tag: `<model>-<version>`, lowercased."""
    return f"{model_name}-{version}".lower()


@dataclass(frozen=True)
class ServingImage:
    """A serving image in the shared registry, without the registry's login server."""

    repository: str
    tag: str

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"


def serving_image(repository: str, model_name: str, version: str) -> ServingImage:
    """The image an environment serving `model_name` from `repository` pulls for a model version."""
    return ServingImage(repository=repository, tag=image_tag(model_name, version))


class ImageNameError(Exception):
    """The stack files do not name one serving image."""


def environment_serving(root: Path = ROOT) -> dict[str, ServingConfig]:
    """Each environment stack's `serving` section, validated as the stack validates it."""
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
            raise ImageNameError(f"{path.name}: {PROJECT}:serving is invalid: {err}") from None
    if not found:
        raise ImageNameError(f"no environment stack file (Pulumi.<stack>.yaml with role environment) in {root}")
    return found


# The stacks' own rule for digitre-mlops:modelVersion, so the pipeline accepts no version they refuse.
_VERSION_FIELD = EnvironmentStackConfig.model_fields["model_version"]
_VERSION = TypeAdapter(Annotated[str, *_VERSION_FIELD.metadata])


def promoted_image(version: str, registered_model: str | None = None, root: Path = ROOT) -> ServingImage:
    """The one image every environment stack pulls for `version`."""
    try:
        _VERSION.validate_python(version)
    except ValidationError:
        raise ImageNameError(f"{version!r} is not a model version: {_VERSION_FIELD.description}") from None
    servings = environment_serving(root)
    images = {
        stack: serving_image(serving.repository, serving.model_name, version) for stack, serving in servings.items()
    }
    if len(set(images.values())) != 1:
        described = ", ".join(f"{stack}: {image.name}" for stack, image in images.items())
        raise ImageNameError(
            f"the environment stacks name different images for version {version} ({described}); "
            f"one image is promoted dev -> qa -> prod, so {PROJECT}:serving.repository and "
            "serving.modelName must be the same in every environment stack"
        )
    names = {serving.model_name for serving in servings.values()}
    if registered_model is not None and registered_model not in names:
        raise ImageNameError(
            f"Azure ML registered model {registered_model!r}, but the stacks serve "
            f"{PROJECT}:serving.modelName {names.pop()!r}: set serving.modelName to the registered name"
        )
    return next(iter(images.values()))
