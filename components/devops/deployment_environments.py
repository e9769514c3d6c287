"""Azure DevOps environments dev, qa and prod, and the checks that guard them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components.devops.pipelines import MAIN_BRANCH


@dataclass(frozen=True)
class DeploymentEnvironmentsArgs:
    project_id: pulumi.Input[str]
    environments: Sequence[str]
    prod_approvers: Sequence[pulumi.Input[str]]
    approval_timeout_minutes: int


class DeploymentEnvironments(pulumi.ComponentResource):
    """Owns one environment per serving stack (protected). prod: an approval (approvers from config, the
    requester cannot approve, a timeout), branch control (main only, branch protection
    verified) and an exclusive lock, so one prod deployment runs at a time. qa: branch
    control. dev has no check: it deploys every registered model."""

    def __init__(self, name: str, args: DeploymentEnvironmentsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:DeploymentEnvironments", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # An environment holds its deployment history (which model version reached prod, and
        # who approved it), and its id is wired into permissions and the dashboard: protected.
        kept = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=True))
        self.environments = {
            env: azuredevops.Environment(
                f"{name}-{env}",
                project_id=args.project_id,
                name=env,
                description=f"The {env} stack of digitre-mlops (managed by Pulumi)",
                opts=kept,
            )
            for env in args.environments
        }
        self.checks: dict[str, pulumi.Resource] = {}
        timeout = args.approval_timeout_minutes
        for env in ("qa", "prod"):
            if env not in self.environments:
                continue
            target = {
                "project_id": args.project_id,
                "target_resource_id": self.environments[env].id,
                "target_resource_type": "environment",
            }
            self.checks[f"{env}-branch"] = azuredevops.CheckBranchControl(
                f"{name}-{env}-branch-control",
                display_name=f"{env} deploys from main only",
                allowed_branches=MAIN_BRANCH,
                verify_branch_protection=True,
                ignore_unknown_protection_status=False,
                timeout=timeout,
                **target,
                opts=child,
            )
            if env == "prod":
                self.checks["prod-approval"] = azuredevops.CheckApproval(
                    f"{name}-prod-approval",
                    approvers=list(args.prod_approvers),
                    requester_can_approve=False,
                    minimum_required_approvers=1,
                    instructions="Approve the model version shown in the run before it serves production.",
                    timeout=timeout,
                    **target,
                    opts=child,
                )
                self.checks["prod-lock"] = azuredevops.CheckExclusiveLock(
                    f"{name}-prod-exclusive-lock", timeout=timeout, **target, opts=child
                )
        self.register_outputs({env: e.id for env, e in self.environments.items()})
