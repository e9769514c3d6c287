"""The Azure DevOps side of the shared stack: connection, environments and checks,
definitions, per-pipeline permissions, variable groups, PR policy, settings."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
import yaml

from components import roles
from components.config.errors import ConfigError
from components.devops import pipelines as spec
from components.devops.variable_groups import SENDGRID_SECRET
from components.types import PROJECT
from offline.evaluate import ROOT, SUBSCRIPTION_ID, Evaluation, Registration, _guid, evaluate
from tests.support.evaluations import (
    APPROVER_GROUPS,
    CRYPTO_OFFICERS,
    CUSTOM_PROD_AKS,
    MODEL_VERSION,
    SECRETS_OFFICERS,
    shared_devops,
)
from tests.support.pipeline_jobs import load

ADO = "azuredevops:index/"


def of(run, kind: str):
    return [r for r in run.resources if r.type.startswith(ADO) and r.type.endswith(f":{kind}")]


def test_project_and_repositories_are_looked_up_not_created(shared, customised):
    assert shared_devops()["createProject"] is False
    assert of(shared, "Project") == []
    # The customised shared stack sets createProject: true.
    run = customised["shared"]
    (project,) = of(run, "Project")
    assert project.inputs["name"] == "DigitRE"
    assert project.protect is True


def test_service_connections_use_workload_identity_federation_and_store_no_secret(shared):
    endpoints = {e.inputs["serviceEndpointName"]: e for e in of(shared, "ServiceEndpointAzureRM")}
    assert set(endpoints) == {spec.SERVICE_CONNECTION, spec.ML_SERVICE_CONNECTION, spec.PREVIEW_SERVICE_CONNECTION}
    for name, component in (
        ("pipelines-azure", spec.SERVICE_CONNECTION),
        ("pipelines-azure-ml", spec.ML_SERVICE_CONNECTION),
        ("pipelines-azure-preview", spec.PREVIEW_SERVICE_CONNECTION),
    ):
        endpoint = endpoints[component]
        identity = shared.named(f"{name}-id")
        assert endpoint.inputs["serviceEndpointAuthenticationScheme"] == "WorkloadIdentityFederation"
        assert endpoint.inputs["credentials"] == {"serviceprincipalid": identity_client_id(shared, identity)}
        assert not endpoint.secret_paths
        federation = shared.named(f"{name}-federation")
        assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
        assert federation.inputs["issuer"].startswith("https://vstoken.dev.azure.com/")
        assert federation.inputs["subject"].endswith(f"/{component}")
        assert federation.inputs["resourceName"] == identity.physical_name
    assert shared.named("pipelines-azure-id").physical_name == "id-digitre-shared-pipelines"
    assert shared.named("pipelines-azure-preview-id").physical_name == "id-digitre-shared-pipelines-preview"
    assert shared.named("pipelines-azure-ml-id").physical_name == "id-digitre-shared-pipelines-ml"
    assert shared.outputs["pipelineIdentityClientId"] == identity_client_id(shared, shared.named("pipelines-azure-id"))


def identity_client_id(run, identity: Registration) -> str:
    """The client id the mocks give a user-assigned identity (uuid5 of its resource id)."""
    import uuid

    group = identity.inputs["resourceGroupName"]
    resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/managedidentity/UserAssignedIdentity/{identity.physical_name}"
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, resource_id))


def grants_of(run, connection: str) -> list[Registration]:
    """The role assignments of the identity of the ServiceConnection component `connection`
    (`pipelines-azure`, ...), found by the identity's principal id."""
    principal = run.named(f"{connection}-id").outputs["principalId"]
    return [a for a in run.of_type("azure-native:authorization:RoleAssignment") if a.inputs["principalId"] == principal]


