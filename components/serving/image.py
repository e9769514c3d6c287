"""The serving image's name, in one place for the stacks and the build pipeline.

Both sides derive `<serving.repository>:<serving.modelName>-<version>` with the same function,
from plain values: the stacks from their validated `serving` section, the build pipeline from
the environment stack files that components/config/stack_files.py reads for it
(`python -m commands.image_tag --version <v>`, run with the locked dependencies). One image is built and promoted dev -> qa -> prod, so the
environment stacks must agree on the name; the command refuses to print one when they do
not, and when Azure ML registered the model under another name than `serving.modelName`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.types import PROJECT


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


class ImageNameError(ValueError):
    """The stack files do not name one serving image."""


def promoted_image(
    version: str, servings: Mapping[str, tuple[str, str]], registered_model: str | None = None
) -> ServingImage:
    """The one image every environment pulls for `version`; `servings` maps each environment
    stack to its (`serving.repository`, `serving.modelName`)."""
    images = {stack: serving_image(repository, model, version) for stack, (repository, model) in servings.items()}
    if len(set(images.values())) != 1:
        described = ", ".join(f"{stack}: {image.name}" for stack, image in images.items())
        raise ImageNameError(
            f"the environment stacks name different images for version {version} ({described}); "
            f"one image is promoted dev -> qa -> prod, so {PROJECT}:serving.repository and "
            "serving.modelName must be the same in every environment stack"
        )
    names = {model for _, model in servings.values()}
    if registered_model is not None and registered_model not in names:
        raise ImageNameError(
            f"Azure ML registered model {registered_model!r}, but the stacks serve "
            f"{PROJECT}:serving.modelName {names.pop()!r}: set serving.modelName to the registered name"
        )
    return next(iter(images.values()))
