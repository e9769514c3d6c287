"""docs/configuration.md: generated from the config model, fresh, and true of the stack files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, TypeAdapter

from components.types import PROJECT
from offline.configuration import CONFIG_DOCS, NOTES, Key, config_keys, render_configuration
from offline.evaluate import ROOT


def test_configuration_docs_are_generated_from_the_current_config_model() -> None:
    assert CONFIG_DOCS.read_text() == render_configuration(), (
        "docs/configuration.md is stale: run python -m offline.plan --docs"
    )


def test_every_note_is_about_a_key_the_model_has() -> None:
    keys = {key.path for key in config_keys()}
    assert sorted(set(NOTES) - keys) == [], "notes in offline/configuration.py about keys the config model lacks"


def _documented(path: str, value: Any, documented: dict[str, Key]) -> list[tuple[str, Key | None]]:
    """The documented keys a stack file's value sets: objects open into their keys, lists of
    objects into `[]`; a value whose path is documented is one key."""
    if path in documented:
        return [(path, documented[path])]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _documented(f"{path}.{k}", v, documented)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [found for v in value for found in _documented(f"{path}[]", v, documented)]
    return [(path, None)]


def _holds(condition: str, config: dict[str, Any]) -> bool:
    """`a.b: v` holds when the stack file sets a.b to v (any of `x or y`)."""
    for alternative in condition.split(" or "):
        if all(_value_at(config, part.split(": ")[0]) == part.split(": ")[1] for part in alternative.split(", ")):
            return True
    return False


def _value_at(config: dict[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:  # unset: the key's default, as the page gives it
        default = next(k.default for k in config_keys() if k.path == path)
        return default.strip("`")
    return value


def test_every_key_the_stack_files_set_is_documented_as_read_by_that_stack() -> None:
    documented = {key.path: key for key in config_keys()}
    checked = 0
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        raw = yaml.safe_load(path.read_text())["config"]
        config = {key.removeprefix(f"{PROJECT}:"): value for key, value in raw.items()}
        for name, value in config.items():
            for key_path, key in _documented(name, value, documented):
                assert key is not None, f"{path.name} sets {key_path}, which docs/configuration.md does not list"
                unmet = [c for c in key.conditions if not _holds(c, config)]
                assert unmet == [], f"{path.name} sets {key_path}, documented as read only by {unmet}"
                checked += 1
    assert checked > 30


class _Shared(BaseModel):
    role: Literal["shared"]
    owner: str
    registry: Annotated[str, Field(description="a registry")] = "acr"


class _Environment(BaseModel):
    role: Literal["environment"]
    owner: str
    model: Annotated[str | None, Field(description="a model")] = None


def test_a_union_of_models_by_role_gives_each_key_the_role_that_reads_it() -> None:
    # The config model is headed for one model per role; the page must follow it there.
    union = Annotated[_Shared | _Environment, Field(discriminator="role")]
    keys = {k.path: k for k in config_keys(TypeAdapter(union).json_schema(by_alias=True))}
    assert keys["owner"].conditions == () and keys["owner"].default == "required"
    assert keys["registry"].conditions == ("role: shared",) and keys["registry"].default == "`acr`"
    assert keys["model"].conditions == ("role: environment",) and keys["model"].rule == "a model"
    assert "role" in keys
