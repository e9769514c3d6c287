"""The nightly drift check (`[Platform]-Drift`): what it leaves out of the refresh, and its mail.

`python3 -m commands.drift excludes` prints one `pulumi preview --exclude` pattern a line: the
resources the read-only identity cannot refresh without rights a pull request must never hold
(see NOT_REFRESHED). `python3 -m commands.drift mail` prints the SendGrid request (JSON) that
tells the platform team what drifted, built from the stacks' summaries
(`commands/preview_summary.py`, in SUMMARIES/summary-<stack>/<stack>.json); settings from the
environment: NOTIFY_FROM, NOTIFY_TO (comma separated), STACKS, SUMMARIES, and the run's
SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT, BUILD_BUILDID and BUILD_BUILDNUMBER.
Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from commands.preview_summary import console, read_summaries, run_url

# Resource types (by token prefix) the drift check does not refresh, and why. The refresh runs
# as the pull-request preview's read-only identity and job token, and whatever they can read,
# every pull request can read.
NOT_REFRESHED: tuple[tuple[str, str], ...] = (
    (
        "azuredevops:index/",
        "Azure DevOps objects: a refresh reads them with the job's token, and reading service "
        "connections, checks, pipeline permissions, security ACLs and project settings takes rights "
        "the build service is not given here",
    ),
    (
        "kubernetes:",
        "objects inside prod's cluster: refreshing the Helm release reads Helm's release Secrets, "
        "and secret read in prod's cluster must not reach an identity every pull request uses",
    ),
)


def exclude_patterns() -> list[str]:
    """`--exclude` patterns for every resource whose own type starts with a NOT_REFRESHED
    prefix: a URN is `urn:pulumi:<stack>::<project>::<parent types$>type::<name>`, and in
    Pulumi's patterns `*` stops at a colon while `**` does not."""
    patterns = []
    for prefix, _ in NOT_REFRESHED:
        patterns += [f"urn:pulumi:*::*::{prefix}**", f"urn:pulumi:*::*::**${prefix}**"]
    return patterns


def pattern_matches(pattern: str, urn: str) -> bool:
    """Whether Pulumi's `--target`/`--exclude` pattern matches a URN, as the engine decides it
    (pkg/resource/deploy/deployment.go, `UrnTargets.getMatcher`): `**` is any text, `*` any
    text without a colon, everything else literal."""
    if "*" not in pattern:
        return pattern == urn
    parts = ["[^:]*".join(re.escape(piece) for piece in segment.split("*")) for segment in pattern.split("**")]
    return re.fullmatch(".*".join(parts), urn) is not None


def mail(env: Mapping[str, str]) -> dict[str, Any]:
    """The SendGrid v3 mail/send request telling the platform team what drifted."""
    stacks = [s for s in env.get("STACKS", "").split(",") if s]
    found = read_summaries(Path(env["SUMMARIES"]), stacks)
    summaries = [found[s] for s in stacks if s in found]
    missing = [s for s in stacks if s not in found]
    drifted = [s.stack for s in summaries if s.result == "succeeded" and s.has_changes]
    failed = [s.stack for s in summaries if s.result != "succeeded"] + missing
    subject = "DigitRE drift check: " + "; ".join(
        part
        for part in (
            f"{', '.join(drifted)} changed outside Pulumi" if drifted else "",
            f"no result for {', '.join(failed)}" if failed else "",
        )
        if part
    )
    if not drifted and not failed:
        subject += "no drift"
    body = [
        f"The nightly `pulumi preview --refresh --expect-no-changes` (run {env.get('BUILD_BUILDNUMBER', '')}) found "
        "this. Changes listed under a stack are what the next deploy of it would undo or apply.",
        "",
        *(console(s) + "\n" for s in summaries),
        *(f"stack {stack}: no result (the job did not finish)\n" for stack in missing),
        "Not refreshed, by design:",
        *(f"- {prefix}* ({reason})" for prefix, reason in NOT_REFRESHED),
        "",
        "Run: " + run_url(env["SYSTEM_COLLECTIONURI"], env["SYSTEM_TEAMPROJECT"], env["BUILD_BUILDID"]),
    ]
    recipients = [r.strip() for r in env.get("NOTIFY_TO", "").split(",") if r.strip()]
    return {
        "personalizations": [{"to": [{"email": r} for r in recipients]}],
        "from": {"email": env["NOTIFY_FROM"]},
        "subject": subject,
        "content": [{"type": "text/plain", "value": "\n".join(body)}],
    }


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    if argv == ["excludes"]:
        print("\n".join(exclude_patterns()))
        return 0
    if argv == ["mail"]:
        print(json.dumps(mail(env)))
        return 0
    print("usage: python3 -m commands.drift excludes|mail", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
