"""The contract between the `shared` stack and the environment stacks.

The shared stack exports one `SharedPlatform`; every environment reads it back through a
StackReference. Both sides use this one definition, so an output the environments need
cannot be renamed or dropped on one side only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import pulumi
from pydantic.alias_generators import to_camel


@dataclass(frozen=True)
class SharedPlatform:
    location: pulumi.Input[str]
    resource_group_name: pulumi.Input[str]
    # Environment name -> the resource group the shared stack made for it.
    environment_resource_groups: pulumi.Input[Mapping[str, str]]
    # Environment name -> the serving platform the shared stack's environment table gives it
    # (the rights the pipelines hold, the policy and the checks follow that row).
    environment_platforms: pulumi.Input[Mapping[str, str]]
    registry_name: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    registry_login_server: pulumi.Input[str]
    pull_identity_id: pulumi.Input[str]
    pull_identity_client_id: pulumi.Input[str]
    pull_identity_principal_id: pulumi.Input[str]
    ml_workspace_name: pulumi.Input[str]
    ml_compute_name: pulumi.Input[str]
    key_vault_name: pulumi.Input[str]
    # The TLS certificate of prod's public entry lives in this vault (its grant is on its secret).
    key_vault_id: pulumi.Input[str]
    storage_account_name: pulumi.Input[str]
    log_analytics_workspace_id: pulumi.Input[str]
    log_analytics_workspace_name: pulumi.Input[str]
    log_analytics_customer_id: pulumi.Input[str]
    app_insights_id: pulumi.Input[str]
    # Secret: it carries the instrumentation key.
    app_insights_connection_string: pulumi.Input[str]
    # The pipelines' identity (the service connection's): prod grants it cluster-admin, so
    # the grant never follows whoever happens to run `pulumi up`.
    pipeline_identity_principal_id: pulumi.Input[str]

    def exports(self) -> dict[str, pulumi.Input[object]]:
        """Stack outputs, camelCase as Pulumi names them."""
        return {to_camel(f.name): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_stack(cls, reference: pulumi.StackReference) -> SharedPlatform:
        """Read the shared stack's outputs; a missing output fails the update by name."""
        return cls(**{f.name: reference.require_output(to_camel(f.name)) for f in fields(cls)})

    def environment_resource_group(self, environment: str) -> pulumi.Output[str]:
        """The group the shared stack made for `environment`; fails the update by name if none."""

        def pick(groups: Mapping[str, str]) -> str:
            if environment not in groups:
                raise ValueError(
                    f"the shared stack has no resource group for environment {environment!r}: "
                    f"add it to digitre-mlops:environments in Pulumi.shared.yaml (has {sorted(groups)})"
                )
            return groups[environment]

        return pulumi.Output.from_input(self.environment_resource_groups).apply(pick)
