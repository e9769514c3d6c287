"""The variable groups the pipelines read: platform facts, and the teardown's notifications."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops

from components.pipelines import NOTIFICATION_SECRETS_GROUP, NOTIFICATION_VARIABLE_GROUP, PLATFORM_VARIABLE_GROUP

# The Key Vault secret holding the SendGrid API key (set once by the platform team).
SENDGRID_SECRET = "sendgrid-api-key"


@dataclass(frozen=True)
class VariableGroupsArgs:
    project_id: pulumi.Input[str]
    # Non-secret facts the pipelines read (workspace, compute, registry, backend, ...).
    platform: Mapping[str, pulumi.Input[str]]
    notification_from: str
    notification_to: Sequence[str]
    key_vault_name: pulumi.Input[str]
    service_connection_id: pulumi.Input[str]


class VariableGroups(pulumi.ComponentResource):
    """Owns three groups, none open to all pipelines: `digitre-mlops-platform`;
    `digitre-mlops-notifications` (sender, recipients); and
    `digitre-mlops-notification-secrets`, linked to the shared Key Vault through the service
    connection, so the SendGrid key is read from the vault at run time and exists nowhere
    else: not in config, state, or the pipeline's log."""

    def __init__(self, name: str, args: VariableGroupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:VariableGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.platform = azuredevops.VariableGroup(
            f"{name}-platform",
            project_id=args.project_id,
            name=PLATFORM_VARIABLE_GROUP,
            description="Shared platform facts for the DigitRE pipelines (managed by Pulumi)",
            allow_access=False,
            variables=[
                azuredevops.VariableGroupVariableArgs(name=key, value=value) for key, value in args.platform.items()
            ],
            opts=child,
        )
        self.notifications = azuredevops.VariableGroup(
            f"{name}-notifications",
            project_id=args.project_id,
            name=NOTIFICATION_VARIABLE_GROUP,
            description="Who the dev teardown notice goes to (managed by Pulumi)",
            allow_access=False,
            variables=[
                azuredevops.VariableGroupVariableArgs(name="NOTIFY_FROM", value=args.notification_from),
                azuredevops.VariableGroupVariableArgs(name="NOTIFY_TO", value=",".join(args.notification_to)),
            ],
            opts=child,
        )
        self.notification_secrets = azuredevops.VariableGroup(
            f"{name}-notification-secrets",
            project_id=args.project_id,
            name=NOTIFICATION_SECRETS_GROUP,
            description="The SendGrid API key, read from the shared Key Vault (managed by Pulumi)",
            allow_access=False,
            key_vault=azuredevops.VariableGroupKeyVaultArgs(
                name=args.key_vault_name, service_endpoint_id=args.service_connection_id
            ),
            variables=[azuredevops.VariableGroupVariableArgs(name=SENDGRID_SECRET)],
            opts=child,
        )
        self.ids = {
            PLATFORM_VARIABLE_GROUP: self.platform.id,
            NOTIFICATION_VARIABLE_GROUP: self.notifications.id,
            NOTIFICATION_SECRETS_GROUP: self.notification_secrets.id,
        }
        self.register_outputs(dict(self.ids))
