"""DigitRE MLOps platform: one program, four stacks (shared, dev, qa, prod).

The stack's `digitre-mlops:role` decides what it builds. Config is validated, and every
physical name checked, before the first resource is declared.
"""

from functools import partial

import pulumi

from components.config.load import load_config
from components.config.stack import SharedStackConfig
from components.devops.pipelines import deployed_environments
from components.naming import Names
from components.stacks import build_environment, build_shared

cfg = load_config(deployed_to=deployed_environments())
# The builders are async: an environment reads its own last deployment before declaring.
if isinstance(cfg, SharedStackConfig):
    names = Names.for_stack(cfg.prefix, cfg.stack, cfg.location, ml_compute=cfg.aml_compute.name)
    pulumi.run(partial(build_shared, cfg, names))
else:
    pulumi.run(partial(build_environment, cfg, Names.for_stack(cfg.prefix, cfg.stack, cfg.location)))
