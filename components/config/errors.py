"""How the program stops on bad config."""

from __future__ import annotations

import pulumi


class ConfigError(pulumi.RunError):
    """Stack configuration that breaks a rule; raised before any resource is declared. A
    `pulumi.RunError`, so the CLI prints the message without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  " + "\n  ".join(problems))
