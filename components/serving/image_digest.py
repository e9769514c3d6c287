"""The digest of the serving image an environment deploys, looked up once per image."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import local

# What the command resource runs (commands/image_digest.py); the offline mocks answer it.
COMMAND = "python3 -m commands.image_digest"


@dataclass(frozen=True)
class ImageDigestArgs:
    registry_name: pulumi.Input[str]
    # `<repository>:<tag>` in that registry.
    image: str


class ImageDigest(pulumi.ComponentResource):
    """Owns one local command that asks the registry, in the Azure CLI session of `pulumi
    up`, for the digest of a locked tag. It runs when the image changes and never again for
    the same image: the digest stays the one this deploy saw, so a tag re-pushed later never
    reaches a pod. pulumi-command never runs it during preview (the digest is unknown there)."""

    def __init__(self, name: str, args: ImageDigestArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:serving:ImageDigest", name, None, opts)
        self.command = local.Command(
            f"{name}-lookup",
            create=COMMAND,
            environment={"REGISTRY_NAME": args.registry_name, "IMAGE": args.image},
            triggers=[args.registry_name, args.image],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.digest: pulumi.Output[str] = self.command.stdout
        self.register_outputs({"digest": self.digest})
