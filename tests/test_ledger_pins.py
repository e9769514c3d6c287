"""Numbers and names the code takes from an outside source, read from that source's row in
docs/assumptions.md and compared with the code: a row corrected after a review fails here
until the code follows it (and a constant changed in code fails until its row does)."""

from __future__ import annotations

import re

import yaml

from components.config.environment import RBAC_PROPAGATION_SECONDS, AccessWaitConfig
from components.devops import variable_groups
from components.devops.build_definitions import BUILD_EXPIRES_WHEN_MAIN_MOVES
from offline.evaluate import ROOT
from tests.support import ledger
from tests.support.hosted_agent import HOSTED_FREE_MAX_MINUTES, HOSTED_PAID_MAX_MINUTES, HOSTED_UBUNTU_2404_TOOLS

PIPELINES = ROOT / "pipelines"
WORDS = {"five": 5, "ten": 10}


def row(section: str, starts: str) -> ledger.Row:
    (found,) = [r for r in ledger.rows(section) if r.fact.startswith(starts)]
    return found


def number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"the ledger row no longer says {pattern!r}: {text}"
    value = match.group(1)
    return WORDS[value] if value in WORDS else int(value)


def test_the_teardown_delay_fits_delays_documented_limits():
    fact = row("Azure Pipelines: triggers, tokens, hosted agents", "Delay@1 takes at most").fact
    maximum = number(r"at most (\d+) minutes", fact)
    agentless_default = number(r"time out after (\d+) minutes", fact)
    doc = yaml.safe_load((PIPELINES / "dev-delete-after-24-hours.yml").read_text())
    (job,) = next(s for s in doc["stages"] if s["stage"] == "wait")["jobs"]
    (delay,) = [int(s["inputs"]["delayForMinutes"]) for s in job["steps"] if s.get("task") == "Delay@1"]
    assert job["pool"] == "server"
    assert agentless_default < delay <= maximum
    # Past the agentless default, so the job's own timeout has to outlast the delay.
    assert int(job["timeoutInMinutes"]) > delay


def test_the_hosted_job_limits_are_the_ones_their_ledger_row_gives():
    fact = row("Azure Pipelines: triggers, tokens, hosted agents", "Microsoft-hosted jobs of a private project").fact
    assert number(r"run for up to (\d+) minutes each time", fact) == HOSTED_FREE_MAX_MINUTES
    assert number(r"each job for up to (\d+) minutes", fact) == HOSTED_PAID_MAX_MINUTES


def test_the_key_vault_link_probe_outlasts_the_documented_key_vault_rbac_latency():
    fact = row("Azure RBAC and identities", "A Key Vault role assignment can take").fact
    latency = number(r"\((\d+) s\)", fact)
    assert latency == 60 * number(r"up to (\w+|\d+) minutes", fact)
    assert latency <= variable_groups.PROBE_ATTEMPTS * variable_groups.PROBE_INTERVAL_SECONDS


def test_the_cluster_access_wait_is_the_one_its_ledger_row_gives():
    fact = row("AKS, Kubernetes and Helm", "A new Azure role assignment can take up to").fact
    assert 60 * number(r"up to (\w+) minutes", fact) == RBAC_PROPAGATION_SECONDS
    assert number(r"never less than (\d+) s", fact) == RBAC_PROPAGATION_SECONDS
    defaults = AccessWaitConfig()
    assert (defaults.attempts, defaults.interval_seconds) == (
        number("allows (\\d+) \u00d7", fact),
        number("\u00d7 (\\d+) s by default", fact),
    )


# The name the image's tool list gives each command the pipelines call without installing it.
IMAGE_NAMES = {
    "az": "Azure CLI",
    "kubectl": "Kubectl",
    "helm": "Helm",
    "python3": "Python",
    "curl": "curl",
    "jq": "jq",
    "unzip": "unzip",
    "sha256sum": "coreutils (sha256sum)",
}


def test_the_tools_taken_from_the_hosted_image_are_the_ones_its_ledger_row_lists():
    fact = row("Azure Pipelines: triggers, tokens, hosted agents", "The Microsoft-hosted `ubuntu-24.04` image").fact
    assert set(HOSTED_UBUNTU_2404_TOOLS) == set(IMAGE_NAMES)
    for tool, name in IMAGE_NAMES.items():
        assert name in fact, f"{tool}: the ledger row does not list {name!r} on the hosted image"
    assert "kubelogin is not in its tool list" in fact


def test_kubelogin_is_the_release_and_checksum_its_ledger_row_gives():
    fact = row("Azure Pipelines: triggers, tokens, hosted agents", "kubelogin release").fact
    template = yaml.safe_load((PIPELINES / "templates" / "kubelogin.yml").read_text())
    defaults = {p["name"]: p["default"] for p in template["parameters"]}
    assert f"kubelogin release v{defaults['version']} " in fact
    assert f"sha256 `{defaults['sha256']}`" in fact


def test_the_preview_build_expires_as_its_ledger_row_gives():
    fact = row(
        "Azure DevOps: provider, service connections, variable groups, permissions", "Build validation expiry"
    ).fact
    duration = number(r"`valid_duration = (\d+)`", fact)
    match = re.search(r"`queue_on_source_update_only = (true|false)`", fact)
    assert match and "expire immediately when the branch is updated" in fact
    assert (duration, match.group(1) == "true") == BUILD_EXPIRES_WHEN_MAIN_MOVES
