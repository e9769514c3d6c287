"""A small model of how Azure Pipelines starts runs, read from the real YAML in `pipelines/`.

Given an event (a push to a repository, a pull request, a manual run, a schedule), `simulate` answers
which pipelines run, in which order, on which `Build.SourceBranch`, and with which build tags.
Only what the pipeline files say is used: their `trigger`, `resources.repositories[].trigger`,
`resources.pipelines[].trigger`, `schedules`, the `##vso[build.addbuildtag]` lines of their scripts and
the steps that queue another pipeline (`templates/queue-pipeline.yml`).
Two facts live outside the YAML, as in Azure DevOps: which YAML file a definition runs and its
default branch (the build definition, `components/devops/build_definitions.py`), and which definition a
pull request queues (the build-validation branch policy). Both come from `components/devops/pipelines.py`.

Each rule is one function whose docstring cites its source; `docs/assumptions.md` (section
"Azure Pipelines: triggers, tokens, hosted agents") has a row per rule and the test that pins
it. What the model does not know (wildcard filters, CI triggers on this repository, stage
filters, another condition on the queue step) raises `NotModelledError`, so a YAML change it
cannot judge fails loudly instead of passing unexamined.

Where Microsoft's pages allow two readings, the model takes both (`Reading`) and the tests
require the chain to work under each.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.support.pipeline_jobs import load

PIPELINES_DIR = ROOT / "pipelines"
HEADS = "refs/heads/"
QUEUE_TEMPLATE = "templates/queue-pipeline.yml"
# The condition of the queue step that rule QUEUE implements; any other fails loudly.
QUEUE_CONDITION = (
    "and(succeeded(), or(and(eq(variables['Build.Repository.Name'], '${{ parameters.triggeringRepository }}'), "
    "eq(variables['Build.SourceBranch'], '${{ parameters.triggeringBranch }}')), "
    "and(eq(variables['Build.Repository.Name'], '${{ parameters.ownRepository }}'), "
    "eq(variables['Build.SourceBranch'], '${{ parameters.branch }}'))))"
)


class Reading(Enum):
    """Two readings of "the same repository" in rule COMPLETION. Microsoft Learn says a
    completion trigger between pipelines "in the same repository" runs the triggered one on the
    completed run's branch and commit, else on its default branch. A run started by another
    repository's push carries that repository's branch: is it then "in" that repository
    (RUN_REPOSITORY) or still in its definition's (DEFINITION_REPOSITORY)? No page settles it."""

    RUN_REPOSITORY = "run"
    DEFINITION_REPOSITORY = "definition"


class NotModelledError(Exception):
    """The YAML uses a trigger feature this model does not implement."""


@dataclass(frozen=True)
class Push:
    """A commit pushed to `branch` (a full ref) of `repository`."""

    repository: str
    branch: str


@dataclass(frozen=True)
class PullRequest:
    """A pull request into `target` (a full ref) of `repository`."""

    repository: str
    target: str
    number: int = 1


@dataclass(frozen=True)
class ManualRun:
    """Someone runs `pipeline` by hand, on `branch` (default: the definition's default branch)."""

    pipeline: str
    branch: str | None = None


@dataclass(frozen=True)
class Scheduled:
    """The clock reaches a cron schedule of `pipeline`."""

    pipeline: str


Event = Push | PullRequest | ManualRun | Scheduled


@dataclass(frozen=True)
class Run:
    pipeline: str
    # Build.SourceBranch, and the repository that branch belongs to (the triggering repository).
    source_branch: str
    repository: str
    reason: str
    tags: frozenset[str] = frozenset()
    triggered_by: Run | None = field(default=None, repr=False, compare=False)

    @property
    def depth(self) -> int:
        return 0 if self.triggered_by is None else self.triggered_by.depth + 1


@dataclass(frozen=True)
class RepositoryTrigger:
    repository: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class CompletionTrigger:
    source: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class QueueStep:
    """A step that queues the pipeline named `source` on `branch` of the platform repository,
    for a run started by a commit to `triggering_branch` of `triggering_repository` or one of
    `own_repository` run from `branch`."""

    source: str
    branch: str
    triggering_repository: str
    triggering_branch: str
    own_repository: str


