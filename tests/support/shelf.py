"""Values the session's fixtures make, made once for all of pytest-xdist's workers.

Each worker has its own session fixtures, so each would evaluate the same stacks again. The
first worker to need a value makes it and leaves it pickled in the session's temporary root
(shared by the workers, new for every session); a worker that needs it later reads it back:
milliseconds, where an evaluation takes up to a second. Two workers needing a value at the
same moment each make it (nobody waits for the other). A value whose making fails is not kept.
Without workers (`-n 0`) nothing is kept. A value read back is equal, not identical: pulumi's
`UNKNOWN` placeholders in a preview come back as new objects, so compare them by value.
The name is the whole key: two fixtures must not shelve under the same name.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Shelf:
    def __init__(self, folder: Path | None):
        self._folder = folder

    def get(self, name: str, make: Callable[[], T]) -> T:
        """The value kept under `name`, else `make()`'s, then kept."""
        if self._folder is None:
            return make()
        path = self._folder / f"{name}.pickle"
        if path.exists():
            value: T = pickle.loads(path.read_bytes())
            return value
        value = make()
        self._folder.mkdir(exist_ok=True)
        # Written aside, then renamed: a reader finds the whole value or none.
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_bytes(pickle.dumps(value))
        partial.replace(path)
        return value
