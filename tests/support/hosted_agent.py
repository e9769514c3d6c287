"""What the Microsoft-hosted agents give the pipelines, as docs/assumptions.md records it;
tests/test_ledger_pins.py pins each value to its row."""

# What the Microsoft-hosted ubuntu-24.04 image provides, of the tools these pipelines call
# (actions/runner-images, images/ubuntu/Ubuntu2404-Readme.md, image 20250907.24.1: Azure CLI
# 2.77.0, Kubectl 1.34.0, Helm 3.18.6, Python 3.12.3, curl, jq, unzip, coreutils). kubelogin is
# not in that list.
HOSTED_UBUNTU_2404_TOOLS = frozenset({"az", "kubectl", "helm", "python3", "curl", "jq", "unzip", "sha256sum"})

# Microsoft Learn, "Configure and pay for parallel jobs" and "Microsoft-hosted agents"
# (docs/assumptions.md): a private project's free Microsoft-hosted job runs at most 60 minutes;
# a paid parallel job lifts that to 360.
HOSTED_FREE_MAX_MINUTES = 60
HOSTED_PAID_MAX_MINUTES = 360
