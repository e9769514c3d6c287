"""Every config key of every stack, given a hostile value (wrong type, empty, out of range,
too long), is rejected by an error naming that key; and rejected before any resource is
declared.

The keys are enumerated from the config model itself (the model each stack's role and
serving platform pick), so a key added later is covered without editing this file. Every case runs the config's validation alone (`load_config` on the
config the engine would pass, fast); one case per top-level key runs the whole program too,
to prove that a rejected config declares nothing."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from components.config.errors import ConfigError
from components.types import PROJECT
from offline.evaluate import evaluate, stack_config, validate

LONG = "x" * 300


def model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, field in model.model_fields.items():
        if name == "stack":
            continue
        path = (*prefix, to_camel(name))
        inner = model_of(field.annotation)
        if inner and get_origin(field.annotation) is tuple:
            found += leaves(inner, (*path, "0"))  # a list of objects: the keys of its first item
        elif inner and get_origin(field.annotation) is dict:
            found += leaves(inner, (*path, "dev"))  # a map of objects: the keys of one entry
        else:
            found += leaves(inner, path) if inner else [(path, field.annotation)]
    return found


def hostile_values(annotation: Any) -> list[Any]:
    """Values no key of this type may accept."""
    base = (
        get_args(annotation)[0]
        if get_origin(annotation) is not None and type(None) in get_args(annotation)
        else annotation
    )
    text = str(base)
    if base is Any:  # a free-form JSON document (healthCheck.sampleRequest): objects are fine
        return ["", LONG, 7, {"big": "x" * 20_000}]
    if base is bool or ("bool" in text and "str" not in text):
        # pydantic's lax mode would read every one of these but "maybe" as a boolean.
        return ["", "maybe", "yes", "on", "True", 1, {"nested": 1}]
    if "int" in text or "float" in text:
        return ["", -1, 10**9, LONG, {"nested": 1}]
    if get_origin(base) in (tuple, list) or "tuple" in text:
        # An empty list is legitimate for optional lists; required ones are in test_config's table.
        return ["", [LONG], {"nested": 1}]
    return ["", LONG, {"nested": 1}]


def _keys_by_stack() -> dict[tuple[str, ...], tuple[str, Any]]:
    """Each key with a stack that reads it: the model a stack validates to declares its keys (a
    key every role reads is tried on dev)."""
    found: dict[tuple[str, ...], tuple[str, Any]] = {}
    for stack in ("dev", "prod", "shared"):
        model = type(validate(stack))
        assert issubclass(model, BaseModel), model
        for path, annotation in leaves(model):
            found.setdefault(path, (stack, annotation))
    return found


KEYS = _keys_by_stack()


def stack_for(path: tuple[str, ...]) -> str:
    return KEYS[path][0]


CASES = [(path, value) for path, (_, annotation) in KEYS.items() for value in hostile_values(annotation)]


def override(stack: str, path: tuple[str, ...], value: Any) -> dict[str, str]:
    key = f"{PROJECT}:{path[0]}"
    if len(path) == 1:
        return {key: value if isinstance(value, str) else json.dumps(value)}
    config, _ = stack_config(stack)
    section = json.loads(config.get(key, "{}"))
    target: Any = section
    for part, following in pairwise(path[1:]):
        if isinstance(target, list):
            target = target[int(part)]
        elif following.isdigit():
            target = target.setdefault(part, [dict(VALID_ITEMS[part])])
        else:
            target = target.setdefault(part, dict(VALID_ITEMS.get(part, {})))
    target[path[-1]] = value
    return {key: json.dumps(section)}


# Valid values for the other keys of an object whose one key is made hostile.
VALID_ITEMS: dict[str, dict[str, str]] = {
    "existingCluster": {"name": "aks-x", "resourceGroup": "rg-x"},
    "deployers": {"objectId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "principalType": "User"},
}


def test_every_key_is_covered():
    keys = {".".join(path) for path, _ in CASES}
    assert {
        "role",
        "owner",
        "amlCompute.maxNodes",
        "amlCompute.lowPriority",
        "devops.createProject",
        "aks.systemPool.vmSize",
        "aks.deployers.0.objectId",
        "aks.accessWait.attempts",
        "devops.notificationTo",
        "environments.dev.servingPlatform",
    } <= keys
    assert len(keys) >= 55


@pytest.mark.parametrize(("path", "value"), CASES, ids=[f"{'.'.join(p)}={str(v)[:12]}" for p, v in CASES])
def test_hostile_value_is_rejected_by_key(path, value):
    stack = stack_for(path)
    error = validate(stack, overrides=override(stack, path, value))
    assert isinstance(error, ConfigError), f"{'.'.join(path)}={value!r} was accepted"
    assert f"{PROJECT}:{'.'.join(path)}" in str(error)


# The whole program, for the first hostile value of each top-level key: nothing is declared.
END_TO_END = list({path[0]: (path, value) for path, value in reversed(CASES)}.values())


@pytest.mark.parametrize(("path", "value"), END_TO_END, ids=[f"{'.'.join(p)}={str(v)[:12]}" for p, v in END_TO_END])
def test_hostile_value_is_rejected_before_any_resource(path, value):
    stack = stack_for(path)
    run = evaluate(stack, overrides=override(stack, path, value))
    assert isinstance(run.error, ConfigError), f"{'.'.join(path)}={value!r} was accepted"
    assert f"{PROJECT}:{'.'.join(path)}" in str(run.error)
    assert run.resources == []


def test_the_end_to_end_sample_covers_every_top_level_key():
    assert {path[0] for path, _ in END_TO_END} == {path[0] for path, _ in CASES}


@pytest.mark.parametrize("stack", ["shared", "dev", "prod"])
def test_the_stacks_each_case_starts_from_validate(stack):
    # A hostile case is rejected because of its value, not because its stack never validates.
    assert not isinstance(validate(stack), ConfigError)