def last(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


STATE_CONTAINER = (
    f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-digitre-pulumi-state/providers/Microsoft.Storage/"
    "storageAccounts/stdigitrepulumi/blobServices/default/containers/pulumi-state"
)


def test_deploying_identity_has_least_privilege_scoped_to_groups_registry_vault_and_state(shared):
    granted: Counter[tuple[str, str]] = Counter()
    for assignment in grants_of(shared, "pipelines-azure"):
        assert "/resourceGroups/" in assignment.inputs["scope"]  # never the subscription
        scope = assignment.inputs["scope"]
        granted[
            (last(assignment.inputs["roleDefinitionId"]), "state" if scope == STATE_CONTAINER else last(scope))
        ] += 1
    vault, registry = shared.outputs["keyVaultName"], shared.outputs["registryName"]
    assert granted == Counter(
        {
            (roles.CONTRIBUTOR, "rg-digitre-shared"): 1,
            (roles.CONTRIBUTOR, "rg-digitre-dev"): 1,
            (roles.CONTRIBUTOR, "rg-digitre-qa"): 1,
            (roles.CONTRIBUTOR, "rg-digitre-prod"): 1,
            (roles.RBAC_ADMINISTRATOR, registry): 1,
            (roles.RBAC_ADMINISTRATOR, "rg-digitre-prod"): 1,
            (roles.RBAC_ADMINISTRATOR, vault): 1,
            (roles.KEY_VAULT_SECRETS_USER, vault): 1,
            (roles.KEY_VAULT_CRYPTO_USER, vault): 1,
            (roles.STORAGE_BLOB_DATA_CONTRIBUTOR, "state"): 1,
        }
    )


# The "Constrain roles" example of Microsoft Learn, "Examples to delegate Azure role
# assignment management with conditions" (Backup Contributor and Backup Reader), verbatim.
LEARN_CONSTRAIN_ROLES = (
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
    "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
    "{5e467623-bb1f-42f4-a55d-6e525e11384b, a795c7a0-d4a2-40c1-ae25-d81f01202912})) AND "
    "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
    "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
    "{5e467623-bb1f-42f4-a55d-6e525e11384b, a795c7a0-d4a2-40c1-ae25-d81f01202912}))"
)


def test_the_role_assignment_condition_has_microsoft_learns_shape_exactly():
    backup_reader, backup_contributor = "a795c7a0-d4a2-40c1-ae25-d81f01202912", "5e467623-bb1f-42f4-a55d-6e525e11384b"
    assert roles.assignment_condition([backup_reader, backup_contributor]) == LEARN_CONSTRAIN_ROLES
    assert roles.assignment_condition([roles.ACR_PULL]) == LEARN_CONSTRAIN_ROLES.replace(
        f"{backup_contributor}, {backup_reader}", roles.ACR_PULL
    )
    with pytest.raises(ValueError):
        roles.assignment_condition([])


def condition_roles(assignment: Registration) -> set[str]:
    condition = assignment.inputs["condition"]
    sets = re.findall(r"GuidEquals \{([^}]*)\}", condition)
    assert len(sets) == 2 and sets[0] == sets[1], condition
    return {r.strip() for r in sets[0].split(",")}


def test_every_role_assignment_right_is_constrained_by_a_condition(every_run):
    for run in every_run:
        for assignment in run.of_type("azure-native:authorization:RoleAssignment"):
            if last(assignment.inputs["roleDefinitionId"]) == roles.RBAC_ADMINISTRATOR:
                assert assignment.inputs["conditionVersion"] == "2.0", assignment.name
                assert condition_roles(assignment), assignment.name
                assert roles.RBAC_ADMINISTRATOR not in condition_roles(assignment)


def covers(outer: str, inner: str) -> bool:
    """Whether role rights on scope `outer` reach scope `inner`. The mocks give a resource
    group the id `.../resourceGroups/<g>/providers/resources/ResourceGroup/<g>`."""
    group = re.search(r"/resourceGroups/([^/]+)/providers/resources/ResourceGroup/\1$", outer)
    if group:
        return f"/resourceGroups/{group.group(1)}/" in inner
    return inner == outer or inner.startswith(f"{outer}/")


def test_role_assignment_rights_are_exactly_what_the_deployed_stacks_assign(shared, runs, served, customised):
    """Azure evaluates each role assignment an environment stack makes (run by the
    pipelines' identity) against the conditioned rights whose scope holds it: exactly one
    right must allow it, and every role a right allows must be assigned by some stack."""
    # What the pipelines' identity deploys besides the committed stack files: prod as the
    # customised evaluation shapes it, with a DNS zone in its own group and deployers of each
    # principal type (both allowed by config).
    assert CUSTOM_PROD_AKS["ingress"]["dnsZoneId"]
    assert {d["principalType"] for d in CUSTOM_PROD_AKS["deployers"]} == {"User", "Group"}
    rights = [
        a
        for a in grants_of(shared, "pipelines-azure")
        if last(a.inputs["roleDefinitionId"]) == roles.RBAC_ADMINISTRATOR
    ]
    deployed = {
        **{f"{stack} (no model)": run for stack, run in runs.items() if stack != "shared"},
        **{f"{stack} (model {MODEL_VERSION})": run for stack, run in served.items()},
        "prod with a DNS zone and deployers": customised["prod"],
    }
    assert {label.split(" ")[0] for label in deployed} == set(shared.outputs["environmentResourceGroups"])
    used: set[tuple[str, str]] = set()
    checked = 0
    for label, run in deployed.items():
        assert run.error is None, f"{label}: {run.error}"
        for assignment in run.of_type("azure-native:authorization:RoleAssignment"):
            role, scope = last(assignment.inputs["roleDefinitionId"]), assignment.inputs["scope"]
            allowing = [r for r in rights if covers(r.inputs["scope"], scope) and role in condition_roles(r)]
            assert len(allowing) == 1, (
                f"{label}: {assignment.name} ({roles.ROLE_NAMES.get(role, role)} on {scope}) "
                f"is allowed by {[r.name for r in allowing]}, not by exactly one conditioned right"
            )
            used.update((r.name, role) for r in allowing)
            checked += 1
    assert checked
    # Nothing more than that either: each right's every role is assigned by some stack.
    assert used == {(r.name, role) for r in rights for role in condition_roles(r)}


def test_the_preview_identity_only_reads(shared):
    preview = [
        a
        for a in shared.of_type("azure-native:authorization:RoleAssignment")
        if a.name.startswith("pipelines-azure-preview-")
    ]
    definition = shared.named("pipelines-azure-preview-workspace-keys-role")
    granted = {(last(a.inputs["roleDefinitionId"]), a.inputs["scope"]) for a in preview}
    groups = {env: f"rg-digitre-{env}" for env in ("shared", "dev", "qa", "prod")}
    readers = {role for role, scope in granted if role == roles.READER}
    assert readers == {roles.READER}
    # The groups, and the state container: the drift check's refresh reads the role
    # assignments there, which Storage Blob Data Reader does not allow.
    assert {last(scope) for role, scope in granted if role == roles.READER} == {*groups.values(), last(STATE_CONTAINER)}
    assert (roles.STORAGE_BLOB_DATA_READER, STATE_CONTAINER) in granted
    assert (roles.READER, STATE_CONTAINER) in granted
    assert {role for role, _ in granted} == {
        roles.READER,
        roles.KEY_VAULT_CRYPTO_USER,  # decrypts the state's secrets; there is no decrypt-only role
        roles.STORAGE_BLOB_DATA_READER,
        roles.AKS_CLUSTER_USER,  # the user kubeconfig of prod's cluster; no Kubernetes rights
        definition.inputs["roleDefinitionId"],  # the custom role below
    }
    (cluster_user,) = [scope for role, scope in granted if role == roles.AKS_CLUSTER_USER]
    assert last(cluster_user) == "rg-digitre-prod"
    (keys,) = [a for a in preview if last(a.inputs["roleDefinitionId"]) == definition.inputs["roleDefinitionId"]]
    assert definition.urn in keys.depends_on
    assert keys.inputs["scope"].endswith(f"/Workspace/{shared.outputs['logAnalyticsWorkspaceName']}")
    (permission,) = definition.inputs["permissions"]
    assert permission == {"actions": ["Microsoft.OperationalInsights/workspaces/sharedKeys/action"]}
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", definition.inputs["roleDefinitionId"])
    assert SUBSCRIPTION_ID in definition.inputs["roleName"]
    for role in (
        roles.CONTRIBUTOR,
        roles.RBAC_ADMINISTRATOR,
        roles.KEY_VAULT_SECRETS_USER,
        roles.STORAGE_BLOB_DATA_CONTRIBUTOR,
    ):
        assert role not in {r for r, _ in granted}


def test_the_ml_identity_reaches_azure_ml_and_nothing_else(shared):
    (grant,) = grants_of(shared, "pipelines-azure-ml")
    assert last(grant.inputs["roleDefinitionId"]) == roles.AZUREML_DATA_SCIENTIST
    assert grant.inputs["scope"] == shared.one("azure-native:machinelearningservices:Workspace").id
    assert "condition" not in grant.inputs


# What an identity may hold and still write nothing: reads, key use (decrypting the state's
# secrets; no key management), and the AKS user kubeconfig (no rights inside the cluster).
NON_WRITING_ROLES = frozenset(
    {roles.READER, roles.STORAGE_BLOB_DATA_READER, roles.KEY_VAULT_CRYPTO_USER, roles.AKS_CLUSTER_USER}
)
# Non-read actions a custom role may carry and still write nothing: listing the Log Analytics
# key that an ACI stack's preview reads.
NON_WRITING_ACTIONS = frozenset({"Microsoft.OperationalInsights/workspaces/sharedKeys/action"})
# Azure ML rights: acceptable without a branch check only on the workspace itself (jobs,
# models and datastores inside it; never the workspace, its compute or another resource).
AZURE_ML_ROLES = frozenset({roles.AZUREML_DATA_SCIENTIST})


def branch_exposure(shared: Evaluation, deployed: list[Evaluation]) -> list[str]:
    """Why a run from a branch other than `main` could sign in as an identity that may write
    something: empty when every service connection whose identity holds a writing role (in
    the shared stack or any deployed one, on any scope) carries a branch control check that
    allows protected `main` alone, and every other connection's identity holds only roles
    that write nothing, or Azure ML rights on the workspace. A connection is judged whether
    or not a pipeline is authorized for it today: an authorization is one click away."""
    problems = []
    identities = {i.outputs["clientId"]: i for i in shared.of_type("azure-native:managedidentity:UserAssignedIdentity")}
    workspace = shared.one("azure-native:machinelearningservices:Workspace").id
    custom = {d.inputs["roleDefinitionId"]: d for d in shared.of_type("azure-native:authorization:RoleDefinition")}
    assignments = [a for run in (shared, *deployed) for a in run.of_type("azure-native:authorization:RoleAssignment")]

    def writes_nothing(role: str, scope: str) -> bool:
        if role in NON_WRITING_ROLES or (role in AZURE_ML_ROLES and scope == workspace):
            return True
        if role in custom:
            actions = [a for permission in custom[role].inputs["permissions"] for a in permission["actions"]]
            return all(a.endswith("/read") or a in NON_WRITING_ACTIONS for a in actions)
        return False

    for endpoint in of(shared, "ServiceEndpointAzureRM"):
        name = endpoint.inputs["serviceEndpointName"]
        identity = identities[endpoint.inputs["credentials"]["serviceprincipalid"]]
        held = [
            (last(a.inputs["roleDefinitionId"]), a.inputs["scope"])
            for a in assignments
            if a.inputs["principalId"] == identity.outputs["principalId"]
        ]
        writing = sorted({(roles.ROLE_NAMES.get(r, r), last(s)) for r, s in held if not writes_nothing(r, s)})
        main_only = [
            c
            for c in of(shared, "CheckBranchControl")
            if c.inputs["targetResourceType"] == "endpoint"
            and c.inputs["targetResourceId"] == endpoint.id
            and c.inputs["allowedBranches"] == spec.MAIN_BRANCH
            and c.inputs.get("verifyBranchProtection") is True
            and c.inputs.get("ignoreUnknownProtectionStatus") is False
        ]
        if writing and not main_only:
            problems.append(f"{name}: usable from any branch, yet its identity holds {writing}")
    return problems


def test_no_run_from_a_branch_other_than_main_can_sign_in_as_an_identity_that_may_write(shared, every_run):
    assert branch_exposure(shared, every_run) == []
    # Not vacuous: the deploying identity writes (Contributor on every environment's group,
    # cluster-admin on prod's cluster), and it is the one connection behind the check.
    checked = [c for c in of(shared, "CheckBranchControl") if c.inputs["targetResourceType"] == "endpoint"]
    endpoints = {e.id: e.inputs["serviceEndpointName"] for e in of(shared, "ServiceEndpointAzureRM")}
    assert [endpoints[c.inputs["targetResourceId"]] for c in checked] == [spec.SERVICE_CONNECTION]
    deploying = shared.named("pipelines-azure-id").outputs["principalId"]
    prod = [run for run in every_run if run.stack == "prod" and run.of_type("kubernetes:helm.sh/v3:Release")]
    assert prod and any(
        a.inputs["principalId"] == deploying and last(a.inputs["roleDefinitionId"]) == roles.AKS_RBAC_CLUSTER_ADMIN
        for a in prod[0].of_type("azure-native:authorization:RoleAssignment")
    )


def test_the_branch_proof_fails_when_the_check_is_gone_weakened_or_a_write_right_leaks(shared):
    check = shared.named("pipelines-azure-branch-control")

    def with_check(**change: Any) -> Evaluation:
        changed = replace(check, inputs={**check.inputs, **change})
        return replace(shared, resources=[changed if r is check else r for r in shared.resources])

    exposed = [
        replace(shared, resources=[r for r in shared.resources if r is not check]),
        with_check(allowedBranches="refs/heads/*"),
        with_check(allowedBranches="refs/heads/main, refs/heads/feature/*"),
        with_check(verifyBranchProtection=False),
        with_check(ignoreUnknownProtectionStatus=True),
        with_check(targetResourceId=shared.named("pipelines-azure-ml-endpoint").id),
    ]
    for run in exposed:
        (problem,) = branch_exposure(run, [])
        assert problem.startswith(f"{spec.SERVICE_CONNECTION}: usable from any branch"), problem
        assert "('Contributor', 'rg-digitre-prod')" in problem
    # Any writing role for the unchecked ML identity, even one in its own workspace's group.
    ml = shared.named("pipelines-azure-ml-id").outputs["principalId"]
    for template in grants_of(shared, "pipelines-azure")[:1] + grants_of(shared, "pipelines-azure-ml"):
        leaked = replace(
            template,
            name="leaked",
            inputs={
                **template.inputs,
                "principalId": ml,
                "roleDefinitionId": f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{roles.CONTRIBUTOR}",
            },
        )
        (problem,) = branch_exposure(replace(shared, resources=[*shared.resources, leaked]), [])
        assert problem.startswith(f"{spec.ML_SERVICE_CONNECTION}: usable from any branch"), problem


def test_key_vault_crypto_officers_come_from_config(shared, customised):
    assert [
        a
        for a in shared.of_type("azure-native:authorization:RoleAssignment")
        if a.name.startswith("key-vault-officers-")
    ] == []
    # The customised shared stack names crypto officers and (other) secrets officers.
    run = customised["shared"]
    officers = {
        (a.inputs["principalId"], last(a.inputs["roleDefinitionId"])): a
        for a in run.of_type("azure-native:authorization:RoleAssignment")
        if a.name.startswith("key-vault-officers-")
    }
    crypto, secrets = roles.KEY_VAULT_CRYPTO_OFFICER, roles.KEY_VAULT_SECRETS_OFFICER
    assert set(officers) == {(p, crypto) for p in CRYPTO_OFFICERS} | {(p, secrets) for p in SECRETS_OFFICERS}
    for (object_id, role), assignment in officers.items():
        people = CRYPTO_OFFICERS if role == crypto else SECRETS_OFFICERS
        assert assignment.inputs["principalType"] == people[object_id]
        assert last(assignment.inputs["scope"]) == run.outputs["keyVaultName"]


def test_whoever_deploys_shared_may_delete_the_secret_it_creates(shared, customised):
    # azure-native deletes a keyvault.Secret through the vault's data plane, which on an RBAC
    # vault takes Key Vault Secrets Officer (or Administrator): an Owner alone cannot.
    secret = shared.one("azure-native:keyvault:Secret")
    deleters = [a for a in shared.of_type("azure-native:authorization:RoleAssignment") if a.urn in secret.depends_on]
    assert deleters == []  # the committed stack file names nobody: docs/operations.md step 0 asks for your id
    people = SECRETS_OFFICERS
    run = customised["shared"]
    secret = run.one("azure-native:keyvault:Secret")
    vault = run.one("azure-native:keyvault:Vault")
    officers = {
        a.inputs["principalId"]: a
        for a in run.of_type("azure-native:authorization:RoleAssignment")
        if last(a.inputs["roleDefinitionId"]) == roles.KEY_VAULT_SECRETS_OFFICER and a.inputs["scope"] == vault.id
    }
    assert set(officers) == set(people)
    for object_id, assignment in officers.items():
        assert assignment.inputs["principalType"] == people[object_id]
        # The secret depends on the grant: a destroy deletes the secret while the grant stands.
        assert assignment.urn in secret.depends_on
    # Crypto Officers are another list (the customised stack sets both, to other people):
    # being one does not let anybody delete the secret.
    assert not CRYPTO_OFFICERS.keys() & SECRETS_OFFICERS.keys()
    deleters = [a for a in run.of_type("azure-native:authorization:RoleAssignment") if a.urn in secret.depends_on]
    assert {a.inputs["principalId"] for a in deleters} == set(people)


# The azure-native resource types whose delete goes through a data plane rather than Azure
# Resource Manager: the custom resources with a Delete of their own in pulumi-azure-native's
# provider/pkg/resources/customresources (Key Vault secret and key: the vault's data plane;
# blob and static website: the storage account's). Other custom deletes there (access policy,
# web app) still call Resource Manager.
DATA_PLANE_DELETES = {
    "azure-native:keyvault:Secret",
    "azure-native:keyvault:Key",
    "azure-native:storage:Blob",
    "azure-native:storage:StorageAccountStaticWebsite",
}


def test_the_only_resource_deleted_through_a_data_plane_is_the_secret_its_officers_may_delete(every_run):
    declared = {r.type for run in every_run for r in run.resources}
    assert declared & DATA_PLANE_DELETES == {"azure-native:keyvault:Secret"}
    (owner,) = [run for run in every_run if run.of_type("azure-native:keyvault:Secret")]
    assert owner.stack == "shared"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keyVaultSecretsOfficers": {"bob": "User"}}, "devops.keyVaultSecretsOfficers"),
        ({"keyVaultCryptoOfficers": {"alice": "User"}}, "devops.keyVaultCryptoOfficers"),
        (
            {"keyVaultCryptoOfficers": {"11111111-2222-3333-4444-555555555555": "Robot"}},
            "devops.keyVaultCryptoOfficers",
        ),
        ({"pulumiStateResourceGroup": None}, "pulumiStateResourceGroup is required with an azblob:// backend"),
        (
            {"pulumiStateStorageAccount": "stother"},
            "pulumiStateStorageAccount (stother) is not the account of pulumiBackendUrl (stdigitrepulumi)",
        ),
        (
            {"pulumiBackendUrl": "azblob://pulumi-state", "pulumiStateStorageAccount": None},
            "pulumiBackendUrl has no storage_account=<account> and pulumiStateStorageAccount is not set",
        ),
    ],
)
def test_bad_devops_config_is_refused_before_any_resource(change, message):
    devops = {k: v for k, v in {**shared_devops(), **change}.items() if v is not None}
    run = evaluate("shared", overrides={f"{PROJECT}:devops": json.dumps(devops)})
    assert isinstance(run.error, ConfigError), run.error
    assert message in str(run.error)
    assert run.resources == []


