"""Parse this repo's Python files for tests that read code as code."""

from __future__ import annotations

import ast
import functools
import gc
from pathlib import Path


@functools.cache
def parse(path: Path) -> ast.Module:
    """The module at `path`, parsed once. CPython 3.11's parser fails with "AST constructor
    recursion depth mismatch" when a garbage collection runs finalizers mid-parse (the offline
    evaluations leave Pulumi futures behind), so the collector is off while it parses."""
    gc.disable()
    try:
        return ast.parse(path.read_text())
    finally:
        gc.enable()
