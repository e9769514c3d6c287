"""One environment table: an environment added to the shared stack's `environments` table, with
its own stack file and nothing else, is covered by the whole platform (its resource group, its
Azure DevOps environment and checks, the pipelines' rights, the policy pack, its own deploy),
and no Python outside the pipeline catalogue knows an environment by its name."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from components import roles
from components.config.errors import ConfigError
from components.devops import pipelines as spec
from components.types import PROJECT
from offline import evaluate as offline
from offline.evaluate import ROOT, SHARED, Evaluation, environment_table, evaluate, stack_config
from policy import validators as v
from tests.support.evaluations import deploy

# staging: served from ACI, deploys from main only like qa, no approval.
STAGING = {"servingPlatform": "aci", "mainOnly": True}
ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ENVIRONMENT = "azuredevops:index/environment:Environment"


@pytest.fixture(scope="module")
def with_staging(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Evaluation]:
    """The repo's stack files plus Pulumi.staging.yaml (qa's, as a new environment would start),
    and the shared table with a staging row: config only, evaluated as the stacks would be."""
    folder = tmp_path_factory.mktemp("stacks")
    for path in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(ROOT / "Pulumi.qa.yaml", folder / "Pulumi.staging.yaml")
    shared_file = folder / "Pulumi.shared.yaml"
    document = yaml.safe_load(shared_file.read_text())
    table = {env: entry for env, entry in document["config"][f"{PROJECT}:environments"].items()}
    document["config"][f"{PROJECT}:environments"] = {**table, "staging": STAGING}
    shared_file.write_text(yaml.safe_dump(document, sort_keys=False))
    patch = pytest.MonkeyPatch()
    patch.setattr(offline, "ROOT", folder)
    try:
        assert offline.environments() == ("dev", "qa", "prod", "staging")
        shared = evaluate(SHARED)
        assert shared.error is None, shared.error
        references = {offline.shared_stack_name("staging"): shared}
        staging = evaluate("staging", overrides={f"{PROJECT}:modelVersion": "7"}, references=references)
        assert staging.error is None, staging.error
    finally:
        patch.undo()
    return {SHARED: shared, "staging": staging}


def test_staging_gets_its_resource_group_and_serves_from_it(with_staging):
    shared, staging = with_staging[SHARED], with_staging["staging"]
    assert shared.outputs["environmentResourceGroups"]["staging"] == "rg-digitre-staging"
    group = shared.named("staging-rg")
    assert group.protect and group.inputs["tags"]["environment"] == "staging"
    (container_group,) = staging.of_type("azure-native:containerinstance:ContainerGroup")
    assert container_group.inputs["resourceGroupName"] == "rg-digitre-staging"
    assert not staging.of_type("azure-native:containerservice:ManagedCluster")


def checks_on(run: Evaluation, env: str) -> set[str]:
    (declared,) = [r for r in run.of_type(ENVIRONMENT) if r.inputs["name"] == env]
    return {
        kind
        for r in run.resources
        if r.custom and declared.urn in r.depends_on and (kind := r.type.rsplit(":", 1)[1]).startswith("Check")
    }


def test_staging_gets_its_azure_devops_environment_guarded_like_qa(with_staging):
    shared = with_staging[SHARED]
    assert checks_on(shared, "staging") == checks_on(shared, "qa") == {"CheckBranchControl"}
    assert checks_on(shared, "prod") == {"CheckBranchControl", "CheckApproval", "CheckExclusiveLock"}


def rights_in(run: Evaluation, group: str) -> set[str]:
    return {
        a.inputs["roleDefinitionId"].rsplit("/", 1)[1]
        for a in run.of_type(ASSIGNMENT)
        if f"/resourceGroups/{group}/" in a.inputs["scope"] + "/"
    }


def test_staging_gets_the_rights_of_an_aci_environment(with_staging):
    shared = with_staging[SHARED]
    # The deploying identity may write there, the preview identity read; neither may assign
    # roles there nor read a cluster's credentials: it has no cluster.
    assert (
        rights_in(shared, "rg-digitre-staging")
        == rights_in(shared, "rg-digitre-qa")
        == {
            roles.CONTRIBUTOR,
            roles.READER,
        }
    )
    assert {roles.RBAC_ADMINISTRATOR, roles.AKS_CLUSTER_USER} <= rights_in(shared, "rg-digitre-prod")


def policy_view(run: Evaluation) -> list[v.StackResource]:
    return [
        v.StackResource(r.type, r.inputs if r.custom else r.outputs, r.urn, frozenset(r.depends_on))
        for r in run.resources
    ]


def test_the_policy_pack_holds_staging_to_its_table_row(with_staging):
    shared, staging = with_staging[SHARED], with_staging["staging"]
    for run in (shared, staging):
        for name, _, check in v.STACK_RULES:
            assert check(policy_view(run)) == [], f"{run.stack} breaks {name}"
        for resource in run.resources:
            for rule in v.RULES:
                if rule.mandatory and resource.type in rule.resource_types:
                    assert rule.check(resource.inputs) == [], f"{run.stack}: {resource.name} breaks {rule.name}"
    # Marked for an approval in the table, staging is held to it.
    resources = policy_view(shared)
    marked = [
        v.StackResource(r.type, {**r.props, "approvalRequired": ["prod", "staging"]}, r.urn, r.dependencies)
        if r.type == v.DEPLOYMENT_ENVIRONMENTS
        else r
        for r in resources
    ]
    assert v.approval_where_required(marked) == ["the staging environment has no approval check"]


# Azure Pipelines parameters are fixed when a run is queued, so the stacks a preview or the
# drift check covers are listed in the pipeline catalogue and in their YAML (a test in
# tests/test_devops.py keeps both alike): with the templates below, the one more place to edit for a new environment.
STACK_LISTS = {spec.PR_PREVIEW: "pipelines/pr-preview.yml", spec.PLATFORM_DRIFT: "pipelines/platform-drift.yml"}


# The templates that run one stack's preview: their `stack` parameter accepts only the stacks
# it lists, so those lists are part of the same edit.
STACK_PARAMETERS = ("pipelines/templates/preview.yml", "pipelines/templates/pulumi.yml")


def accepted_stacks(path: str) -> set[str]:
    parameters = yaml.safe_load((ROOT / path).read_text())["parameters"]
    (stack,) = [p for p in parameters if p["name"] == "stack"]
    return set(stack["values"])


def test_the_pr_preview_and_drift_cover_every_environment_of_the_table():
    stacks = {SHARED, *environment_table()}
    for pipeline, path in STACK_LISTS.items():
        assert set(pipeline.stacks) == stacks, (
            f"{path} (and its row in components/devops/pipelines.py) must list every stack: {sorted(stacks)}"
        )
    for path in STACK_PARAMETERS:
        assert accepted_stacks(path) == stacks, f"{path}'s `stack` parameter must accept every stack: {sorted(stacks)}"


def test_staging_is_one_stack_list_away_from_the_pr_preview(with_staging):
    # What a new environment still needs: its name in these lists and in the templates' accepted
    # stacks (test_the_pr_preview_and_drift_cover_every_environment_of_the_table), nowhere else.
    for pipeline in STACK_LISTS:
        assert "staging" not in pipeline.stacks
    for path in STACK_PARAMETERS:
        assert "staging" not in accepted_stacks(path)


def test_no_python_outside_the_pipeline_catalogue_names_an_environment():
    named = re.compile(r""""(dev|qa|prod)"|'(dev|qa|prod)'""")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("components", "policy", "offline", "commands")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "components/devops/pipelines.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if named.search(line)
    ]
    assert found == []


def test_the_shared_stack_file_names_every_environment_it_serves():
    config, _ = stack_config(SHARED)
    table = json.loads(config[f"{PROJECT}:environments"])
    assert set(table) == {Path(p).name.removeprefix("Pulumi.").removesuffix(".yaml") for p in _environment_files()}


def _environment_files() -> list[Path]:
    return [
        path
        for path in ROOT.glob("Pulumi.*.yaml")
        if (yaml.safe_load(path.read_text()).get("config") or {}).get(f"{PROJECT}:role") == "environment"
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"dev": "aks", "qa": "aci", "prod": "aks"},
            f"{PROJECT}:serving.platform is aci, but the shared stack organization/digitre-mlops/shared's "
            f"{PROJECT}:environments gives dev servingPlatform aks: the two must agree",
        ),
        (
            {"qa": "aci", "prod": "aks"},
            f"{PROJECT}:environments has no row for dev (has prod, qa): add it there first",
        ),
    ],
    ids=["other platform", "no row"],
)
def test_a_stack_that_disagrees_with_the_shared_table_is_refused_before_any_resource(shared, table, message):
    # What the shared stack exports of its table, as a StackReference reads it.
    outputs = {**shared.outputs, "environmentPlatforms": table}
    run = deploy("dev", shared, references={offline.shared_stack_name("dev"): outputs})
    assert isinstance(run.error, ConfigError), run.error
    assert message in str(run.error)
    # Only the StackReference (a read) was declared; no resource was registered.
    assert run.resources == []


def test_the_shared_stack_exports_its_table_as_each_environment_checks_it(shared):
    assert shared.outputs["environmentPlatforms"] == {
        env: row.serving_platform for env, row in environment_table().items()
    }