def test_the_sendgrid_key_is_required_and_must_be_a_secret():
    missing = evaluate("shared", bootstrap_secrets=False)
    assert isinstance(missing.error, ConfigError)
    assert f"{PROJECT}:devops.sendgridApiKey is required" in str(missing.error)
    assert "pulumi config set --path --secret digitre-mlops:devops.sendgridApiKey" in str(missing.error)
    assert missing.resources == []
    key = "SG.plain-text-key-that-must-not-leak-1234"
    plain = evaluate("shared", overrides={f"{PROJECT}:devops": json.dumps({**shared_devops(), "sendgridApiKey": key})})
    assert isinstance(plain.error, ConfigError)
    assert f"{PROJECT}:devops is invalid: sendgridApiKey is stored in plain text" in str(plain.error)
    assert key not in str(plain.error)
    assert plain.resources == []
    spaced = "SG.a key with spaces that is secret"
    bad = evaluate("shared", overrides={f"{PROJECT}:devops": json.dumps({**shared_devops(), "sendgridApiKey": spaced})})
    assert isinstance(bad.error, ConfigError)
    assert f"{PROJECT}:devops.sendgridApiKey must be a SendGrid API key" in str(bad.error)
    assert spaced not in str(bad.error)
    assert bad.resources == []


def test_no_committed_stack_file_carries_the_sendgrid_key_in_plain_text():
    for path in ROOT.glob("Pulumi.*.yaml"):
        devops = (yaml.safe_load(path.read_text()).get("config") or {}).get(f"{PROJECT}:devops") or {}
        assert "sendgridApiKey" not in devops or set(devops["sendgridApiKey"]) == {"secure"}, path.name


