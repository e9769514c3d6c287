"""The README against the code it describes: its config table, its pipeline picture and
table, its stack picture, and the modules and paths it names."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator

import pytest
import yaml
from pydantic import BaseModel

from components.config import PROJECT, StackConfig
from components.devops.pipelines import ML_SERVICE_CONNECTION, PIPELINES, Pipeline, short_branch
from offline.evaluate import ROOT

README = (ROOT / "README.md").read_text()


def _section(heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def _mermaid(text: str) -> str:
    match = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert match, "no mermaid block"
    return match.group(1)


def _expand(key: str) -> list[str]:
    """`a.{b,c}` -> `a.b`, `a.c`; `x, y` -> `x`, `y`."""
    found = re.fullmatch(r"([\w.]*)\{([^}]*)\}", key)
    if found:
        return [found.group(1) + part.strip() for part in found.group(2).split(",")]
    return [key]


def _table_keys() -> list[str]:
    keys = []
    for line in _section("Configuration").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("key", "") or set(cells[0]) <= {"-"}:
            continue
        for named in re.findall(r"`([^`]+)`", cells[0]):
            keys += _expand(named)
    return keys


def _section_model(annotation: object) -> type[BaseModel] | None:
    """The config section an annotation names (itself or optional), not a list's items."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if models else None


def _model_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        if name == "stack":  # the stack's name, not a config key
            continue
        key = prefix + (field.alias or name)
        section = _section_model(field.annotation)
        if section is None:
            yield key
        else:
            yield from _model_keys(section, key + ".")


def test_config_table_lists_every_key_the_config_model_accepts() -> None:
    listed = _table_keys()
    accepted = set(_model_keys(StackConfig))
    assert len(accepted) > 50  # the walk reached the sections
    assert sorted(accepted - set(listed)) == [], "config keys missing from the README's table"
    assert sorted(set(listed) - accepted) == [], "README table keys the config model does not accept"
    assert sorted(k for k in listed if listed.count(k) > 1) == [], "README table lists a key twice"


def test_config_table_parser_expands_brace_groups() -> None:
    assert _expand("aks.accessWait.{attempts, intervalSeconds}") == [
        "aks.accessWait.attempts",
        "aks.accessWait.intervalSeconds",
    ]
    assert _expand("role") == ["role"]


_NODE = re.compile(r"^\s*(\w+)\[\"([^\"<]+)")
_EDGE = re.compile(r"^\s*(\w+)\s*-+\.?-*>\s*(?:\|\"?([^|\"]*)\"?\|\s*)?(\w+)")


def _pipeline_picture() -> tuple[dict[str, str], list[tuple[str, str, str]], dict[str, str]]:
    """Pipeline name -> node id, the edges (from, label, to), and start node id -> its text."""
    picture = _mermaid(_section("Pipelines"))
    names: dict[str, str] = {}
    starts: dict[str, str] = {}
    edges = []
    for line in picture.splitlines():
        node = _NODE.match(line)
        if node:
            names[node.group(2).strip()] = node.group(1)
        for start in re.finditer(r"(\w+)\(\[\"([^\"]+)\"\]\)", line):
            starts[start.group(1)] = start.group(2)
        edge = _EDGE.match(re.sub(r"\(\[\"[^\"]+\"\]\)", "", line))
        if edge:
            edges.append((edge.group(1), edge.group(2) or "", edge.group(3)))
    return names, edges, starts


def _into(pipeline: Pipeline) -> list[tuple[str, str]]:
    names, edges, _ = _pipeline_picture()
    node = names[pipeline.name]
    return [(source, label) for source, label, target in edges if target == node]


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.key)
def test_pipeline_picture_shows_each_trigger_with_its_filters(pipeline: Pipeline) -> None:
    names, _, starts = _pipeline_picture()
    assert pipeline.name in names, f"{pipeline.name} is not a node of the README's pipeline picture"
    incoming = _into(pipeline)
    by_name = {node: name for name, node in names.items()}
    if pipeline.completion_trigger is not None:
        completion = pipeline.completion_trigger
        labels = [label for source, label in incoming if by_name.get(source) == completion.pipeline]
        assert labels, f"no edge {completion.pipeline} -> {pipeline.name}"
        for branch in completion.branches:
            assert re.search(rf"\b{re.escape(branch)}\b", labels[0]), f"edge into {pipeline.name} omits {branch}"
        for tag in completion.tags:
            assert tag in labels[0], f"edge into {pipeline.name} omits tag {tag}"
    if pipeline.queued_by is not None:
        queued = pipeline.queued_by
        labels = [label for source, label in incoming if by_name.get(source) == queued.pipeline]
        assert labels, f"no edge {queued.pipeline} -> {pipeline.name}"
        assert "queued" in labels[0] and short_branch(queued.branch) in labels[0], labels[0]
    if pipeline.repository_trigger is not None:
        repository = pipeline.repository_trigger
        texts = [starts[source] for source, _ in incoming if source in starts]
        assert any(repository.repository in t and all(b in t for b in repository.branches) for t in texts)
    if pipeline.pull_request_validation:
        assert any("pull request" in starts.get(source, "") for source, _ in incoming)
    if pipeline.schedule is not None:
        schedule = pipeline.schedule
        texts = [starts[source] for source, _ in incoming if source in starts]
        assert any("schedule" in t and schedule.cron in t and all(b in t for b in schedule.branches) for t in texts), (
            f"no schedule start node for {pipeline.name}"
        )
    if pipeline.manual_only:
        assert any("by hand" in starts.get(source, "") for source, _ in incoming)
    # Each pipeline sits in a subgraph named after its Azure DevOps folder.
    picture = _mermaid(_section("Pipelines"))
    folder = re.search(
        rf"subgraph \w+\[\"folder {re.escape(pipeline.folder)}\"\]((?:(?!\bend\b).)*)\bend\b", picture, re.S
    )
    assert folder and re.search(rf"^\s*{names[pipeline.name]}\[", folder.group(1), re.M), (
        f"{pipeline.name} is not in the picture's subgraph of folder {pipeline.folder}"
    )


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.key)
def test_pipeline_table_says_how_each_pipeline_runs(pipeline: Pipeline) -> None:
    rows = [line for line in _section("Pipelines").splitlines() if line.startswith(f"| `{pipeline.name}`")]
    assert len(rows) == 1, f"{pipeline.name} needs one row in the README's pipeline table"
    runs = rows[0].split("|")[2]
    if pipeline.completion_trigger is not None:
        for branch in pipeline.completion_trigger.branches:
            assert re.search(rf"`{re.escape(branch)}`", runs), f"{pipeline.name}'s row omits branch {branch}"
    if pipeline.repository_trigger is not None:
        assert all(f"`{b}`" in runs for b in pipeline.repository_trigger.branches)
    if pipeline.schedule is not None:
        assert all(f"`{b}`" in runs for b in pipeline.schedule.branches) and "UTC" in runs
    if pipeline.manual_only:
        assert "by hand" in runs


