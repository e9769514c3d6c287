"""Config: defaults, tags, and bad values rejected before any resource is declared."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from components.config.errors import ConfigError
from components.regions import AZURE_REGIONS, REGION_DISPLAY_NAMES, programmatic_name
from components.types import PROJECT
from offline.evaluate import ROOT, STACKS, evaluate, stack_config, validate
from tests.support.evaluations import CUSTOM_SHARED, PROD_ZONE, prod_aks


def key(name: str) -> str:
    return f"{PROJECT}:{name}"


def test_shared_stack_file_is_read_into_typed_values(shared):
    compute = shared.one("azure-native:machinelearningservices:Compute")
    scale = compute.inputs["properties"]["properties"]["scaleSettings"]
    assert scale["maxNodeCount"] == 4
    assert scale["nodeIdleTimeBeforeScaleDown"] == "PT300S"


def test_defaults_apply_when_keys_are_absent(shared):
    config, _ = stack_config("shared")
    required = (key("role"), key("owner"), key("costCenter"), key("devops"), key("environments"))
    removed = {k: None for k in config if k not in required}
    assert {key("location"), key("registry"), key("amlCompute")} <= removed.keys()
    # Pulumi.shared.yaml spells out the defaults of every key it may leave out, and the program
    # reads its config only through this validation (the next test), so with those keys
    # removed it declares what the committed file's evaluation `shared` declares.
    defaulted = validate("shared", overrides=removed)
    assert not isinstance(defaulted, ConfigError), defaulted
    assert defaulted == validate("shared")
    assert shared.named("platform-rg").inputs["location"] == "westeurope"
    assert shared.one("azure-native:containerregistry:Registry").inputs["sku"] == {"name": "Premium"}
    props = shared.one("azure-native:machinelearningservices:Compute").inputs["properties"]["properties"]
    assert props["vmSize"] == "Standard_DS3_v2"
    assert props["vmPriority"] == "Dedicated"
    assert props["scaleSettings"] == {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT300S"}


def test_the_program_reads_config_only_through_its_validation():
    # pulumi.Config or pulumi.runtime's get_config, by attribute or imported by name.
    reads = re.compile(
        r"\bpulumi\.(runtime\.)?(Config|get_config)\b|from pulumi(\.runtime)? import [^\n]*\b(Config|get_config)\b"
    )
    program = [ROOT / "__main__.py", *(ROOT / "components").rglob("*.py")]
    readers = {path.relative_to(ROOT).as_posix() for path in program if reads.search(path.read_text())}
    assert readers == {"components/config/load.py"}


ZONE = PROD_ZONE


def ingress(**changes: object) -> str:
    """Prod's `aks` section with its ingress changed (None removes a key)."""
    section = prod_aks()[key("aks")]
    aks = json.loads(section)
    aks["ingress"] = {k: v for k, v in {**aks["ingress"], **changes}.items() if v is not None}
    return json.dumps(aks)


