"""Print the serving image every environment stack pulls for a model version.

The build pipeline runs `python -m commands.image_tag --version <v>` (with the locked
dependencies) and pushes what it prints; the name and the rule that every environment stack
agrees on it live with the stacks that pull it (components/serving/image.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.config.stack_files import StackFileError, check_model_version, environment_servings
from components.serving.image import ImageNameError, ServingImage, promoted_image

ROOT = Path(__file__).resolve().parents[1]


def image_for(version: str, registered_model: str | None = None, root: Path = ROOT) -> ServingImage:
    """The image the environment stack files under `root` pull for `version`."""
    servings = environment_servings(root)
    pairs = {stack: (serving.repository, serving.model_name) for stack, serving in servings.items()}
    return promoted_image(check_model_version(version), pairs, registered_model)


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
        image = image_for(args.version, args.registered_model, args.root)
    except (ImageNameError, StackFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(image.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
