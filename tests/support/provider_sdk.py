"""pulumi-azure-native's Python SDK read as the provider's schema: for a resource type, its input
classes by their wire (camelCase) property names and the enums an input takes."""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import typing
from enum import Enum
from types import ModuleType
from typing import Any, get_args, get_origin


def sdk_args(token: str) -> tuple[ModuleType, type]:
    _, module, name = token.split(":")
    mod = importlib.import_module(f"pulumi_azure_native.{module}")
    return mod, getattr(mod, f"{name}Args")


def referenced(annotation: Any, mod: ModuleType) -> tuple[list[type], list[type[Enum]]]:
    """The input classes and enums an SDK annotation names (through Union, Sequence, Input)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, typing.ForwardRef):
            names.add(node.__forward_arg__)
        elif isinstance(node, str):
            names.add(node)
        elif isinstance(node, type) and (issubclass(node, Enum) or node.__name__.endswith("Args")):
            names.add(node.__name__)
        for arg in get_args(node):
            walk(arg)
        if get_origin(node) is None and hasattr(node, "__args__"):
            for arg in node.__args__ or ():
                walk(arg)

    walk(annotation)
    found = [getattr(mod, name, None) for name in sorted(names)]
    classes = [c for c in found if isinstance(c, type) and c.__name__.endswith("Args")]
    # A `Known...` enum lists the values the REST spec knows of, not all it takes (data
    # collection rule streams, e.g., also take Container insights' `Microsoft-ContainerLogV2`).
    enums = [c for c in found if isinstance(c, type) and issubclass(c, Enum) and not c.__name__.startswith("Known")]
    return classes, enums


def mapping_values(annotation: Any) -> Any:
    """The value annotation of a Mapping input (tags, addon profiles), else None."""
    if get_origin(annotation) is collections.abc.Mapping:
        return get_args(annotation)[1]
    for arg in get_args(annotation):
        found = mapping_values(arg)
        if found is not None:
            return found
    return None


def wire_properties(cls: type) -> dict[str, Any]:
    """The class's inputs by their wire (camelCase) name, with their annotations."""
    parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    wire: dict[str, Any] = {}
    for attribute, member in vars(cls).items():
        name = getattr(getattr(member, "fget", None), "_pulumi_name", None)
        if name is not None and attribute in parameters:
            wire[name] = parameters[attribute].annotation
    return wire
