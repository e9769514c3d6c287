"""The variable groups the pipelines read: platform facts, and the teardown's notifications,
with the SendGrid key the Key Vault-linked group reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops
from pulumi_azure_native import keyvault
from pulumi_command import local

from components.devops.pipelines import (
    NOTIFICATION_SECRETS_GROUP,
    NOTIFICATION_VARIABLE_GROUP,
    PLATFORM_VARIABLE_GROUP,
)

# The Key Vault secret holding the SendGrid API key.
SENDGRID_SECRET = "sendgrid-api-key"
# Key Vault's RBAC guide gave up to 10 minutes before a role assignment applies (its current
# pages say only "several minutes", docs/assumptions.md): poll that long.
PROBE_ATTEMPTS = 60
PROBE_INTERVAL_SECONDS = 10


@dataclass(frozen=True)
class VariableGroupsArgs:
    organization_url: str
    project_id: pulumi.Input[str]
    # Non-secret facts the pipelines read (workspace, compute, registry, backend, ...).
    platform: Mapping[str, pulumi.Input[str]]
    notification_from: str
    notification_to: Sequence[str]
    key_vault_resource_group_name: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    sendgrid_api_key: pulumi.Output[str]
    service_connection_id: pulumi.Input[str]
    # The connection's federated credential and Key Vault role: the vault can only be
    # listed through the connection once they exist.
    connection_ready: Sequence[pulumi.Resource]
    # The grants that let a person delete the secret (Key Vault Secrets Officer): azure-native
    # deletes a secret through the vault's data plane. The secret depends on them, so a
    # destroy removes it before them.
    secret_deleters: Sequence[pulumi.Resource]
    tags: Mapping[str, str]


class VariableGroups(pulumi.ComponentResource):
    """Owns three groups, none open to all pipelines: `digitre-mlops-platform`;
    `digitre-mlops-notifications` (sender, recipients); and
    `digitre-mlops-notification-secrets`, linked to the shared Key Vault through the service
    connection, so the SendGrid key is read from the vault at run time and sits in no
    variable group or pipeline log. It also owns that secret (written from the encrypted
    stack config) and the bounded wait until the connection can list it, so the linked
    group is created in the same first `pulumi up`."""

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
        # Written through Azure Resource Manager (no data-plane role needed to create it), but
        # deleted through the vault's data plane (Key Vault Secrets Officer: `secret_deleters`).
        # azure-native does not mark the value secret by itself: it is a secret input, and
        # the `properties` output is kept secret too.
        self.sendgrid_secret = keyvault.Secret(
            f"{name}-sendgrid-secret",
            secret_name=SENDGRID_SECRET,
            vault_name=args.key_vault_name,
            resource_group_name=args.key_vault_resource_group_name,
            properties=keyvault.SecretPropertiesArgs(
                value=pulumi.Output.secret(args.sendgrid_api_key),
                content_type="text/plain",
                attributes=keyvault.SecretAttributesArgs(enabled=True),
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self, additional_secret_outputs=["properties"], depends_on=list(args.secret_deleters)
            ),
        )
        self.link_probe = local.Command(
            f"{name}-key-vault-link-probe",
            create="python3 -m commands.key_vault_link_probe",
            environment={
                "AZDO_ORG_SERVICE_URL": args.organization_url,
                "AZDO_PROJECT_ID": args.project_id,
                "SERVICE_CONNECTION_ID": args.service_connection_id,
                "KEY_VAULT_NAME": args.key_vault_name,
                "SECRET_NAMES": SENDGRID_SECRET,
                "PROBE_ATTEMPTS": str(PROBE_ATTEMPTS),
                "PROBE_INTERVAL_SECONDS": str(PROBE_INTERVAL_SECONDS),
            },
            # A new connection or vault is a new path to check.
            triggers=[args.service_connection_id, args.key_vault_name],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.sendgrid_secret, *args.connection_ready]),
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.link_probe]),
        )
        self.ids = {
            PLATFORM_VARIABLE_GROUP: self.platform.id,
            NOTIFICATION_VARIABLE_GROUP: self.notifications.id,
            NOTIFICATION_SECRETS_GROUP: self.notification_secrets.id,
        }
        self.register_outputs(dict(self.ids))
