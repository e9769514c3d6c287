"""A stand-in for kubectl on PATH or in KUBECTL: answers in turn and records each call."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path


def fake_kubectl(folder: Path, answers: list[tuple[int, str, str]]) -> Path:
    """Writes `folder/kubectl`, which gives the next of `answers` (exit code, stdout, stderr),
    the last one again once they run out, and records its arguments and the kubeconfig it was
    handed (content and file mode) in `folder/calls.jsonl` (see `calls`)."""
    script = folder / "kubectl"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, os, stat, sys
            from pathlib import Path
            calls = Path({str(folder)!r}) / "calls.jsonl"
            n = sum(1 for _ in calls.open()) if calls.exists() else 0
            answers = {answers!r}
            code, out, err = answers[min(n, len(answers) - 1)]
            record = {{"argv": sys.argv[1:]}}
            if "--kubeconfig" in sys.argv:
                path = sys.argv[sys.argv.index("--kubeconfig") + 1]
                record.update(kubeconfig=Path(path).read_text(), mode=stat.S_IMODE(os.stat(path).st_mode), path=path)
            with calls.open("a") as f:
                f.write(json.dumps(record) + "\\n")
            if out:
                print(out)
            if err:
                print(err, file=sys.stderr)
            sys.exit(code)
            """
        )
    )
    script.chmod(0o755)
    return script


def calls(folder: Path) -> list[dict]:
    """What the stand-in was called with, in order: `argv`, and `kubeconfig`, `mode`, `path`."""
    return [json.loads(line) for line in (folder / "calls.jsonl").read_text().splitlines()]
