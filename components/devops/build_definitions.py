"""The pipelines as Azure DevOps objects: one build definition per YAML file in a folder
per stage, the PR policy on main and hardened project pipeline settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components.devops.pipelines import MAIN_BRANCH, Pipeline

# (valid_duration, queue_on_source_update_only) of a build-validation policy.
BUILD_EXPIRES_WHEN_MAIN_MOVES = (0, False)


@dataclass(frozen=True)
class DevOpsPipelinesArgs:
    project_id: pulumi.Input[str]
    platform_repository_id: pulumi.Input[str]
    pipelines: Sequence[Pipeline]


class DevOpsPipelines(pulumi.ComponentResource):
    """Owns the build folders and definitions (protected; YAML from Devops-MLops main; the YAML owns
    every trigger: each definition carries the CI trigger that says "read the YAML" and
    overrides none), the build-validation policy that makes
    the PR preview a required check of pull requests to main, and the project's pipeline
    settings: job tokens scoped to the project, settable variables enforced, repository
    access limited to what a pipeline references, badges private."""

    def __init__(self, name: str, args: DevOpsPipelinesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:DevOpsPipelines", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.settings = azuredevops.ProjectPipelineSettings(
            f"{name}-settings",
            project_id=args.project_id,
            enforce_job_scope=True,
            enforce_job_scope_for_release=True,
            enforce_referenced_repo_scoped_token=True,
            enforce_settable_var=True,
            publish_pipeline_metadata=False,
            status_badges_are_private=True,
            opts=child,
        )
        self.folders = {
            folder: azuredevops.BuildFolder(
                f"{name}-folder-{folder.strip(chr(92)).lower()}",
                project_id=args.project_id,
                path=folder,
                description="DigitRE MLOps pipelines (managed by Pulumi)",
                opts=child,
            )
            for folder in sorted({p.folder for p in args.pipelines})
        }
        self.definitions = {
            pipeline.key: azuredevops.BuildDefinition(
                f"{name}-{pipeline.key}",
                project_id=args.project_id,
                name=pipeline.name,
                path=pipeline.folder,
                repository=azuredevops.BuildDefinitionRepositoryArgs(
                    repo_type="TfsGit",
                    repo_id=args.platform_repository_id,
                    branch_name=MAIN_BRANCH,
                    yml_path=pipeline.yml_path,
                ),
                # Without a ci_trigger block the provider sends an empty trigger list, unlike
                # `az pipelines create`, Microsoft's own client, which gives every YAML
                # definition a CI trigger whose settings come from the YAML (settingsSourceType
                # 2): the definition then takes every trigger from the YAML (`trigger: none`,
                # the repository and pipeline resource triggers) and overrides none. Azure Repos
                # runs pull requests through the branch policy below: no pull-request trigger.
                ci_trigger=azuredevops.BuildDefinitionCiTriggerArgs(use_yaml=True),
                # A definition holds its runs' history, and its id is wired into the platform
                # variables, the permissions and the dashboard: a stray destroy must fail.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.folders[pipeline.folder], self.settings], protect=True
                ),
            )
            for pipeline in args.pipelines
        }
        self.pr_policies = [
            azuredevops.BranchPolicyBuildValidation(
                f"{name}-{pipeline.key}-policy",
                project_id=args.project_id,
                enabled=True,
                blocking=True,
                settings=azuredevops.BranchPolicyBuildValidationSettingsArgs(
                    display_name=pipeline.name,
                    build_definition_id=self.definitions[pipeline.key].id.apply(int),
                    # The provider documents (0, False) as "expire immediately when the
                    # branch is updated": a preview is valid until main moves, no longer.
                    valid_duration=BUILD_EXPIRES_WHEN_MAIN_MOVES[0],
                    queue_on_source_update_only=BUILD_EXPIRES_WHEN_MAIN_MOVES[1],
                    scopes=[
                        azuredevops.BranchPolicyBuildValidationSettingsScopeArgs(
                            repository_id=args.platform_repository_id,
                            repository_ref=MAIN_BRANCH,
                            match_type="Exact",
                        )
                    ],
                ),
                opts=child,
            )
            for pipeline in args.pipelines
            if pipeline.pull_request_validation
        ]
        self.register_outputs({key: d.id for key, d in self.definitions.items()})
