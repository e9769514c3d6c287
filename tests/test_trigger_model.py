"""The pipeline chain, proven on the real YAML with the trigger model in tests/support/trigger_model.py:
which pipelines an event runs, in which order, on which branch, and what stops the chain."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from components.devops import pipelines as spec
from tests.support.trigger_model import (
    PIPELINES_DIR,
    CompletionTrigger,
    Definition,
    Event,
    ManualRun,
    NotModelledError,
    Outcome,
    PullRequest,
    Push,
    QueueStep,
    Reading,
    RepositoryTrigger,
    Run,
    Scheduled,
    _definition,
    branch_matches,
    completion_runs,
    load_definitions,
    manual_run,
    pull_request_runs,
    push_runs,
    queue_runs,
    scheduled_runs,
    simulate,
)

MAIN = spec.MAIN_BRANCH
DEVELOP = spec.ENGINE_BRANCH
ENGINE = spec.ENGINE_REPOSITORY
PLATFORM = spec.PLATFORM_REPOSITORY
EP = spec.EXTRACT_PREPARE.name
TER = spec.TRAIN_EVALUATE_REGISTER.name
DEV = spec.DEV_BUILD_AND_DEPLOY.name
TEARDOWN = spec.DEV_DELETE_AFTER_24_HOURS.name
QA = spec.QA_DEPLOY.name
# Branches that exist in this repository: the pipelines run from main only.
PLATFORM_BRANCHES = {MAIN}


def chain(runs: list[Run]) -> list[tuple[str, str, int]]:
    return [(r.pipeline, r.source_branch, r.depth) for r in runs]


@pytest.mark.parametrize("reading", Reading)
def test_an_engine_commit_to_develop_runs_the_whole_chain_in_order(reading):
    runs = simulate(Push(ENGINE, DEVELOP), reading=reading)
    assert chain(runs) == [
        (EP, DEVELOP, 0),
        (TER, MAIN, 1),
        (DEV, MAIN, 2),
        (TEARDOWN, MAIN, 3),
        (QA, MAIN, 3),
    ]
    extract, train, dev, teardown, qa = runs
    assert extract.repository == ENGINE and extract.reason == "ResourceTrigger"
    # Extract-Prepare queues training itself: no completion trigger decides its branch.
    assert train.reason == "Queued"
    assert train.triggered_by is extract and dev.triggered_by is train
    assert teardown.triggered_by is dev and qa.triggered_by is dev
    assert spec.MODEL_REGISTERED_TAG in train.tags


@pytest.mark.parametrize("reading", Reading)
def test_every_run_of_the_chain_starts_on_a_branch_that_exists(reading):
    # A run on a branch of this repository other than main could not check its YAML out.
    for run in simulate(Push(ENGINE, DEVELOP), reading=reading)[1:]:
        assert run.repository == PLATFORM and run.source_branch in PLATFORM_BRANCHES


def test_without_a_new_model_the_chain_stops_after_training():
    runs = simulate(Push(ENGINE, DEVELOP), Outcome(withheld_tags=frozenset({spec.MODEL_REGISTERED_TAG})))
    assert chain(runs) == [(EP, DEVELOP, 0), (TER, MAIN, 1)]


def test_a_failed_run_triggers_nothing():
    runs = simulate(Push(ENGINE, DEVELOP), Outcome(failing=frozenset({DEV})))
    assert [r.pipeline for r in runs] == [EP, TER, DEV]


@pytest.mark.parametrize("branch", [MAIN, "refs/heads/feature/new-model"])
def test_engine_commits_to_other_branches_run_nothing(branch):
    assert simulate(Push(ENGINE, branch)) == []


def test_a_push_to_this_repository_runs_nothing():
    assert simulate(Push(PLATFORM, MAIN)) == []
    assert simulate(Push(PLATFORM, "refs/heads/feature/x")) == []


def test_a_pull_request_to_main_runs_only_the_preview_on_the_merge_ref():
    runs = simulate(PullRequest(PLATFORM, MAIN, number=42))
    assert chain(runs) == [(spec.PR_PREVIEW.name, "refs/pull/42/merge", 0)]
    assert simulate(PullRequest(PLATFORM, "refs/heads/release")) == []
    assert simulate(PullRequest(ENGINE, DEVELOP)) == []


def test_the_nightly_drift_check_runs_on_main_and_starts_nothing_else():
    runs = simulate(Scheduled(spec.PLATFORM_DRIFT.name))
    assert chain(runs) == [(spec.PLATFORM_DRIFT.name, MAIN, 0)]
    assert runs[0].reason == "Schedule"
    # Only the drift check has a schedule.
    assert [p.name for p in spec.PIPELINES if simulate(Scheduled(p.name))] == [spec.PLATFORM_DRIFT.name]


def test_rule_schedule_runs_only_on_a_branch_its_filters_include():
    definition = replace(load_definitions()[spec.PLATFORM_DRIFT.name], schedules=((("release",), ()),))
    assert scheduled_runs({definition.name: definition}, Scheduled(definition.name)) == []
    definition = replace(definition, schedules=((("*",), ("main",)),))
    assert scheduled_runs({definition.name: definition}, Scheduled(definition.name)) == []
    definition = replace(definition, schedules=((("refs/heads/main",), ()),))
    assert len(scheduled_runs({definition.name: definition}, Scheduled(definition.name))) == 1


MANUAL = {
    EP: [(EP, MAIN, 0), (TER, MAIN, 1), (DEV, MAIN, 2), (TEARDOWN, MAIN, 3), (QA, MAIN, 3)],
    TER: [(TER, MAIN, 0), (DEV, MAIN, 1), (TEARDOWN, MAIN, 2), (QA, MAIN, 2)],
    DEV: [(DEV, MAIN, 0), (TEARDOWN, MAIN, 1), (QA, MAIN, 1)],
    TEARDOWN: [(TEARDOWN, MAIN, 0)],
    QA: [(QA, MAIN, 0)],
    spec.CUSTOM_QA_DEPLOY.name: [(spec.CUSTOM_QA_DEPLOY.name, MAIN, 0)],
    spec.PROD_DEPLOYMENT.name: [(spec.PROD_DEPLOYMENT.name, MAIN, 0)],
    spec.PR_PREVIEW.name: [(spec.PR_PREVIEW.name, MAIN, 0)],
    spec.PLATFORM_DRIFT.name: [(spec.PLATFORM_DRIFT.name, MAIN, 0)],
}


@pytest.mark.parametrize("pipeline", spec.PIPELINES, ids=lambda p: p.key)
def test_a_manual_run_of_each_pipeline(pipeline):
    assert chain(simulate(ManualRun(pipeline.name))) == MANUAL[pipeline.name]


@pytest.mark.parametrize("pipeline", [EP, TER, DEV], ids=["extract", "train", "dev"])
def test_runs_from_another_branch_never_reach_dev_or_qa(pipeline):
    runs = simulate(ManualRun(pipeline, "feature/try-something"))
    assert [r.pipeline for r in runs] == [pipeline]


def test_nothing_deploys_prod_by_itself():
    events: list[Event] = [Push(ENGINE, DEVELOP), Push(PLATFORM, MAIN), PullRequest(PLATFORM, MAIN)]
    events += [ManualRun(p.name) for p in spec.PIPELINES if p is not spec.PROD_DEPLOYMENT]
    events += [Scheduled(p.name) for p in spec.PIPELINES]
    for event in events:
        assert spec.PROD_DEPLOYMENT.name not in {r.pipeline for r in simulate(event)}


OLD_COMPLETION_TRIGGER = """  pipelines:
    - pipeline: extract
      source: '\\ML\\[ML]-Extract-Prepare'
      trigger:
        branches:
          include:
            - develop
            - main
