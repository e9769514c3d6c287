"""Print the serving image every environment stack pulls for a model version.

The build pipeline runs `python -m commands.image_tag --version <v>` (with the locked
dependencies) and pushes what it prints; the name and the rule that every environment stack
agrees on it live with the stacks that pull it (components/serving/image.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.serving.image import ROOT, ImageNameError, promoted_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m commands.image_tag",
        description="Print <repository>:<tag>, the serving image every environment stack pulls for a model version.",
    )
    parser.add_argument("--version", required=True, help="the registered model version")
    parser.add_argument("--registered-model", help="the model name Azure ML registered; must be serving.modelName")
    parser.add_argument("--root", type=Path, default=ROOT, help="the folder holding the Pulumi.<stack>.yaml files")
    args = parser.parse_args(argv)
    try:
        image = promoted_image(args.version, args.registered_model, args.root)
    except ImageNameError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(image.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
