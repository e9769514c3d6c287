"""The build pipeline's read of the stack files stays light: naming the image loads neither
Pulumi nor the models of what it does not read."""

from __future__ import annotations

import json
import subprocess
import sys

from offline.evaluate import ROOT

# What `python -m commands.image_tag` imports, and what it must not.
PROBE = """
import json, sys
import commands.image_tag
print(json.dumps(sorted(sys.modules)))
"""


def test_naming_the_image_imports_no_pulumi_nor_the_stack_models():
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(run.stdout)
    assert "components.config.stack_files" in loaded  # the probe saw the reader itself
    heavy = [m for m in loaded if m.split(".")[0] == "pulumi" or m.startswith("pulumi_")]
    unread = [m for m in loaded if m in ("components.config.stack", "components.config.shared")]
    assert heavy == [], heavy
    assert unread == [], unread
