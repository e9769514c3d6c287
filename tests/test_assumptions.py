"""The ledger of outside facts (docs/assumptions.md): every row names its source and a test
that exists, so a fact the code relies on cannot sit there unchecked and unpinned."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from offline.evaluate import ROOT
from tests.support import ledger
from tests.support.python_source import parse

TEST_REF = re.compile(r"tests/([\w/]+\.py)::(\w+)")
# A web address, or a repository path (owner/repo/path...), that a reviewer can open.
SOURCE = re.compile(r"https://\S+|\b[\w.-]+/[\w.-]+(/[\w./-]+)+")
ROWS = ledger.rows()


def defined_tests(path: Path) -> set[str]:
    tree = parse(path)
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_section_of_the_ledger_has_facts() -> None:
    sections = [line[3:].strip() for line in ledger.LEDGER.read_text().splitlines() if line.startswith("## ")]
    assert sections
    for section in sections:
        assert ledger.rows(section), section


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.section[:20]}-{i}" for i, row in enumerate(ROWS)])
def test_every_row_has_a_source_and_a_pinning_test_that_exists(row: ledger.Row) -> None:
    assert row.fact and row.relied_on_in, f"row in {row.section!r} has an empty fact or place"
    assert SOURCE.search(row.source), f"row {row.fact!r} names no source address: {row.source!r}"
    refs = TEST_REF.findall(row.pinned_by)
    assert refs, f"row {row.fact!r} names no test as tests/<file>.py::<test>: {row.pinned_by!r}"
    for file, name in refs:
        path = ROOT / "tests" / file
        assert path.is_file(), f"row {row.fact!r}: no test file tests/{file}"
        assert name in defined_tests(path), f"row {row.fact!r}: tests/{file} defines no {name}"