# fmt: off
BAD_CONFIG = [
    # (stack, key, value or None to remove, expected message)
    ("shared", "amlCompute", '{"maxNodes": -1}', f"{PROJECT}:amlCompute.maxNodes must be an integer 1..100, got -1"),
    ("shared", "amlCompute", '{"maxNodes": 101}', f"{PROJECT}:amlCompute.maxNodes must be an integer 1..100, got 101"),
    (
        "shared",
        "amlCompute",
        '{"maxNodes": "four"}',
        f"{PROJECT}:amlCompute.maxNodes must be an integer 1..100, got four",
    ),
    (
        "shared",
        "amlCompute",
        '{"maxNodes": true}',
        f"{PROJECT}:amlCompute.maxNodes must be an integer 1..100, got true",
    ),
    ("shared", "amlCompute", '{"maxNodes": 2.5}', f"{PROJECT}:amlCompute.maxNodes must be an integer 1..100, got 2.5"),
    (
        "shared",
        "amlCompute",
        '{"name": "9-cluster"}',
        f"{PROJECT}:amlCompute.name must be 3-16 letters, digits or hyphens, starting with a letter and not ending with a hyphen, got 9-cluster",
    ),
    ("shared", "amlCompute", '{"name": "a-cluster-name-too-long"}', f"{PROJECT}:amlCompute.name must be 3-16 letters"),
    (
        "shared",
        "amlCompute",
        '{"vmSize": "DS3"}',
        f"{PROJECT}:amlCompute.vmSize must be an Azure VM size such as Standard_DS3_v2, got DS3",
    ),
    (
        "shared",
        "amlCompute",
        '{"idleSecondsBeforeScaleDown": 5}',
        f"{PROJECT}:amlCompute.idleSecondsBeforeScaleDown must be an integer 60..86400 (seconds), got 5",
    ),
    (
        "shared",
        "amlCompute",
        '{"lowPriority": "maybe"}',
        f"{PROJECT}:amlCompute.lowPriority must be true or false, got maybe",
    ),
    (
        "shared",
        "amlCompute",
        '{"maxnodes": 3}',
        f"{PROJECT}:amlCompute.maxnodes is not a known key; known keys: name, vmSize, maxNodes",
    ),
    (
        "shared",
        "amlCompute",
        "big",
        f"{PROJECT}:amlCompute must be an object with keys name, vmSize, maxNodes, idleSecondsBeforeScaleDown, lowPriority, got big",
    ),
    (
        "shared",
        "registry",
        '{"sku": "Gold"}',
        f"{PROJECT}:registry.sku must be one of Basic, Standard, Premium, got Gold",
    ),
    (
        "shared",
        "storage",
        '{"sku": "Premium_LRS"}',
        f"{PROJECT}:storage.sku must be one of Standard_LRS, Standard_ZRS, Standard_GRS, Standard_RAGRS, got Premium_LRS",
    ),
    (
        "shared",
        "monitoring",
        '{"retentionDays": 7}',
        f"{PROJECT}:monitoring.retentionDays must be an integer 30..730 (days), got 7",
    ),
    (
        "shared",
        "keyVault",
        '{"softDeleteRetentionDays": 120}',
        f"{PROJECT}:keyVault.softDeleteRetentionDays must be an integer 7..90 (days), got 120",
    ),
    ("shared", "role", "platform", f"{PROJECT}:role must be one of shared, environment, got platform"),
    ("shared", "role", None, f"{PROJECT}:role is required: set it to one of shared, environment"),
    ("shared", "owner", None, f"{PROJECT}:owner is required"),
    (
        "shared",
        "owner",
        "",
        f'{PROJECT}:owner must be 1-256 letters, digits, spaces or . _ @ + -, with a letter or digit and no space at either end (the owner tag, e.g. a team mail), got ""',
    ),
    ("shared", "owner", "   ", f'{PROJECT}:owner must be 1-256 letters, digits, spaces or . _ @ + -, with a letter or digit and no space at either end (the owner tag, e.g. a team mail), got "   "'),
    ("shared", "owner", "-.-", f"{PROJECT}:owner must be 1-256 letters, digits, spaces or . _ @ + -, with a letter or digit and no space at either end (the owner tag, e.g. a team mail), got -.-"),
    ("shared", "owner", " ml-platform@digitre.com", f'{PROJECT}:owner must be 1-256 letters, digits, spaces or . _ @ + -, with a letter or digit and no space at either end (the owner tag, e.g. a team mail), got " ml-platform@digitre.com"'),
    ("shared", "costCenter", "", f'{PROJECT}:costCenter must be 1-64 letters, digits or . _ -, with a letter or digit (the cost-center tag), got ""'),
    ("shared", "costCenter", "--", f"{PROJECT}:costCenter must be 1-64 letters, digits or . _ -, with a letter or digit (the cost-center tag), got --"),
    ("shared", "owner", "a" * 257, f"{PROJECT}:owner must be 1-256 letters"),
    (
        "shared",
        "costCenter",
        "cc/42",
        f"{PROJECT}:costCenter must be 1-64 letters, digits or . _ -, with a letter or digit (the cost-center tag), got cc/42",
    ),
    (
        "shared",
        "location",
        "West Europe",
        f"{PROJECT}:location must be an Azure region's programmatic name such as westeurope (the list: components/regions.py), got West Europe",
    ),
    ("shared", "location", "westeurope2", f"{PROJECT}:location must be an Azure region's programmatic name such as westeurope (the list: components/regions.py), got westeurope2"),
    ("dev", "location", "moon", f"{PROJECT}:location must be an Azure region's programmatic name such as westeurope (the list: components/regions.py), got moon"),
    ("shared", "amlCompute", '{"lowPriority": "yes"}', f"{PROJECT}:amlCompute.lowPriority must be true or false, got yes"),
    ("shared", "amlCompute", '{"lowPriority": 1}', f"{PROJECT}:amlCompute.lowPriority must be true or false, got 1"),
    ("shared", "amlCompute", '{"lowPriority": "on"}', f"{PROJECT}:amlCompute.lowPriority must be true or false, got on"),
    ("shared", "amlCompute", '{"lowPriority": "True"}', f"{PROJECT}:amlCompute.lowPriority must be true or false, got True"),
    ("shared", "environments", '{"dev": {}, "qa": {}, "prod": {}, "shared": {}}', f"""{PROJECT}:environments must not name the shared platform itself ('shared' or this stack, 'shared'), got ["dev", "qa", "prod", "shared"]: remove shared"""),
    ("shared", "environments", '{"dev": {"servingPlatform": "k8s"}, "qa": {}, "prod": {}}', f"{PROJECT}:environments.dev.servingPlatform must be one of aci, aks, got k8s"),
    ("shared", "environments", '{"dev": {}, "qa": {"approval": "yes"}, "prod": {}}', f"{PROJECT}:environments.qa.approval must be true or false (an approval and one deploy at a time), got yes"),
    ("shared", "environments", '{"dev": {}, "qa": {}, "prod": {"color": 1}}', f"{PROJECT}:environments.prod.color is not a known key; known keys: servingPlatform, mainOnly, approval"),
    (
        "shared",
        "prefix",
        "DigitRE",
        f"{PROJECT}:prefix must be 2-8 lowercase letters or digits starting with a letter (it starts every Azure name), got DigitRE",
    ),
    ("shared", "prefix", "digitre-ml", f"{PROJECT}:prefix must be 2-8 lowercase letters"),
    (
        "shared",
        "sharedStack",
        "org/x/shared",
        f"{PROJECT}:sharedStack is only read by stacks of another role, not role shared",
    ),
    (
        "dev",
        "amlCompute",
        '{"maxNodes": 2}',
        f"{PROJECT}:amlCompute is only read by stacks of another role, not role environment",
    ),
    (
        "dev",
        "sharedStack",
        "a/b/c/d",
        f"{PROJECT}:sharedStack must be a stack reference such as organization/digitre-mlops/shared, got a/b/c/d",
    ),
    ("shared", "amlcompute", '{"maxNodes": 3}', f"{PROJECT}:amlcompute is not a known key; known keys: role, owner, costCenter"),
    ("dev", "modelversion", "3", f"{PROJECT}:modelversion is not a known key"),
    ("shared", "environments", '{"dev": {}, "Prod": {}}', f"{PROJECT}:environments.Prod must be a map of 1-10 environment stack names (2-8 lowercase letters or digits each) to objects with keys servingPlatform, mainOnly, approval, got Prod"),
    ("shared", "environments", '{"dev": {}, "qa": {}}', f'{PROJECT}:environments must include every environment a pipeline deploys to (dev, prod, qa), got ["dev", "qa"]: missing prod'),
    ("shared", "devops", None, f"{PROJECT}:devops is required for role shared: set it to an object with keys organizationUrl, project"),
    ("shared", "devops", '{"organizationUrl": "https://example.com/x", "notificationFrom": "a@b.co", "notificationTo": ["c@d.co"], "pulumiBackendUrl": "azblob://state", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k"}', f"{PROJECT}:devops.organizationUrl must be an Azure DevOps organization URL such as https://dev.azure.com/digitre, got https://example.com/x"),
    ("shared", "devops", '{"organizationUrl": "https://dev.azure.com/x", "notificationFrom": "nobody", "notificationTo": ["c@d.co"], "pulumiBackendUrl": "azblob://state", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k"}', f"{PROJECT}:devops.notificationFrom must be an e-mail address, got nobody"),
    ("shared", "devops", '{"organizationUrl": "https://dev.azure.com/x", "notificationFrom": "a@b.co", "notificationTo": [], "pulumiBackendUrl": "azblob://state", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k"}', f"{PROJECT}:devops.notificationTo must be a list of 1-50 e-mail addresses"),
    ("shared", "devops", '{"organizationUrl": "https://dev.azure.com/x", "notificationFrom": "a@b.co", "notificationTo": ["c@d.co"], "pulumiBackendUrl": "file:///tmp", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k"}', f"{PROJECT}:devops.pulumiBackendUrl must be the pipelines' Pulumi backend"),
    ("shared", "devops", '{"organizationUrl": "https://dev.azure.com/x", "notificationFrom": "a@b.co", "notificationTo": ["c@d.co"], "pulumiBackendUrl": "azblob://state", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k", "approverGroups": []}', f"{PROJECT}:devops.approverGroups must be a list of 1-10 Azure DevOps group names that approve the environments marked approval"),
    ("shared", "devops", '{"organizationUrl": "https://dev.azure.com/x", "notificationFrom": "a@b.co", "notificationTo": ["c@d.co"], "pulumiBackendUrl": "azblob://state", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k", "approvalTimeoutMinutes": 5}', f"{PROJECT}:devops.approvalTimeoutMinutes must be an integer 60..43200 (minutes), got 5"),
    ("shared", "devops", '{"organizationUrl": "https://dev.azure.com/x", "notificationFrom": "a@b.co", "notificationTo": ["c@d.co"], "pulumiBackendUrl": "azblob://state", "pulumiSecretsProvider": "azurekeyvault://kv1.vault.azure.net/keys/k", "createProject": "yes"}', f"{PROJECT}:devops.createProject must be true or false, got yes"),
    ("shared", "environments", "{}", f"{PROJECT}:environments must be a map of 1-10 environment stack names (2-8 lowercase letters or digits each) to objects with keys servingPlatform, mainOnly, approval"),
    ("shared", "environments", "dev", f"{PROJECT}:environments must be a map of 1-10 environment stack names (2-8 lowercase letters or digits each) to objects with keys servingPlatform, mainOnly, approval, got dev"),
    ("dev", "environments", '{"dev": {}}', f"{PROJECT}:environments is only read by stacks of another role, not role environment"),
    ("dev", "modelVersion", "v 1", f"{PROJECT}:modelVersion must be a registered model version: 1-30 letters, digits or . _ - (it feeds the image tag), got v 1"),
    ("dev", "modelVersion", "", f'{PROJECT}:modelVersion must be a registered model version'),
    ("shared", "modelVersion", "3", f"{PROJECT}:modelVersion is only read by stacks of another role, not role shared"),
    ("dev", "serving", '{"platform": "k8s"}', f"{PROJECT}:serving.platform must be one of aci, aks, got k8s"),
    ("dev", "serving", '{"port": 0}', f"{PROJECT}:serving.port must be an integer 1..65535, got 0"),
    ("dev", "serving", '{"healthPath": "health"}', f"{PROJECT}:serving.healthPath must be an HTTP path starting with /, got health"),
    ("dev", "serving", '{"repository": "Estimation Engine"}', f"{PROJECT}:serving.repository must be a registry repository"),
    ("dev", "serving", '{"modelName": "price model"}', f"{PROJECT}:serving.modelName must be an Azure ML model name"),
    ("qa", "serving", '{"cpu": 8}', f"{PROJECT}:serving.cpu must be a number of cores 0.25..4, got 8"),
    ("qa", "serving", '{"memoryGb": "lots"}', f"{PROJECT}:serving.memoryGb must be a number of GB 0.5..16, got lots"),
    ("qa", "healthCheck", '{"attempts": 0}', f"{PROJECT}:healthCheck.attempts must be an integer 1..60, got 0"),
    ("qa", "aci", '{"dnsNameLabelReuse": "Unsecure"}', f"{PROJECT}:aci.dnsNameLabelReuse must be one of TenantReuse, SubscriptionReuse, ResourceGroupReuse, NoReuse, got Unsecure"),
    ("qa", "aci", '{"restartPolicy": "Never"}', f"{PROJECT}:aci.restartPolicy must be one of Always, OnFailure, got Never"),
    ("dev", "aks", '{"minReplicas": 2}', f"{PROJECT}:aks is only read when serving.platform is aks, not aci"),
    ("prod", "aci", '{"restartPolicy": "Always"}', f"{PROJECT}:aci is only read when serving.platform is aci, not aks"),
    ("prod", "aks", '{"userPool": {"minCount": 5, "maxCount": 2}}', f"{PROJECT}:aks.userPool is invalid: maxCount (2) must not be below minCount (5)"),
    ("prod", "aks", prod_aks(minReplicas=4, maxReplicas=3)[key("aks")], f"{PROJECT}:aks is invalid: maxReplicas (3) must not be below minReplicas (4)"),
    ("prod", "aks", '{"systemPool": {"vmSize": "D2"}}', f"{PROJECT}:aks.systemPool.vmSize must be an Azure VM size of 4 or more vCPUs, not B-series, such as Standard_D4ds_v5, got D2"),
    ("prod", "aks", '{"systemPool": {"vmSize": "Standard_B4ms"}}', f"{PROJECT}:aks.systemPool.vmSize must be an Azure VM size of 4 or more vCPUs, not B-series, such as Standard_D4ds_v5, got Standard_B4ms"),
    ("prod", "aks", '{"systemPool": {"minCount": 1}}', f"{PROJECT}:aks.systemPool.minCount must be an integer 2..100 (a system pool keeps two nodes), got 1"),
    ("prod", "aks", '{"existingCluster": {"name": "aks-x"}}', f"{PROJECT}:aks.existingCluster.resourceGroup is required"),
    ("prod", "aks", '{"adminGroupObjectIds": ["admins"]}', f"{PROJECT}:aks.adminGroupObjectIds.0 must be a list of up to 10 Entra ID group object ids (lowercase GUIDs), got admins"),
    ("prod", "aks", '{"namespace": "Prod_NS"}', f"{PROJECT}:aks.namespace must be a Kubernetes namespace (DNS label), got Prod_NS"),
    ("prod", "aks", '{"kubernetesVersion": "latest"}', f"{PROJECT}:aks.kubernetesVersion must be a Kubernetes version 1.33 or later (the engine's pods use user namespaces), such as 1.34, got latest"),
    ("prod", "aks", '{"kubernetesVersion": "1.32.5"}', f"{PROJECT}:aks.kubernetesVersion must be a Kubernetes version 1.33 or later (the engine's pods use user namespaces), such as 1.34, got 1.32.5"),
    ("prod", "aks", '{"tier": "Gold"}', f"{PROJECT}:aks.tier must be one of Free, Standard, Premium, got Gold"),
    ("prod", "aks", '{"minReplicas": 2}', f"{PROJECT}:aks.ingress is required when serving.platform is aks (prod is served over HTTPS only): set it to an object with keys host, certificateName and optionally dnsZoneId"),
    ("prod", "aks", ingress(host="Engine.Digitre.com"), f"{PROJECT}:aks.ingress.host must be a fully qualified lowercase DNS name such as engine.digitre.com, got Engine.Digitre.com"),
    ("prod", "aks", ingress(host="engine"), f"{PROJECT}:aks.ingress.host must be a fully qualified lowercase DNS name such as engine.digitre.com, got engine"),
    ("prod", "aks", ingress(host="https://engine.digitre.com"), f"{PROJECT}:aks.ingress.host must be a fully qualified lowercase DNS name such as engine.digitre.com, got https://engine.digitre.com"),
    ("prod", "aks", ingress(host=None), f"{PROJECT}:aks.ingress.host is required: set it to a fully qualified lowercase DNS name"),
    ("prod", "aks", ingress(certificateName="engine_tls"), f"{PROJECT}:aks.ingress.certificateName must be a Key Vault certificate name in the shared vault: 1-127 letters, digits or -, got engine_tls"),
    ("prod", "aks", ingress(certificateName="engine.tls"), f"{PROJECT}:aks.ingress.certificateName must be a Key Vault certificate name in the shared vault"),
    ("prod", "aks", ingress(certificateName=None), f"{PROJECT}:aks.ingress.certificateName is required"),
    ("prod", "aks", ingress(dnsZoneId="digitre.com"), f"{PROJECT}:aks.ingress.dnsZoneId must be the resource id of a public Azure DNS zone (Microsoft.Network/dnszones) the add-on keeps the host's record in, got digitre.com"),
    ("prod", "aks", ingress(dnsZoneId=ZONE.replace("dnszones", "privateDnsZones")), f"{PROJECT}:aks.ingress.dnsZoneId must be the resource id of a public Azure DNS zone"),
    ("prod", "aks", ingress(dnsZoneId=ZONE.replace("digitre.com", "example.com")), f"{PROJECT}:aks.ingress is invalid: host (engine.digitre.com) must be a name inside the DNS zone example.com of dnsZoneId"),
    ("prod", "aks", ingress(hostname="engine.digitre.com"), f"{PROJECT}:aks.ingress.hostname is not a known key; known keys: host, certificateName, dnsZoneId"),
    ("prod", "aks", '{"ingress": "engine.digitre.com"}', f"{PROJECT}:aks.ingress must be an object with keys host, certificateName and optionally dnsZoneId, got engine.digitre.com"),
    # Replaced by aks.deployers: an old stack file that still sets it is told so.
    ("prod", "aks", '{"deployerPrincipalType": "User"}', f"{PROJECT}:aks.deployerPrincipalType is not a known key; known keys: existingCluster"),
    ("prod", "aks", '{"deployers": [{"objectId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "principalType": "Robot"}]}', f"{PROJECT}:aks.deployers.0.principalType must be one of User, Group, ServicePrincipal, got Robot"),
    ("prod", "aks", '{"deployers": [{"objectId": "alice@digitre.com", "principalType": "User"}]}', f"{PROJECT}:aks.deployers.0.objectId must be an Entra ID object id (a lowercase GUID), got alice@digitre.com"),
    ("prod", "aks", '{"deployers": [{"objectId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"}]}', f"{PROJECT}:aks.deployers.0.principalType is required: set it to one of User, Group, ServicePrincipal"),
    ("prod", "aks", '{"deployers": [{"objectId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "principalType": "User"}, {"objectId": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "principalType": "Group"}]}', f"{PROJECT}:aks.deployers is invalid: objectId 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b is listed more than once (list each deployer once)"),
    ("prod", "aks", '{"accessWait": {"attempts": 5, "intervalSeconds": 10}}', f"{PROJECT}:aks.accessWait is invalid: attempts x intervalSeconds (5 x 10 = 50 s) must be at least 300 s, the time Azure RBAC on AKS may take to apply a new grant"),
    ("prod", "aks", '{"accessWait": {"attempts": 0}}', f"{PROJECT}:aks.accessWait.attempts must be an integer 1..120, got 0"),
]
# fmt: on


