"""The preview comment on the pull request: rendered from the stacks' summaries, and posted by
`[PR]-Preview`'s own step (its bash run for real, or the one command it runs in-process) against a loopback stand-in for the Azure
DevOps pull request threads REST API 7.1 (vsts-rest-api-specs specification/git/7.1/git.json:
Pull Request Threads - List, Create; Pull Request Thread Comments - Update)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from commands import pr_comment
from commands.pr_comment import API_VERSION, MARKER, MAX_COMMENT, Threads, marked, render
from commands.preview_summary import Change, StackSummary, summarise
from components.devops import pipelines as spec
from offline.evaluate import ROOT
from tests.support import ledger
from tests.support.local_command import run_main
from tests.support.loopback import JsonHandler, serve
from tests.support.pipeline_jobs import jobs_of, load, macro_env, run_script, script_of

FIXTURES = ROOT / "tests" / "fixtures" / "preview_events"
TOKEN = "job-token"
PROJECT_ID = "6ce954b1-ce1f-45d1-b94d-e6bf2464ba2c"
REPOSITORY_ID = "3411ebc1-d5aa-464f-9615-0b527bc66719"
PULL_REQUEST = 22
THREADS = f"/{PROJECT_ID}/_apis/git/repositories/{REPOSITORY_ID}/pullRequests/{PULL_REQUEST}/threads"
BUILD_SERVICE = {"id": "b0000000-0000-0000-0000-000000000001", "displayName": "DigitRE Build Service (digitre)"}
SOMEONE = {"id": "d6245f20-2af8-44f4-9451-8107cb2767db", "displayName": "Normal Paulk"}


def fixture_summaries() -> dict[str, StackSummary]:
    files = {
        "shared": "shared-no-changes.jsonl",
        "qa": "qa-failed.jsonl",
        "prod": "prod-replaces-protected.jsonl",
    }
    return {stack: summarise(stack, (FIXTURES / name).read_text().splitlines()) for stack, name in files.items()}


def test_the_comment_counts_each_stack_and_says_which_failed_or_did_not_run():
    comment = render(fixture_summaries(), ["shared", "dev", "qa", "prod"], "pr-preview-20261130.4", "https://x/run")
    assert comment.startswith(MARKER + "\n")
    rows = {line.split("|")[1].strip(): line for line in comment.splitlines() if line.startswith("| `")}
    assert [cell.strip() for cell in rows["`prod`"].split("|")[2:8]] == ["✅ passed", "1", "1", "1", "1", "1"]
    assert [cell.strip() for cell in rows["`shared`"].split("|")[2:8]] == ["✅ passed", "0", "0", "0", "0", "1"]
    assert "❌ failed" in rows["`qa`"]
    # dev published no summary: its job never got to the preview.
    assert "did not run" in rows["`dev`"]
    assert list(rows) == ["`shared`", "`dev`", "`qa`", "`prod`"]
    assert "[pr-preview-20261130.4](https://x/run)" in comment


def test_replaces_and_deletes_of_protected_or_stateful_resources_stand_out():
    comment = render(fixture_summaries(), ["shared", "qa", "prod"], "r", "https://x/run")
    section = comment.split("**⚠️ Replaces or deletes protected or stateful resources:**")[1].split("\n\n")[1]
    items = section.splitlines()
    assert items == [
        "- `prod`: **delete** `azure-native:operationalinsights:Workspace` `old-logs` (stateful)",
        "- `prod`: **replace** `azure-native:containerservice:ManagedCluster` `aks-cluster` (protected, stateful;"
        " because of `agentPoolProfiles`, `agentPoolProfiles[0].vmSize`)",
    ]
    # An update or a create is listed only among every change, folded away.
    assert "aks-insights-dcr" not in section and "aks-insights-dcr" in comment.split("<details>")[1]


def test_without_a_dangerous_change_nothing_stands_out():
    comment = render({"shared": fixture_summaries()["shared"]}, ["shared"], "r", "https://x/run")
    assert "Replaces or deletes" not in comment and "<details>" not in comment


def test_violations_and_the_errors_of_a_failed_stack_are_listed():
    comment = render(fixture_summaries(), ["shared", "qa", "prod"], "r", "https://x/run")
    violations = comment.split("**Policy violations:**")[1].split("\n\n")[1].splitlines()
    assert len(violations) == 3
    assert violations[1].startswith("- `qa`: **mandatory** `aci-minimum-resources` on `engine-aci`: Container")
    errors = comment.split("**Errors:**")[1].split("\n\n")[1].splitlines()
    assert errors[0].startswith("- `qa`: Program failed with an unhandled exception: ValueError: digitre")


def test_names_and_messages_from_a_pull_request_cannot_inject_markup():
    hostile = StackSummary(
        "dev",
        "failed",
        {"delete": 1},
        changes=(Change("delete", "azure-native:keyvault:Vault", "kv`](https://evil)<img src=x>|", protected=True),),
        errors=("<script>alert(1)</script> [click](https://evil) | ## big",),
    )
    comment = render({"dev": hostile}, ["dev"], "r", "https://x/run")
    # A code span shows its text as it is (no link, no HTML); outside of one, nothing is markup.
    assert "`kv'](https://evil)<img src=x>/`" in comment  # one span, no backtick to end it early
    outside = re.sub(r"`[^`\n]*`", "", comment)
    assert "<img" not in outside and "<script>" not in outside and "](https://evil)" not in outside
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\[click\\]\\(https://evil\\) \\| \\#\\# big" in comment


def test_a_huge_preview_still_fits_one_comment():
    changes = tuple(
        Change("update", "azure-native:resources:ResourceGroup", f"rg-{i}" + "x" * 150, False) for i in range(100)
    )
    summaries = {f"s{n}": StackSummary(f"s{n}", "succeeded", {"update": 100}, changes) for n in range(10)}
    comment = render(summaries, list(summaries), "r", "https://x/run")
    assert len(comment) <= MAX_COMMENT
    assert comment.startswith(MARKER) and "cut short" in comment


def test_only_a_thread_whose_first_comment_starts_with_the_marker_is_ours():
    threads = [
        {"id": 5, "comments": [{"id": 1, "parentCommentId": 0, "content": "see " + MARKER}]},
        {
            "id": 6,
            "comments": [
                {"id": 1, "parentCommentId": 0, "content": "hi"},
                {"id": 2, "parentCommentId": 1, "content": MARKER},
            ],
        },
        {"id": 7, "isDeleted": True, "comments": [{"id": 1, "parentCommentId": 0, "content": MARKER}]},
        {"id": 9, "comments": [{"id": 3, "parentCommentId": 0, "content": MARKER + "\nold"}]},
        {"id": 8, "comments": [{"id": 1, "parentCommentId": 0, "content": MARKER, "isDeleted": True}]},
    ]
    assert marked(threads) == [(9, 3)]


# The stand-in Azure DevOps.


@dataclass
class PullRequestThreads:
    threads: list[dict[str, Any]] = field(default_factory=list)
    # Threads whose comments the job token may not edit (another author's).
    foreign: set[int] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def azure_devops(pr: PullRequestThreads) -> Iterator[str]:
    class Handler(JsonHandler):
        def _path(self) -> str:
            url = urlparse(self.path)
            with pr.lock:
                pr.requests.append((self.command, url.path))
            assert self.headers["Authorization"] == f"Bearer {TOKEN}"
            assert parse_qs(url.query)["api-version"] == ["7.1"]
            return url.path

        def _body(self) -> Any:
            assert self.headers["Content-Type"] == "application/json"
            return self.read_json()

        def do_GET(self) -> None:
            assert self._path() == THREADS
            self.answer({"value": pr.threads, "count": len(pr.threads)})

        def do_POST(self) -> None:
            assert self._path() == THREADS
            body = self._body()
            (comment,) = body["comments"]
            assert comment["parentCommentId"] == 0 and comment["commentType"] == "text"
            assert len(comment["content"]) <= 150_000  # the API's limit
            thread = {
                "id": 100 + len(pr.threads),
                "status": body["status"],
                "comments": [{"id": 1, "parentCommentId": 0, "content": comment["content"], "author": BUILD_SERVICE}],
                "isDeleted": False,
            }
            pr.threads.append(thread)
            self.answer(thread)

        def do_PATCH(self) -> None:
            path = self._path()
            match = re.fullmatch(re.escape(THREADS) + r"/(\d+)/comments/(\d+)", path)
            assert match, path
            body = self._body()
            assert set(body) == {"content"}
            thread_id, comment_id = int(match.group(1)), int(match.group(2))
            if thread_id in pr.foreign:
                return self.answer({"message": "TF401181: only the author may edit"}, 403)
            (thread,) = [t for t in pr.threads if t["id"] == thread_id]
            (comment,) = [c for c in thread["comments"] if c["id"] == comment_id]
            comment["content"] = body["content"]
            self.answer(comment)

    with serve(Handler) as url:
        yield url


def comment_step() -> dict[str, Any]:
    (job,) = [j for j in jobs_of(ROOT / spec.PR_PREVIEW.yml_path) if j.name == "comment"]
    (step,) = [s for s in job.steps if "commands.pr_comment" in script_of(s)]
    return step


def publish_summaries(folder: Path, files: dict[str, str]) -> None:
    """What the preview jobs publish and the comment job downloads: summary-<stack>/<stack>.json."""
    for stack, name in files.items():
        target = folder / f"summary-{stack}" / f"{stack}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(summarise(stack, (FIXTURES / name).read_text().splitlines()).to_json()))


def run_comment(
    tmp_path: Path,
    pr: PullRequestThreads,
    build_id: int,
    pull_request: str = str(PULL_REQUEST),
    *,
    process: bool = False,
):
    """The comment step against `pr`: with `process` its bash run for real (one per exit
    code below); else the command it runs, `commands.pr_comment.main`, in this process with
    the step's environment."""
    step = comment_step()
    workspace = tmp_path / f"workspace-{build_id}"
    publish_summaries(workspace, {"shared": "shared-no-changes.jsonl", "prod": "prod-replaces-protected.jsonl"})
    with azure_devops(pr) as url:
        macros = {
            "System.AccessToken": TOKEN,
            "System.CollectionUri": f"{url}/",
            "System.TeamProject": "DigitRE",
            "System.TeamProjectId": PROJECT_ID,
            "Build.Repository.ID": REPOSITORY_ID,
            "Build.BuildId": str(build_id),
            "Build.BuildNumber": f"pr-preview-20261130.{build_id}",
            "System.PullRequest.PullRequestId": pull_request,
            "Pipeline.Workspace": str(workspace),
        }
        env = macro_env(step, macros)
        # The pipeline's `${{ join(',', parameters.stacks) }}`, as Azure expands it.
        env["STACKS"] = ",".join(spec.PR_PREVIEW.stacks)
        env["PATH"] = "/usr/bin:/bin"
        env["PYTHONPATH"] = str(ROOT)
        if process:
            return run_script(script_of(step), macros, env, ROOT)
        # What the step runs, and so what runs here in its stead.
        assert script_of(step).strip() == "python3 -m commands.pr_comment"
        return run_main(lambda: pr_comment.main(env))