def environment_ids(run) -> dict[str, Registration]:
    return {r.inputs["name"]: r for r in of(run, "Environment")}


def test_environments_dev_qa_prod_exist(shared):
    assert set(environment_ids(shared)) == {"dev", "qa", "prod"}


def checks_on(run, kind: str, env: str):
    env_urn = environment_ids(run)[env].urn
    return [c for c in of(run, kind) if env_urn in c.depends_on]


def test_prod_needs_an_approval_the_requester_cannot_give(shared):
    (approval,) = checks_on(shared, "CheckApproval", "prod")
    assert approval.inputs["requesterCanApprove"] is False
    assert approval.inputs["minimumRequiredApprovers"] == 1
    assert approval.inputs["timeout"] == 1440
    assert approval.inputs["targetResourceType"] == "environment"
    assert len(approval.inputs["approvers"]) == 1 and approval.inputs["approvers"][0]


def test_prod_deploys_from_protected_main_only_one_at_a_time(shared):
    (branch,) = checks_on(shared, "CheckBranchControl", "prod")
    assert branch.inputs["allowedBranches"] == "refs/heads/main"
    assert branch.inputs["verifyBranchProtection"] is True
    assert branch.inputs["ignoreUnknownProtectionStatus"] is False
    assert len(checks_on(shared, "CheckExclusiveLock", "prod")) == 1


