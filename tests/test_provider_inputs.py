"""Every azure-native input the stacks send is one pulumi-azure-native (the version pinned in
pyproject.toml) knows, and every enum-typed input holds one of the provider's own values.

The provider's Python types accept any string where Azure expects an enum, and the mocks
accept anything at all, so a value Azure spells differently (`NoReuse` for `Noreuse`) passes
every other offline test. The provider's SDK is the source here: its input classes name the
properties and its enums list the values the API takes.
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import typing
from enum import Enum
from types import ModuleType
from typing import Any, get_args, get_origin, get_type_hints

from pulumi_azure_native import containerinstance, containerregistry, storage

from components.config import AciConfig, RegistryConfig, StorageConfig
from components.serving.model_service import provider_value

Problems = list[str]


def _module(token: str) -> tuple[ModuleType, type]:
    _, module, name = token.split(":")
    mod = importlib.import_module(f"pulumi_azure_native.{module}")
    return mod, getattr(mod, f"{name}Args")


def _referenced(annotation: Any, mod: ModuleType) -> tuple[list[type], list[type[Enum]]]:
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


def _mapping_values(annotation: Any) -> Any:
    """The value annotation of a Mapping input (tags, addon profiles), else None."""
    if get_origin(annotation) is collections.abc.Mapping:
        return get_args(annotation)[1]
    for arg in get_args(annotation):
        found = _mapping_values(arg)
        if found is not None:
            return found
    return None


def _properties(cls: type) -> dict[str, Any]:
    """The class's inputs by their wire (camelCase) name, with their annotations."""
    parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    wire: dict[str, Any] = {}
    for attribute, member in vars(cls).items():
        name = getattr(getattr(member, "fget", None), "_pulumi_name", None)
        if name is not None and attribute in parameters:
            wire[name] = parameters[attribute].annotation
    return wire


def _check(value: Any, annotation: Any, mod: ModuleType, path: str, problems: Problems) -> None:
    classes, enums = _referenced(annotation, mod)
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, annotation, mod, f"{path}.{i}", problems)
        return
    if enums and isinstance(value, str):
        allowed = {str(member.value) for enum in enums for member in enum}
        if value not in allowed:
            problems.append(f"{path} = {value!r} is not one of {sorted(allowed)}")
        return
    mapping = _mapping_values(annotation)
    if mapping is not None and isinstance(value, dict):
        for key, item in value.items():
            _check(item, mapping, mod, f"{path}.{key}", problems)
        return
    if classes and isinstance(value, dict):
        fitting = [c for c in classes if set(value) <= set(_properties(c))]
        if not fitting:
            problems.append(f"{path} has keys {sorted(value)} no {'/'.join(c.__name__ for c in classes)} takes")
            return
        # A polymorphic input (AmlCompute among the compute kinds) fits if one of its kinds does.
        outcomes: list[Problems] = []
        for cls in fitting:
            found: Problems = []
            properties = _properties(cls)
            for key, item in value.items():
                _check(item, properties[key], mod, f"{path}.{key}", found)
            outcomes.append(found)
        fewest: Problems = min(outcomes, key=len)
        problems.extend(fewest)


def check_registration(token: str, inputs: dict[str, Any]) -> Problems:
    mod, args = _module(token)
    properties = _properties(args)
    problems: Problems = []
    for key, value in inputs.items():
        if key not in properties:
            problems.append(f"{token}: {key} is not an input of {args.__name__}")
            continue
        _check(value, properties[key], mod, f"{token}: {key}", problems)
    return problems


def test_every_azure_native_input_is_a_provider_property_with_a_provider_value(every_run):
    problems: Problems = []
    checked = 0
    for run in every_run:
        for resource in run.azure_resources:
            problems += [
                f"{run.stack} {resource.name}: {p}" for p in check_registration(resource.type, resource.inputs)
            ]
            checked += 1
    assert problems == []
    assert checked > 20


def test_the_check_catches_a_value_the_api_spells_otherwise():
    inputs = {"ipAddress": {"type": "Public", "ports": [], "autoGeneratedDomainNameLabelScope": "NoReuse"}}
    problems = check_registration("azure-native:containerinstance:ContainerGroup", inputs)
    assert len(problems) == 1 and "'NoReuse'" in problems[0]
    assert check_registration("azure-native:containerinstance:ContainerGroup", {"restartPolicy": "always"})
    assert check_registration("azure-native:containerinstance:ContainerGroup", {"restartPolicys": "Always"})


def _choices(model: type, field: str) -> set[str]:
    (literal,) = [a for a in get_args(get_type_hints(model, include_extras=True)[field]) if get_origin(a) is not None]
    return set(get_args(literal))


def test_config_choices_are_values_the_provider_takes():
    # What config accepts must reach Azure as one of the API's values, as sent.
    assert _choices(RegistryConfig, "sku") <= {m.value for m in containerregistry.SkuName}
    assert _choices(StorageConfig, "sku") <= {m.value for m in storage.SkuName}
    assert _choices(AciConfig, "restart_policy") <= {m.value for m in containerinstance.ContainerGroupRestartPolicy}
    reuse = {
        provider_value(containerinstance.DnsNameLabelReusePolicy, v)
        for v in _choices(AciConfig, "dns_name_label_reuse")
    }
    assert containerinstance.DnsNameLabelReusePolicy.UNSECURE not in reuse
    assert len(reuse) == 4
