"""docs/configuration.md, generated from the config model: every key a stack file may set.

    python -m offline.plan --docs        # regenerates it with docs/architecture.md

The keys come from the JSON schema pydantic derives from the type `load_config()` returns, so
the page follows the model whatever its shape: nested sections, lists and maps of objects,
and unions of models told apart by a constant key (a stack's role, a serving platform) each
become a path and the condition under which it is read. A key's rule is its `Field`
description, the text the config error prints.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from components.config.load import load_config
from components.types import PROJECT
from offline.evaluate import ROOT

CONFIG_DOCS = ROOT / "docs" / "configuration.md"

# Set by `load_config()` from the stack's name, not read from the stack file.
NOT_A_KEY = frozenset({"stack"})

# What a key's one-line rule cannot say: its purpose, what unset means, and the rules that
# tie it to other keys (checked by the config model or `load_config()`, whose messages name
# them). A test fails when a note names a key the model no longer has.
NOTES: Mapping[str, str] = {
    "modelVersion": "unset: the version the stack exported last (`modelVersion` output), so a preview "
    "proposes no rollback; given with `pulumi up --config`, never committed (a test refuses it)",
    "environments": "the environments whose resource groups the shared stack declares: every environment "
    "a pipeline deploys to, each once, never `shared` or the shared stack's own name",
    "registry.sku": "Premium is what Microsoft documents as the prerequisite for ACI's managed-identity "
    "pull: keep it while any environment serves on ACI",
    "aci.dnsNameLabelReuse": "never `Unsecure` (it leaves the label open to subdomain takeover)",
    "aks.kubernetesVersion": "unset: Azure's default version",
    "aks.existingCluster.name": "an AKS cluster to look up instead of creating one; it must run Kubernetes "
    "1.33 or later with a node pool labelled `workload=estimation-engine` on Azure Linux or Ubuntu 24.04+ "
    "(the engine's pods set `hostUsers: false`)",
    "aks.maxReplicas": "not below `minReplicas`",
    "aks.systemPool.maxCount": "not below `minCount`",
    "aks.userPool.maxCount": "not below `minCount`",
    "aks.deployers": "who besides the pipelines' identity (always there) gets cluster-admin to install the "
    "release; each once, never the pipelines' identity",
    "aks.accessWait.intervalSeconds": "`attempts` times `intervalSeconds` is at least 300 s (Azure RBAC "
    "on AKS takes up to five minutes to apply a grant)",
    "aks.ingress.host": "`aks.ingress` is required when serving on aks: it is served over HTTPS only",
    "aks.ingress.dnsZoneId": "in the environment's own resource group (any other is refused): the only "
    "group where the pipelines' identity may grant the entry's identity DNS Zone Contributor; the "
    "add-on's external-dns then keeps the host's record",
    "devops.organizationUrl": "the `devops` object is required on the shared stack",
    "devops.notificationTo": "who gets the teardown notice and the drift mail",
    "devops.pulumiStateStorageAccount": "with an `azblob://` backend: the account the URL names "
    "(`storage_account=`), required when the URL names none",
    "devops.pulumiStateResourceGroup": "required with an `azblob://` backend: the pipelines' state roles "
    "go on its container",
    "devops.sendgridApiKey": "the teardown and drift mail's key; a plain value is refused",
    "devops.keyVaultCryptoOfficers": "granted Key Vault Crypto Officer on the shared vault: the people "
    "who create the Pulumi secrets key and use it",
    "devops.keyVaultSecretsOfficers": "granted Key Vault Secrets Officer on the shared vault: the people "
    "who deploy `shared` (deleting or renaming the stack's SendGrid secret takes it); empty, a preview warns",
}

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Key:
    """One key a stack file may set."""

    path: str
    conditions: tuple[str, ...]
    default: str
    rule: str


def config_schema() -> Schema:
    """The JSON schema of what `load_config()` returns, keys by their stack-file names."""
    root = typing.get_type_hints(load_config, include_extras=True)["return"]
    return TypeAdapter(root).json_schema(by_alias=True)


def _resolve(schema: Schema, defs: Schema) -> Schema:
    while "$ref" in schema:
        schema = {**defs[schema["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _members(schema: Schema, defs: Schema) -> list[Schema]:
    """The alternatives of a union, without `null` (an optional value is not a union)."""
    options = schema.get("oneOf") or schema.get("anyOf") or [schema]
    return [_resolve(option, defs) for option in options if option.get("type") != "null"]


def _is_union(schema: Schema) -> bool:
    return "oneOf" in schema or "anyOf" in schema


def _objects(schema: Schema, defs: Schema) -> list[Schema]:
    """The models of a union, nested unions opened."""
    if not _is_union(schema):
        return [schema]
    return [o for member in _members(schema, defs) for o in _objects(member, defs)]


def _constant(schema: Schema) -> object | None:
    if "const" in schema:
        return schema["const"]
    values = schema.get("enum")
    return values[0] if isinstance(values, list) and len(values) == 1 else None


def _constants(schema: Schema, defs: Schema, prefix: str) -> dict[str, object]:
    """The keys that hold one constant value in this model (or in every model of a union)."""
    if _is_union(schema):
        each = [_constants(member, defs, prefix) for member in _members(schema, defs)]
        return {k: v for k, v in each[0].items() if all(other.get(k) == v for other in each[1:])}
    found: dict[str, object] = {}
    for name, prop in (schema.get("properties") or {}).items():
        prop = _resolve(prop, defs)
        value = _constant(prop)
        if value is not None:
            found[prefix + name] = value
        elif _is_object(prop):
            found.update(_constants(prop, defs, f"{prefix}{name}."))
    return found


def _is_object(schema: Schema) -> bool:
    return bool(schema.get("properties"))


def _show_default(value: object) -> str:
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(value, separators=(', ', ': '))}`"


def _is_secret(schema: Schema) -> bool:
    return schema.get("writeOnly") is True or schema.get("format") == "password"


def _walk(schema: Schema, defs: Schema, prefix: str, optional: str = "") -> Iterator[Key]:
    """The keys of one object schema, each with the conditions (inside it) under which it is
    read; `optional` names the object when it may be left out as a whole."""
    required = set(schema.get("required") or ())
    for name, prop in (schema.get("properties") or {}).items():
        if not prefix and name in NOT_A_KEY:
            continue
        path = prefix + name
        members = _members(prop, defs)
        objects = [m for m in members if _is_object(m)]
        if objects and len(objects) == len(members):
            may_omit = path if name not in required and _resolve(prop, defs).get("default", {}) is None else ""
            yield from _walk_union(objects, defs, path + ".", may_omit)
            continue
        resolved = _resolve(prop, defs)
        items = _resolve(resolved.get("items") or {}, defs)
        values = resolved.get("additionalProperties")
        values = _resolve(values, defs) if isinstance(values, Mapping) else {}
        rule = str(resolved.get("description") or (members[0].get("description") if members else "") or "")
        if name in required:
            default = f"required with `{optional}`" if optional else "required"
        else:
            default = _show_default(resolved.get("default"))
        if any(_is_secret(m) for m in members):
            default += ", a Pulumi secret"
        yield Key(path, (), default, rule)
        if _is_object(items):
            yield from _walk(items, defs, path + "[].", path)
        if _is_object(values):
            yield from _walk(values, defs, path + ".<name>.", path)


def _walk_union(variants: list[Schema], defs: Schema, prefix: str, optional: str = "") -> Iterator[Key]:
    """The keys of the models of a union, each with what selects the models that read it: the
    keys whose constant value tells the models apart (a nested union, by what its models share)."""
    if len(variants) == 1 and not _is_union(variants[0]):
        yield from _walk(variants[0], defs, prefix, optional)
        return
    if len(variants) == 1:
        variants = _members(variants[0], defs)
    constants = [_constants(v, defs, prefix) for v in variants]
    telling = {k for c in constants for k in c if any(other.get(k) != c[k] for other in constants)}
    seen: dict[tuple[str, str, str, tuple[str, ...]], list[tuple[str, Key]]] = {}
    for variant, constant in zip(variants, constants, strict=True):
        condition = ", ".join(f"{k}: {v}" for k, v in constant.items() if k in telling)
        for key in _walk_union([variant], defs, prefix, optional):
            # The key that tells the models apart is one key: unset, it selects the model whose default it is.
            group = (key.path, "", "", ()) if key.path in telling else (key.path, key.default, key.rule, key.conditions)
            seen.setdefault(group, []).append((condition or variant.get("title", "one model"), key))
    for found in seen.values():
        if len(found) == len(variants):
            yield next((k for _, k in found if k.default != "required"), found[0][1])
        else:
            either = " or ".join(c for c, _ in found)
            key = found[0][1]
            yield Key(key.path, (either, *key.conditions), key.default, key.rule)


def config_keys(schema: Schema | None = None) -> list[Key]:
    """Every key of `schema` (the config model's by default), in the model's order."""
    schema = config_schema() if schema is None else schema
    return list(_walk_union([schema], schema.get("$defs", {}), ""))


def _section_description(schema: Schema, path: str) -> str:
    """The docstring of the model a section is made of (in the first model that has it)."""
    defs = schema.get("$defs", {})
    for node in _objects(schema, defs):
        for part in path.split("."):
            prop = (node.get("properties") or {}).get(part)
            members = [m for m in _members(prop, defs) if _is_object(m)] if prop is not None else []
            if not members:
                break
            node = members[0]
        else:
            return " ".join(str(node.get("description") or "").split())
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_configuration() -> str:
    keys = config_keys()
    schema = config_schema()
    lines = [
        "# Configuration",
        "",
        "Generated by `python -m offline.plan --docs` from the config model (`components/config/`),",
        "through the JSON schema pydantic derives from it. Do not edit by hand: a test fails when",
        "this file is stale.",
        "",
        f"Every key lives under `{PROJECT}:` in `Pulumi.<stack>.yaml`. The config is read and",
        "validated once, before any resource is declared; a bad value stops the program with one",
        "line naming the key, the value and the rule below (a secret's value is never repeated),",
        "e.g. `digitre-mlops:amlCompute.maxNodes must be an integer 1..100, got -1`, and a key the",
        "model does not know (a typo) is an error, not ignored. Objects and lists are",
        "set as YAML objects and lists, or with `pulumi config set --path`; flags are YAML `true`",
        "and `false`, never `yes` or `1`.",
        "",
        "*Read by* says which stacks read a key (a stack's role, its serving platform); a key set",
        "where it is not read is refused. *Default* is what an unset key means; `required` keys",
        "have no sane default. `<name>` stands for a key of your choosing, `[]` for each item of a",
        "list. The rules that tie keys together (a maximum not below its minimum, a DNS zone in the",
        "environment's own resource group, ...) are checked too; their messages say so by name.",
        "",
        "The stack's name feeds Azure names, so it follows the same rule as `prefix`. Globally unique",
        "names (storage, Key Vault, registry) end in a 6-character hash of prefix and stack. Every",
        "taggable resource carries the tags `project`, `environment`, `managed-by`, `owner` and",
        "`cost-center`. `uv run python -m offline.plan <stack>` prints the names a config gives.",
    ]
    by_section: dict[str, list[Key]] = {}
    for key in keys:
        top = key.path.split(".", 1)[0].split("[", 1)[0] if "." in key.path or "[" in key.path else ""
        by_section.setdefault(top, []).append(key)
    for section, rows in by_section.items():
        title = f"`{section}`" if section else "Stack-wide keys"
        lines += ["", f"## {title}", ""]
        about = _section_description(schema, section) if section else ""
        if about:
            lines += [about, ""]
        lines += ["| key | read by | default | rule |", "|---|---|---|---|"]
        for key in rows:
            read_by = "; ".join(key.conditions) or "every stack"
            rule = f"{key.rule}; {NOTES[key.path]}" if key.path in NOTES else key.rule
            lines.append(f"| `{key.path}` | {_cell(read_by)} | {_cell(key.default)} | {_cell(rule)} |")
    return "\n".join(lines) + "\n"