def test_qa_has_branch_control_and_dev_has_no_check(shared):
    (branch,) = checks_on(shared, "CheckBranchControl", "qa")
    assert branch.inputs["allowedBranches"] == "refs/heads/main"
    assert checks_on(shared, "CheckApproval", "qa") == []
    for kind in ("CheckApproval", "CheckBranchControl", "CheckExclusiveLock"):
        assert checks_on(shared, kind, "dev") == []


def test_approvers_come_from_config(customised):
    assert shared_devops()["approverGroups"] != APPROVER_GROUPS
    (approval,) = of(customised["shared"], "CheckApproval")
    # The provider's documented approver id is the group's origin id (not its descriptor).
    assert approval.inputs["approvers"] == [_guid("group-origin", g) for g in APPROVER_GROUPS]


def definitions(run) -> dict[str, Registration]:
    return {d.inputs["name"]: d for d in of(run, "BuildDefinition")}


def test_one_definition_per_yaml_file_in_a_folder_per_stage(shared):
    found = definitions(shared)
    assert set(found) == {p.name for p in spec.PIPELINES}
    for pipeline in spec.PIPELINES:
        definition = found[pipeline.name]
        repository = definition.inputs["repository"]
        assert repository["ymlPath"] == pipeline.yml_path
        assert (ROOT / repository["ymlPath"]).is_file()
        assert repository["repoType"] == "TfsGit"
        assert repository["branchName"] == "refs/heads/main"
        assert definition.inputs["path"] == pipeline.folder
        # The YAML owns the triggers: the definition's one trigger says "read the YAML"
        # (what `az pipelines create` sends), and it overrides nothing.
        assert definition.inputs["ciTrigger"] == {"useYaml": True}
        for override in ("pullRequestTrigger", "buildCompletionTriggers", "schedules", "variableGroups"):
            assert override not in definition.inputs
    assert {f.inputs["path"] for f in of(shared, "BuildFolder")} == {"\\ML", "\\Dev", "\\QA", "\\Prod", "\\Platform"}


def authorizations_by_pipeline(run) -> dict[str, list[Registration]]:
    ids = {name: d.urn for name, d in definitions(run).items()}
    found: dict[str, list[Registration]] = {}
    for authorization in of(run, "PipelineAuthorization"):
        (pipeline,) = [p for p in spec.PIPELINES if ids[p.name] in authorization.depends_on]
        found.setdefault(pipeline.key, []).append(authorization)
    return found


def test_each_pipeline_is_authorized_for_exactly_what_it_uses(shared):
    found = authorizations_by_pipeline(shared)
    for pipeline in spec.PIPELINES:
        kinds = Counter(a.inputs["type"] for a in found[pipeline.key])
        expected = Counter(
            {
                "endpoint": int(pipeline.uses_service_connection),
                "variablegroup": len(pipeline.variable_groups),
                "environment": len(pipeline.environments),
                "repository": int(pipeline.uses_engine_repository),
            }
        )
        assert kinds == +expected, pipeline.key
        assert all(a.inputs["pipelineId"] > 0 for a in found[pipeline.key])


def test_a_pull_request_never_holds_the_deploying_connection(shared):
    endpoints = {e.inputs["serviceEndpointName"]: e.urn for e in of(shared, "ServiceEndpointAzureRM")}
    found = authorizations_by_pipeline(shared)
    read_only = (spec.PR_PREVIEW, spec.PLATFORM_DRIFT)
    for pipeline in spec.PIPELINES:
        (endpoint,) = [a for a in found[pipeline.key] if a.inputs["type"] == "endpoint"]
        expected = spec.PREVIEW_SERVICE_CONNECTION if pipeline in read_only else pipeline.service_connection
        assert endpoints[expected] in endpoint.depends_on, pipeline.key
        assert endpoints[pipeline.service_connection] in endpoint.depends_on, pipeline.key
    assert spec.PR_PREVIEW.service_connection == spec.PREVIEW_SERVICE_CONNECTION
    # The nightly drift check only reads too.
    assert [p for p in spec.PIPELINES if p.service_connection == spec.PREVIEW_SERVICE_CONNECTION] == list(read_only)
    # The ML pipelines, which an engine commit runs from the engine's `develop`, have a
    # connection of their own; the deploying one serves exactly the pipelines that deploy.
    assert {p.key for p in spec.PIPELINES if p.service_connection == spec.ML_SERVICE_CONNECTION} == {
        spec.EXTRACT_PREPARE.key,
        spec.TRAIN_EVALUATE_REGISTER.key,
    }
    assert {p.key for p in spec.PIPELINES if p.service_connection == spec.SERVICE_CONNECTION} == {
        p.key for p in spec.PIPELINES if p.stacks and p not in read_only
    }


def test_the_engine_repository_is_authorized_by_its_own_id(shared):
    # The provider prefixes `<project id>.` itself for type repository.
    engine = _guid("repository", spec.ENGINE_REPOSITORY)
    repositories = [a for a in of(shared, "PipelineAuthorization") if a.inputs["type"] == "repository"]
    assert repositories
    assert {a.inputs["resourceId"] for a in repositories} == {engine}


