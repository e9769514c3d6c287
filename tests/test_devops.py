"""The Azure DevOps side of the shared stack: connection, environments and checks,
definitions, per-pipeline permissions, variable groups, PR policy, settings."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from components import pipelines as spec
from components import roles
from components.config import PROJECT
from components.offline import ROOT, Registration, evaluate

ADO = "azuredevops:index/"


def of(run, kind: str):
    return [r for r in run.resources if r.type.startswith(ADO) and r.type.endswith(f":{kind}")]


def test_project_and_repositories_are_looked_up_not_created(shared):
    assert of(shared, "Project") == []
    run = evaluate("shared", overrides={f"{PROJECT}:devops": json.dumps({**shared_devops(), "createProject": True})})
    (project,) = of(run, "Project")
    assert project.inputs["name"] == "DigitRE"
    assert project.protect is True


def shared_devops() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "Pulumi.shared.yaml").read_text())["config"][f"{PROJECT}:devops"]


def test_service_connection_uses_workload_identity_federation_and_stores_no_secret(shared):
    (endpoint,) = of(shared, "ServiceEndpointAzureRM")
    identity = shared.named("pipelines-azure-id")
    assert endpoint.inputs["serviceEndpointName"] == spec.SERVICE_CONNECTION
    assert endpoint.inputs["serviceEndpointAuthenticationScheme"] == "WorkloadIdentityFederation"
    assert endpoint.inputs["credentials"] == {"serviceprincipalid": shared.outputs["pipelineIdentityClientId"]}
    assert identity.physical_name == "id-digitre-shared-pipelines"
    assert not endpoint.secret_paths
    federation = shared.named("pipelines-azure-federation")
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert federation.inputs["issuer"].startswith("https://vstoken.dev.azure.com/")
    assert federation.inputs["subject"].endswith(f"/{spec.SERVICE_CONNECTION}")
    assert federation.inputs["resourceName"] == identity.physical_name


def test_pipeline_identity_has_least_privilege_scoped_to_resource_groups_and_vault(shared):
    granted: Counter[tuple[str, str]] = Counter()
    for assignment in shared.of_type("azure-native:authorization:RoleAssignment"):
        if assignment.name.startswith("pipelines-azure-"):
            scope = assignment.inputs["scope"].rsplit("/", 1)[1]
            granted[(assignment.inputs["roleDefinitionId"].rsplit("/", 1)[1], scope)] += 1
            assert "/resourceGroups/" in assignment.inputs["scope"]  # never the subscription
    vault = shared.outputs["keyVaultName"]
    assert granted == Counter(
        {
            (roles.CONTRIBUTOR, "rg-digitre-shared"): 1,
            (roles.RBAC_ADMINISTRATOR, "rg-digitre-shared"): 1,
            (roles.CONTRIBUTOR, "rg-digitre-dev"): 1,
            (roles.CONTRIBUTOR, "rg-digitre-qa"): 1,
            (roles.CONTRIBUTOR, "rg-digitre-prod"): 1,
            (roles.RBAC_ADMINISTRATOR, "rg-digitre-prod"): 1,
            (roles.KEY_VAULT_SECRETS_USER, vault): 1,
            (roles.KEY_VAULT_CRYPTO_USER, vault): 1,
        }
    )


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


def test_approvers_come_from_config(shared):
    devops = {**shared_devops(), "prodApproverGroups": ["ML Leads", "Release Managers"]}
    run = evaluate("shared", overrides={f"{PROJECT}:devops": json.dumps(devops)})
    (approval,) = of(run, "CheckApproval")
    assert len(set(approval.inputs["approvers"])) == 2


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
        # The YAML owns the triggers: no override in the definition.
        for override in ("ciTrigger", "pullRequestTrigger", "buildCompletionTriggers", "variableGroups"):
            assert override not in definition.inputs
    assert {f.inputs["path"] for f in of(shared, "BuildFolder")} == {"\\ML", "\\Dev", "\\QA", "\\Prod", "\\Platform"}


def test_each_pipeline_is_authorized_for_exactly_what_it_uses(shared):
    ids = {name: d.urn for name, d in definitions(shared).items()}
    by_pipeline: dict[str, Counter] = {}
    for authorization in of(shared, "PipelineAuthorization"):
        (pipeline,) = [p for p in spec.PIPELINES if ids[p.name] in authorization.depends_on]
        by_pipeline.setdefault(pipeline.key, Counter())[authorization.inputs["type"]] += 1
        assert authorization.inputs["pipelineId"] > 0
    for pipeline in spec.PIPELINES:
        expected = Counter(
            {
                "endpoint": int(pipeline.uses_service_connection),
                "variablegroup": len(pipeline.variable_groups),
                "environment": len(pipeline.environments),
                "repository": int(pipeline.uses_engine_repository),
            }
        )
        assert by_pipeline[pipeline.key] == +expected, pipeline.key


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
    assert variable == {"name": "sendgrid-api-key"}
    notifications = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.NOTIFICATION_VARIABLE_GROUP]
    values = {v["name"]: v["value"] for v in notifications.inputs["variables"]}
    assert values == {"NOTIFY_FROM": "mlops@digitre.com", "NOTIFY_TO": "ml-platform@digitre.com"}


def test_platform_group_tells_pipelines_where_things_are(shared):
    group = {g.inputs["name"]: g for g in of(shared, "VariableGroup")}[spec.PLATFORM_VARIABLE_GROUP]
    values = {v["name"]: v["value"] for v in group.inputs["variables"]}
    teardown = definitions(shared)[spec.DEV_DELETE_AFTER_24_HOURS.name]
    assert values["AML_WORKSPACE"] == shared.outputs["mlWorkspaceName"]
    assert values["AML_COMPUTE"] == shared.outputs["mlComputeName"]
    assert values["AML_RESOURCE_GROUP"] == shared.outputs["resourceGroupName"]
    assert values["ACR_NAME"] == shared.outputs["registryName"]
    assert values["SERVING_REPOSITORY"] == "estimation-engine"
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
