"""Role ids and app ids are Azure's own: each constant agrees with its ledger row, and every
role assignment the stacks declare is one Azure will accept."""

from __future__ import annotations

import re
from collections import Counter

from components import roles
from components.serving import aks
from tests.support import ledger

SECTION = "Azure RBAC and identities"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ROLE_ROW = re.compile(r"Built-in role \*\*(?P<name>[^*]+)\*\* has id `(?P<id>[^`]+)`")


def ledger_role_ids() -> dict[str, str]:
    found: dict[str, str] = {}
    for row in ledger.rows(SECTION):
        match = ROLE_ROW.match(row.fact)
        if match:
            assert match["name"] not in found, f"two ledger rows for role {match['name']}"
            assert "components/roles.py" in row.relied_on_in
            assert "tests/test_roles.py::test_every_role_id_is_the_one_its_ledger_row_gives" in row.pinned_by
            found[match["name"]] = match["id"]
    return found


def test_every_role_id_is_the_one_its_ledger_row_gives():
    documented = ledger_role_ids()
    assert set(documented) == set(roles.ROLE_NAMES.values()), "a role name without its ledger row, or vice versa"
    for role_id, name in roles.ROLE_NAMES.items():
        assert documented[name] == role_id, f"{name}: roles.py says {role_id}, the ledger says {documented[name]}"


def test_aks_server_id_is_the_one_its_ledger_row_gives():
    (row,) = [r for r in ledger.rows(SECTION) if "Azure Kubernetes Service AAD Server" in r.fact]
    assert [q for q in ledger.quoted(row.fact) if GUID.fullmatch(q)] == [aks.AKS_SERVER_ID]
    assert "components/serving/aks.py" in row.relied_on_in


def test_every_role_assignment_states_its_principal_type(every_run):
    seen = 0
    for run in every_run:
        for grant in run.of_type("azure-native:authorization:RoleAssignment"):
            assert grant.inputs.get("principalType") in {"ServicePrincipal", "User", "Group"}, grant.name
            seen += 1
    assert seen


def test_no_two_role_assignments_are_the_same_grant(every_run):
    # Azure refuses a second assignment of one role to one principal on one scope
    # (RoleAssignmentExists), whatever its name.
    for run in every_run:
        grants = Counter(
            (g.inputs["principalId"], g.inputs["roleDefinitionId"], g.inputs["scope"])
            for g in run.of_type("azure-native:authorization:RoleAssignment")
        )
        assert [grant for grant, count in grants.items() if count > 1] == [], run.stack


def test_every_grant_is_of_a_role_the_ledger_documents(every_run):
    """A grant's role is a subscription-scoped built-in role with its ledger row (the id Microsoft
    Learn gives it), or a custom role the same stack defines (the preview's workspace-keys role)."""
    documented = set(ledger_role_ids().values())
    for run in every_run:
        custom = {d.inputs["roleDefinitionId"] for d in run.of_type("azure-native:authorization:RoleDefinition")}
        for grant in run.of_type("azure-native:authorization:RoleAssignment"):
            match = re.fullmatch(
                r"/subscriptions/[0-9a-f-]{36}/providers/Microsoft\.Authorization/roleDefinitions/(.+)",
                grant.inputs["roleDefinitionId"],
            )
            assert match and (match[1] in documented or match[1] in custom), f"{run.stack}: {grant.name}"