def test_variable_groups_are_not_open_to_all_pipelines(shared):
    groups = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}
    assert set(groups) == {
        spec.PLATFORM_VARIABLE_GROUP,
        spec.NOTIFICATION_VARIABLE_GROUP,
        spec.NOTIFICATION_SECRETS_GROUP,
    }
    for group in groups.values():
        assert group.inputs["allowAccess"] is False


def test_the_sendgrid_key_is_a_key_vault_secret_never_a_value(shared):
    group = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.NOTIFICATION_SECRETS_GROUP]
    assert group.inputs["keyVault"] == {
        "name": shared.outputs["keyVaultName"],
        "serviceEndpointId": shared.outputs["serviceConnectionId"],
    }
    (variable,) = group.inputs["variables"]
    assert variable == {"name": SENDGRID_SECRET}
    notifications = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.NOTIFICATION_VARIABLE_GROUP]
    values = {v["name"]: v["value"] for v in notifications.inputs["variables"]}
    assert values == {"NOTIFY_FROM": "mlops@digitre.com", "NOTIFY_TO": "ml-platform@digitre.com"}


def test_the_sendgrid_secret_is_written_from_encrypted_config_and_kept_secret(shared):
    secret = shared.one("azure-native:keyvault:Secret")
    assert secret.inputs["secretName"] == SENDGRID_SECRET
    assert secret.inputs["vaultName"] == shared.outputs["keyVaultName"]
    assert secret.inputs["resourceGroupName"] == shared.outputs["resourceGroupName"]
    assert secret.is_secret("properties.value")
    assert secret.inputs["properties"]["value"] == f"offline-placeholder-for-{PROJECT}:devops.sendgridApiKey"
    assert secret.inputs["properties"]["attributes"] == {"enabled": True}
    assert "properties" in secret.additional_secret_outputs
    # Nothing else carries it.
    for resource in shared.resources:
        if resource is not secret:
            assert "offline-placeholder-for-digitre-mlops:devops.sendgridApiKey" not in json.dumps(resource.inputs)


def test_the_linked_group_waits_until_the_connection_can_list_the_secret(shared):
    group = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.NOTIFICATION_SECRETS_GROUP]
    probe = shared.named("variables-key-vault-link-probe")
    assert probe.urn in group.depends_on
    assert probe.inputs["create"] == "python3 -m commands.key_vault_link_probe"
    assert probe.inputs["environment"]["SECRET_NAMES"] == SENDGRID_SECRET
    assert probe.inputs["environment"]["KEY_VAULT_NAME"] == shared.outputs["keyVaultName"]
    assert probe.inputs["environment"]["SERVICE_CONNECTION_ID"] == shared.outputs["serviceConnectionId"]
    # Bounded: attempts x interval covers the documented 10-minute Key Vault RBAC latency.
    attempts, interval = (
        int(probe.inputs["environment"]["PROBE_ATTEMPTS"]),
        int(probe.inputs["environment"]["PROBE_INTERVAL_SECONDS"]),
    )
    assert attempts * interval >= 600 and attempts <= 120
    assert "AZDO_PERSONAL_ACCESS_TOKEN" not in probe.inputs["environment"]
    needed = {
        shared.one("azure-native:keyvault:Secret").urn,
        shared.named("pipelines-azure-federation").urn,
        shared.named("pipelines-azure-kv-secrets").urn,
    }
    assert needed <= set(probe.depends_on)


def test_platform_group_tells_pipelines_where_things_are(shared):
    group = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.PLATFORM_VARIABLE_GROUP]
    values = {v["name"]: v["value"] for v in group.inputs["variables"]}
    teardown = definitions(shared)[spec.DEV_DELETE_AFTER_24_HOURS.name]
    assert values["AML_WORKSPACE"] == shared.outputs["mlWorkspaceName"]
    assert values["AML_COMPUTE"] == shared.outputs["mlComputeName"]
    assert values["AML_RESOURCE_GROUP"] == shared.outputs["resourceGroupName"]
    assert values["ACR_NAME"] == shared.outputs["registryName"]
    # The image name comes from the environment stacks (commands/image_tag.py), not a variable.
    assert "SERVING_REPOSITORY" not in values
    assert values["PULUMI_BACKEND_URL"].startswith("azblob://")
    assert values["PULUMI_SECRETS_PROVIDER"].startswith(f"azurekeyvault://{shared.outputs['keyVaultName']}.")
    assert teardown.urn.endswith(spec.DEV_DELETE_AFTER_24_HOURS.key)
    assert int(values["TEARDOWN_DEFINITION_ID"]) > 0


def test_pr_preview_is_a_required_check_on_main(shared):
    (policy,) = of(shared, "BranchPolicyBuildValidation")
    assert policy.inputs["blocking"] is True and policy.inputs["enabled"] is True
    settings = policy.inputs["settings"]
    assert settings["displayName"] == spec.PR_PREVIEW.name
    (scope,) = settings["scopes"]
    assert scope["repositoryRef"] == "refs/heads/main"
    assert scope["matchType"] == "Exact"
    assert definitions(shared)[spec.PR_PREVIEW.name].urn in policy.depends_on
    # The provider's documented "expire immediately when the branch is updated".
    assert (settings["validDuration"], settings["queueOnSourceUpdateOnly"]) == (0, False)


def test_project_pipeline_settings_are_hardened(shared):
    (settings,) = of(shared, "ProjectPipelineSettings")
    for flag in (
        "enforceJobScope",
        "enforceJobScopeForRelease",
        "enforceSettableVar",
        "enforceReferencedRepoScopedToken",
    ):
        assert settings.inputs[flag] is True, flag


@pytest.mark.parametrize("stack", ["dev", "qa", "prod"])
def test_environment_stacks_declare_nothing_in_azure_devops(runs, stack):
    assert not [r for r in runs[stack].resources if r.type.startswith(ADO)]


def test_pr_preview_iterates_one_job_template_over_the_stacks():
    document = load(ROOT / spec.PR_PREVIEW.yml_path)
    (stacks,) = [p for p in document["parameters"] if p["name"] == "stacks"]
    assert tuple(stacks["default"]) == spec.PR_PREVIEW.stacks
    (preview,) = [s for s in document["stages"] if s["stage"] == "preview"]
    (loop,) = preview["jobs"]
    (each,) = loop.items()
    assert re.fullmatch(r"\$\{\{ each (\w+) in parameters\.stacks \}\}", each[0])
    (call,) = each[1]
    assert call["template"] == "templates/preview.yml"


