"""The preview of every stack as one comment on the pull request, updated on each push.

Run by `[PR]-Preview`'s last job (`python3 -m commands.pr_comment`) once the previews are
done, passed or not. It reads each stack's summary (`commands/preview_summary.py`, downloaded
to SUMMARIES/summary-<stack>/<stack>.json), renders one Markdown comment and posts it through
the pull request threads REST API (7.1) with the job's token:

- the first push creates a thread whose first comment starts with MARKER;
- every later push finds that thread and edits its comment (Pull Request Thread Comments -
  Update): the pull request never gets a second preview comment.

A thread someone else started with the marker copied in cannot be edited by the job's token;
it is skipped, so nobody can block the preview by quoting it. Standard library only. Settings
come from the environment: SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECTID, SYSTEM_TEAMPROJECT,
BUILD_REPOSITORY_ID, PULL_REQUEST_ID, BUILD_BUILDID, BUILD_BUILDNUMBER, STACKS (comma
separated, in display order), SUMMARIES (a folder) and SYSTEM_ACCESSTOKEN.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from commands.preview_summary import COUNTED, StackSummary, read_summaries, run_url

API_VERSION = "7.1"
# First line of our comment: how the next run finds the thread again (an HTML comment,
# which the rendered Markdown does not show).
MARKER = "<!-- digitre-mlops:pr-preview -->"
# Azure DevOps takes comments of up to 150,000 characters; keep well below.
MAX_COMMENT = 100_000
# A comment author the token may not edit answers one of these.
NOT_OURS = frozenset({401, 403})
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def text(value: str) -> str:
    """Plain text in Markdown: no markup, no HTML, one line."""
    value = " ".join(value.split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value).replace("<", "&lt;").replace(">", "&gt;")


def code(value: str) -> str:
    """A name as inline code, with nothing that could end the span or a table cell."""
    return "`" + " ".join(value.replace("`", "'").replace("|", "/").split()) + "`"


RESULT = {"succeeded": "✅ passed", "failed": "❌ failed", "missing": "⚠️ no result"}


def render(summaries: Mapping[str, StackSummary], stacks: Sequence[str], run_name: str, run_url: str) -> str:
    """The comment: a table per stack, what must stand out, the violations, the errors, every
    change folded away, and the run it came from."""
    lines = [
        MARKER,
        "### Pulumi preview of this pull request",
        "",
        "| stack | preview | " + " | ".join(COUNTED) + " | policy violations |",
        "|---|---|" + "---:|" * len(COUNTED) + "---:|",
    ]
    for stack in stacks:
        summary = summaries.get(stack)
        if summary is None:
            lines.append(f"| {code(stack)} | ⚠️ did not run | " + " | ".join("-" for _ in COUNTED) + " | - |")
            continue
        counts = " | ".join(str(summary.counts.get(op, 0)) if summary.result != "missing" else "-" for op in COUNTED)
        lines.append(f"| {code(stack)} | {RESULT[summary.result]} | {counts} | {len(summary.violations)} |")
    ordered = [summaries[s] for s in stacks if s in summaries]
    dangerous = [(s.stack, c) for s in ordered for c in s.dangerous]
    if dangerous:
        lines += ["", "**⚠️ Replaces or deletes protected or stateful resources:**", ""]
        for stack, change in dangerous:
            why = ", ".join(w for w, on in (("protected", change.protected), ("stateful", change.stateful)) if on)
            because = f"; because of {', '.join(code(p) for p in change.properties)}" if change.properties else ""
            lines.append(f"- {code(stack)}: **{change.op}** {code(change.type)} {code(change.name)} ({why}{because})")
    violations = [(s.stack, v) for s in ordered for v in s.violations]
    if violations:
        lines += ["", "**Policy violations:**", ""]
        for stack, violation in violations:
            on = f" on {code(violation.resource)}" if violation.resource else ""
            lines.append(
                f"- {code(stack)}: **{text(violation.level)}** {code(violation.policy)}{on}: {text(violation.message)}"
            )
    errors = [(s.stack, e) for s in ordered for e in s.errors]
    if errors:
        lines += ["", "**Errors:**", ""]
        lines += [f"- {code(stack)}: {text(error)}" for stack, error in errors]
    changed = [s for s in ordered if s.changes]
    if changed:
        lines += ["", "<details><summary>Every change</summary>", ""]
        for summary in changed:
            lines += [f"**{text(summary.stack)}**", ""]
            for change in summary.changes:
                props = f" ({', '.join(code(p) for p in change.properties)})" if change.properties else ""
                lines.append(f"- {text(change.op)} {code(change.type)} {code(change.name)}{props}")
            if summary.changes_left_out:
                lines.append(f"- … and {summary.changes_left_out} more: see the run")
            lines.append("")
        lines.append("</details>")
    lines += ["", f"From run [{text(run_name)}]({run_url}); this comment is updated on every push."]
    comment = "\n".join(lines)
    if len(comment) > MAX_COMMENT:
        cut = comment[: MAX_COMMENT - 200].rsplit("\n", 1)[0]
        comment = f"{cut}\n\n… cut short: see [the run]({run_url}).\n"
    return comment


class Threads:
    """The pull request's threads, through the REST API with a bearer token."""

    def __init__(self, collection_uri: str, project: str, repository_id: str, pull_request_id: int, token: str):
        self.base = (
            f"{collection_uri.rstrip('/')}/{project}/_apis/git/repositories/{repository_id}"
            f"/pullRequests/{pull_request_id}/threads"
        )
        self.token = token

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{url}?api-version={API_VERSION}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode() or "null")

    def list(self) -> list[dict[str, Any]]:
        listed = self._call("GET", self.base)
        threads = listed.get("value", []) if isinstance(listed, dict) else listed
        return [t for t in threads or [] if isinstance(t, dict)]

    def create(self, content: str) -> dict[str, Any]:
        # `active`, like any reviewer's comment; the marker lets the next run find it.
        body = {"comments": [{"parentCommentId": 0, "content": content, "commentType": "text"}], "status": "active"}
        return self._call("POST", self.base, body)

    def update(self, thread_id: int, comment_id: int, content: str) -> dict[str, Any]:
        return self._call("PATCH", f"{self.base}/{thread_id}/comments/{comment_id}", {"content": content})


