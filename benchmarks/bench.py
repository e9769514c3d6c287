"""Wall time of evaluating each stack under mocks, and of the whole test suite.

Not a test: run it by hand or in CI to watch the targets (on a 2-core machine) of at most
1 s per stack beyond imports and at most 30 s for the suite. Exits 1 when a target is missed.

    uv run python benchmarks/bench.py [--no-suite]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK_TARGET_S = 1.0
SUITE_TARGET_S = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true", help="only time the stack evaluations")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    started = time.perf_counter()
    from components import offline

    shared = offline.evaluate("shared")
    cases = [(stack, None) for stack in offline.STACKS] + [(stack, "7") for stack in offline.STACKS[1:]]

    def evaluate(stack: str, version: str | None) -> offline.Evaluation:
        references = {} if stack == "shared" else {offline.shared_stack_name(stack): shared}
        overrides = {} if version is None else {"digitre-mlops:modelVersion": version}
        return offline.evaluate(stack, overrides=overrides, references=references)

    # A first pass pays every import the program makes, so the timings below exclude them.
    for stack, version in cases:
        evaluate(stack, version)
    print(f"imports + first evaluation of every case: {time.perf_counter() - started:.2f} s")

    missed = []
    for stack, version in cases:
        started = time.perf_counter()
        run = evaluate(stack, version)
        elapsed = time.perf_counter() - started
        label = f"{stack} (model {version})" if version else stack
        if run.error is not None:
            print(f"{label}: failed: {run.error}")
            return 1
        verdict = "ok" if elapsed <= STACK_TARGET_S else "OVER TARGET"
        print(
            f"stack {label:16} {len(run.resources):3} resources {elapsed:6.3f} s (target {STACK_TARGET_S} s) {verdict}"
        )
        if elapsed > STACK_TARGET_S:
            missed.append(label)

    # Peak memory of this process after evaluating every case (Linux reports KiB).
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the evaluations: {peak_mib:.0f} MiB")

    if not args.no_suite:
        started = time.perf_counter()
        suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT, check=False)
        elapsed = time.perf_counter() - started
        verdict = "ok" if elapsed <= SUITE_TARGET_S and suite.returncode == 0 else "OVER TARGET OR FAILED"
        print(f"test suite {elapsed:6.2f} s (target {SUITE_TARGET_S} s) {verdict}")
        if verdict != "ok":
            missed.append("suite")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
