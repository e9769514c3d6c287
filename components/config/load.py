"""`load_config()`: every `digitre-mlops:*` key of the stack's Pulumi config, read once, validated
and returned as the stack's typed, frozen model, before any resource is declared. Bad config
raises `ConfigError` naming every problem (key, value, rule), and the program declares nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, get_origin

import pulumi
from pulumi.runtime.config import is_config_secret
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from components.config.base import Role, is_section
from components.config.errors import ConfigError
from components.config.messages import describe, show
from components.config.stack import STACK, VARIANTS, AksStackConfig, SharedStackConfig, StackConfig
from components.naming import resource_group_name
from components.types import PROJECT


def load_config(
    stack: str | None = None, config: pulumi.Config | None = None, *, deployed_to: Collection[str] = ()
) -> StackConfig:
    """Read and validate all of this stack's config; raise ConfigError naming every problem.
    `deployed_to` names the environments a pipeline deploys to (the pipeline catalogue's), which
    the shared stack's table must include."""
    stack = pulumi.get_stack() if stack is None else stack
    config = pulumi.Config(PROJECT) if config is None else config
    declared = {to_camel(n): f for model in VARIANTS.values() for n, f in model.model_fields.items() if n != "stack"}
    raw: dict[str, Any] = {"stack": stack}
    for key in sorted(declared.keys() | _configured_keys()):
        value = config.get(key)
        if value is not None:
            raw[key] = _parse_object(value) if key in declared and _arrives_as_json(declared[key]) else value
    try:
        cfg = STACK.validate_python(raw)
    except ValidationError as err:
        raise ConfigError([describe(e, stack) for e in err.errors()]) from None
    problems = [_PLAIN_TEXT_PROBLEM] if is_config_secret(_PLAIN_TEXT) else []
    if isinstance(cfg, SharedStackConfig):
        problems += _environment_problems(cfg, deployed_to)
    if isinstance(cfg, AksStackConfig):
        problems += _zone_outside_own_group(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


# A section whose values reach plain text (the post-deploy check's environment, its logs): a
# Pulumi secret there would be decrypted and leak, so it is refused instead.
_PLAIN_TEXT = f"{PROJECT}:healthCheck"
_PLAIN_TEXT_PROBLEM = f"{_PLAIN_TEXT} must not be a secret: it reaches the post-deploy check in plain text"


def _configured_keys() -> set[str]:
    """This project's keys in the stack's config, as the engine handed them to the program
    (a typo'd key would otherwise be silently ignored)."""
    given = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())
    return {key.removeprefix(f"{PROJECT}:") for key in given if key.startswith(f"{PROJECT}:")}


def _arrives_as_json(field: FieldInfo) -> bool:
    """Objects and lists arrive as JSON text."""
    return is_section(field) or get_origin(field.annotation) in (tuple, list, dict)


def _parse_object(value: str) -> Any:
    # Structured config arrives as JSON text; anything else is passed through so the
    # model reports "must be an object" with the value the user wrote.
    try:
        return json.loads(value)
    except ValueError:
        return value


def _zone_outside_own_group(cfg: AksStackConfig) -> list[str]:
    """The stack grants the public entry's identity DNS Zone Contributor on its zone, and the
    pipelines' identity that deploys it may assign roles in the environment's own resource group only
    (components/devops/platform.py): a zone elsewhere fails the deploy at the grant."""
    zone = cfg.aks.ingress.dns_zone_id
    group = resource_group_name(cfg.prefix, cfg.stack)
    # /subscriptions/<s>/resourceGroups/<g>/...; Azure resource group names ignore case.
    if zone is None or zone.split("/")[4].lower() == group.lower():
        return []
    return [
        f"{PROJECT}:aks.ingress.dnsZoneId must be a DNS zone in this environment's resource group {group}, "
        f"the only group where the pipelines' identity may grant the public entry DNS Zone Contributor, got {zone}"
    ]


def _environment_problems(cfg: SharedStackConfig, deployed_to: Collection[str]) -> list[str]:
    """Names that would declare the shared platform's own resource group twice, and environments
    a pipeline deploys to that the table lacks."""
    problems = []
    reserved = sorted({env for env in cfg.environments if env in (Role.SHARED.value, cfg.stack)})
    if reserved:
        problems.append(
            f"{PROJECT}:environments must not name the shared platform itself "
            f"({Role.SHARED.value!r} or this stack, {cfg.stack!r}), got {show(list(cfg.environments))}: "
            f"remove {', '.join(reserved)}"
        )
    missing = sorted(set(deployed_to) - set(cfg.environments))
    if missing:
        problems.append(
            f"{PROJECT}:environments must include every environment a pipeline deploys to "
            f"({', '.join(sorted(deployed_to))}), got {show(list(cfg.environments))}: missing {', '.join(missing)}"
        )
    return problems
