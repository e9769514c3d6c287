"""What each stack role builds. `__main__.py` picks one from the validated config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi_azure_native import authorization, resources

from components.config.errors import ConfigError
from components.config.shared import DevOpsConfig
from components.config.stack import AciStackConfig, AksStackConfig, SharedStackConfig
from components.devops.deployment_environments import EnvironmentGuard
from components.devops.platform import DevOpsPlatform, DevOpsPlatformArgs, DevOpsSettings, StateContainer
from components.ml_platform.compute import MlCompute, MlComputeArgs
from components.ml_platform.monitoring import Monitoring, MonitoringArgs
from components.ml_platform.registry import Registry, RegistryArgs
from components.ml_platform.workspace import MlWorkspace, MlWorkspaceArgs
from components.naming import Names, resource_group_name
from components.serving.aks import AksCluster, AksClusterArgs, BoundedWait, Deployer, ExistingCluster, NodePool
from components.serving.contract import SERVED_VERSION_OUTPUT, ServingContract, image_reference, resolve_served_model
from components.serving.engine_release import EngineRelease, EngineReleaseArgs, chart_values
from components.serving.health_check import HealthCheck, HealthCheckArgs
from components.serving.https_entry import (
    HttpsEntry,
    HttpsEntryArgs,
    Publish,
    Published,
    cluster_addons,
    cluster_ingress_profile,
)
from components.serving.image import serving_image
from components.serving.image_digest import ImageDigest, ImageDigestArgs
from components.serving.model_service import LogAnalyticsTarget, ModelService, ModelServiceArgs
from components.shared_platform import SharedPlatform
from components.types import PROJECT


async def build_shared(cfg: SharedStackConfig, names: Names) -> dict[str, pulumi.Input[object]]:
    """The long-lived platform every environment uses: monitoring, registry, AML, and the
    environments' resource groups (so the pipelines' identity is scoped to existing groups)."""
    client = authorization.get_client_config_output()
    group = resources.ResourceGroup(
        "platform-rg",
        resource_group_name=names.resource_group,
        location=cfg.location,
        tags=cfg.tags,
        # Deleting the group would delete the protected resources inside it.
        opts=pulumi.ResourceOptions(protect=True),
    )
    environment_groups = {
        env: resources.ResourceGroup(
            f"{env}-rg",
            resource_group_name=resource_group_name(cfg.prefix, env),
            location=cfg.location,
            tags={**cfg.tags, "environment": env},
            # An environment's workloads live here: retiring the platform must not delete them.
            opts=pulumi.ResourceOptions(protect=True),
        )
        for env in cfg.environments
    }
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
            identity_name=names.ml_workspace_identity,
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
            compute_name=cfg.aml_compute.name,
            vm_size=cfg.aml_compute.vm_size,
            max_nodes=cfg.aml_compute.max_nodes,
            idle_seconds_before_scale_down=cfg.aml_compute.idle_seconds_before_scale_down,
            low_priority=cfg.aml_compute.low_priority,
            tags=cfg.tags,
        ),
    )
    devops = DevOpsPlatform(
        "devops",
        DevOpsPlatformArgs(
            devops=_devops_settings(cfg.devops),
            location=cfg.location,
            resource_group_name=group.name,
            resource_group_id=group.id,
            environment_group_ids={env: g.id for env, g in environment_groups.items()},
            serving_platforms={env: spec.serving_platform for env, spec in cfg.environments.items()},
            guards={
                env: EnvironmentGuard(main_only=spec.main_only, approval=spec.approval)
                for env, spec in cfg.environments.items()
            },
            pipeline_identity_name=names.pipeline_identity,
            subscription_id=client.subscription_id,
            tenant_id=client.tenant_id,
            key_vault_id=ml.key_vault_id,
            key_vault_name=ml.key_vault_name,
            ml_workspace_name=ml.workspace_name,
            ml_workspace_id=ml.workspace_id,
            ml_compute_name=compute.compute_name,
            registry_name=registry.registry_name,
            registry_id=registry.registry_id,
            log_analytics_workspace_id=monitoring.workspace_id,
            tags=cfg.tags,
        ),
    )
    platform = SharedPlatform(
        location=cfg.location,
        resource_group_name=group.name,
        environment_resource_groups=pulumi.Output.all(**{env: g.name for env, g in environment_groups.items()}),
        environment_platforms={env: row.serving_platform for env, row in cfg.environments.items()},
        registry_name=registry.registry_name,
        registry_id=registry.registry_id,
        registry_login_server=registry.login_server,
        pull_identity_id=registry.pull_identity_id,
        pull_identity_client_id=registry.pull_identity_client_id,
        pull_identity_principal_id=registry.pull_identity_principal_id,
        ml_workspace_name=ml.workspace_name,
        ml_compute_name=compute.compute_name,
        key_vault_name=ml.key_vault_name,
        key_vault_id=ml.key_vault_id,
        storage_account_name=ml.storage_account_name,
        log_analytics_workspace_id=monitoring.workspace_id,
        log_analytics_workspace_name=monitoring.workspace_name,
        log_analytics_customer_id=monitoring.customer_id,
        app_insights_id=monitoring.app_insights_id,
        app_insights_connection_string=monitoring.connection_string,
        pipeline_identity_principal_id=devops.pipeline_identity_principal_id,
    )
    return {
        **platform.exports(),
        "devopsProjectId": devops.project_id,
        "serviceConnectionId": devops.service_connection_id,
        "pipelineIdentityClientId": devops.pipeline_identity_client_id,
        "pipelineIdentityPrincipalId": devops.pipeline_identity_principal_id,
        "dashboardId": devops.dashboard_id,
    }


def _devops_settings(devops: DevOpsConfig) -> DevOpsSettings:
    state = None
    if devops.state_container and devops.state_storage_account and devops.pulumi_state_resource_group:
        state = StateContainer(devops.pulumi_state_resource_group, devops.state_storage_account, devops.state_container)
    return DevOpsSettings(
        organization_url=devops.organization_url,
        project=devops.project,
        create_project=devops.create_project,
        subscription_name=devops.subscription_name,
        approver_groups=devops.approver_groups,
        approval_timeout_minutes=devops.approval_timeout_minutes,
        notification_from=devops.notification_from,
        notification_to=devops.notification_to,
        pulumi_backend_url=devops.pulumi_backend_url,
        pulumi_secrets_provider=devops.pulumi_secrets_provider,
        pulumi_state_storage_account=devops.pulumi_state_storage_account,
        state=state,
        # A Pulumi secret from the config on: it never exists as a plain output.
        sendgrid_api_key=pulumi.Output.secret(devops.sendgrid_api_key.get_secret_value()),
        key_vault_crypto_officers=devops.key_vault_crypto_officers,
        key_vault_secrets_officers=devops.key_vault_secrets_officers,
    )


async def _check_platform_against_the_table(
    cfg: AciStackConfig | AksStackConfig, reference: pulumi.StackReference
) -> None:
    """Refuse a stack whose `serving.platform` is not what the shared stack's environment table
    says of it (its rights, checks and policy follow the table), before anything but the
    reference is declared. A shared stack that exports no table yet leaves the check to the
    resource group lookup, which fails by name."""
    details = await reference.get_output_details("environmentPlatforms")
    table = details.value or details.secret_value
    if not isinstance(table, dict):
        return
    row = table.get(cfg.stack)
    if row is None:
        raise ConfigError(
            [
                f"the shared stack {cfg.shared_stack}'s {PROJECT}:environments has no row for {cfg.stack} "
                f"(has {', '.join(sorted(table))}): add it there first"
            ]
        )
    if row != cfg.serving.platform:
        raise ConfigError(
            [
                f"{PROJECT}:serving.platform is {cfg.serving.platform}, but the shared stack "
                f"{cfg.shared_stack}'s {PROJECT}:environments gives {cfg.stack} servingPlatform {row}: "
                "the two must agree (the pipelines' rights, checks and policy follow the table)"
            ]
        )


async def build_environment(cfg: AciStackConfig | AksStackConfig, names: Names) -> dict[str, pulumi.Input[object]]:
    """A serving environment (dev, qa on ACI; prod on AKS) in the resource group the shared
    stack made for it, reading the shared platform. Only the prod cluster is protected, so
    `pulumi destroy --stack dev` removes exactly what dev created."""
    reference = pulumi.StackReference("shared", stack_name=cfg.shared_stack)
    await _check_platform_against_the_table(cfg, reference)
    shared = SharedPlatform.from_stack(reference)
    served = await resolve_served_model(cfg.model_version)
    group = shared.environment_resource_group(cfg.stack)
    outputs: dict[str, pulumi.Input[object]] = {
        "location": cfg.location,
        "resourceGroupName": group,
        "sharedStack": cfg.shared_stack,
        "registryLoginServer": shared.registry_login_server,
        "servingPlatform": cfg.serving.platform,
        # Read back by the next update that passes no version (components/serving/contract.py).
        SERVED_VERSION_OUTPUT: served.version or "",
        "modelVersionSource": served.source.value,
    }
    if served.version is None:
        if isinstance(cfg, AksStackConfig):
            # Nothing served yet, so nothing public: the entry is readied for the first deploy.
            cluster = _cluster(cfg, names, group, shared, outputs)
            _https_entry(cfg, names, group, cluster, shared, publish=None)
        outputs["serving"] = "nothing yet: deploy with --config digitre-mlops:modelVersion=<version>"
        return outputs

    contract = ServingContract(cfg.serving.port, cfg.serving.health_path, cfg.serving.score_path)
    # The same function names the image the build pipeline pushes (components/serving/image.py).
    pulled = serving_image(cfg.serving.repository, cfg.serving.model_name, served.version)
    repository = pulumi.Output.concat(shared.registry_login_server, "/", pulled.repository)
    image = image_reference(shared.registry_login_server, pulled)
    base_url: pulumi.Input[str]
    check_after: list[pulumi.Resource]
    if isinstance(cfg, AciStackConfig):
        service = ModelService(
            "engine",
            ModelServiceArgs(
                resource_group_name=group,
                location=cfg.location,
                container_group_name=names.container_group,
                dns_name_label=names.dns_name_label,
                dns_name_label_reuse=cfg.aci.dns_name_label_reuse,
                image=image,
                registry_login_server=shared.registry_login_server,
                pull_identity_id=shared.pull_identity_id,
                contract=contract,
                cpu=cfg.serving.cpu,
                memory_gb=cfg.serving.memory_gb,
                restart_policy=cfg.aci.restart_policy,
                app_insights_connection_string=shared.app_insights_connection_string,
                log_analytics=LogAnalyticsTarget(
                    resource_group_name=shared.resource_group_name,
                    workspace_name=shared.log_analytics_workspace_name,
                    workspace_id=shared.log_analytics_workspace_id,
                    customer_id=shared.log_analytics_customer_id,
                ),
                tags=cfg.tags,
            ),
        )
        base_url, check_after = service.base_url, [service]
    else:
        aks_cluster = _cluster(cfg, names, group, shared, outputs)

        # Resolved once per image while `pulumi up` runs: prod pulls the locked tag's bytes by digest.
        digest = ImageDigest("engine-image", ImageDigestArgs(registry_name=shared.registry_name, image=pulled.name))

        def publish(entry_values: Mapping[str, Any], before: Sequence[pulumi.Resource]) -> Published:
            release = EngineRelease(
                "engine",
                EngineReleaseArgs(
                    namespace=cfg.aks.namespace,
                    values=chart_values(
                        image_repository=repository,
                        image_tag=pulled.tag,
                        image_digest=digest.digest,
                        contract=contract,
                        cpu=cfg.serving.cpu,
                        memory_gb=cfg.serving.memory_gb,
                        min_replicas=cfg.aks.min_replicas,
                        max_replicas=cfg.aks.max_replicas,
                        target_cpu_utilization=cfg.aks.target_cpu_utilization,
                        app_insights_connection_string=shared.app_insights_connection_string,
                        entry=entry_values,
                    ),
                    timeout_seconds=cfg.aks.helm_timeout_seconds,
                ),
                # The cluster-admin grants must have taken effect, and the entry be ready to
                # publish (its implementation on, its identity granted): both first.
                opts=pulumi.ResourceOptions(providers=[aks_cluster.provider], depends_on=[*aks_cluster.ready, *before]),
            )
            return Published(resources=[release], revision=release.revision)

        entry = _https_entry(cfg, names, group, aks_cluster, shared, publish=publish)
        base_url, check_after = entry.base_url, entry.ready
    health_url = pulumi.Output.concat(base_url, contract.health_path)
    scoring_url = pulumi.Output.concat(base_url, contract.score_path)
    HealthCheck(
        "health-check",
        HealthCheckArgs(
            url=health_url,
            attempts=cfg.health_check.attempts,
            interval_seconds=cfg.health_check.interval_seconds,
            triggers=[image],
        ),
        opts=pulumi.ResourceOptions(depends_on=check_after),
    )
    outputs.update(image=image, healthUrl=health_url, scoringUrl=scoring_url)
    return outputs


def _https_entry(
    cfg: AksStackConfig,
    names: Names,
    group: pulumi.Output[str],
    cluster: AksCluster,
    shared: SharedPlatform,
    publish: Publish | None,
) -> HttpsEntry:
    """prod's public entry: HTTPS on `aks.ingress.host` with the shared vault's certificate (and
    the host's record in `aks.ingress.dnsZoneId`), its waits within the cluster access wait's
    bounds."""
    return HttpsEntry(
        "https-entry",
        HttpsEntryArgs(
            cluster_id=cluster.cluster_id,
            cluster_etag=cluster.e_tag,
            oidc_issuer_url=cluster.oidc_issuer_url,
            kubeconfig=cluster.kubeconfig,
            cluster_created_here=cluster.created_here,
            resource_group_name=group,
            location=cfg.location,
            identity_name=names.https_entry_identity,
            namespace=cfg.aks.namespace,
            host=cfg.aks.ingress.host,
            key_vault_id=shared.key_vault_id,
            key_vault_name=shared.key_vault_name,
            certificate_name=cfg.aks.ingress.certificate_name,
            subscription_id=authorization.get_client_config_output().subscription_id,
            wait=BoundedWait(cfg.aks.access_wait.attempts, cfg.aks.access_wait.interval_seconds),
            tags=cfg.tags,
            dns_zone_id=cfg.aks.ingress.dns_zone_id,
            publish=publish,
        ),
        # Nothing asks the cluster before the caller's access to it holds.
        opts=pulumi.ResourceOptions(depends_on=cluster.ready),
    )


def _cluster(
    cfg: AksStackConfig,
    names: Names,
    group: pulumi.Output[str],
    shared: SharedPlatform,
    outputs: dict[str, pulumi.Input[object]],
) -> AksCluster:
    """prod's cluster (or the existing one it names), its name added to the stack's outputs."""
    client = authorization.get_client_config_output()
    aks = cfg.aks
    cluster = AksCluster(
        "aks",
        AksClusterArgs(
            resource_group_name=group,
            location=cfg.location,
            cluster_name=names.aks_cluster,
            dns_prefix=names.aks_dns_prefix,
            node_resource_group=names.aks_node_resource_group,
            insights_rule_name=names.aks_insights_rule,
            kubernetes_version=cfg.aks.kubernetes_version,
            tier=cfg.aks.tier,
            upgrade_channel=cfg.aks.upgrade_channel,
            system_pool=NodePool(aks.system_pool.vm_size, aks.system_pool.min_count, aks.system_pool.max_count),
            user_pool=NodePool(aks.user_pool.vm_size, aks.user_pool.min_count, aks.user_pool.max_count),
            admin_group_object_ids=cfg.aks.admin_group_object_ids,
            log_analytics_workspace_id=shared.log_analytics_workspace_id,
            log_analytics_location=shared.location,
            registry_id=shared.registry_id,
            subscription_id=client.subscription_id,
            tenant_id=client.tenant_id,
            pipeline_identity_principal_id=shared.pipeline_identity_principal_id,
            deployers=[Deployer(d.object_id, d.principal_type) for d in aks.deployers],
            namespace=cfg.aks.namespace,
            access_wait=BoundedWait(aks.access_wait.attempts, aks.access_wait.interval_seconds),
            tags=cfg.tags,
            existing=(
                None
                if aks.existing_cluster is None
                else ExistingCluster(aks.existing_cluster.name, aks.existing_cluster.resource_group)
            ),
            ingress_profile=cluster_ingress_profile(),
            addons=cluster_addons(),
        ),
    )
    outputs["aksClusterName"] = cluster.cluster_name
    return cluster
