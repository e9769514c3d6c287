"""The serving image tag, in one place for the stacks and the build pipeline.

Standard library only: the build pipeline runs `python3 -m components.image_tag <model> <version>`
on a bare agent, and `components.serving` imports `image_tag` from here.
"""

from __future__ import annotations

import sys


def image_tag(model_name: str, version: str) -> str:
    """The tag the build pipeline pushes and the serving stacks pull: `<model>-<version>`."""
    return f"{model_name}-{version}".lower()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 -m components.image_tag <model-name> <version>")
    print(image_tag(sys.argv[1], sys.argv[2]))
