"""Pydantic's errors as the one line a person reads: the key (as the stack file spells it),
the value and the rule, from the error's own type and location and the model's fields."""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from components.config.base import RequiredBecause, is_section, model_of
from components.config.stack import VARIANTS, BaseStackConfig
from components.types import PROJECT


def describe(error: Any, stack: str) -> str:
    """One line naming the key, the value and the rule, from pydantic's own error: its type,
    where it is (the tags of the model the stack's role and platform picked, then the key) and
    the value given."""
    kind, loc = error["type"], tuple(str(part) for part in error["loc"] if part != "[key]")
    tags = max((t for t in VARIANTS if loc[: len(t)] == t), key=len, default=())
    model, loc = VARIANTS.get(tags, BaseStackConfig), loc[len(tags) :]
    if kind.startswith("union_tag"):  # the role picks the model: it is missing, or no role
        kind, loc, error = kind.replace("union_tag_not_found", "missing"), ("role",), {**error, **error["ctx"]}
    key = "stack name" if loc == ("stack",) else f"{PROJECT}:{'.'.join(loc)}"
    path = _fields_at(model, loc)
    if kind == "extra_forbidden":
        readers = [t for t, m in VARIANTS.items() if len(loc) == 1 and _field(m, loc[0])]
        remove = f": remove it from Pulumi.{stack}.yaml"
        platforms = [t[-1] for t in readers if t[0] == tags[0]]
        if platforms:
            return f"{key} is only read when serving.platform is {platforms[0]}, not {tags[-1]}{remove}"
        if readers:
            return f"{key} is only read by stacks of another role, not role {tags[0]}{remove}"
        return f"{key} is not a known key; known keys: {', '.join(_known_keys(model, loc[:-1]))}"
    if kind == "missing":
        return f"{key} is required{_required_by(tags, loc, path)}: set it to {_rule(model, loc)}"
    if kind == "value_error" and path and is_section(path[-1]):
        # A rule across keys of one object (e.g. max below min).
        return f"{key} is invalid: {error['msg'].removeprefix('Value error, ')}"
    rule = _rule(model, loc) or error["msg"]
    if path and SecretStr in (path[-1].annotation, *get_args(path[-1].annotation)):
        return f"{key} must be {rule}"  # the value is a secret: never repeat it
    return f"{key} must be {rule}, got {show(error.get('tag', error['input']))}"


def _required_by(tags: tuple[str, ...], loc: tuple[str, ...], path: list[FieldInfo]) -> str:
    """What makes a missing key required: the role or serving platform whose model alone
    declares it (for a key of its own, or one that says why it is required)."""
    reasons = [m.reason for m in path[-1].metadata if isinstance(m, RequiredBecause)] if path else []
    if not tags or (len(loc) > 1 and not reasons):
        return ""
    why = "".join(f" ({reason})" for reason in reasons)
    readers = [t for t, m in VARIANTS.items() if _field(m, loc[0])]
    if readers == [t for t in VARIANTS if t[0] == tags[0]]:
        return f" for role {tags[0]}{why}"
    return f" when serving.platform is {tags[-1]}{why}" if readers == [tags] else why


def _field(model: Any, key: str) -> FieldInfo | None:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    return next((f for n, f in model.model_fields.items() if key in (n, to_camel(n))), None)


def _fields_at(model: type[BaseModel], loc: tuple[str, ...]) -> list[FieldInfo]:
    """The fields along `loc`, from `model` down; empty when `loc` names no field."""
    found: list[FieldInfo] = []
    keyed = False
    for part in loc:
        if found and (keyed or part.isdigit()):
            keyed = False
            continue  # an item of a list or a map: its rule is the list's or the map's
        field = _field(model_of(found[-1].annotation) if found else model, part)
        if field is None:
            return []
        found.append(field)
        keyed = get_origin(field.annotation) is dict
    return found


def _rule(model: type[BaseModel], loc: tuple[str, ...]) -> str:
    path = _fields_at(model, loc)
    if not path:
        return ""
    if path[-1].description:
        return str(path[-1].description)
    return f"an object with keys {', '.join(_known_keys(model, loc))}" if is_section(path[-1]) else ""


def _known_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    path = _fields_at(model, loc)
    inner = model_of(path[-1].annotation) if path else model
    return [to_camel(n) for n in inner.model_fields if n != "stack"]


def show(value: Any) -> str:
    if isinstance(value, str) and value and value.strip() == value:
        return value
    return json.dumps(value)
