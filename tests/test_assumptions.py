"""The ledger of outside facts (docs/assumptions.md): every row names its source and a test
that exists, so a fact the code relies on cannot sit there unchecked and unpinned."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "docs" / "assumptions.md"
TEST_REF = re.compile(r"tests/([\w/]+\.py)::(\w+)")
SOURCE = re.compile(r"https://\S+|\b[\w.-]+/[\w.-]+(/[\w./-]+)+")


def ledger_rows() -> list[tuple[str, list[str]]]:
    """(section, [fact, source, relied on in, pinned by]) for every row of every table."""
    rows: list[tuple[str, list[str]]] = []
    section = ""
    for line in LEDGER.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and not line.startswith("| fact |") and not set(line) <= set("|- "):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows.append((section, cells))
    return rows


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


ROWS = ledger_rows()


def test_the_ledger_has_facts() -> None:
    assert len(ROWS) >= 1, "docs/assumptions.md lists no fact"


@pytest.mark.parametrize(("section", "cells"), ROWS, ids=[f"{s[:20]}-{i}" for i, (s, _) in enumerate(ROWS)])
def test_every_row_has_a_source_and_a_pinning_test_that_exists(section: str, cells: list[str]) -> None:
    assert len(cells) == 4, f"row in {section!r} needs 4 cells (fact, source, relied on in, pinned by): {cells}"
    fact, source, relied_on, pinned_by = cells
    assert fact and relied_on, f"row in {section!r} has an empty fact or place: {cells}"
    assert SOURCE.search(source), f"row {fact!r} names no source address: {source!r}"
    refs = TEST_REF.findall(pinned_by)
    assert refs, f"row {fact!r} names no test as tests/<file>.py::<test>: {pinned_by!r}"
    for file, name in refs:
        path = ROOT / "tests" / file
        assert path.is_file(), f"row {fact!r}: no test file tests/{file}"
        assert name in defined_tests(path), f"row {fact!r}: tests/{file} defines no {name}"