def test_only_the_shared_preview_references_the_engine_repository_and_nothing_checks_it_out():
    document = load(ROOT / spec.PR_PREVIEW.yml_path)
    (engine,) = document["resources"]["repositories"]
    assert engine == {"repository": "engine", "type": "git", "name": spec.ENGINE_REPOSITORY}  # no trigger
    template = load(ROOT / "pipelines/templates/preview.yml")
    (job,) = template["jobs"]
    assert job[r"${{ if eq(parameters.stack, 'shared') }}"] == {"uses": {"repositories": ["engine"]}}
    assert "uses" not in job
    assert "checkout: engine" not in (ROOT / "pipelines/templates/preview.yml").read_text()


def test_preview_pulumi_step_signs_in_with_the_preview_connection():
    template = load(ROOT / "pipelines/templates/preview.yml")
    (job,) = template["jobs"]
    (pulumi_call,) = [s for s in job["steps"] if s.get("template") == "pulumi.yml"]
    assert pulumi_call["parameters"]["serviceConnection"] == spec.PREVIEW_SERVICE_CONNECTION
    assert pulumi_call["parameters"]["command"] == "preview"


def test_variable_groups_hold_no_secret_value(shared):
    # The provider keeps `value` in state as plain text (only `secret_value` is sensitive):
    # the groups carry non-secret facts, and the one secret stays in the Key Vault.
    for group in of(shared, "VariableGroup"):
        for variable in group.inputs["variables"]:
            assert set(variable) <= {"name", "value"}, variable["name"]
        assert not group.secret_paths


def test_the_devops_platform_owns_its_provider_and_every_devops_resource_goes_through_it(shared):
    (provider,) = [r for r in shared.resources if r.type == "pulumi:providers:azuredevops"]
    assert provider.parent.endswith("digitre:devops:DevOpsPlatform::devops")
    on_devops = [r for r in shared.resources if r.custom and r.type.startswith(ADO)]
    assert on_devops and all(r.provider.startswith(f"{provider.urn}::") for r in on_devops)


def test_the_azure_devops_token_never_reaches_the_program_or_state(shared):
    (provider,) = [r for r in shared.resources if r.type == "pulumi:providers:azuredevops"]
    assert "personalAccessToken" not in provider.inputs
    for command in shared.of_type("command:local:Command"):
        assert "AZDO_PERSONAL_ACCESS_TOKEN" not in (command.inputs.get("environment") or {})


def test_the_readme_asks_for_the_pat_scope_the_declared_resources_need(shared):
    readme = (ROOT / "docs" / "operations.md").read_text()
    bootstrap = readme[readme.index("## First deploy, in order") :]
    # The provider documents Full access for azuredevops_project_pipeline_settings.
    assert of(shared, "ProjectPipelineSettings")
    assert "**Full access**" in bootstrap
    for name in (spec.PLATFORM_REPOSITORY, spec.ENGINE_REPOSITORY):
        assert f"**{name}**" in bootstrap
    assert "pulumi config set --path --secret digitre-mlops:devops.sendgridApiKey" in bootstrap


# The Azure namespace each azure-native module the stacks use deploys into. Microsoft.Resources
# and Microsoft.Authorization are left out: every subscription has them (docs/operations.md
# registers the rest).
NAMESPACES = {
    "applicationinsights": "Microsoft.Insights",
    "authorization": None,
    "containerinstance": "Microsoft.ContainerInstance",
    "containerregistry": "Microsoft.ContainerRegistry",
    "containerservice": "Microsoft.ContainerService",
    "keyvault": "Microsoft.KeyVault",
    "machinelearningservices": "Microsoft.MachineLearningServices",
    "managedidentity": "Microsoft.ManagedIdentity",
    "monitor": "Microsoft.Insights",
    "operationalinsights": "Microsoft.OperationalInsights",
    "resources": None,
    "storage": "Microsoft.Storage",
}


def test_the_readme_registers_the_resource_provider_of_every_declared_type(every_run):
    readme = (ROOT / "docs" / "operations.md").read_text()
    bootstrap = readme[readme.index("## First deploy, in order") :]
    block = re.search(r"for ns in (.*?); do az provider register --namespace \$ns --wait; done", bootstrap, re.S)
    assert block, "the bootstrap registers no resource providers"
    registered = set(block.group(1).replace("\\", " ").split())
    modules = {r.type.split(":")[1] for run in every_run for r in run.azure_resources}
    unknown = modules - set(NAMESPACES)
    assert not unknown, f"add the Azure namespace of {sorted(unknown)} to NAMESPACES and to docs/operations.md"
    assert registered == {NAMESPACES[m] for m in modules} - {None}


# terraform-provider-azuredevops v1.15.1: the `type` values azuredevops_pipeline_authorization
# accepts (resource_pipeline_authorization.go) and the `target_resource_type` values a check
# accepts (approvalsandchecks/common_check.go, `targetResourceTypes`).
PROVIDER_AUTHORIZATION_TYPES = {"endpoint", "queue", "variablegroup", "environment", "repository"}
PROVIDER_CHECK_TARGET_TYPES = {"endpoint", "environment", "queue", "repository", "securefile", "variablegroup"}


def test_authorizations_and_checks_use_the_ids_and_types_the_provider_takes(shared):
    ids = {
        "endpoint": {e.id for e in of(shared, "ServiceEndpointAzureRM")},
        "variablegroup": {g.id for g in of(shared, "VariableGroup")},
        "environment": {e.id for e in of(shared, "Environment")},
        "repository": {_guid("repository", spec.ENGINE_REPOSITORY)},
    }
    for authorization in of(shared, "PipelineAuthorization"):
        kind = authorization.inputs["type"]
        assert kind in PROVIDER_AUTHORIZATION_TYPES
        # Each resource's own id; the provider prefixes `<project id>.` to a repository's itself.
        assert authorization.inputs["resourceId"] in ids[kind], kind
        # An integer of at least 1 (the provider's TypeInt, IntAtLeast(1)); the wire carries it as a number.
        pipeline_id = authorization.inputs["pipelineId"]
        assert float(pipeline_id).is_integer() and pipeline_id >= 1
    for kind in ("CheckApproval", "CheckBranchControl", "CheckExclusiveLock"):
        for check in of(shared, kind):
            target = check.inputs["targetResourceType"]
            assert target in PROVIDER_CHECK_TARGET_TYPES
            # Environments, and the deploying connection (the provider's "Protect a service
            # connection" example: type `endpoint`, the connection's own id, a UUID).
            assert target in ("environment", "endpoint")
            assert check.inputs["targetResourceId"] in ids[target]
    (connection_check,) = [c for c in of(shared, "CheckBranchControl") if c.inputs["targetResourceType"] == "endpoint"]
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", connection_check.inputs["targetResourceId"])