@dataclass(frozen=True)
class Definition:
    """A build definition: its YAML as Azure reads it, plus what the definition itself holds."""

    name: str
    # The definition's folder (`\\ML`): a pipeline resource may name it with its folder.
    folder: str
    repository: str
    default_branch: str
    pull_request_validation: bool
    ci_branches: tuple[str, ...] | None
    repository_triggers: tuple[RepositoryTrigger, ...]
    completion_triggers: tuple[CompletionTrigger, ...]
    build_tags: frozenset[str]
    queues: tuple[QueueStep, ...] = ()
    # Each `schedules` entry's branch filter (include, exclude), as its YAML gives it.
    schedules: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """How runs end: every run succeeds and adds every build tag its YAML can add, unless
    listed here (a model that lost the evaluation adds no `model-registered` tag)."""

    failing: frozenset[str] = frozenset()
    withheld_tags: frozenset[str] = frozenset()


def load_definitions(directory: Path = PIPELINES_DIR) -> dict[str, Definition]:
    """Every declared pipeline, read from its YAML file in `directory`."""
    return {p.name: _definition(p, directory / Path(p.yml_path).name) for p in spec.PIPELINES}


def _definition(pipeline: spec.Pipeline, path: Path) -> Definition:
    document = load(path)
    resources = document.get("resources") or {}
    return Definition(
        name=pipeline.name,
        folder=pipeline.folder,
        repository=spec.PLATFORM_REPOSITORY,
        default_branch=spec.MAIN_BRANCH,
        pull_request_validation=pipeline.pull_request_validation,
        ci_branches=_ci_branches(document.get("trigger", _ABSENT)),
        repository_triggers=tuple(
            RepositoryTrigger(repo["name"], *_branch_filter(repo["trigger"]))
            for repo in resources.get("repositories", [])
            if "trigger" in repo and repo["trigger"] != "none"
        ),
        completion_triggers=tuple(
            _completion_trigger(resource) for resource in resources.get("pipelines", []) if "trigger" in resource
        ),
        build_tags=frozenset(_build_tags(path)),
        queues=tuple(_queue_steps(document, path.parent)),
        schedules=tuple(_branch_filter(schedule) for schedule in document.get("schedules") or []),
    )


_ABSENT = object()


def _ci_branches(trigger: Any) -> tuple[str, ...] | None:
    """Rule CI: a YAML without `trigger` has a CI trigger on every branch of its own repository
    (unless the organization disabled the implied CI trigger); `trigger: none` has none. Source:
    Microsoft Learn, "trigger definition" (YAML schema),
    https://learn.microsoft.com/azure/devops/pipelines/yaml-schema/trigger ("YAML pipelines are
    configured by default with a CI trigger on all branches"; `trigger: none` "Disable CI
    triggers"). Branch lists are not modelled: this repository runs nothing on push."""
    if trigger is _ABSENT:
        return ("*",)
    if trigger == "none":
        return None
    raise NotModelledError(f"CI trigger {trigger!r} on the platform repository")


