"""Wall time of evaluating each stack under mocks, of each offline plan, and of the test suite.

Not a test: run it by hand or in CI to watch the targets, on a 2-core machine from a warm
uv cache (`uv sync --locked` compiles the installed packages to bytecode):
- each stack's evaluation at most 1 s once the program's imports are paid;
- each `python -m offline.plan <stack> [--model-version V]` at most 4 s, in a new process;
- the whole test suite at most 20 s, the median of three runs: on a shared virtual machine
  one run of the same suite can take a third longer than the next (its CPU time swings as
  much), so one run is a draw; each run's figure is printed.
Prints every figure and exits 1 when a target is missed.

    uv run python benchmarks/bench.py [--no-suite] [--no-plans]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK_TARGET_S = 1.0
PLAN_TARGET_S = 4.0
SUITE_TARGET_S = 20.0
MODEL_VERSION = "7"
REPEATS = 3
SUITE_REPEATS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true", help="skip the test suite")
    parser.add_argument("--no-plans", action="store_true", help="skip the plan commands")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load} (a busy machine inflates every figure)")
    print(f"provider SDKs compiled to bytecode: {'yes' if _compiled() else 'NO: run uv sync --locked'}")

    started = time.perf_counter()
    from offline import evaluate as offline

    shared = offline.evaluate(offline.SHARED)
    cases = [(stack, None) for stack in offline.STACKS] + [(stack, MODEL_VERSION) for stack in offline.STACKS[1:]]

    def evaluate(stack: str, version: str | None) -> offline.Evaluation:
        references = {} if stack == offline.SHARED else {offline.shared_stack_name(stack): shared}
        overrides = {} if version is None else {"digitre-mlops:modelVersion": version}
        return offline.evaluate(stack, overrides=overrides, references=references)

    # A first pass pays every import the program makes, so the timings below exclude them.
    for stack, version in cases:
        evaluate(stack, version)
    print(f"imports + first evaluation of every case: {time.perf_counter() - started:.2f} s")

    missed = []
    for stack, version in cases:
        label = f"{stack} (model {version})" if version else stack
        timings = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            run = evaluate(stack, version)
            timings.append(time.perf_counter() - started)
        if run.error is not None:
            print(f"stack {label}: failed: {run.error}")
            return 1
        elapsed = statistics.median(timings)
        missed += _verdict(
            f"evaluation {label:16} {len(run.resources):3} resources", elapsed, STACK_TARGET_S, f"median of {REPEATS}"
        )
    # Peak memory of this process after evaluating every case (Linux reports KiB).
    print(f"peak memory of the evaluations: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    if not args.no_plans:
        for stack, version in cases:
            command = [sys.executable, "-m", "offline.plan", stack]
            command += ["--model-version", version] if version else []
            label = f"{stack} --model-version {version}" if version else stack
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            plan = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if plan.returncode != 0:
                print(f"plan {label}: failed: {plan.stderr.strip()}")
                missed.append(f"plan {label}")
                continue
            missed += _verdict(f"plan {label:27}", elapsed, PLAN_TARGET_S, f"{cpu:.2f} s CPU")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory of a plan: {peak:.0f} MiB")

    if not args.no_suite:
        suites = [_suite_run() for _ in range(SUITE_REPEATS)]
        for suite in suites:
            print(f"test suite run: {suite.summary}, {suite.elapsed:.2f} s, {suite.cpu:.1f} s CPU")
        failed = [suite for suite in suites if suite.returncode != 0]
        if failed:
            print(failed[0].output)
            missed.append("suite failed")
        elapsed = statistics.median(suite.elapsed for suite in suites)
        passed = re.search(r"(\d+) passed", suites[0].summary)
        tests = f"{passed[1] if passed else '?'} tests, median of {SUITE_REPEATS}"
        missed += _verdict("test suite", elapsed, SUITE_TARGET_S, tests)
        print(f"peak memory of a test process: {max(suite.peak_mib for suite in suites):.0f} MiB")

    print("all targets met" if not missed else f"missed: {', '.join(missed)}")
    return 1 if missed else 0


@dataclass(frozen=True)
class SuiteRun:
    elapsed: float
    cpu: float
    peak_mib: float
    returncode: int
    summary: str
    output: str


def _suite_run() -> SuiteRun:
    """One run of the test suite as the README runs it (every core), in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = suite.stdout.strip().splitlines()[-1] if suite.stdout.strip() else "no output"
    output = f"{suite.stdout[-3000:]}\n{suite.stderr[-2000:]}"
    return SuiteRun(elapsed, cpu, after.ru_maxrss / 1024, suite.returncode, summary, output)


def _verdict(label: str, elapsed: float, target: float, note: str) -> list[str]:
    ok = elapsed <= target
    print(f"{label} {elapsed:6.2f} s (target {target:g} s, {note}) {'ok' if ok else 'OVER TARGET'}")
    return [] if ok else [label.split("  ")[0].strip()]


def _compiled() -> bool:
    """Whether the largest provider SDK the program imports has its bytecode installed."""
    spec = importlib.util.find_spec("pulumi_azure_native")  # the package itself imports nothing heavy
    if spec is None or spec.origin is None:
        return False
    source = Path(spec.origin).parent / "machinelearningservices" / "_inputs.py"
    return Path(importlib.util.cache_from_source(str(source))).exists()


if __name__ == "__main__":
    sys.exit(main())