def test_the_build_service_may_do_exactly_what_the_pipelines_use_its_token_for(shared):
    from offline.evaluate import _identity

    grants = {p.name.removeprefix("build-service-"): p for p in of(shared, "BuildDefinitionPermissions")}
    assert {key: tuple(g.inputs["permissions"]) for key, g in grants.items()} == {
        # Build_and_Deploy lists and cancels pending teardowns (PATCH status cancelling).
        spec.DEV_DELETE_AFTER_24_HOURS.key: ("ViewBuilds", "StopBuilds"),
        # A teardown lists Build_and_Deploy's runs to find the newest.
        spec.DEV_BUILD_AND_DEPLOY.key: ("ViewBuilds",),
        # Extract-Prepare queues Train-Evaluate-Register through the Runs API, and a
        # Train-Evaluate-Register run tags itself model-registered ("Edit build quality").
        spec.TRAIN_EVALUATE_REGISTER.key: ("ViewBuilds", "QueueBuilds", "EditBuildQuality"),
    }
    defs = {p.key: definitions(shared)[p.name] for p in spec.PIPELINES}
    build_service = _identity("DigitRE Build Service (digitre)")
    for key, grant in grants.items():
        assert set(grant.inputs["permissions"].values()) == {"Allow"}
        assert grant.inputs["buildDefinitionId"] == defs[key].id
        assert grant.inputs["projectId"] == _guid("project", "DigitRE")
        # The job token's identity under a project-scoped job authorization.
        assert grant.inputs["principal"] == build_service["subjectDescriptor"]
    settings = of(shared, "ProjectPipelineSettings")[0].inputs
    assert settings["enforceJobScope"] is True


def test_the_build_service_may_contribute_to_pull_requests_of_the_platform_repository_only(shared):
    from offline.evaluate import _identity

    # The PR preview's last job creates and edits its comment with the job token.
    (grant,) = of(shared, "GitPermissions")
    assert grant.inputs["permissions"] == {"PullRequestContribute": "Allow"}
    assert tuple(grant.inputs["permissions"]) == spec.BUILD_SERVICE_REPOSITORY_PERMISSIONS
    assert grant.inputs["repositoryId"] == _guid("repository", spec.PLATFORM_REPOSITORY)
    assert grant.inputs["projectId"] == _guid("project", "DigitRE")
    assert "branchName" not in grant.inputs
    assert grant.inputs["principal"] == _identity("DigitRE Build Service (digitre)")["subjectDescriptor"]


def test_every_script_that_calls_azure_devops_with_the_job_token_is_accounted_for():
    # A new use of System.AccessToken against another definition needs a row in
    # spec.BUILD_SERVICE_PERMISSIONS; these are the uses that table covers.
    uses = set()
    for path in sorted((ROOT / "pipelines").rglob("*.yml")):
        for line in path.read_text().splitlines():
            if "$(System.AccessToken)" in line:
                uses.add((path.relative_to(ROOT / "pipelines").as_posix(), line.split(":")[0].strip()))
    assert uses == {
        ("dev-build-and-deploy.yml", "SYSTEM_ACCESSTOKEN"),  # cancels teardowns
        ("dev-delete-after-24-hours.yml", "SYSTEM_ACCESSTOKEN"),  # reads the newest deploy
        ("templates/queue-pipeline.yml", "SYSTEM_ACCESSTOKEN"),  # queues training
        # Comments the preview on the pull request (spec.BUILD_SERVICE_REPOSITORY_PERMISSIONS).
        ("pr-preview.yml", "SYSTEM_ACCESSTOKEN"),
        # Asks the job's OIDC endpoint for federated tokens of the connection the job may use
        # already: no build permission.
        ("templates/aml-job.yml", "SYSTEM_ACCESSTOKEN"),
        # The shared stack's preview reads the Azure DevOps project through the provider.
        ("templates/pulumi.yml", "AZDO_PERSONAL_ACCESS_TOKEN"),
    }
    assert set(spec.BUILD_SERVICE_PERMISSIONS) == {
        spec.DEV_DELETE_AFTER_24_HOURS.key,
        spec.DEV_BUILD_AND_DEPLOY.key,
        spec.TRAIN_EVALUATE_REGISTER.key,
    }


def test_training_is_queued_by_the_id_the_platform_group_holds(shared):
    group = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.PLATFORM_VARIABLE_GROUP]
    values = {v["name"]: v["value"] for v in group.inputs["variables"]}
    queued_by = spec.TRAIN_EVALUATE_REGISTER.queued_by
    assert queued_by is not None
    train = definitions(shared)[spec.TRAIN_EVALUATE_REGISTER.name]
    assert values[queued_by.definition_id_variable] == train.id


@pytest.mark.parametrize(
    ("descriptor", "accepted"),
    [
        (f"Microsoft.TeamFoundation.ServiceIdentity;host:Build:{_guid('project', 'DigitRE')}", True),
        (f"Microsoft.TeamFoundation.ServiceIdentity;host:Build:{_guid('project', 'DigitRE').upper()}", True),
        # The collection-scoped build service, or a person of a similar name: never granted.
        (f"Microsoft.TeamFoundation.ServiceIdentity;host:Build:{_guid('collection', 'org')}", False),
        ("Microsoft.IdentityModel.Claims.ClaimsIdentity;tenant\\someone@digitre.example", False),
    ],
)
def test_only_the_projects_own_build_service_is_granted(descriptor, accepted):
    from components.devops.build_service import build_service_name, check_is_project_build_service

    assert build_service_name("DigitRE", "https://dev.azure.com/digitre/") == "DigitRE Build Service (digitre)"
    name = "DigitRE Build Service (digitre)"
    if accepted:
        assert check_is_project_build_service(descriptor, _guid("project", "DigitRE"), name) == descriptor
    else:
        with pytest.raises(ValueError, match="not the build service of project"):
            check_is_project_build_service(descriptor, _guid("project", "DigitRE"), name)
