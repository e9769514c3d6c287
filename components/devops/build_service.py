"""What the project's build service may do on other pipelines' definitions and on the
platform repository: declared, not left to Azure DevOps' defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops


def build_service_name(project_name: str, organization_url: str) -> str:
    """The project-scoped build identity: `{Project Name} Build Service ({Org Name})`. With the
    job authorization scope limited to the project (the project settings declare it), every
    job's System.AccessToken acts as this identity."""
    organization = organization_url.rstrip("/").rsplit("/", 1)[1]
    return f"{project_name} Build Service ({organization})"


def check_is_project_build_service(descriptor: str, project_id: str, name: str) -> str:
    """The identity search returns the first match for a name; a project build service's
    identity descriptor ends with `:Build:<project id>`. Anything else would grant another
    identity the rights below, so the deploy stops instead."""
    if not descriptor.lower().endswith(f":build:{project_id}".lower()):
        raise ValueError(
            f"looking up {name!r} found the identity {descriptor!r}, which is not the build service "
            f"of project {project_id}: not granting it build permissions"
        )
    return descriptor


@dataclass(frozen=True)
class BuildServicePermissionsArgs:
    organization_url: str
    project_id: pulumi.Input[str]
    project_name: pulumi.Input[str]
    # Definition key -> its id.
    definition_ids: Mapping[str, pulumi.Input[str]]
    # Definition key -> the build permissions (provider keys, e.g. StopBuilds) to allow.
    permissions: Mapping[str, tuple[str, ...]]
    # The platform repository and the Git permissions (provider keys) to allow there.
    repository_id: pulumi.Input[str]
    repository_permissions: tuple[str, ...]


class BuildServicePermissions(pulumi.ComponentResource):
    """Owns one permission set per definition that a pipeline's script reaches with
    System.AccessToken, and one on the platform repository: the build service is allowed
    exactly those build and Git permissions there."""

    def __init__(self, name: str, args: BuildServicePermissionsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("digitre:devops:BuildServicePermissions", name, None, opts)
        identity_name = pulumi.Output.from_input(args.project_name).apply(
            lambda project: build_service_name(project, args.organization_url)
        )
        # Inherit this component's provider (the Azure DevOps one) for the lookup.
        identity = azuredevops.get_identity_users_output(
            name=identity_name, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        checked = pulumi.Output.all(identity.descriptor, args.project_id, identity_name).apply(
            lambda values: check_is_project_build_service(*values)
        )
        # The permission API takes the subject descriptor; using it only once the identity
        # descriptor was checked keeps a wrong identity from ever being granted anything.
        principal = pulumi.Output.all(checked, identity.subject_descriptor).apply(lambda values: values[1])
        self.principal = principal
        self.permissions = {
            key: azuredevops.BuildDefinitionPermissions(
                f"{name}-{key}",
                project_id=args.project_id,
                build_definition_id=args.definition_ids[key],
                principal=principal,
                permissions={permission: "Allow" for permission in allowed},
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, allowed in sorted(args.permissions.items())
        }
        self.repository_permissions = azuredevops.GitPermissions(
            f"{name}-platform-repository",
            project_id=args.project_id,
            repository_id=args.repository_id,
            principal=principal,
            permissions={permission: "Allow" for permission in args.repository_permissions},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"principal": principal})