# The first case of each stack also runs the whole program.
END_TO_END = {next(case for case in BAD_CONFIG if case[0] == stack) for stack in {case[0] for case in BAD_CONFIG}}


@pytest.mark.parametrize(
    ("stack", "name", "value", "message"), BAD_CONFIG, ids=[f"{s}-{k}-{v}"[:60] for s, k, v, _ in BAD_CONFIG]
)
def test_bad_config_is_rejected_before_any_resource(stack, name, value, message):
    # The message comes from the program's first step, config validation (fast); that nothing
    # is declared when it fails is proven end to end for one case of each stack here, and for
    # every top-level key in tests/test_hostile_config.py.
    error = validate(stack, overrides={key(name): value})
    assert isinstance(error, ConfigError), error
    assert message in str(error)
    if (stack, name, value, message) in END_TO_END:
        run = evaluate(stack, overrides={key(name): value})
        assert isinstance(run.error, ConfigError), run.error
        assert message in str(run.error)
        assert run.resources == []


def test_the_environment_table_is_required_for_shared():
    run = evaluate("shared", overrides={key("environments"): None})
    assert isinstance(run.error, ConfigError)
    assert f"{PROJECT}:environments is required for role shared: set it to a map of 1-10" in str(run.error)
    assert run.resources == []


