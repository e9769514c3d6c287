"""Read docs/assumptions.md, the ledger of outside facts, so tests can pin code to its rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LEDGER = Path(__file__).resolve().parents[2] / "docs" / "assumptions.md"


@dataclass(frozen=True)
class Row:
    section: str
    fact: str
    source: str
    relied_on_in: str
    pinned_by: str


def rows(section: str | None = None) -> list[Row]:
    """The ledger's table rows, in order; only those of `section` when given."""
    found: list[Row] = []
    current = ""
    for line in LEDGER.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            continue
        if not line.startswith("|") or re.fullmatch(r"\|[-| ]+\|", line) or line.startswith("| fact |"):
            continue
        cells = [cell.strip() for cell in _split(line)]
        if len(cells) != 4:
            raise AssertionError(f"ledger row in {current!r} does not have 4 cells: {line}")
        found.append(Row(current, *cells))
    if section is not None:
        found = [row for row in found if row.section == section]
        if not found:
            raise AssertionError(f"the ledger has no rows in section {section!r}")
    return found


def _split(line: str) -> list[str]:
    # Cells are separated by | outside backticks (a fact may quote a pattern with | in it).
    cells, cell, quoted = [], "", False
    for char in line.strip()[1:-1]:
        if char == "`":
            quoted = not quoted
        if char == "|" and not quoted:
            cells.append(cell)
            cell = ""
        else:
            cell += char
    cells.append(cell)
    return cells


def quoted(text: str) -> list[str]:
    """The `backticked` values of a cell, in order."""
    return re.findall(r"`([^`]*)`", text)
