"""The component conventions of /work/shared/STYLE.md, checked over the code and over every
evaluated stack: config read in one place, children parented, no resource born in an apply."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from offline.evaluate import ROOT, SHARED, STACKS, Evaluation, evaluate
from tests.support.evaluations import watching_applies
from tests.support.python_source import parse

# Custom resources that deliberately sit at the top of a stack, not in a component: the
# shared stack's resource groups (protected; the program and every environment address them).
# Everything else, the Azure DevOps provider and project included, belongs to a component.
TOP_LEVEL = {(SHARED, "azure-native:resources:ResourceGroup")}
PROGRAM_FILES = [
    *sorted(
        path for folder in ("components", "commands", "offline", "policy") for path in (ROOT / folder).rglob("*.py")
    ),
    ROOT / "__main__.py",
]


def component_classes() -> list[tuple[Path, ast.Module, ast.ClassDef]]:
    found = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        module = parse(path)
        for node in module.body:
            if isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("ComponentResource") for b in node.bases):
                found.append((path, module, node))
    return found


def test_config_is_read_only_in_components_config():
    readers = [
        str(path.relative_to(ROOT))
        for path in PROGRAM_FILES
        if re.search(r"\bpulumi\.Config\(|\bfrom pulumi import [^\n]*\bConfig\b", path.read_text())
    ]
    assert readers == ["components/config/load.py"]


def test_every_component_follows_the_house_shape():
    problems = []
    for path, module, cls in component_classes():
        where = f"{path.relative_to(ROOT)}:{cls.name}"
        frozen = {
            node.name
            for node in module.body
            if isinstance(node, ast.ClassDef)
            and any(re.fullmatch(r"dataclass\(frozen=True\)", ast.unparse(d)) for d in node.decorator_list)
        }
        init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        if not ast.get_docstring(cls):
            problems.append(f"{where}: no docstring")
        args = init.args.args[2].annotation if len(init.args.args) > 2 else None
        if args is None or ast.unparse(args) not in frozen:
            problems.append(f"{where}: args are not a frozen dataclass of its module")
        (token,) = [
            call.args[0]
            for call in ast.walk(init)
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "super().__init__"
        ]
        # The token names the domain folder the component lives in, so a URN says where to look.
        folder = path.parent.name
        if not (isinstance(token, ast.Constant) and token.value == f"digitre:{folder}:{cls.name}"):
            problems.append(f"{where}: type token {ast.unparse(token)}")
        last = init.body[-1]
        if not (isinstance(last, ast.Expr) and ast.unparse(last.value).startswith("self.register_outputs(")):
            problems.append(f"{where}: register_outputs is not the last statement")
    assert component_classes() and not problems


def top_level(run: Evaluation) -> set[tuple[str, str]]:
    components = {r.urn for r in run.resources if not r.custom}
    return {(run.stack, r.type) for r in run.resources if r.custom and r.parent not in components}


def test_every_custom_resource_is_a_components_child_or_deliberately_top_level(every_run, customised):
    # The customised stacks add what other config declares: among others the DevOps project.
    assert customised["shared"].of_type("azuredevops:index/project:Project")
    found = set().union(*(top_level(run) for run in [*every_run, *customised.values()]))
    assert found == TOP_LEVEL


def test_no_resource_is_declared_inside_an_apply(every_run, declared_in_applies):
    # Every stack of the session's `runs` and `served` was evaluated under the watch
    # (tests/conftest.py): the shared stack, and each environment with and without a model.
    assert {run.stack for run in every_run} == set(STACKS) and len(every_run) == 2 * len(STACKS) - 1
    assert declared_in_applies == []


@pytest.fixture
def born_in_apply() -> Iterator[list[str]]:
    with watching_applies() as born:
        yield born


def test_the_apply_watch_sees_a_resource_declared_in_an_apply(tmp_path, born_in_apply):
    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi\nfrom pulumi_azure_native import resources\n"
        "pulumi.Output.from_input('g').apply(lambda g: resources.ResourceGroup(g, location='westeurope'))\n"
    )
    evaluate("dev", main=program)
    assert born_in_apply == ["azure-native:resources:ResourceGroup g"]