def test_every_problem_is_reported_at_once():
    run = evaluate("shared", overrides={key("location"): "EU", key("registry"): '{"sku": "Gold"}'})
    assert isinstance(run.error, ConfigError)
    assert len(run.error.problems) == 2
    assert run.resources == []


def test_stack_name_that_cannot_feed_azure_names_is_rejected():
    # The stack name goes into storage and vault names (lowercase alphanumerics, 24 max).
    from components.config.load import load_config

    class FakeConfig:
        def get(self, name):
            return {"role": "shared", "owner": "a@b.c", "costCenter": "cc"}.get(name)

    with pytest.raises(ConfigError, match=r"stack name must be 2-8 lowercase letters or digits .*, got Dev-Alice"):
        load_config(stack="Dev-Alice", config=FakeConfig())  # type: ignore[arg-type]


def test_tags_come_from_config(shared):
    group = shared.named("platform-rg")
    assert group.inputs["tags"] == {
        "project": "digitre-mlops",
        "environment": "shared",
        "managed-by": "pulumi",
        "owner": "ml-platform@digitre.com",
        "cost-center": "digitre-ml",
    }


def test_a_dns_zone_works_with_an_existing_cluster_too(prod_existing):
    # The HTTPS entry keeps the record with its own identity (an ExternalDNS in the release's
    # namespace), not through the cluster's add-on profile: an existing cluster needs no change.
    assert prod_existing.of_type("azure-native:containerservice:ManagedCluster") == []
    release = prod_existing.one("kubernetes:helm.sh/v3:Release")
    assert release.inputs["values"]["gateway"]["dnsZoneResourceIds"] == [ZONE]


