"""The policy pack every `pulumi preview` and `pulumi up` of this repository runs with:
`pulumi preview --policy-pack policy`. The rules live in `validators.py`."""

from pulumi_policy import PolicyPack
from validators import policies  # type: ignore[import-not-found]  # run from this folder by Pulumi

PolicyPack(name="digitre-mlops-baseline", policies=policies())
