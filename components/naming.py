"""Physical Azure names for every resource this project declares, in one place.

Names follow the Cloud Adoption Framework abbreviations (`rg-`, `kv`, `st`, `cr`, ...) and
Azure's naming rules. Names that must be globally unique (storage account, key vault,
container registry) end in a short suffix derived from the project, prefix and stack, so it
is stable across runs and differs per stack. `Names.for_stack` checks every name against its
rule, so a name Azure would refuse is a config error, never a failed deployment. Each rule
is a row of docs/assumptions.md ("Config, regions and naming"), with its source.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields

from components.config.errors import ConfigError
from components.types import PROJECT, RESOURCE_GROUP, STORAGE_ACCOUNT


@dataclass(frozen=True)
class NameRule:
    pattern: str
    description: str

    def check(self, name: str) -> bool:
        return re.fullmatch(self.pattern, name) is not None


# Azure's rules per resource kind (learn.microsoft.com, "Naming rules and restrictions for
# Azure resources", and the service's own page where it is stricter; see the ledger).
_RESOURCE_GROUP = NameRule(RESOURCE_GROUP, "1-90 letters, digits, _ . ( ) -, not ending in .")
# Where Microsoft's pages differ, the rule is what all of them allow (see the ledger rows).
_IDENTITY = NameRule(r"[A-Za-z0-9][A-Za-z0-9-]{2,127}", "3-128 letters, digits or -")
_LOWER_DNS_LABEL = "(?!.*--)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"

RULES: dict[str, NameRule] = {
    "resource_group": _RESOURCE_GROUP,
    "log_analytics": NameRule(r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]", "4-63 letters, digits, hyphens"),
    "app_insights": NameRule(r"[^%&\\?/]{1,260}", "1-260 characters without % & \\ ? /"),
    "storage_account": NameRule(STORAGE_ACCOUNT, "3-24 lowercase letters or digits"),
    "key_vault": NameRule(
        r"(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]",
        "3-24 letters, digits, hyphens, starting with a letter, no --",
    ),
    "container_registry": NameRule(r"[A-Za-z0-9]{5,50}", "5-50 letters or digits"),
    "ml_workspace": NameRule(r"[A-Za-z0-9][A-Za-z0-9-]{2,32}", "3-33 letters, digits or -"),
    # What both of Microsoft's pages allow (2-16 in the general list, 3-24 on Azure ML's own);
    # Azure ML also refuses a hyphen no letter follows later in the name (cpu-1, gpu-2-3).
    "ml_compute": NameRule(
        r"(?=.{3,16}$)[A-Za-z]([A-Za-z0-9-]*-[0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]*)",
        "3-16 letters, digits or -, starting with a letter, every - followed later by a letter",
    ),
    "user_assigned_identity": _IDENTITY,
    "ml_workspace_identity": _IDENTITY,
    "pipeline_identity": _IDENTITY,
    "https_entry_identity": _IDENTITY,
    "container_group": NameRule(_LOWER_DNS_LABEL, "1-63 lowercase letters, digits, single hyphens inside"),
    "dns_name_label": NameRule(_LOWER_DNS_LABEL, "1-63 lowercase letters, digits, single hyphens inside"),
    "aks_cluster": NameRule(r"[A-Za-z0-9]([\w-]{0,61}[A-Za-z0-9])?", "1-63 letters, digits, _ or -"),
    "aks_dns_prefix": NameRule(r"[A-Za-z0-9]([A-Za-z0-9-]{0,52}[A-Za-z0-9])?", "1-54 letters, digits or -"),
    "aks_node_resource_group": _RESOURCE_GROUP,
    # Microsoft's Container Insights templates cut this name at 64 characters; letters, digits
    # and hyphens are what Azure gives the rules it makes itself (MSCI-<region>-<cluster>).
    "aks_insights_rule": NameRule(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}[A-Za-z0-9]", "2-64 letters, digits or -"),
}


def resource_group_name(prefix: str, stack: str) -> str:
    """A stack's resource group; the shared stack creates the environments' ones too."""
    return f"rg-{prefix}-{stack}"


def unique_suffix(prefix: str, stack: str, length: int = 6) -> str:
    """Stable across runs, different per stack (and per prefix, for a fork of this repo)."""
    seed = f"{PROJECT}/{prefix}/{stack}".encode()
    return hashlib.sha256(seed).hexdigest()[:length]


@dataclass(frozen=True)
class Names:
    """Every physical name a stack uses. Each field is checked against `RULES[field]`'s kind."""

    resource_group: str
    log_analytics: str
    app_insights: str
    storage_account: str
    key_vault: str
    container_registry: str
    ml_workspace: str
    ml_compute: str | None
    user_assigned_identity: str
    ml_workspace_identity: str
    pipeline_identity: str
    https_entry_identity: str
    container_group: str
    dns_name_label: str
    aks_cluster: str
    aks_dns_prefix: str
    aks_node_resource_group: str
    aks_insights_rule: str

    @classmethod
    def for_stack(cls, prefix: str, stack: str, location: str, ml_compute: str | None = None) -> Names:
        """The names of stack `stack`; `ml_compute` is the shared stack's configured compute name."""
        base = f"{prefix}-{stack}"
        compact = f"{prefix}{stack}{unique_suffix(prefix, stack)}"
        names = cls(
            resource_group=resource_group_name(prefix, stack),
            log_analytics=f"log-{base}",
            app_insights=f"appi-{base}",
            storage_account=f"st{compact}",
            key_vault=f"kv{compact}",
            container_registry=f"cr{compact}",
            ml_workspace=f"mlw-{base}",
            ml_compute=ml_compute,
            user_assigned_identity=f"id-{base}-acrpull",
            ml_workspace_identity=f"id-{base}-mlw",
            pipeline_identity=f"id-{base}-pipelines",
            https_entry_identity=f"id-{base}-https",
            container_group=f"ci-{base}-engine",
            # Under TenantReuse (the default) ACI hashes the label with the tenant id, so it need
            # not be unique outside this tenant (see the ledger, "Serving").
            dns_name_label=f"{base}-engine",
            aks_cluster=f"aks-{base}",
            aks_dns_prefix=base,
            aks_node_resource_group=f"rg-{base}-aks-nodes",
            # Azure's own name for a cluster's Container Insights rule: MSCI-<region>-<cluster>.
            aks_insights_rule=f"MSCI-{location}-aks-{base}",
        )
        names.check()
        return names

    def check(self) -> None:
        """Raise ConfigError naming each name that breaks its Azure rule (and the config key it
        comes from, where one does)."""
        bad = [
            f"{_SOURCES.get(f.name, f.name + ' name')} {getattr(self, f.name)!r} breaks Azure's rule: "
            f"{RULES[f.name].description}"
            for f in fields(self)
            if getattr(self, f.name) is not None and not RULES[f.name].check(getattr(self, f.name))
        ]
        if bad:
            raise ConfigError(bad)


# Names taken from config as they are; the others derive from prefix and stack.
_SOURCES = {"ml_compute": f"{PROJECT}:amlCompute.name"}
