"""Registry: ACR that ACI can pull from by managed identity; a pull identity with AcrPull. (Admin
user and anonymous pull off: the policy pack's acr rule, run on every stack by tests/test_policy.py.)"""

from __future__ import annotations

from components import roles
from offline.evaluate import SUBSCRIPTION_ID
from tests.support import ledger
from tests.support.evaluations import CUSTOM_SHARED


def test_shared_registry_meets_acis_managed_identity_pull_prerequisites(shared):
    (row,) = [r for r in ledger.rows("Serving: the Azure ML inference server, ACI, ACR") if "premium SKU" in r.fact]
    acr = shared.one("azure-native:containerregistry:Registry")
    assert acr.inputs["sku"] == {"name": "Premium"}
    assert acr.inputs["networkRuleBypassOptions"] == "AzureServices"
    assert "Pulumi.shared.yaml" in row.relied_on_in


def test_registry_sku_comes_from_config(customised):
    # The customised shared stack sets another SKU than the stack file's Premium.
    assert CUSTOM_SHARED["registry"] == {"sku": "Standard"}
    run = customised["shared"]
    assert run.one("azure-native:containerregistry:Registry").inputs["sku"] == {"name": "Standard"}


def test_pull_identity_has_acr_pull_on_the_registry_only(shared):
    identity = shared.named("registry-pull-id")
    acr = shared.one("azure-native:containerregistry:Registry")
    pulls = [
        r
        for r in shared.of_type("azure-native:authorization:RoleAssignment")
        if r.inputs["roleDefinitionId"].endswith(roles.ACR_PULL)
    ]
    assert len(pulls) == 1
    pull = pulls[0]
    assert pull.inputs["roleDefinitionId"] == (
        f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{roles.ACR_PULL}"
    )
    assert pull.inputs["principalType"] == "ServicePrincipal"
    assert pull.inputs["scope"] == shared.outputs["registryId"]
    assert pull.inputs["principalId"] == shared.outputs["pullIdentityPrincipalId"]
    # ACI environments pull as this identity, by its id: protected like the registry; the grant may go.
    assert identity.protect is True and pull.protect is False
    assert acr.parent == identity.parent == pull.parent
    assert acr.parent.endswith("digitre:ml_platform:Registry::registry")


def test_registry_outputs_are_exported(shared):
    assert shared.outputs["registryLoginServer"] == f"{shared.outputs['registryName']}.azurecr.io"
    assert shared.outputs["pullIdentityId"].endswith("/id-digitre-shared-acrpull")
