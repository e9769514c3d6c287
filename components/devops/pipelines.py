"""The nine Azure DevOps pipelines: what each YAML file in `pipelines/` is, what triggers
it, and what it may use. The DevOps component declares definitions and per-pipeline
permissions from this table; a test checks it against the YAML.

Triggers live in the YAML (repository and pipeline-completion resource triggers, which
Azure DevOps recommends over the classic UI ones), so the build definitions declare no
trigger overrides; the PR preview runs through a branch policy, since Azure Repos ignores
`pr:` in YAML. One link of the chain is no trigger: Extract-Prepare queues
Train-Evaluate-Register itself, on main (see `QueuedBy`).
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINE_REPOSITORY = "Digitre-estimation-engine"
PLATFORM_REPOSITORY = "Devops-MLops"
# Names the YAML files use literally; the DevOps component creates them under these names.
# The deploying connection: usable from protected `main` only (a branch control check on it).
SERVICE_CONNECTION = "digitre-mlops-azure"
# The ML pipelines' connection: Azure ML in the shared workspace and nothing else. It carries
# no branch check, because an engine commit runs Extract-Prepare on the engine's `develop`.
ML_SERVICE_CONNECTION = "digitre-mlops-azure-ml"
# The read-only connection of the PR preview: a pull request never holds deploy rights.
PREVIEW_SERVICE_CONNECTION = "digitre-mlops-azure-preview"
PLATFORM_VARIABLE_GROUP = "digitre-mlops-platform"
NOTIFICATION_VARIABLE_GROUP = "digitre-mlops-notifications"
NOTIFICATION_SECRETS_GROUP = "digitre-mlops-notification-secrets"
MAIN_BRANCH = "refs/heads/main"
# The engine branch whose commits start the ML chain.
ENGINE_BRANCH = "refs/heads/develop"
# The alias the pipelines give the engine's repository resource (checked out at
# $(Pipeline.Workspace)/engine).
ENGINE_ALIAS = "engine"


def short_branch(ref: str) -> str:
    """A branch as the YAML's branch filters name it: `main` for `refs/heads/main`."""
    return ref.removeprefix("refs/heads/")


MODEL_REGISTERED_TAG = "model-registered"


@dataclass(frozen=True)
class RepositoryTrigger:
    """Runs on a push to `branches` of another repository (a repository resource trigger)."""

    repository: str
    branches: tuple[str, ...]