def _first_comment(thread: Mapping[str, Any]) -> Mapping[str, Any] | None:
    comments = [c for c in thread.get("comments") or [] if isinstance(c, dict) and not c.get("parentCommentId")]
    return min(comments, key=lambda c: int(c.get("id", 0)), default=None)


def marked(threads: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """(thread id, comment id) of each live thread whose first comment starts with MARKER."""
    found = []
    for thread in threads:
        first = _first_comment(thread)
        if thread.get("isDeleted") or first is None or first.get("isDeleted"):
            continue
        if str(first.get("content", "")).startswith(MARKER):
            found.append((int(thread["id"]), int(first["id"])))
    return sorted(found)


def upsert(threads: Threads, content: str) -> tuple[str, int]:
    """Edit our thread's comment, else start the thread: ("updated" | "created", thread id)."""
    for thread_id, comment_id in marked(threads.list()):
        try:
            threads.update(thread_id, comment_id, content)
        except urllib.error.HTTPError as error:
            if error.code in NOT_OURS:
                continue
            raise
        return "updated", thread_id
    created = threads.create(content)
    return "created", int(created["id"])


def _setting(env: Mapping[str, str], name: str, pattern: str) -> str:
    value = env.get(name, "")
    if not re.fullmatch(pattern, value):
        raise SystemExit(f"{name}={value!r} is not what Azure Pipelines sets ({pattern})")
    return value


def main(env: Mapping[str, str]) -> int:
    pull_request = int(_setting(env, "PULL_REQUEST_ID", r"[1-9][0-9]{0,9}"))
    build_id = _setting(env, "BUILD_BUILDID", r"[1-9][0-9]{0,12}")
    collection = _setting(env, "SYSTEM_COLLECTIONURI", r"https?://\S+")
    stacks = [s for s in env.get("STACKS", "").split(",") if s]
    summaries = read_summaries(Path(env["SUMMARIES"]), stacks)
    url = run_url(collection, env.get("SYSTEM_TEAMPROJECT", ""), build_id)
    comment = render(summaries, stacks, env.get("BUILD_BUILDNUMBER", build_id), url)
    threads = Threads(
        collection,
        _setting(env, "SYSTEM_TEAMPROJECTID", r"[0-9A-Fa-f-]{36}"),
        _setting(env, "BUILD_REPOSITORY_ID", r"[0-9A-Fa-f-]{36}"),
        pull_request,
        env["SYSTEM_ACCESSTOKEN"],
    )
    action, thread_id = upsert(threads, comment)
    print(f"preview comment {action}: thread {thread_id} of pull request {pull_request}")
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ))