def _branch_filter(trigger: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if trigger in ("true", "True"):
        return (("*",), ())
    branches = trigger.get("branches", {}) if isinstance(trigger, dict) else trigger
    if isinstance(branches, list):
        return (tuple(branches), ())
    return (tuple(branches.get("include", ["*"])), tuple(branches.get("exclude", [])))


def _completion_trigger(resource: dict[str, Any]) -> CompletionTrigger:
    trigger = resource["trigger"]
    if isinstance(trigger, dict) and ("stages" in trigger or trigger.get("enabled") == "false"):
        raise NotModelledError(f"stages or enabled in the trigger of pipeline resource {resource['pipeline']}")
    include, exclude = _branch_filter(trigger)
    tags = tuple(trigger.get("tags", [])) if isinstance(trigger, dict) else ()
    return CompletionTrigger(resource["source"], include, exclude, tags)


def _build_tags(path: Path) -> set[str]:
    """The tags a pipeline's scripts (its templates included) can add to its run."""
    # A tag made from a variable (`model-version-$(REGISTERED_VERSION)`) triggers nothing here.
    tags = set(re.findall(r"##vso\[build\.addbuildtag\]([A-Za-z0-9._-]+)(?![A-Za-z0-9._$(-])", path.read_text()))
    for template in re.findall(r"template:\s*(\S+\.yml)", path.read_text()):
        tags |= _build_tags(path.parent / template)
    return tags


def _queue_steps(node: Any, base: Path) -> list[QueueStep]:
    """Every use of the queue template in the document, with its parameters."""
    found: list[QueueStep] = []
    if isinstance(node, list):
        for item in node:
            found += _queue_steps(item, base)
    elif isinstance(node, dict):
        if node.get("template") == QUEUE_TEMPLATE:
            template = load(base / QUEUE_TEMPLATE)
            conditions = [step.get("condition") for step in template["steps"]]
            if conditions != [QUEUE_CONDITION]:
                raise NotModelledError(f"{QUEUE_TEMPLATE} queues under {conditions!r}")
            parameters = node["parameters"]
            found.append(
                QueueStep(
                    parameters["pipeline"],
                    _full(parameters["branch"]),
                    parameters["triggeringRepository"],
                    _full(parameters["triggeringBranch"]),
                    parameters["ownRepository"],
                )
            )
        else:
            for value in node.values():
                found += _queue_steps(value, base)
    return found


def branch_matches(branch: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Rule FILTER: a run matches when an include entry names its branch and no exclude entry
    does; an entry names a branch in full (`refs/heads/main`) or by its short name (`main`).
    Source: Microsoft Learn, "Trigger one pipeline after another"
    (https://learn.microsoft.com/azure/devops/pipelines/process/pipeline-triggers: include and
    exclude lists, examples with short names, and "If your filters aren't working, try using the
    prefix refs/heads/"). The triggers here use short names. Wildcards are not modelled."""
    for entry in (*include, *exclude):
        if entry != "*" and any(c in entry for c in "*?"):
            raise NotModelledError(f"wildcard branch filter {entry!r}")

    def names(entry: str) -> bool:
        return entry == "*" or _full(entry) == branch

    return any(names(e) for e in include) and not any(names(e) for e in exclude)


def _full(branch: str) -> str:
    return branch if branch.startswith("refs/") else HEADS + branch


def push_runs(definitions: dict[str, Definition], event: Push) -> list[Run]:
    """Rule PUSH: a push to another repository starts every pipeline with a repository resource
    on it whose trigger filters match the branch; that run's Build.SourceBranch (and the other
    Build.Repository.* variables) are the triggering repository's, while the YAML and `self` come
    from the latest commit of self's default branch. A push to the pipeline's own repository
    follows its CI trigger (rule CI). Source: Microsoft Learn, "Check out multiple repositories in
    your pipeline", section "Triggers", https://learn.microsoft.com/azure/devops/pipelines/repos/multi-repo-checkout
    ("the following variables are set based on triggering repository: ... Build.SourceBranch")."""
    runs = []
    for definition in definitions.values():
        if event.repository == definition.repository:
            if definition.ci_branches is not None and branch_matches(event.branch, definition.ci_branches, ()):
                runs.append(Run(definition.name, event.branch, event.repository, "IndividualCI"))
            continue
        for trigger in definition.repository_triggers:
            if trigger.repository == event.repository and branch_matches(
                event.branch, trigger.include, trigger.exclude
            ):
                runs.append(Run(definition.name, event.branch, event.repository, "ResourceTrigger"))
    return runs


def pull_request_runs(definitions: dict[str, Definition], event: PullRequest) -> list[Run]:
    """Rule PR: Azure Repos Git ignores `pr:` in YAML; a pull request queues the pipelines of the
    build-validation branch policies on its target branch, with Build.SourceBranch
    `refs/pull/<id>/merge`. Sources: Microsoft Learn, "pr definition" (YAML schema,
    https://learn.microsoft.com/azure/devops/pipelines/yaml-schema/pr: for Azure Repos Git use a
    branch policy for build validation) and "Predefined variables"
    (https://learn.microsoft.com/azure/devops/pipelines/build/variables, Build.SourceBranch:
    "Git repo pull request: refs/pull/1/merge")."""
    return [
        Run(d.name, f"refs/pull/{event.number}/merge", event.repository, "PullRequest")
        for d in definitions.values()
        if d.pull_request_validation and event.repository == d.repository and event.target == d.default_branch
    ]


def manual_run(definitions: dict[str, Definition], event: ManualRun) -> list[Run]:
    """Rule MANUAL: a run started by hand runs the branch the person picks, by default the
    definition's "Default branch for manual and scheduled builds". Source: Microsoft Learn,
    "Configure pipeline default branch", https://learn.microsoft.com/azure/devops/pipelines/process/pipeline-default-branch."""
    definition = definitions[event.pipeline]
    branch = _full(event.branch) if event.branch else definition.default_branch
    return [Run(definition.name, branch, definition.repository, "Manual")]


def scheduled_runs(definitions: dict[str, Definition], event: Scheduled) -> list[Run]:
    """Rule SCHEDULE: a YAML schedule runs the pipeline on each branch whose own YAML lists that
    branch in the schedule's branch filters; this repository has one branch the pipelines run
    from, its default (main), so a schedule runs there when its filters include it, with
    Build.Reason `Schedule`. Source: Microsoft Learn, "Configure schedules for pipelines"
    (https://learn.microsoft.com/azure/devops/pipelines/process/scheduled-triggers, "Branch
    considerations for scheduled triggers": "Scheduled runs for a branch are added only if the
    branch matches the branch filters for the scheduled triggers in the YAML file in that
    particular branch") and "Predefined variables" (Build.Reason `Schedule`)."""
    definition = definitions[event.pipeline]
    branch = definition.default_branch
    if not any(branch_matches(branch, include, exclude) for include, exclude in definition.schedules):
        return []
    return [Run(definition.name, branch, definition.repository, "Schedule")]


def names_pipeline(source: str, definition: Definition, definitions: dict[str, Definition]) -> bool:
    """Rule SOURCE: a pipeline resource's `source` names a pipeline by its folder, leading
    backslash included, and name (`\\ML\\[ML]-Extract-Prepare`), or by its name alone, which
    is enough only while no other pipeline has that name; not case sensitive. Source: Microsoft
    Learn, "resources.pipelines.pipeline definition" (YAML schema,
    https://learn.microsoft.com/azure/devops/pipelines/yaml-schema/resources-pipelines-pipeline,
    `source`: "If the pipeline is contained in a folder, include the folder name, including the
    leading \\ ... This property is not case sensitive ... The folder path must be specified if
    there are multiple pipelines with the same name")."""
    wanted = source.casefold()
    if wanted == f"{definition.folder.rstrip(chr(92))}\\{definition.name}".casefold():
        return True
    same_name = [d for d in definitions.values() if d.name.casefold() == definition.name.casefold()]
    return wanted == definition.name.casefold() and len(same_name) == 1


def completion_runs(
    definitions: dict[str, Definition], completed: Run, reading: Reading = Reading.RUN_REPOSITORY
) -> list[Run]:
    """Rule COMPLETION: when a run completes successfully, every pipeline with a pipeline
    resource on its pipeline runs if the trigger's branch filters (from the version of its YAML
    in its default branch) match the completed run's branch and the completed run carries the
    trigger's tags. The triggered run's branch: the completed run's branch when both pipelines
    are in the same repository, else the triggered pipeline's default branch. Whether a run
    started by another repository's push (rule PUSH) counts as that repository's is not stated:
    `reading` picks one (see `Reading`). Sources: Microsoft Learn, "Trigger one pipeline after another",
    section "Branch considerations for pipeline completion triggers"
    (https://learn.microsoft.com/azure/devops/pipelines/process/pipeline-triggers), and
    "resources.pipelines.pipeline.trigger" (YAML schema, "if its pipeline resource is from a
    different repo, the current pipeline is triggered on the branch specified by the Default
    branch for manual and scheduled builds setting"; "if its pipeline resource is from the same
    repo as the current pipeline, triggering follows the same branch and commit on which the
    event is raised"). Tags: every listed tag must be on the run;
    with one listed tag (all this repository uses) "all" and "any" agree."""
    runs = []
    for definition in definitions.values():
        for trigger in definition.completion_triggers:
            if not names_pipeline(trigger.source, definitions[completed.pipeline], definitions):
                continue
            if not branch_matches(completed.source_branch, trigger.include, trigger.exclude):
                continue
            if not set(trigger.tags) <= completed.tags:
                continue
            if reading is Reading.RUN_REPOSITORY:
                same_repository = completed.repository == definition.repository
            else:
                same_repository = definitions[completed.pipeline].repository == definition.repository
            branch = completed.source_branch if same_repository else definition.default_branch
            runs.append(Run(definition.name, branch, definition.repository, "ResourceTrigger", triggered_by=completed))
    return runs


def queue_runs(definitions: dict[str, Definition], completed: Run) -> list[Run]:
    """Rule QUEUE: the last step of a successful run queues the pipeline it names on the branch
    it names, of the platform repository (Runs REST API 7.1, `resources.repositories.self.refName`),
    when the run's Build.Repository.Name and Build.SourceBranch are the triggering repository
    and branch the step names (a commit there started it: both variables follow the triggering
    repository) or this repository and the queued branch (a run from that branch itself), as
    the condition `QUEUE_CONDITION` of `templates/queue-pipeline.yml` says. Build.Reason is not
    read: which value a repository resource trigger gives it is in doubt (runs shown as
    "Individual CI", MicrosoftDocs/azure-devops-docs #9003). The queued run's
    Build.SourceBranch is that branch; its reason is labelled `Queued` here (the model claims
    nothing about the Build.Reason Azure gives it: no YAML reads it). Sources:
    MicrosoftDocs/vsts-rest-api-specs specification/pipelines/7.1/pipelines.json (Runs - Run
    Pipeline, RunPipelineParameters, RepositoryResourceParameters.refName); Microsoft Learn,
    "Check out multiple repositories in your pipeline", section "Triggers"
    (https://learn.microsoft.com/azure/devops/pipelines/repos/multi-repo-checkout: "the following
    variables are set based on triggering repository: ... Build.Repository.Name ...
    Build.SourceBranch")."""
    runs = []
    for queue in definitions[completed.pipeline].queues:
        by_trigger = (completed.repository, completed.source_branch) == (
            queue.triggering_repository,
            queue.triggering_branch,
        )
        by_hand = (completed.repository, completed.source_branch) == (queue.own_repository, queue.branch)
        if not (by_trigger or by_hand):
            continue
        (target,) = [d for d in definitions.values() if names_pipeline(queue.source, d, definitions)]
        runs.append(Run(target.name, queue.branch, target.repository, "Queued", triggered_by=completed))
    return runs


def simulate(
    event: Event,
    outcome: Outcome = Outcome(),
    definitions: dict[str, Definition] | None = None,
    reading: Reading = Reading.RUN_REPOSITORY,
) -> list[Run]:
    """Every run the event causes, in the order they start (a run's followers after it)."""
    definitions = load_definitions() if definitions is None else definitions
    if isinstance(event, Push):
        first = push_runs(definitions, event)
    elif isinstance(event, PullRequest):
        first = pull_request_runs(definitions, event)
    elif isinstance(event, Scheduled):
        first = scheduled_runs(definitions, event)
    else:
        first = manual_run(definitions, event)
    started: list[Run] = []
    queue = deque(first)
    while queue:
        run = queue.popleft()
        tags = definitions[run.pipeline].build_tags - outcome.withheld_tags
        run = Run(run.pipeline, run.source_branch, run.repository, run.reason, frozenset(tags), run.triggered_by)
        started.append(run)
        if len(started) > 50:
            raise NotModelledError("more than 50 runs: a trigger cycle")
        if run.pipeline not in outcome.failing:
            queue.extend(queue_runs(definitions, run))
            queue.extend(completion_runs(definitions, run, reading))
    return started