def test_readme_counts_the_pipelines_the_table_declares() -> None:
    words = {7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    count = words[len(PIPELINES)]
    assert re.search(rf"\b{count}\b", README, re.I)
    for other in set(words.values()) - {count}:
        assert not re.search(rf"\b{other} (Azure DevOps |Azure Pipelines )?(YAML )?pipelines\b", README, re.I)
    assert f"{len(PIPELINES)} pipelines" in _mermaid(_section("Stacks"))


def test_preview_connection_is_the_one_the_readme_names() -> None:
    picture = _mermaid(_section("Pipelines"))
    preview = next(p for p in PIPELINES if p.pull_request_validation)
    assert preview.service_connection in picture
    assert short_branch("refs/heads/main") == "main"


def _stack_files() -> dict[str, dict[str, object]]:
    return {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): yaml.safe_load(path.read_text())["config"]
        for path in ROOT.glob("Pulumi.*.yaml")
    }


@pytest.mark.parametrize("stack", sorted(_stack_files()))
def test_stack_picture_has_each_stack_with_its_role_and_platform(stack: str) -> None:
    config = _stack_files()[stack]
    role = config[f"{PROJECT}:role"]
    serving = config.get(f"{PROJECT}:serving") or {}
    platform = serving.get("platform", "aci") if isinstance(serving, dict) and role == "environment" else None
    expected = f"role: {role}" + (f", {platform}" if platform else "")
    picture = _mermaid(_section("Stacks"))
    assert re.search(rf"subgraph {stack}\[\"stack {stack} \({re.escape(expected)}[,)]", picture), (
        f"the README's stack picture must show stack {stack} as ({expected})"
    )


def test_modules_the_readme_runs_exist() -> None:
    modules = set(re.findall(r"python3? -m ([\w.]+)", README))
    assert modules
    missing = [m for m in modules if not (ROOT / (m.replace(".", "/") + ".py")).exists()]
    assert missing == []


def test_paths_the_readme_names_exist() -> None:
    tops: tuple[str, ...] = ("components/", "commands/", "offline/", "tests/", "pipelines/", "charts/", "serving/")
    tops += ("docs/", "policy/", "scripts/", "benchmarks/", ".ci/")
    named = {tok for tok in re.findall(r"`([\w./-]+)`", README) if tok.startswith(tops)}
    assert len(named) > 10
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_layout_table_names_every_module_of_the_deploying_folders() -> None:
    rows: dict[str, str] = {}
    for line in _section("Layout").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2:
            for folder in re.findall(r"`([\w./-]+/)`", cells[0]):
                rows[folder] = cells[1]
    folders = ["components/ml_platform/", "components/serving/", "components/devops/", "commands/"]
    for folder in folders:
        listed = set(re.findall(r"`(\w+\.py)`", rows[folder]))
        present = {p.name for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py"}
        assert sorted(listed - present) == [], f"the layout names files {folder} does not hold"
        assert sorted(present - listed) == [], f"the layout omits files of {folder}"


def test_the_pipeline_picture_names_the_connection_an_engine_commit_runs_with() -> None:
    picture = _mermaid(_section("Pipelines"))
    names, _, _ = _pipeline_picture()
    started = [p for p in PIPELINES if p.repository_trigger is not None]
    assert started and all(p.service_connection == ML_SERVICE_CONNECTION for p in started)
    for pipeline in started:
        node = re.search(rf"^\s*{names[pipeline.name]}\[\"([^\"]+)\"\]", picture, re.M)
        assert node and ML_SERVICE_CONNECTION in node.group(1), pipeline.name
