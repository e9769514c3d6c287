"""The jobs of a pipeline as Azure compiles them: templates inlined with their parameters,
`${{ if }}` insertions decided, `${{ parameters.x }}` substituted. Each step inlined from a
template remembers it (`__template__`, `__parameters__`), so tests can ask "does this job
install kubelogin before it runs pulumi on prod?". Also runs a step's script the way the agent
would: `$(Variable)` macros replaced first (unknown ones left as they are), then bash.

Only the template-expression subset these files use is understood (eq, ne, and, or, not,
parameters.x, quoted strings, `each` over a parameter); anything else raises, so a new construct is noticed.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.evaluate import ROOT

PIPELINES_DIR = ROOT / "pipelines"
_IF = re.compile(r"^\$\{\{\s*if\s+(.*?)\s*\}\}$")
_PARAMETER = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")
_EACH = re.compile(r"^\$\{\{\s*each\s+(\w+)\s+in\s+parameters\.(\w+)\s*\}\}$")


@dataclass
class Job:
    name: str
    steps: list[dict[str, Any]]
    depends_on: list[str]
    stage: str | None
    # `timeoutInMinutes` as written (None: unset); agentless jobs run in `pool: server`.
    timeout_minutes: int | None = None
    agentless: bool = False


def load(path: Path) -> Any:
    """The YAML file as Azure reads it, every scalar a string. Parsed once per content (libyaml's
    parser; the suite reads these files hundreds of times), a fresh copy each call."""
    return copy.deepcopy(_parsed(path.read_text()))


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CBaseLoader)


def jobs_of(path: Path) -> list[Job]:
    """Every job of the pipeline file at `path`, compiled."""
    raw = load(path)
    # A pipeline's own parameters, as a run that sets none of them sees them.
    defaults = {p["name"]: p.get("default") for p in raw.get("parameters", [])}
    document = expand(raw, defaults, path.parent)
    pool = document.get("pool")
    if "stages" in document:
        return [job for stage in document["stages"] for job in _jobs(stage.get("jobs", []), stage["stage"], pool)]
    if "jobs" in document:
        return _jobs(document["jobs"], None, pool)
    return [Job("__default", document.get("steps", []), [], None, _timeout(document), pool == "server")]


def _jobs(jobs: list[dict[str, Any]], stage: str | None, pool: Any = None) -> list[Job]:
    compiled = []
    for job in jobs:
        name = str(job.get("job") or job.get("deployment"))
        steps = job.get("steps") or job.get("strategy", {}).get("runOnce", {}).get("deploy", {}).get("steps", [])
        depends = job.get("dependsOn", [])
        agentless = job.get("pool", pool) == "server"
        compiled.append(
            Job(name, steps, [depends] if isinstance(depends, str) else list(depends), stage, _timeout(job), agentless)
        )
    return compiled


def _timeout(node: dict[str, Any]) -> int | None:
    value = node.get("timeoutInMinutes")
    return None if value is None else int(value)


def expand(node: Any, parameters: dict[str, Any], base: Path) -> Any:
    if isinstance(node, list):
        items: list[Any] = []
        for item in node:
            if isinstance(item, dict) and len(item) == 1 and _IF.match(next(iter(item))):
                (condition, body) = next(iter(item.items()))
                if evaluate(_IF.match(condition).group(1), parameters):  # type: ignore[union-attr]
                    items.extend(expand(body, parameters, base))
            elif isinstance(item, dict) and len(item) == 1 and _EACH.match(next(iter(item))):
                (loop, body) = next(iter(item.items()))
                variable, over = _EACH.match(loop).groups()  # type: ignore[union-attr]
                for value in parameters[over]:
                    items.extend(expand(_substitute(body, variable, value), parameters, base))
            elif isinstance(item, dict) and "template" in item:
                items.extend(_inline(item, parameters, base))
            else:
                items.append(expand(item, parameters, base))
        return items
    if isinstance(node, dict):
        mapping: dict[str, Any] = {}
        for key, value in node.items():
            match = _IF.match(key)
            if match:
                if evaluate(match.group(1), parameters):
                    mapping.update(expand(value, parameters, base))
            else:
                mapping[key] = expand(value, parameters, base)
        return mapping
    if isinstance(node, str):
        whole = _PARAMETER.fullmatch(node.strip())
        if whole and not isinstance(parameters.get(whole.group(1)), str) and whole.group(1) in parameters:
            return parameters[whole.group(1)]
        return _PARAMETER.sub(lambda m: str(parameters.get(m.group(1), m.group(0))), node)
    return node


def _substitute(node: Any, variable: str, value: Any) -> Any:
    """`${{ variable }}` of an `each` loop replaced by one of its values."""
    if isinstance(node, list):
        return [_substitute(item, variable, value) for item in node]
    if isinstance(node, dict):
        return {_substitute(k, variable, value): _substitute(v, variable, value) for k, v in node.items()}
    if isinstance(node, str):
        return re.sub(r"\$\{\{\s*" + variable + r"\s*\}\}", str(value), node)
    return node


def _inline(item: dict[str, Any], outer: dict[str, Any], base: Path) -> list[Any]:
    path = base / item["template"]
    template = load(path)
    given = expand(item.get("parameters") or {}, outer, base)
    parameters = {p["name"]: p.get("default") for p in template.get("parameters", [])}
    unknown = set(given) - set(parameters)
    if unknown:
        raise ValueError(f"{path.name} has no parameters {sorted(unknown)}")
    parameters.update(given)
    for p in template.get("parameters", []):
        if "values" in p and parameters[p["name"]] not in p["values"]:
            raise ValueError(f"{path.name}: {p['name']}={parameters[p['name']]!r} not in {p['values']}")
    body_key = next(k for k in ("steps", "jobs", "stages") if k in template)
    body = expand(template[body_key], parameters, path.parent)
    if body_key == "steps":
        # The innermost template wins: a step keeps the name of the template that wrote it.
        body = [{"__template__": path.name, "__parameters__": parameters, **step} for step in body]
    return body


Atom = Callable[[str], "tuple[Any, str] | None"]


def _parse(text: str, atom: Atom) -> tuple[Any, str]:
    """One value of the expression subset these files use: a quoted string, what `atom` reads
    (a parameter, a variable, `succeeded()`), or eq, ne, and, or, not of values (eq and ne
    compare case-insensitively, as Azure's do). Anything else raises, so a new construct is
    noticed."""
    text = text.lstrip()
    if text.startswith("'"):
        end = text.index("'", 1)
        return text[1:end], text[end + 1 :]
    found = atom(text)
    if found is not None:
        return found
    match = re.match(r"(eq|ne|and|or|not)\(", text)
    if not match:
        raise ValueError(f"cannot evaluate {text!r}")
    args, rest = [], text[match.end() :]
    while True:
        value, rest = _parse(rest, atom)
        args.append(value)
        rest = rest.lstrip()
        if rest.startswith(","):
            rest = rest[1:]
            continue
        if rest.startswith(")"):
            rest = rest[1:]
            break
        raise ValueError(f"cannot evaluate {text!r}")
    name = match.group(1)
    if name in ("eq", "ne"):
        equal = str(args[0]).lower() == str(args[1]).lower()
        return (equal if name == "eq" else not equal), rest
    if name == "and":
        return all(args), rest
    if name == "or":
        return any(args), rest
    return not args[0], rest


def _whole(expression: str, atom: Atom) -> Any:
    value, rest = _parse(expression.strip(), atom)
    if rest.strip():
        raise ValueError(f"cannot evaluate {expression!r}")
    return value


def evaluate(expression: str, parameters: dict[str, Any]) -> Any:
    """The value of a template expression: `parameters.<name>` (booleans as booleans)."""

    def parameter(text: str) -> tuple[Any, str] | None:
        match = re.match(r"parameters\.(\w+)", text)
        if not match:
            return None
        value = parameters[match.group(1)]
        if value in (True, False, "true", "false", "True", "False"):
            value = value in (True, "true", "True")
        return value, text[match.end() :]

    return _whole(expression, parameter)


def script_of(step: dict[str, Any]) -> str:
    """The bash a step runs (a `bash:` step or an AzureCLI@2 inline script), else ""."""
    if "bash" in step:
        return step["bash"]
    if str(step.get("task", "")).startswith("AzureCLI@"):
        return step.get("inputs", {}).get("inlineScript", "")
    return ""


# A `$(Name)` macro: Azure replaces it in a step's script and `env:` values before the step runs.
MACRO = re.compile(r"\$\(([A-Za-z][A-Za-z0-9._-]*)\)")


def replace_macros(text: str, macros: dict[str, str]) -> str:
    """`text` with each macro of `macros` replaced; unknown ones are left as they are."""
    return MACRO.sub(lambda match: macros.get(match.group(1), match.group(0)), text)


def macro_env(step: dict[str, Any], macros: dict[str, str]) -> dict[str, str]:
    """A step's `env:` mapping as the agent sets it: macros replaced."""
    return {name: replace_macros(value, macros) for name, value in (step.get("env") or {}).items()}


@functools.cache
def _python3_dir() -> Path:
    """A directory holding only `python3`: the interpreter itself (this virtual environment's
    base) with the standard library alone (`-S`: no site-packages, so a script that needs a
    package fails here as it would on an agent without it). Not a version manager's `python3`
    on PATH: pyenv's shim is a shell script that runs a dozen processes, about 0.1 s a call,
    and the suite's scripts call python3 about a hundred times."""
    folder = Path(tempfile.mkdtemp(prefix="agent-python3-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    python3 = folder / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{Path(sys.base_prefix) / "bin" / "python3"}" -S "$@"\n')
    python3.chmod(0o755)
    return folder


def run_script(
    script: str, macros: dict[str, str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a step's script as the agent would: macros first, then bash (with errexit as written).
    `python3` is found first on PATH as the interpreter itself (no test stands in for it)."""
    merged = {**os.environ, **env}
    merged["PATH"] = f"{_python3_dir()}{os.pathsep}{merged.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", replace_macros(script, macros)],
        cwd=cwd,
        env=merged,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runtime_condition(expression: str, variables: dict[str, str], succeeded: bool = True) -> bool:
    """A step's or job's `condition` as the agent decides it, for the subset these files use:
    `succeeded()`, `variables['Name']` (case-insensitive names, as Azure's), quoted strings and
    eq, ne, and, or, not (eq and ne compare case-insensitively, as Azure's do). Anything else
    raises, so a new construct is noticed."""
    lowered = {k.lower(): v for k, v in variables.items()}

    def variable(text: str) -> tuple[Any, str] | None:
        if text.startswith("succeeded()"):
            return succeeded, text[len("succeeded()") :]
        match = re.match(r"variables\['([^']+)'\]", text)
        if match:
            return lowered.get(match.group(1).lower(), ""), text[match.end() :]
        return None

    return bool(_whole(expression, variable))
