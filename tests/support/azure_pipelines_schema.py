"""Validate Azure Pipelines YAML against Microsoft's schema, read the way Azure reads it.

check-jsonschema vendors the schema (`vendor.azure-pipelines`) and the transform that
unnests compile-time `${{ }}` expressions. Azure reads every scalar as a string, so the
YAML is loaded with PyYAML's BaseLoader (a plain load would report `1500 is not of type
'string'`), and the schema's patterns are compiled as the `nonunicode` regex variant (the
default variant fails on some of them). One exception to "every scalar a string": the
schema types some task inputs (`addSpnToEnvironment`) as booleans, and the agent converts a
task's `true`/`false` inputs to booleans by the task's input types, so task inputs spelled
true or false are read as booleans.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
from check_jsonschema.formats import FormatOptions
from check_jsonschema.regex_variants import RegexImplementation, RegexVariantName
from check_jsonschema.schema_loader import BuiltinSchemaLoader
from check_jsonschema.transforms import TRANSFORM_LIBRARY

from tests.support.pipeline_jobs import load


def load_as_azure(path: Path) -> Any:
    """The document with every scalar a string and `${{ }}` expressions unnested."""
    document = load(path)
    document = _parameters_expanded(document)
    return _task_inputs_as_the_agent_reads_them(TRANSFORM_LIBRARY["azure-pipelines"](document))


def _parameters_expanded(document: Any) -> Any:
    """A template's `${{ parameters.x }}` inside a scalar replaced by a value it may take
    (its default, else its first allowed value), as Azure expands it at compile time
    before anything is validated: `job: preview_${{ parameters.stack }}` is a valid job
    id only once expanded."""
    declared = document.get("parameters") if isinstance(document, dict) else None
    if not isinstance(declared, list):
        return document
    values: dict[str, str] = {}
    for parameter in declared:
        if not isinstance(parameter, dict) or "name" not in parameter:
            continue
        value = parameter.get("default", (parameter.get("values") or [None])[0])
        if isinstance(value, str):
            values[parameter["name"]] = value

    def expand(node: Any) -> Any:
        if isinstance(node, list):
            return [expand(item) for item in node]
        if isinstance(node, dict):
            return {
                key: expand(value) if key != "parameters" or node is not document else value
                for key, value in node.items()
            }
        if isinstance(node, str):
            return re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), node)
        return node

    return expand(document)


def _task_inputs_as_the_agent_reads_them(node: Any) -> Any:
    if isinstance(node, list):
        return [_task_inputs_as_the_agent_reads_them(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _task_inputs_as_the_agent_reads_them(value) for key, value in node.items()}
    if "task" in node and isinstance(node.get("inputs"), dict):
        node["inputs"] = {
            key: {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value
            for key, value in node["inputs"].items()
        }
    return node


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    regex = RegexImplementation(RegexVariantName.nonunicode)
    loader = BuiltinSchemaLoader("vendor.azure-pipelines")
    return loader.get_validator(
        "vendor.azure-pipelines", {}, FormatOptions(regex_impl=regex), regex, fill_defaults=False
    )


def schema_errors(path: Path) -> list[str]:
    """Every schema violation in the file, as `location: message`."""
    errors = _validator().iter_errors(load_as_azure(path))
    return sorted(f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors)