def test_dev_and_qa_need_no_ingress(runs):
    # The ingress is required by the serving platform, not by the environment role.
    for stack in ("dev", "qa"):
        config, _ = stack_config(stack)
        assert key("aks") not in config
        assert runs[stack].error is None


@pytest.mark.parametrize("location", ["swedencentral", "belgiumcentral", "westus3"])
def test_a_listed_region_is_accepted(location):
    accepted = validate("shared", overrides={key("location"): location})
    assert not isinstance(accepted, ConfigError), accepted


def test_the_configured_region_is_where_the_resources_go(customised):
    # The customised shared stack's region (tests/support/evaluations.py, CUSTOM_SHARED).
    location = CUSTOM_SHARED["location"]
    assert location not in ("westeurope", stack_config("shared")[0][key("location")])
    run = customised["shared"]
    assert run.named("platform-rg").inputs["location"] == location
    assert {r.inputs["location"] for r in run.azure_resources if "location" in r.inputs} == {location}


def test_booleans_are_yaml_booleans(shared, customised):
    # A nested `lowPriority: false` in Pulumi.shared.yaml reaches the program as JSON false;
    # the customised stack sets it true.
    assert "lowPriority: false" in (ROOT / "Pulumi.shared.yaml").read_text()
    assert CUSTOM_SHARED["amlCompute"]["lowPriority"] is True
    for run, priority in ((shared, "Dedicated"), (customised["shared"], "LowPriority")):
        props = run.one("azure-native:machinelearningservices:Compute").inputs["properties"]["properties"]
        assert props["vmPriority"] == priority


