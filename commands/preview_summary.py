"""What one `pulumi preview` of one stack would do, read from the engine's own event stream.

`pulumi preview --json` with PULUMI_ENABLE_STREAMING_JSON_PREVIEW set prints one engine event
per line (Pulumi's `apitype.EngineEvent`): a `resourcePreEvent` per step, a `policyEvent` per
policy violation, `diagnosticEvent`s and a closing `summaryEvent` with the counts per operation
and the run's result. The default `--json` digest drops policy events, hence the stream.

Run by the preview and drift jobs (`python3 -m commands.preview_summary --stack <s> --events
<file> --out <file>`) right after `pulumi preview`, whether it passed or not: it writes the
stack's summary as JSON (what the pull-request comment and the drift mail are built from,
never the raw events, which carry every resource's inputs) and prints it readably to the job
log. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from components.lifecycle import PROTECTED

# The operations a reviewer counts (Pulumi's summary counts a replacement once, as `replace`).
COUNTED = ("create", "update", "replace", "delete")
# What pulumi's `--expect-no-changes` does not count as a change (engine.HasChanges).
NOT_CHANGES = frozenset({"same", "read", "discard", "read-replacement"})
# The steps of one replacement; a resource with any of them is replaced.
REPLACE_STEPS = frozenset({"replace", "create-replacement", "delete-replaced", "discard-replaced"})
# Steps that change nothing in the cloud.
NO_OP_STEPS = frozenset({"same", "read", "refresh", "discard", "read-replacement", "remove-pending-replace"})
# Resources whose replacement or deletion loses data or history: the types the stacks
# protect, for the reason components/lifecycle.py gives each.
STATEFUL_TYPES = frozenset(PROTECTED)
# Pulumi's colour directives (`<{%reset%}>`), should a message still carry them.
_COLOR = re.compile(r"<\{%[^%]*%\}>")
# At most this many errors and changed resources per stack reach a summary.
MAX_ERRORS = 5
MAX_CHANGES = 100
MAX_TEXT = 500


@dataclass(frozen=True)
class Change:
    op: str
    type: str
    name: str
    protected: bool
    properties: tuple[str, ...] = ()

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES

    @property
    def dangerous(self) -> bool:
        """A replacement or deletion of something protected or holding data."""
        return self.op in ("replace", "delete") and (self.protected or self.stateful)


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    resource: str
    message: str


@dataclass(frozen=True)
class StackSummary:
    stack: str
    # "succeeded", "failed" (the preview ran and failed) or "missing" (no engine output at all:
    # the job failed before the preview, or the preview failed before the engine started).
    result: str
    counts: dict[str, int] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    violations: tuple[Violation, ...] = ()
    errors: tuple[str, ...] = ()
    # More changed resources than MAX_CHANGES: how many were left out.
    changes_left_out: int = 0

    @property
    def has_changes(self) -> bool:
        """What `pulumi preview --expect-no-changes` fails on: any operation but same and reads."""
        return any(count for op, count in self.counts.items() if op not in NOT_CHANGES)

    @property
    def dangerous(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.dangerous)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackSummary:
        return cls(
            stack=str(data["stack"]),
            result=str(data["result"]),
            counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
            changes=tuple(
                Change(c["op"], c["type"], c["name"], bool(c["protected"]), tuple(c.get("properties", ())))
                for c in data.get("changes", ())
            ),
            violations=tuple(Violation(**v) for v in data.get("violations", ())),
            errors=tuple(data.get("errors", ())),
            changes_left_out=int(data.get("changes_left_out", 0)),
        )


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """One line of plain text: colour directives gone, whitespace folded, cut at `limit`."""
    text = " ".join(_COLOR.sub("", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def summarise(stack: str, lines: Iterable[str]) -> StackSummary:
    """The summary of one stack's preview from its event stream (one JSON event a line;
    lines that are not JSON objects, such as a message printed before the engine started,
    are skipped)."""
    steps: dict[str, dict[str, Any]] = {}
    violations: list[Violation] = []
    errors: list[str] = []
    summary: dict[str, Any] | None = None
    seen_events = False
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        seen_events = True
        if "resourcePreEvent" in event:
            metadata = event["resourcePreEvent"].get("metadata") or {}
            _record_step(steps, metadata)
        elif "policyEvent" in event:
            policy = event["policyEvent"]
            violations.append(
                Violation(
                    policy=clean(str(policy.get("policyName", "")), 100),
                    level=clean(str(policy.get("enforcementLevel", "")), 20),
                    resource=_name(str(policy.get("resourceUrn", ""))),
                    message=clean(str(policy.get("message", ""))),
                )
            )
        elif "diagnosticEvent" in event:
            diagnostic = event["diagnosticEvent"]
            if diagnostic.get("severity") == "error" and not diagnostic.get("ephemeral"):
                message = clean(str(diagnostic.get("message", "")))
                if message and message not in errors:
                    errors.append(message)
        elif "summaryEvent" in event:
            summary = event["summaryEvent"]
    if not seen_events:
        return StackSummary(stack, "missing", errors=("pulumi printed no engine events: see the job log",))
    counts = {op: int((summary or {}).get("resourceChanges", {}).get(op, 0)) for op in COUNTED}
    if summary is not None:
        counts.update({str(op): int(n) for op, n in summary.get("resourceChanges", {}).items() if op not in counts})
    # The engine's own verdict; a preview cut short before its summary failed too.
    failed = summary is None or summary.get("result", "succeeded") != "succeeded" or bool(errors)
    changes = [_change(step) for step in steps.values() if step["op"] not in NO_OP_STEPS]
    changes.sort(key=lambda c: (not c.dangerous, c.op, c.type, c.name))
    return StackSummary(
        stack=stack,
        result="failed" if failed else "succeeded",
        counts=counts,
        changes=tuple(changes[:MAX_CHANGES]),
        violations=tuple(violations),
        errors=tuple(errors[:MAX_ERRORS]),
        changes_left_out=max(0, len(changes) - MAX_CHANGES),
    )


def _record_step(steps: dict[str, dict[str, Any]], metadata: dict[str, Any]) -> None:
    urn = str(metadata.get("urn", ""))
    op = str(metadata.get("op", ""))
    if not urn or metadata.get("type") == "pulumi:pulumi:Stack":
        return
    old = metadata.get("old") or {}
    step = steps.setdefault(
        urn, {"urn": urn, "op": op, "type": str(metadata.get("type", "")), "protected": False, "properties": set()}
    )
    if op in REPLACE_STEPS:
        step["op"] = "replace"
    elif step["op"] in NO_OP_STEPS:
        step["op"] = op
    step["protected"] = step["protected"] or bool(old.get("protect"))
    # `keys` are what forces a replacement, `diffs` what changes.
    step["properties"].update(str(key) for key in [*(metadata.get("keys") or ()), *(metadata.get("diffs") or ())])


def _change(step: dict[str, Any]) -> Change:
    return Change(
        op=step["op"],
        type=step["type"],
        name=clean(_name(step["urn"]), 200),
        protected=step["protected"],
        properties=tuple(sorted(clean(p, 100) for p in step["properties"]))[:20],
    )


def read_summaries(folder: Path, stacks: Iterable[str]) -> dict[str, StackSummary]:
    """The summaries downloaded to `folder` (artifact `summary-<stack>` each), by stack; a stack
    whose job published none is absent."""
    found = {}
    for stack in stacks:
        path = folder / f"summary-{stack}" / f"{stack}.json"
        if path.is_file():
            found[stack] = StackSummary.from_json(json.loads(path.read_text()))
    return found


def run_url(collection_uri: str, project: str, build_id: str) -> str:
    """A run's page in Azure DevOps."""
    return f"{collection_uri.rstrip('/')}/{urllib.parse.quote(project, safe='')}/_build/results?buildId={build_id}"


def console(summary: StackSummary) -> str:
    """The summary as the job log shows it."""
    counts = ", ".join(f"{summary.counts.get(op, 0)} to {op}" for op in COUNTED)
    lines = [f"stack {summary.stack}: preview {summary.result}; {counts}"]
    for change in summary.changes:
        flag = "  !! " if change.dangerous else "  "
        changed = f" ({', '.join(change.properties)})" if change.properties else ""
        protected = " [protected]" if change.protected else ""
        lines.append(f"{flag}{change.op} {change.type} {change.name}{protected}{changed}")
    if summary.changes_left_out:
        lines.append(f"  ... and {summary.changes_left_out} more")
    lines += [f"  policy {v.level} {v.policy} on {v.resource or 'the stack'}: {v.message}" for v in summary.violations]
    lines += [f"  error: {e}" for e in summary.errors]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m commands.preview_summary", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--events", required=True, type=Path, help="the file pulumi's JSON events went to")
    parser.add_argument("--out", required=True, type=Path, help="where the stack's summary JSON goes")
    args = parser.parse_args(argv)
    lines = args.events.read_text(errors="replace").splitlines() if args.events.is_file() else []
    summary = summarise(args.stack, lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary.to_json(), indent=1))
    print(console(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
