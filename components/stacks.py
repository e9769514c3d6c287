"""What each stack role builds. `__main__.py` picks one from the validated config."""

from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, resources

from components.config import StackConfig
from components.ml_compute import MlCompute, MlComputeArgs
from components.ml_workspace import MlWorkspace, MlWorkspaceArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.naming import Names
from components.registry import Registry, RegistryArgs
from components.shared_platform import SharedPlatform


def build_shared(cfg: StackConfig, names: Names) -> dict[str, pulumi.Input[str]]:
    """The long-lived platform every environment uses: monitoring, registry, AML."""
    client = authorization.get_client_config_output()
    group = resources.ResourceGroup(
        "platform-rg",
        resource_group_name=names.resource_group,
        location=cfg.location,
        tags=cfg.tags,
        # Deleting the group would delete the protected resources inside it.
        opts=pulumi.ResourceOptions(protect=True),
    )
    monitoring = Monitoring(
        "monitoring",
        MonitoringArgs(
            resource_group_name=group.name,
            location=cfg.location,
            workspace_name=names.log_analytics,
            app_insights_name=names.app_insights,
            retention_days=cfg.monitoring.retention_days,
            tags=cfg.tags,
        ),
    )
    registry = Registry(
        "registry",
        RegistryArgs(
            resource_group_name=group.name,
            location=cfg.location,
            registry_name=names.container_registry,
            pull_identity_name=names.user_assigned_identity,
            sku=cfg.registry.sku,
            subscription_id=client.subscription_id,
            tags=cfg.tags,
        ),
    )
    ml = MlWorkspace(
        "ml",
        MlWorkspaceArgs(
            resource_group_name=group.name,
            location=cfg.location,
            workspace_name=names.ml_workspace,
            key_vault_name=names.key_vault,
            storage_account_name=names.storage_account,
            storage_sku=cfg.storage.sku,
            soft_delete_retention_days=cfg.key_vault.soft_delete_retention_days,
            tenant_id=client.tenant_id,
            subscription_id=client.subscription_id,
            registry_id=registry.registry_id,
            app_insights_id=monitoring.app_insights_id,
            tags=cfg.tags,
        ),
    )
    compute = MlCompute(
        "ml-compute",
        MlComputeArgs(
            resource_group_name=group.name,
            workspace_name=ml.workspace_name,
            location=cfg.location,
            compute_name=names.ml_compute,
            vm_size=cfg.aml_compute.vm_size,
            max_nodes=cfg.aml_compute.max_nodes,
            idle_seconds_before_scale_down=cfg.aml_compute.idle_seconds_before_scale_down,
            low_priority=cfg.aml_compute.low_priority,
            tags=cfg.tags,
        ),
    )
    return SharedPlatform(
        location=cfg.location,
        resource_group_name=group.name,
        registry_name=registry.registry.name,
        registry_id=registry.registry_id,
        registry_login_server=registry.login_server,
        pull_identity_id=registry.pull_identity.id,
        pull_identity_client_id=registry.pull_identity.client_id,
        pull_identity_principal_id=registry.pull_identity.principal_id,
        ml_workspace_name=ml.workspace_name,
        ml_compute_name=compute.compute_name,
        key_vault_name=ml.key_vault.name,
        storage_account_name=ml.storage_account.name,
        log_analytics_workspace_id=monitoring.workspace_id,
        app_insights_id=monitoring.app_insights_id,
        app_insights_connection_string=monitoring.connection_string,
    ).exports()


def build_environment(cfg: StackConfig, names: Names) -> dict[str, pulumi.Input[str]]:
    """A serving environment (dev, qa, prod): its own resource group, reading the shared
    platform. Nothing here is protected, so `pulumi destroy` removes exactly this stack."""
    shared = SharedPlatform.from_stack(pulumi.StackReference("shared", stack_name=cfg.shared_stack))
    group = resources.ResourceGroup(
        "environment-rg",
        resource_group_name=names.resource_group,
        location=cfg.location,
        tags=cfg.tags,
    )
    return {
        "location": cfg.location,
        "resourceGroupName": group.name,
        "sharedStack": cfg.shared_stack,
        "registryLoginServer": shared.registry_login_server,
    }
