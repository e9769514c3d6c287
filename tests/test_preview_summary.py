"""The preview summariser (commands/preview_summary.py) on event streams in Pulumi's own format.

The fixtures in tests/fixtures/preview_events/ are what `PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true
pulumi preview --json` prints: one `apitype.EngineEvent` a line. The first tests pin every
fixture to the field names and values of Pulumi's source (sdk/go/common/apitype/events.go and
history.go), so a fixture that drifted from the real format fails here, not in a pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from commands import preview_summary
from commands.preview_summary import NOT_CHANGES, STATEFUL_TYPES, Change, StackSummary, console, summarise
from offline.evaluate import ROOT, Evaluation
from tests.support.local_command import run_main

FIXTURES = ROOT / "tests" / "fixtures" / "preview_events"

# pulumi/pulumi sdk/go/common/apitype/events.go: the JSON names of EngineEvent's members and of
# the payloads used here; `required` are the fields without `omitempty`.
ENGINE_EVENT = {"sequence", "timestamp"}
PAYLOADS: dict[str, tuple[set[str], set[str]]] = {
    # payload: (every field, the fields always present)
    "cancelEvent": (set(), set()),
    "preludeEvent": ({"config"}, {"config"}),
    "diagnosticEvent": (
        {"urn", "prefix", "message", "color", "severity", "streamID", "ephemeral"},
        {"message", "color", "severity"},
    ),
    "policyEvent": (
        {
            "resourceUrn",
            "message",
            "color",
            "policyName",
            "policyPackName",
            "policyPackVersion",
            "policyPackVersionTag",
            "enforcementLevel",
            "severity",
        },
        {"message", "color", "policyName", "policyPackName", "policyPackVersion", "policyPackVersionTag"},
    ),
    "summaryEvent": (
        {"maybeCorrupt", "durationSeconds", "resourceChanges", "PolicyPacks", "isPreview", "result"},
        {"maybeCorrupt", "durationSeconds", "resourceChanges", "PolicyPacks", "isPreview", "result"},
    ),
    "resourcePreEvent": ({"metadata", "planning"}, {"metadata"}),
    "resOutputsEvent": ({"metadata", "planning"}, {"metadata"}),
}
STEP_METADATA = (
    {"op", "urn", "type", "old", "new", "keys", "diffs", "detailedDiff", "logical", "provider"},
    {"op", "urn", "type", "old", "new", "detailedDiff", "provider"},
)
STATE_METADATA = (
    {
        "type",
        "urn",
        "custom",
        "delete",
        "id",
        "parent",
        "protect",
        "taint",
        "external",
        "retainOnDelete",
        "inputs",
        "outputs",
        "provider",
        "initErrors",
        "hideDiffs",
    },
    {"type", "urn", "id", "parent", "inputs", "outputs", "provider"},
)
# sdk/go/common/apitype/history.go (OpType) and events.go (OperationResult, DiffKind).
OP_TYPES = {
    "same",
    "create",
    "update",
    "delete",
    "replace",
    "create-replacement",
    "delete-replaced",
    "read",
    "read-replacement",
    "refresh",
    "discard",
    "discard-replaced",
    "remove-pending-replace",
    "import",
    "import-replacement",
}
RESULTS = {"succeeded", "failed", "canceled"}
DIFF_KINDS = {"add", "add-replace", "delete", "delete-replace", "update", "update-replace"}


def events(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def _fields(payload: dict, allowed: tuple[set[str], set[str]], where: str) -> None:
    every, required = allowed
    assert set(payload) <= every, f"{where}: fields Pulumi does not send: {sorted(set(payload) - every)}"
    assert required <= set(payload), (
        f"{where}: fields Pulumi always sends are missing: {sorted(required - set(payload))}"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")))
def test_every_fixture_event_has_the_shape_pulumis_apitype_gives_it(name):
    lines = events(name)
    assert lines
    for number, line in enumerate(lines, 1):
        event = json.loads(line)
        kinds = set(event) - ENGINE_EVENT
        assert set(event) >= ENGINE_EVENT and len(kinds) == 1, f"{name}:{number}: one payload per event"
        (kind,) = kinds
        assert kind in PAYLOADS, f"{name}:{number}: {kind}"
        payload = event[kind]
        _fields(payload, PAYLOADS[kind], f"{name}:{number}")
        if kind in ("resourcePreEvent", "resOutputsEvent"):
            metadata = payload["metadata"]
            _fields(metadata, STEP_METADATA, f"{name}:{number} metadata")
            assert metadata["op"] in OP_TYPES
            for side in ("old", "new"):
                if metadata[side] is not None:
                    _fields(metadata[side], STATE_METADATA, f"{name}:{number} {side}")
            for diff in (metadata["detailedDiff"] or {}).values():
                assert set(diff) == {"diffKind", "inputDiff"} and diff["diffKind"] in DIFF_KINDS
        if kind == "summaryEvent":
            assert set(payload["resourceChanges"]) <= OP_TYPES
            assert payload["result"] in RESULTS
        if kind == "policyEvent":
            assert payload["enforcementLevel"] in ("advisory", "mandatory")
    # Every stream ends with the summary, then the cancel event that closes the channel.
    assert "summaryEvent" in json.loads(lines[-2]) and "cancelEvent" in json.loads(lines[-1])


def test_a_stack_with_nothing_to_do_passes_with_its_advisory_violation():
    summary = summarise("shared", events("shared-no-changes.jsonl"))
    assert summary.result == "succeeded"
    assert summary.counts == {"create": 0, "update": 0, "replace": 0, "delete": 0, "same": 4}
    assert not summary.has_changes and summary.changes == () and summary.errors == ()
    (violation,) = summary.violations
    assert (violation.policy, violation.level, violation.resource) == (
        "aml-cluster-max-nodes",
        "advisory",
        "ml-compute",
    )
    assert violation.message.startswith("The AML compute cluster may scale to 12 nodes")


def test_a_replacement_of_a_protected_cluster_and_a_deleted_workspace_stand_out():
    summary = summarise("prod", events("prod-replaces-protected.jsonl"))
    assert summary.result == "succeeded"
    assert {op: summary.counts[op] for op in ("create", "update", "replace", "delete")} == {
        "create": 1,
        "update": 1,
        "replace": 1,
        "delete": 1,
    }
    # The three steps of one replacement are one replaced resource.
    replaced = [c for c in summary.changes if c.name == "aks-cluster"]
    assert replaced == [
        Change(
            "replace",
            "azure-native:containerservice:ManagedCluster",
            "aks-cluster",
            protected=True,
            properties=("agentPoolProfiles", "agentPoolProfiles[0].vmSize"),
        )
    ]
    assert {(c.op, c.name) for c in summary.dangerous} == {("replace", "aks-cluster"), ("delete", "old-logs")}
    # What stands out comes first; an update or a create never does.
    assert summary.changes[: len(summary.dangerous)] == summary.dangerous
    assert not any(c.dangerous for c in summary.changes if c.op in ("create", "update"))


def test_a_failed_stack_reports_its_errors_and_its_mandatory_violation():
    summary = summarise("qa", events("qa-failed.jsonl"))
    assert summary.result == "failed"
    assert (
        summary.errors[0]
        == "Program failed with an unhandled exception: ValueError: digitre-mlops:serving.cpu=8 is above 2"
    )
    # Info diagnostics are not errors.
    assert all("Tip" not in e for e in summary.errors)
    (violation,) = summary.violations
    assert violation.level == "mandatory" and violation.resource == "engine-aci"


def test_a_refresh_shows_as_the_update_it_calls_for():
    summary = summarise("dev", events("dev-drifted.jsonl"))
    assert summary.result == "succeeded" and summary.has_changes
    (change,) = summary.changes
    assert (change.op, change.name, change.properties) == ("update", "engine-aci", ("tags",))


def test_no_events_at_all_is_a_missing_result_not_a_clean_one():
    summary = summarise("dev", ["error: could not log in to azblob://state", ""])
    assert summary.result == "missing" and summary.counts == {}
    assert summary.errors


def test_a_stream_cut_off_before_its_summary_failed():
    lines = [line for line in events("prod-replaces-protected.jsonl") if "summaryEvent" not in line]
    assert summarise("prod", lines).result == "failed"


def test_has_changes_counts_what_expect_no_changes_counts():
    # pkg/engine/update.go HasChanges: everything but same, read, discard and read-replacement.
    assert {"same", "read", "discard", "read-replacement"} == NOT_CHANGES
    assert not StackSummary("x", "succeeded", {"same": 9, "read": 2}).has_changes
    assert StackSummary("x", "succeeded", {"same": 9, "import": 1}).has_changes


def test_colour_directives_and_newlines_never_reach_a_summary():
    line = json.dumps(
        {
            "sequence": 1,
            "timestamp": 1,
            "diagnosticEvent": {"message": "<{%fg 1%}>boom<{%reset%}>\n  at x\n", "color": "raw", "severity": "error"},
        }
    )
    assert summarise("dev", [line]).errors == ("boom at x",)


@pytest.fixture(scope="module")
def all_runs(every_run, customised) -> list[Evaluation]:
    """Every stack, and each customised (shared with `devops.createProject`: the project, protected)."""
    assert customised["shared"].of_type("azuredevops:index/project:Project")
    return [*every_run, *customised.values()]


def test_the_stateful_types_are_types_the_stacks_declare(all_runs):
    declared = {r.type for run in all_runs for r in run.resources}
    # Every entry names a resource type of this program (no typo can hide a replacement).
    assert sorted(STATEFUL_TYPES - declared) == []


def run_command(stack: str, events: Path, out: Path, process: bool = False) -> subprocess.CompletedProcess[str]:
    """`python3 -m commands.preview_summary` as the pipeline runs it; its `main` in this process
    unless `process`."""
    argv = ["--stack", stack, "--events", str(events), "--out", str(out)]
    if process:
        return subprocess.run(
            [sys.executable, "-m", "commands.preview_summary", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    return run_main(lambda: preview_summary.main(argv))


def test_the_command_writes_the_summary_and_prints_it(tmp_path):
    out = tmp_path / "summary" / "prod.json"
    result = run_command("prod", FIXTURES / "prod-replaces-protected.jsonl", out, process=True)
    assert result.returncode == 0, result.stderr
    written = StackSummary.from_json(json.loads(out.read_text()))
    assert written == summarise("prod", events("prod-replaces-protected.jsonl"))
    assert result.stdout.strip() == console(written)
    assert "!! replace azure-native:containerservice:ManagedCluster aks-cluster [protected]" in result.stdout
    # Inputs and outputs of resources (the fixtures' tag values) stay in the raw events.
    assert '"project"' not in out.read_text()


def test_a_preview_that_wrote_no_file_still_gets_a_summary(tmp_path):
    out = tmp_path / "dev.json"
    result = run_command("dev", tmp_path / "never-written.jsonl", out)
    assert result.returncode == 0, result.stderr
    assert StackSummary.from_json(json.loads(out.read_text())).result == "missing"


def test_fixture_names_say_the_stack_they_preview():
    for path in FIXTURES.glob("*.jsonl"):
        stack = path.name.split("-")[0]
        assert all(f"urn:pulumi:{stack}::" in line for line in events(path.name) if "urn:pulumi:" in line)
