"""Azure DevOps environments, one per serving stack, and the checks that guard them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components.devops.pipelines import MAIN_BRANCH


@dataclass(frozen=True)
class EnvironmentGuard:
    """What guards one environment's deploys (the shared stack's `environments` table)."""

    # Branch control: deploys from main only, its branch protection verified.
    main_only: bool = False
    # An approval (the requester cannot approve) and an exclusive lock.
    approval: bool = False


@dataclass(frozen=True)
class DeploymentEnvironmentsArgs:
    project_id: pulumi.Input[str]
    environments: Mapping[str, EnvironmentGuard]
    approvers: Sequence[pulumi.Input[str]]
    approval_timeout_minutes: int


class DeploymentEnvironments(pulumi.ComponentResource):
    """Owns one environment per serving stack (protected) and its checks, as its guard says:
    with `main_only`, branch control (main only, branch protection verified); with `approval`,
    an approval (approvers from config, the requester cannot approve, a timeout) and an
    exclusive lock, so one deployment runs at a time. An environment with neither has no
    check: it deploys every registered model. It registers which environments require an
    approval, which the policy pack holds the checks to."""

    def __init__(self, name: str, args: DeploymentEnvironmentsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:DeploymentEnvironments", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # An environment holds its deployment history (which model version reached it, and
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
        for env, guard in args.environments.items():
            target = {
                "project_id": args.project_id,
                "target_resource_id": self.environments[env].id,
                "target_resource_type": "environment",
            }
            if guard.main_only:
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
            if guard.approval:
                self.checks[f"{env}-approval"] = azuredevops.CheckApproval(
                    f"{name}-{env}-approval",
                    approvers=list(args.approvers),
                    requester_can_approve=False,
                    minimum_required_approvers=1,
                    instructions=f"Approve the model version shown in the run before it serves {env}.",
                    timeout=timeout,
                    **target,
                    opts=child,
                )
                self.checks[f"{env}-lock"] = azuredevops.CheckExclusiveLock(
                    f"{name}-{env}-exclusive-lock", timeout=timeout, **target, opts=child
                )
        self.approval_required = sorted(env for env, guard in args.environments.items() if guard.approval)
        self.register_outputs(
            {
                "environmentIds": {env: e.id for env, e in self.environments.items()},
                "approvalRequired": self.approval_required,
            }
        )
