"""The ledger of outside facts (docs/assumptions.md): every row names its source and a test
that exists, so a fact the code relies on cannot sit there unchecked and unpinned. One test
reads the whole ledger and reports every bad row at once."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from offline.evaluate import ROOT
from tests.support import ledger
from tests.support.python_source import parse

TEST_REF = re.compile(r"tests/([\w/]+\.py)::(\w+)")
# A web address, or a repository path (owner/repo/path...), that a reviewer can open.
SOURCE = re.compile(r"https://\S+|\b[\w.-]+/[\w.-]+(/[\w./-]+)+")


@functools.cache
def defined_tests(path: Path) -> set[str]:
    tree = parse(path)
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def problems(rows: list[ledger.Row], sections: list[str]) -> list[str]:
    """Everything wrong with the ledger: a section without facts, a row without a fact, place,
    source address or pinning test, a pin naming a file or test that does not exist."""
    found = [f"section {section!r} has no facts" for section in sections if not any(r.section == section for r in rows)]
    for row in rows:
        where = f"[{row.section}] {row.fact[:70]!r}"
        if not row.fact or not row.relied_on_in:
            found.append(f"{where}: empty fact or place it is relied on in")
        if not SOURCE.search(row.source):
            found.append(f"{where}: no source address in {row.source!r}")
        refs = TEST_REF.findall(row.pinned_by)
        if not refs:
            found.append(f"{where}: no test named as tests/<file>.py::<test> in {row.pinned_by!r}")
        for file, name in refs:
            path = ROOT / "tests" / file
            if not path.is_file():
                found.append(f"{where}: no test file tests/{file}")
            elif name not in defined_tests(path):
                found.append(f"{where}: tests/{file} defines no {name}")
    return found


def test_every_row_has_a_source_and_a_pinning_test_that_exists() -> None:
    sections = [line[3:].strip() for line in ledger.LEDGER.read_text().splitlines() if line.startswith("## ")]
    rows = ledger.rows()
    assert sections and rows
    found = problems(rows, sections)
    assert found == [], f"{len(found)} problems in {ledger.LEDGER.name}:\n" + "\n".join(found)


def test_the_check_reports_every_bad_row_at_once() -> None:
    good = ledger.rows()[0]
    bad = [
        ledger.Row("A", "", good.source, good.relied_on_in, good.pinned_by),
        ledger.Row("A", "no source", "a colleague said so", good.relied_on_in, good.pinned_by),
        ledger.Row("A", "no pin", good.source, good.relied_on_in, "tested by hand"),
        ledger.Row("A", "no such file", good.source, good.relied_on_in, "tests/test_nowhere.py::test_x"),
        ledger.Row("A", "no such test", good.source, good.relied_on_in, "tests/test_assumptions.py::test_nowhere"),
    ]
    found = problems([good, *bad], ["A", "B"])
    assert len(found) == 6, found
    assert found[0] == "section 'B' has no facts"
    for row, problem in zip(bad, found[1:], strict=True):
        assert problem.startswith(f"[A] {row.fact[:70]!r}: "), problem
