"""The README and the hand-written docs against the code they describe: the README's
pipeline picture and table, its stack picture and its length; CONTRIBUTING's layout; the
modules, paths and links every page names. The config reference is generated
(tests/test_config_docs.py)."""

from __future__ import annotations

import re

import pytest
import yaml

from components.devops.pipelines import ML_SERVICE_CONNECTION, PIPELINES, Pipeline, short_branch
from components.types import PROJECT
from offline.evaluate import ROOT

README = (ROOT / "README.md").read_text()
CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text()
# The hand-written pages: each names paths, modules and links that must exist.
PAGES = ("README.md", "CONTRIBUTING.md", "docs/operations.md")
README_MAX_LINES = 200


def _section(heading: str, text: str = README) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def _mermaid(text: str) -> str:
    match = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert match, "no mermaid block"
    return match.group(1)


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


@pytest.mark.parametrize("page", PAGES)
def test_modules_a_page_runs_exist(page: str) -> None:
    modules = set(re.findall(r"python3? -m ([\w.]+)", (ROOT / page).read_text()))
    assert modules
    missing = [m for m in modules if not (ROOT / (m.replace(".", "/") + ".py")).exists()]
    assert missing == []


@pytest.mark.parametrize("page", PAGES)
def test_paths_a_page_names_exist(page: str) -> None:
    tops: tuple[str, ...] = ("components/", "commands/", "offline/", "tests/", "pipelines/", "charts/", "serving/")
    tops += ("docs/", "policy/", "scripts/", "benchmarks/", ".ci/")
    named = {tok for tok in re.findall(r"`([\w./-]+)`", (ROOT / page).read_text()) if tok.startswith(tops)}
    assert len(named) > 3
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", (*PAGES, "docs/configuration.md", "docs/architecture.md"))
def test_every_link_of_a_page_resolves(page: str) -> None:
    source = ROOT / page
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text()):
        if re.match(r"https?://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        if not linked.exists():
            broken.append(target)
        elif anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
            if anchor not in {_anchor(h) for h in headings}:
                broken.append(target)
    assert broken == [], f"{page} links to what does not exist"


def test_anchors_are_made_as_github_makes_them() -> None:
    assert _anchor("First deploy, in order") == "first-deploy-in-order"
    assert _anchor("Serve, promote, roll back") == "serve-promote-roll-back"


def test_the_readme_stays_an_entry_page() -> None:
    lines = README.count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {README_MAX_LINES})"
    for page in ("docs/operations.md", "docs/configuration.md", "CONTRIBUTING.md"):
        assert f"]({page}" in README, f"the README does not link {page}"


def test_no_page_carries_dated_benchmark_figures() -> None:
    # The figures are what benchmarks/bench.py prints; prose about them goes stale.
    for page in PAGES:
        text = (ROOT / page).read_text()
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b.{0,80}\b\d+(\.\d+)? ?s\b", text, re.S), page
        assert not re.search(r"\b\d{3,4} tests\b", text), page


def test_layout_table_names_every_module_of_the_deploying_folders() -> None:
    rows: dict[str, str] = {}
    for line in _section("Layout", CONTRIBUTING).splitlines():
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
