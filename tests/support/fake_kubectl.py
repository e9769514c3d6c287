"""A stand-in for kubectl on PATH or in KUBECTL: answers in turn and records each call."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path


def fake_kubectl(folder: Path, answers: list[tuple[int, str, str]]) -> Path:
    """Writes `folder/kubectl`, which gives the next of `answers` (exit code, stdout, stderr),
    the last one again once they run out, and records its arguments and the kubeconfig it was
    handed (content and file mode) under `folder/calls` (see `calls`). A bash script: it is
    run many times per test, and bash starts in a fraction of Python's time."""

    def array(values: list[str]) -> str:
        return " ".join(shlex.quote(value) for value in values)

    script = folder / "kubectl"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/bash
            set -u
            shopt -s nullglob
            codes=({array([str(code) for code, _, _ in answers])})
            outs=({array([out for _, out, _ in answers])})
            errs=({array([err for _, _, err in answers])})
            calls={shlex.quote(str(folder / "calls"))}
            mkdir -p "$calls"
            done=("$calls"/*)
            n=${{#done[@]}}
            record="$calls/$(printf %04d "$n")"
            mkdir "$record"
            printf '%s\\0' "$@" > "$record/argv"
            previous=""
            for arg in "$@"; do
              if [ "$previous" = --kubeconfig ]; then
                printf '%s' "$arg" > "$record/path"
                cat "$arg" > "$record/kubeconfig"
                stat -c %a "$arg" > "$record/mode"
              fi
              previous="$arg"
            done
            i=$(( n < ${{#codes[@]}} - 1 ? n : ${{#codes[@]}} - 1 ))
            if [ -n "${{outs[i]}}" ]; then printf '%s\\n' "${{outs[i]}}"; fi
            if [ -n "${{errs[i]}}" ]; then printf '%s\\n' "${{errs[i]}}" >&2; fi
            exit "${{codes[i]}}"
            """
        )
    )
    script.chmod(0o755)
    return script


def calls(folder: Path) -> list[dict]:
    """What the stand-in was called with, in order: `argv`, and `kubeconfig`, `mode`, `path`
    when it was handed one."""
    found = []
    for record in sorted((folder / "calls").iterdir()):
        call: dict = {"argv": (record / "argv").read_text().split("\0")[:-1]}
        if (record / "path").exists():
            call.update(
                kubeconfig=(record / "kubeconfig").read_text(),
                mode=int((record / "mode").read_text(), 8),
                path=(record / "path").read_text(),
            )
        found.append(call)
    return found
