"""Prints the digest of a locked serving image in the shared registry, for prod to pull it by.

A tag names whatever was pushed under it last; a digest names one set of bytes. The prod
release pulls `<repository>@<digest>`, so the version approved for prod is the code every
replica runs, whichever node pulls it and whenever: a tag re-pushed later cannot reach a
pod started after it. `pulumi up` runs `python3 -m commands.image_digest` (a pulumi-command
resource, components/serving/image_digest.py) once per image, in the Azure CLI session the
deploy runs in, and the release takes its output.

It asks `az acr repository show --name <registry> --image <repository>:<tag>` for the tag's
record and prints its `digest`, and refuses, without printing anything, a tag that is not
locked (`changeableAttributes.writeEnabled` not false): [DEV]-Build_and_Deploy locks every
tag it builds, so an unlocked one holds content no pipeline vouches for.

Standard library only. Settings from the environment: REGISTRY_NAME, IMAGE
(`<repository>:<tag>`), and AZ (the Azure CLI to run; `az` on PATH by default).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence

AZ = "az"
TIMEOUT_SECONDS = 120
# An OCI content digest as ACR reports it: the algorithm and the lowercase hex of a SHA-256.
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class DigestError(Exception):
    pass


def show_command(az: str, registry: str, image: str) -> list[str]:
    return [az, "acr", "repository", "show", "--name", registry, "--image", image, "--output", "json"]


def digest_of(record: Mapping[str, object], image: str) -> str:
    """The digest of a tag's record, when the tag is locked against overwrite."""
    attributes = record.get("changeableAttributes")
    writable = attributes.get("writeEnabled") if isinstance(attributes, Mapping) else None
    if writable is not False:
        raise DigestError(
            f"{image} is not locked (changeableAttributes.writeEnabled is {json.dumps(writable)}): its content may "
            "still change, so it is not deployed; [DEV]-Build_and_Deploy builds each tag once and locks it"
        )
    digest = record.get("digest")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise DigestError(f"the registry's record of {image} has no sha256 digest: {json.dumps(record)[:500]}")
    return digest


def resolve(registry: str, image: str, az: str = AZ) -> str:
    command: Sequence[str] = show_command(az, registry, image)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise DigestError(f"{az} not found: the Azure CLI resolves the image's digest") from None
    except subprocess.TimeoutExpired:
        raise DigestError(f"`{' '.join(command)}` did not answer within {TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise DigestError(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr.strip()[-2000:]}")
    try:
        record = json.loads(result.stdout)
    except ValueError:
        raise DigestError(f"`{' '.join(command)}` printed no JSON: {result.stdout.strip()[:500]}") from None
    if not isinstance(record, dict):
        raise DigestError(f"`{' '.join(command)}` printed no JSON object: {result.stdout.strip()[:500]}")
    return digest_of(record, image)


def main(environ: Mapping[str, str] = os.environ) -> int:
    missing = [name for name in ("REGISTRY_NAME", "IMAGE") if not environ.get(name)]
    if missing:
        print(f"error: {', '.join(missing)} not set", file=sys.stderr)
        return 2
    try:
        digest = resolve(environ["REGISTRY_NAME"], environ["IMAGE"], environ.get("AZ") or AZ)
    except DigestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    # Only the digest on stdout: the release reads it as it is.
    sys.stdout.write(digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
