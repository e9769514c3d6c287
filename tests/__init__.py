"""The test suite. Imported before tests/conftest.py and every test module, so this is where
the suite decides to cache bytecode.

Where PYTHONDONTWRITEBYTECODE is set, every pytest worker would otherwise compile this repo's
modules and rewrite the assertions of each test module from source (about 2 s of CPU per
process), and every `python -m commands.<name>` a test starts would compile its modules again.
The suite writes them to the `__pycache__` folders (ignored by git) instead; Python reads a
cached file whether or not it may write one, so the subprocesses profit too. Installed
packages are compiled by `uv sync` (`compile-bytecode` in pyproject.toml)."""

import sys

sys.dont_write_bytecode = False