def ours(pr: PullRequestThreads) -> list[dict[str, Any]]:
    return [t for t in pr.threads if t["comments"][0]["content"].startswith(MARKER) and t["id"] not in pr.foreign]


def test_the_first_push_creates_the_comment_and_the_next_push_updates_it(tmp_path):
    pr = PullRequestThreads()
    first = run_comment(tmp_path, pr, 41, process=True)
    assert first.returncode == 0, first.stderr
    assert [m for m, _ in pr.requests] == ["GET", "POST"]
    (thread,) = ours(pr)
    assert thread["status"] == "active"
    assert "pr-preview-20261130.41" in thread["comments"][0]["content"]
    assert "preview comment created: thread 100 of pull request 22" in first.stdout

    second = run_comment(tmp_path, pr, 42)
    assert second.returncode == 0, second.stderr
    assert [m for m, _ in pr.requests] == ["GET", "POST", "GET", "PATCH"]
    assert pr.requests[-1][1] == f"{THREADS}/100/comments/1"
    (thread,) = ours(pr)  # still one
    content = thread["comments"][0]["content"]
    assert "pr-preview-20261130.42" in content and "pr-preview-20261130.41" not in content
    assert "preview comment updated: thread 100" in second.stdout
    # The run link points at this run's page.
    assert "/DigitRE/_build/results?buildId=42)" in content