"""


def old_chain(tmp_path) -> dict[str, Definition]:
    """The pipelines as they were: training followed Extract-Prepare by a completion trigger."""
    shutil.copytree(PIPELINES_DIR, tmp_path / "pipelines")
    extract = tmp_path / "pipelines" / f"{spec.EXTRACT_PREPARE.key}.yml"
    text = extract.read_text()
    extract.write_text(text[: text.index("      - template: templates/queue-pipeline.yml")])
    train = tmp_path / "pipelines" / f"{spec.TRAIN_EVALUATE_REGISTER.key}.yml"
    text = train.read_text()
    at = text.index("\nvariables:")
    train.write_text(text[:at] + "\n" + OLD_COMPLETION_TRIGGER + text[at:])
    return load_definitions(tmp_path / "pipelines")


def test_the_old_completion_trigger_ran_training_on_a_branch_only_the_engine_has(tmp_path):
    # The open risk of issue 8: under the reading where both definitions' repository counts,
    # training followed Extract-Prepare onto refs/heads/develop of Devops-MLops, which does not
    # exist; only the other reading reached main. The queue step works under both.
    definitions = old_chain(tmp_path)
    by_run = simulate(Push(ENGINE, DEVELOP), definitions=definitions, reading=Reading.RUN_REPOSITORY)
    by_definition = simulate(Push(ENGINE, DEVELOP), definitions=definitions, reading=Reading.DEFINITION_REPOSITORY)
    assert chain(by_run)[:2] == [(EP, DEVELOP, 0), (TER, MAIN, 1)]
    assert chain(by_definition)[:2] == [(EP, DEVELOP, 0), (TER, DEVELOP, 1)]
    assert DEVELOP not in PLATFORM_BRANCHES


def test_training_has_no_completion_trigger_left_to_race_the_queue():
    # Both at once would train twice per engine commit.
    assert load_definitions()[TER].completion_triggers == ()
    assert load_definitions()[EP].queues == (
        QueueStep(spec.TRAIN_EVALUATE_REGISTER.source, MAIN, ENGINE, DEVELOP, PLATFORM),
    )


# The rules, each on a small definition of its own.


def definition(name: str, **kwargs) -> Definition:
    base = Definition(
        name=name,
        folder="\\",
        repository=PLATFORM,
        default_branch=MAIN,
        pull_request_validation=False,
        ci_branches=None,
        repository_triggers=(),
        completion_triggers=(),
        build_tags=frozenset(),
    )
    return replace(base, **kwargs)


def test_rule_filter_short_and_full_names_name_the_same_branch():
    assert branch_matches(MAIN, ("main",), ())
    assert branch_matches(MAIN, (MAIN,), ())
    assert not branch_matches(DEVELOP, ("main",), ())
    assert not branch_matches(MAIN, ("*",), ("main",))
    with pytest.raises(NotModelledError):
        branch_matches(MAIN, ("releases/*",), ())


def test_rule_ci_no_trigger_means_every_branch_none_means_none(tmp_path):
    (tmp_path / "a.yml").write_text("steps:\n  - bash: echo\n")
    (tmp_path / "b.yml").write_text("trigger:\n  - main\nsteps:\n  - bash: echo\n")
    implied = _definition(spec.PR_PREVIEW, tmp_path / "a.yml")
    assert implied.ci_branches == ("*",)
    assert [r.source_branch for r in push_runs({implied.name: implied}, Push(PLATFORM, "refs/heads/x"))] == [
        "refs/heads/x"
    ]
    with pytest.raises(NotModelledError):
        _definition(spec.PR_PREVIEW, tmp_path / "b.yml")
    assert load_definitions()[EP].ci_branches is None


def test_rule_push_a_repository_trigger_runs_on_the_triggering_repositorys_branch():
    d = definition("p", repository_triggers=(RepositoryTrigger(ENGINE, ("develop",), ()),))
    (run,) = push_runs({"p": d}, Push(ENGINE, DEVELOP))
    assert (run.source_branch, run.repository, run.reason) == (DEVELOP, ENGINE, "ResourceTrigger")
    assert push_runs({"p": d}, Push(ENGINE, MAIN)) == []


def test_rule_pr_only_the_policy_pipelines_on_the_target_branch():
    d = definition("p", pull_request_validation=True)
    (run,) = pull_request_runs({"p": d}, PullRequest(PLATFORM, MAIN, 7))
    assert run.source_branch == "refs/pull/7/merge"
    assert pull_request_runs({"p": replace(d, pull_request_validation=False)}, PullRequest(PLATFORM, MAIN)) == []


def test_rule_manual_defaults_to_the_definitions_default_branch():
    d = definition("p", default_branch="refs/heads/trunk")
    assert manual_run({"p": d}, ManualRun("p"))[0].source_branch == "refs/heads/trunk"
    assert manual_run({"p": d}, ManualRun("p", "feature"))[0].source_branch == "refs/heads/feature"


def test_rule_completion_same_repository_keeps_the_branch_other_repository_takes_the_default():
    follower = definition("f", completion_triggers=(CompletionTrigger("p", ("*",), (), ()),))
    same = Run("p", "refs/heads/feature", PLATFORM, "Manual")
    other = Run("p", DEVELOP, ENGINE, "ResourceTrigger")
    assert completion_runs({"p": definition("p"), "f": follower}, same)[0].source_branch == "refs/heads/feature"
    assert completion_runs({"p": definition("p"), "f": follower}, other)[0].source_branch == MAIN


def test_rule_source_names_a_pipeline_by_folder_and_name_or_by_a_unique_name():
    p = definition("p", folder="\\ML")
    follower = definition("f", completion_triggers=(CompletionTrigger("\\ml\\P", ("*",), (), ()),))
    done = Run("p", MAIN, PLATFORM, "Manual")
    definitions = {"p": p, "f": follower}
    assert completion_runs(definitions, done)
    by_name = replace(follower, completion_triggers=(CompletionTrigger("p", ("*",), (), ()),))
    assert completion_runs({"p": p, "f": by_name}, done)
    # Another folder, or a name two pipelines share, names nothing.
    other = replace(follower, completion_triggers=(CompletionTrigger("\\Dev\\p", ("*",), (), ()),))
    assert not completion_runs({"p": p, "f": other}, done)
    twin = definition("p", folder="\\Dev")
    assert not completion_runs({"p": p, "p2": twin, "f": by_name}, done)


def test_every_pipeline_resource_of_the_chain_names_its_source_with_the_folder():
    for d in load_definitions().values():
        for trigger in d.completion_triggers:
            assert trigger.source.startswith("\\"), f"{d.name}: {trigger.source}"


def test_rule_completion_filters_on_the_completed_runs_branch_and_tags():
    follower = definition("f", completion_triggers=(CompletionTrigger("p", (MAIN,), (), ("ok",)),))
    tagged = Run("p", MAIN, PLATFORM, "Manual", tags=frozenset({"ok", "other"}))
    assert completion_runs({"p": definition("p"), "f": follower}, tagged)
    assert not completion_runs({"p": definition("p"), "f": follower}, replace(tagged, tags=frozenset({"other"})))
    assert not completion_runs({"p": definition("p"), "f": follower}, replace(tagged, source_branch=DEVELOP))


def test_rule_completion_tags_are_a_single_tag_here_so_all_and_any_agree():
    for d in load_definitions().values():
        for trigger in d.completion_triggers:
            assert len(trigger.tags) <= 1, f"{d.name}: decide how Azure combines several tags first"


def test_the_model_reads_the_tags_the_yaml_adds():
    assert load_definitions()[TER].build_tags == {spec.MODEL_REGISTERED_TAG}
    assert all(not d.build_tags for name, d in load_definitions().items() if name != TER)


def test_rule_completion_the_two_readings_differ_only_for_a_run_of_another_repository():
    follower = definition("f", completion_triggers=(CompletionTrigger("p", ("*",), (), ()),))
    definitions = {"p": definition("p"), "f": follower}
    own = Run("p", "refs/heads/feature", PLATFORM, "Manual")
    pushed = Run("p", DEVELOP, ENGINE, "ResourceTrigger")
    for reading in Reading:
        assert completion_runs(definitions, own, reading)[0].source_branch == "refs/heads/feature"
    assert completion_runs(definitions, pushed, Reading.RUN_REPOSITORY)[0].source_branch == MAIN
    assert completion_runs(definitions, pushed, Reading.DEFINITION_REPOSITORY)[0].source_branch == DEVELOP


def test_rule_queue_after_a_repository_trigger_or_a_run_from_the_named_branch_only():
    p = definition("p", queues=(QueueStep("\\ML\\t", MAIN, ENGINE, DEVELOP, PLATFORM),))
    t = definition("t", folder="\\ML")
    definitions = {"p": p, "t": t}
    pushed = Run("p", DEVELOP, ENGINE, "ResourceTrigger")
    (queued,) = queue_runs(definitions, pushed)
    assert (queued.pipeline, queued.source_branch, queued.repository) == ("t", MAIN, PLATFORM)
    assert queued.triggered_by is pushed
    assert queue_runs(definitions, Run("p", MAIN, PLATFORM, "Manual"))
    assert not queue_runs(definitions, Run("p", "refs/heads/feature/x", PLATFORM, "Manual"))
    # Another engine branch, or main of the engine, is no trigger of the chain.
    assert not queue_runs(definitions, Run("p", MAIN, ENGINE, "ResourceTrigger"))


@pytest.mark.parametrize("reason", ["ResourceTrigger", "IndividualCI", "BatchedCI"])
def test_rule_queue_an_engine_commit_queues_training_whatever_build_reason_azure_reports(reason):
    # MicrosoftDocs/azure-devops-docs #9003 shows runs a repository resource started as
    # "Individual CI": the chain must not hang on which reason Azure reports.
    runs = simulate(Push(ENGINE, DEVELOP))
    extract = replace(runs[0], reason=reason)
    (queued,) = queue_runs(load_definitions(), extract)
    assert (queued.pipeline, queued.source_branch) == (TER, MAIN)


def test_rule_queue_a_failed_extract_prepare_queues_nothing():
    runs = simulate(Push(ENGINE, DEVELOP), Outcome(failing=frozenset({EP})))
    assert [r.pipeline for r in runs] == [EP]


def test_rule_queue_another_condition_on_the_queue_step_is_not_modelled(tmp_path):
    shutil.copytree(PIPELINES_DIR, tmp_path / "pipelines")
    template = tmp_path / "pipelines" / "templates" / "queue-pipeline.yml"
    template.write_text(template.read_text().replace("condition: and(succeeded(), ", "condition: and(always(), "))
    with pytest.raises(NotModelledError):
        load_definitions(tmp_path / "pipelines")
