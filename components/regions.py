"""The Azure regions a stack may deploy to: the one list the config model checks `location` against.

Source: Microsoft Learn, "Azure regions list" (https://learn.microsoft.com/azure/reliability/regions-list),
as MicrosoftDocs/azure-docs `articles/reliability/regions-list.md` had it at ms.date 2025-03-21
(commit 04495fc0bdb0f924739b8f501941a14d90d96b2a), every row of its table, plus Belgium Central,
which the current page lists (programmatic name `belgiumcentral`). Checked 2026-11-29.

The page gives display names; the programmatic name a `location` takes is the display name
lowercased with its spaces removed ("West US 2" -> "westus2"), the rule of the current page's
"Programmatic name" column and of the Azure SDK's `AzureLocation` (Azure/azure-sdk-for-net,
sdk/core/Azure.Core/src/AzureLocation.cs, `GetNameFromDisplayName`).

Sovereign clouds (US Gov, China) and canary/EUAP regions are left out on purpose: the stacks
target Azure's public cloud. A region Microsoft opens later is added here, with its source.
"""

from __future__ import annotations

REGION_DISPLAY_NAMES: tuple[str, ...] = (
    "Australia Central",
    "Australia Central 2",
    "Australia East",
    "Australia Southeast",
    "Austria East",
    "Belgium Central",
    "Brazil South",
    "Brazil Southeast",
    "Canada Central",
    "Canada East",
    "Central India",
    "Central US",
    "East Asia",
    "East US",
    "East US 2",
    "France Central",
    "France South",
    "Germany North",
    "Germany West Central",
    "Indonesia Central",
    "Israel Central",
    "Italy North",
    "Japan East",
    "Japan West",
    "Korea Central",
    "Korea South",
    "Mexico Central",
    "New Zealand North",
    "North Central US",
    "North Europe",
    "Norway East",
    "Norway West",
    "Poland Central",
    "Qatar Central",
    "South Africa North",
    "South Africa West",
    "South Central US",
    "South India",
    "Southeast Asia",
    "Spain Central",
    "Sweden Central",
    "Switzerland North",
    "Switzerland West",
    "UAE Central",
    "UAE North",
    "UK South",
    "UK West",
    "West Central US",
    "West Europe",
    "West India",
    "West US",
    "West US 2",
    "West US 3",
)


def programmatic_name(display_name: str) -> str:
    """The name Azure Resource Manager takes for a region: lowercase, no spaces."""
    return display_name.replace(" ", "").lower()


AZURE_REGIONS: frozenset[str] = frozenset(programmatic_name(name) for name in REGION_DISPLAY_NAMES)