def test_a_copied_marker_in_someone_elses_thread_neither_blocks_nor_duplicates_the_comment(tmp_path):
    foreign: dict[str, Any] = {
        "id": 7,
        "comments": [{"id": 1, "parentCommentId": 0, "content": MARKER + " copied", "author": SOMEONE}],
    }
    pr = PullRequestThreads(threads=[foreign], foreign={7})
    assert run_comment(tmp_path, pr, 51).returncode == 0
    assert run_comment(tmp_path, pr, 52).returncode == 0
    assert [m for m, _ in pr.requests] == ["GET", "PATCH", "POST", "GET", "PATCH", "PATCH"]
    (thread,) = ours(pr)
    assert "pr-preview-20261130.52" in thread["comments"][0]["content"]
    assert foreign["comments"][0]["content"] == MARKER + " copied"


def test_outside_a_pull_request_the_step_fails_before_asking_anything(tmp_path):
    pr = PullRequestThreads()
    result = run_comment(tmp_path, pr, 61, pull_request="$(System.PullRequest.PullRequestId)", process=True)
    # Outside a pull request the variable is not set: the macro stays, and nothing is asked.
    assert result.returncode != 0 and "PULL_REQUEST_ID" in result.stderr
    assert pr.requests == []


def test_the_comment_runs_after_every_preview_for_pull_requests_only():
    document = load(ROOT / spec.PR_PREVIEW.yml_path)
    (stage,) = [s for s in document["stages"] if s["stage"] == "comment"]
    assert stage["dependsOn"] == ["test", "preview"]
    assert stage["condition"] == "and(succeededOrFailed(), eq(variables['Build.Reason'], 'PullRequest'))"
    step = comment_step()
    assert step["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
    assert step["env"]["STACKS"] == "${{ join(',', parameters.stacks) }}"
    assert step["env"]["SUMMARIES"] == "$(Pipeline.Workspace)"


@pytest.mark.parametrize("pipeline", [spec.PR_PREVIEW, spec.PLATFORM_DRIFT], ids=lambda p: p.key)
def test_each_preview_job_publishes_the_summary_the_comment_and_the_mail_read(pipeline):
    jobs = {job.name: job for job in jobs_of(ROOT / pipeline.yml_path)}
    for stack in pipeline.stacks:
        steps = jobs[f"preview_{stack}"].steps
        (summarise_step,) = [s for s in steps if "commands.preview_summary" in script_of(s)]
        (publish,) = [s for s in steps if "publish" in s]
        out = re.search(r'--out "([^"]+)"', script_of(summarise_step)).group(1)  # type: ignore[union-attr]
        assert out == f"{publish['publish']}/{stack}.json"
        assert publish["artifact"] == f"summary-{stack}"
        # Passed or failed, the preview is summed up and published.
        assert summarise_step["condition"] == publish["condition"] == "succeededOrFailed()"
        (pulumi_step,) = [s for s in steps if s.get("__template__") == "pulumi.yml" and "task" in s]
        events = pulumi_step["__parameters__"]["eventsFile"]
        assert f'--events "{events}"' in script_of(summarise_step)
    (downloading,) = [j for j in jobs.values() if any(s.get("download") == "current" for s in j.steps)]
    (download,) = [s for s in downloading.steps if s.get("download") == "current"]
    assert download["patterns"] == "summary-*/*.json"


def test_the_threads_api_is_the_one_the_ledger_gives():
    (row,) = [r for r in ledger.rows() if r.fact.startswith("Pull request threads, REST")]
    quoted = ledger.quoted(row.fact)
    assert quoted[0] == API_VERSION
    threads = Threads("https://dev.azure.com/o/", "p", "r", 5, "t")
    (listed,) = [q for q in quoted if q.startswith("GET ")]
    assert threads.base == re.sub(
        r"\{(\w+)\}",
        lambda m: {
            "organization": "https://dev.azure.com/o",
            "project": "p",
            "repositoryId": "r",
            "pullRequestId": "5",
        }[m.group(1)],
        listed.removeprefix("GET "),
    )
    limit = int(re.search(r"up to ([\d,]+) characters", row.fact).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert limit > MAX_COMMENT