@dataclass(frozen=True)
class CompletionTrigger:
    """Runs when the pipeline named `pipeline` completes on `branches` (a pipeline resource
    trigger, whose YAML `source` is that pipeline's `Pipeline.source`), only for runs carrying
    every tag in `tags`."""

    pipeline: str
    branches: tuple[str, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleTrigger:
    """Runs on the cron schedule `cron` (UTC) on `branches`; with `always`, also when nothing
    changed since the last scheduled run (a YAML `schedules` entry)."""

    cron: str
    branches: tuple[str, ...]
    always: bool


@dataclass(frozen=True)
class QueuedBy:
    """Queued on `branch` by the last step of the pipeline named `pipeline` (through the Runs
    REST API with the job's token, `pipelines/templates/queue-pipeline.yml`) when that run
    succeeded and was started by a commit to `triggering_branch` of `triggering_repository`
    (its repository trigger) or ran from `branch` of this repository. The queued run checks
    the repository resource `carry_repository` out at the commit the queuing run had, on
    `carry_ref`: the model is trained, and its image built, from the code that prepared its data.

    Why not a completion trigger: a run started by another repository's push carries that
    repository's branch (`refs/heads/develop` of the engine), and Microsoft Learn says a
    completion trigger between two pipelines of the same repository runs the triggered one on
    "the same branch and commit" as the completed run. Devops-MLops has no `develop`, so that
    reading makes the run fail; the other reading (the default branch) would work. Queuing
    on an explicit branch works under both."""

    pipeline: str
    branch: str
    # The platform variable holding the queued definition's id (the Runs API takes the id).
    definition_id_variable: str
    triggering_repository: str = ENGINE_REPOSITORY
    triggering_branch: str = ENGINE_BRANCH
    carry_repository: str = ENGINE_ALIAS
    carry_ref: str = ENGINE_BRANCH


@dataclass(frozen=True)
class Pipeline:
    key: str
    name: str
    folder: str
    summary: str
    repository_trigger: RepositoryTrigger | None = None
    completion_trigger: CompletionTrigger | None = None
    queued_by: QueuedBy | None = None
    schedule: ScheduleTrigger | None = None
    # Runs as the required check of pull requests to main (a branch policy).
    pull_request_validation: bool = False
    stacks: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    variable_groups: tuple[str, ...] = ()
    uses_service_connection: bool = True
    # Which Azure service connection, when it uses one.
    service_connection: str = SERVICE_CONNECTION
    # Checks the engine repository out, or references it (`uses`) so the job token may read it.
    uses_engine_repository: bool = False

    @property
    def yml_path(self) -> str:
        return f"pipelines/{self.key}.yml"

    @property
    def source(self) -> str:
        """How another pipeline's `resources.pipelines[].source` names this one: its folder,
        leading backslash included, then its name (Microsoft Learn asks for the folder of a
        pipeline in a folder)."""
        return f"{self.folder.rstrip(chr(92))}\\{self.name}"

    @property
    def manual_only(self) -> bool:
        return not (
            self.repository_trigger
            or self.completion_trigger
            or self.queued_by
            or self.schedule
            or self.pull_request_validation
        )


EXTRACT_PREPARE = Pipeline(
    key="ml-extract-prepare",
    name="[ML]-Extract-Prepare",
    folder="\\ML",
    summary="submits the extract/prepare Azure ML job to the shared workspace and compute, then queues training",
    repository_trigger=RepositoryTrigger(ENGINE_REPOSITORY, (short_branch(ENGINE_BRANCH),)),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
    service_connection=ML_SERVICE_CONNECTION,
    uses_engine_repository=True,
)
TRAIN_EVALUATE_REGISTER = Pipeline(
    key="ml-train-evaluate-register",
    name="[ML]-Train-Evaluate-Register",
    folder="\\ML",
    summary="trains, evaluates and registers; publishes the model artifact only for a new model",
    # Always on main: Extract-Prepare queues it there, whatever branch its own run carries.
    queued_by=QueuedBy(EXTRACT_PREPARE.name, MAIN_BRANCH, "TRAIN_DEFINITION_ID"),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
    service_connection=ML_SERVICE_CONNECTION,
    # Publishes the engine's scoring files with the model, from the checkout it trained on.
    uses_engine_repository=True,
)
DEV_BUILD_AND_DEPLOY = Pipeline(
    key="dev-build-and-deploy",
    name="[DEV]-Build_and_Deploy",
    folder="\\Dev",
    summary="builds the serving image in ACR, cancels teardowns still waiting, serves the model in dev",
    completion_trigger=CompletionTrigger(
        TRAIN_EVALUATE_REGISTER.name, (short_branch(MAIN_BRANCH),), (MODEL_REGISTERED_TAG,)
    ),
    stacks=("dev",),
    environments=("dev",),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
    # No engine repository: its `develop` would fail the deploying connection's branch check,
    # which verifies every repository a run links. The scoring files come with the model.
)
DEV_DELETE_AFTER_24_HOURS = Pipeline(
    key="dev-delete-after-24-hours",
    name="[Dev]-Delete-After-24Hours",
    folder="\\Dev",
    summary="mails the team, waits 24 hours without an agent, destroys the dev stack",
    completion_trigger=CompletionTrigger(DEV_BUILD_AND_DEPLOY.name, (short_branch(MAIN_BRANCH),)),
    stacks=("dev",),
    variable_groups=(PLATFORM_VARIABLE_GROUP, NOTIFICATION_VARIABLE_GROUP, NOTIFICATION_SECRETS_GROUP),
)
QA_DEPLOY = Pipeline(
    key="qa-deploy",
    name="[QA]-Deploy",
    folder="\\QA",
    summary="serves the version dev validated in qa",
    completion_trigger=CompletionTrigger(DEV_BUILD_AND_DEPLOY.name, (short_branch(MAIN_BRANCH),)),
    stacks=("qa",),
    environments=("qa",),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
)
CUSTOM_QA_DEPLOY = Pipeline(
    key="manual-custom-qa-deploy",
    name="[Manual]-[Custom-QA]-Deploy",
    folder="\\QA",
    summary="serves a chosen model version in qa",
    stacks=("qa",),
    environments=("qa",),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
)
PROD_DEPLOYMENT = Pipeline(
    key="manual-prod-deployment",
    name="[Manual]-[Prod]-deployment",
    folder="\\Prod",
    summary="creates or upgrades the engine's Helm release on AKS, after approval",
    stacks=("prod",),
    environments=("prod",),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
)
PR_PREVIEW = Pipeline(
    key="pr-preview",
    name="[PR]-Preview",
    folder="\\Platform",
    summary="tests, then pulumi preview of every stack on pull requests to main, summed up in one PR comment",
    pull_request_validation=True,
    stacks=("shared", "dev", "qa", "prod"),
    variable_groups=(PLATFORM_VARIABLE_GROUP,),
    service_connection=PREVIEW_SERVICE_CONNECTION,
    # The shared stack looks the engine repository up (its id feeds a pipeline permission).
    uses_engine_repository=True,
)

PLATFORM_DRIFT = Pipeline(
    key="platform-drift",
    name="[Platform]-Drift",
    folder="\\Platform",
    summary="every night, pulumi preview --refresh --expect-no-changes of every stack (read-only); mails what drifted",
    schedule=ScheduleTrigger("0 3 * * *", (short_branch(MAIN_BRANCH),), always=True),
    stacks=("shared", "dev", "qa", "prod"),
    variable_groups=(PLATFORM_VARIABLE_GROUP, NOTIFICATION_VARIABLE_GROUP, NOTIFICATION_SECRETS_GROUP),
    # Read-only, like the PR preview: refreshing needs no more than reading.
    service_connection=PREVIEW_SERVICE_CONNECTION,
    # The shared stack looks the engine repository up, as in the PR preview.
    uses_engine_repository=True,
)

PIPELINES: tuple[Pipeline, ...] = (
    EXTRACT_PREPARE,
    TRAIN_EVALUATE_REGISTER,
    DEV_BUILD_AND_DEPLOY,
    DEV_DELETE_AFTER_24_HOURS,
    QA_DEPLOY,
    CUSTOM_QA_DEPLOY,
    PROD_DEPLOYMENT,
    PR_PREVIEW,
    PLATFORM_DRIFT,
)

# What the project's build service (the identity behind System.AccessToken: job tokens are
# scoped to the project, components/devops/build_definitions.py) must be allowed on other
# definitions, because a pipeline's script calls the REST API with that token. Declared per
# definition (components/devops/build_service.py) rather than taken on trust from defaults.
BUILD_SERVICE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Build_and_Deploy lists the pending teardowns, reads their timelines, cancels those still waiting.
    DEV_DELETE_AFTER_24_HOURS.key: ("ViewBuilds", "StopBuilds"),
    # A teardown reads which Build_and_Deploy run is the newest, and which ones run now.
    DEV_BUILD_AND_DEPLOY.key: ("ViewBuilds",),
    # Extract-Prepare queues Train-Evaluate-Register on main; a Train-Evaluate-Register run
    # tags itself `model-registered` (`##vso[build.addbuildtag]`, which the agent sends with
    # the job's token): "Edit build quality" is the permission that adds tags to a build.
    TRAIN_EVALUATE_REGISTER.key: ("ViewBuilds", "QueueBuilds", "EditBuildQuality"),
}
# What the build service may do on the platform repository (Devops-MLops): the PR preview's last
# job creates and edits its comment on the pull request (commands/pr_comment.py).
BUILD_SERVICE_REPOSITORY_PERMISSIONS: tuple[str, ...] = ("PullRequestContribute",)


def deployed_environments() -> frozenset[str]:
    """The environments some pipeline deploys to: the shared stack's table must name each."""
    return frozenset(env for pipeline in PIPELINES for env in pipeline.environments)
