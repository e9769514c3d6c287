"""DigitRE MLOps platform: one program, four stacks (shared, dev, qa, prod).

The stack's `digitre-mlops:role` decides what it builds. Config is validated, and every
physical name checked, before the first resource is declared.
"""

import pulumi

from components.config import Role, load_config
from components.devops.pipelines import deployed_environments
from components.naming import Names
from components.stacks import build_environment, build_shared

cfg = load_config(deployed_to=deployed_environments())
names = Names.for_stack(cfg)
build = build_shared if cfg.role is Role.SHARED else build_environment
# The builders are async: an environment reads its own last deployment before declaring.
pulumi.run(lambda: build(cfg, names))