def test_several_environment_problems_are_reported_together():
    run = evaluate("shared", overrides={key("environments"): '{"dev": {}, "qa": {}, "shared": {}}'})
    assert isinstance(run.error, ConfigError)
    assert len(run.error.problems) == 2
    assert run.resources == []


def test_region_list_is_the_learn_page():
    # Every row of Microsoft Learn's "Azure regions list" (2025-03-21 version, 52 rows) plus
    # Belgium Central from the current page; names as its "Programmatic name" column gives them.
    assert len(REGION_DISPLAY_NAMES) == len(set(REGION_DISPLAY_NAMES)) == 53
    assert programmatic_name("Australia Central 2") == "australiacentral2"
    assert programmatic_name("Germany West Central") == "germanywestcentral"
    assert {"westeurope", "northeurope", "swedencentral", "belgiumcentral", "westus3"} <= AZURE_REGIONS
    # Sovereign and canary regions are not the public cloud the stacks target.
    assert not {"chinaeast2", "usgovvirginia", "eastus2euap", "global"} & AZURE_REGIONS


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_never_carry_a_model_version(stack):
    # `pulumi up --config digitre-mlops:modelVersion=<v>` writes the version into
    # Pulumi.<stack>.yaml; committed, it would pin every later deploy to that version.
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    assert f"{PROJECT}:modelVersion" not in (document.get("config") or {})


def test_a_dns_zone_outside_the_environments_own_group_is_refused():
    # The pipelines' identity may assign DNS Zone Contributor in rg-digitre-prod only.
    elsewhere = ZONE.replace("/rg-digitre-prod/", "/rg-dns/")
    run = evaluate("prod", overrides={key("aks"): ingress(dnsZoneId=elsewhere)})
    assert isinstance(run.error, ConfigError), run.error
    assert (
        f"{PROJECT}:aks.ingress.dnsZoneId must be a DNS zone in this environment's resource group rg-digitre-prod, "
        f"the only group where the pipelines' identity may grant the public entry DNS Zone Contributor, got {elsewhere}"
    ) in str(run.error)
    assert run.resources == []
    # Azure resource group names ignore case.
    same = validate(
        "prod", overrides={key("aks"): ingress(dnsZoneId=ZONE.replace("rg-digitre-prod", "RG-Digitre-Prod"))}
    )
    assert not isinstance(same, ConfigError), same
