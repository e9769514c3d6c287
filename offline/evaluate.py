"""Evaluate a stack of this program offline, with Pulumi's mocks and its real stack file.

Used by the tests, the plan and the benchmark: no Azure, no Pulumi CLI, no credentials.
`evaluate()` runs `__main__.py` with the config of `Pulumi.<stack>.yaml` (secure values
replaced by secret placeholders), records every resource the program registers, with its
inputs and resource options, and every resource it reads (stack references), and resolves
the stack outputs.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import runpy
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await
from pydantic import TypeAdapter

from components.config.errors import ConfigError
from components.config.load import load_config
from components.config.shared import DevOpsConfig, EnvironmentConfig
from components.config.stack import EnvironmentStackConfig, SharedStackConfig
from components.devops.pipelines import deployed_environments
from components.serving.image_digest import COMMAND as IMAGE_DIGEST_COMMAND
from components.types import PROJECT

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
# The shared stack is the one environments reference by default; the environments are
# whatever its `environments` config lists.
SHARED = str(EnvironmentStackConfig.model_fields["shared_stack"].default).rsplit("/", 1)[-1]
# The organization name Pulumi's local and blob backends use.
LOCAL_ORGANIZATION = "organization"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000001"
TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
DEPLOYER_OBJECT_ID = "00000000-0000-0000-0000-0000000000b1"

# The input that carries each resource type's physical Azure name.
NAME_INPUTS: dict[str, str] = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:operationalinsights:Workspace": "workspaceName",
    "azure-native:applicationinsights:Component": "resourceName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:storage:StorageAccount": "accountName",
    "azure-native:containerregistry:Registry": "registryName",
    "azure-native:machinelearningservices:Workspace": "workspaceName",
    "azure-native:machinelearningservices:Compute": "computeName",
    "azure-native:managedidentity:UserAssignedIdentity": "resourceName",
    "azure-native:containerinstance:ContainerGroup": "containerGroupName",
    "azure-native:containerservice:ManagedCluster": "resourceName",
    "azure-native:containerservice:AgentPool": "agentPoolName",
    "azure-native:managedidentity:FederatedIdentityCredential": "federatedIdentityCredentialResourceName",
    "azure-native:monitor:DataCollectionRule": "dataCollectionRuleName",
    "azure-native:monitor:DataCollectionRuleAssociation": "associationName",
    "azure-native:keyvault:Secret": "secretName",
    "azure-native:authorization:RoleDefinition": "roleDefinitionId",
}


@dataclass(frozen=True)
class Registration:
    """One resource the program registered, as the engine would have received it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    # Dotted paths of the inputs sent as Pulumi secrets, e.g. "containers.0.environmentVariables.0.secureValue"
    # (a component has no inputs: of the outputs it registered, which its state keeps encrypted).
    secret_paths: frozenset[str] = frozenset()
    depends_on: tuple[str, ...] = ()
    # Outputs the program asked the engine to keep secret in state (`additional_secret_outputs`).
    additional_secret_outputs: tuple[str, ...] = ()
    # Input property paths whose change the engine turns into a replacement (`replace_on_changes`).
    replace_on_changes: tuple[str, ...] = ()
    # The resource whose deletion takes this one along (`deleted_with`), by URN.
    deleted_with: str = ""
    # The provider the resource is managed through, as the engine receives it (`<urn>::<id>`);
    # empty for a component and for a resource on its package's default provider.
    provider: str = ""
    # What the mocks answered: the resource id and its output properties (for a component, the
    # outputs it registered, which is what stack policies see of it).
    id: str = ""
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def is_secret(self, path: str) -> bool:
        """Whether the input at `path` reaches the engine as a secret (itself, or inside a
        secret property: Pulumi marks a whole property secret when any part of it is)."""
        return any(path == p or path.startswith(f"{p}.") for p in self.secret_paths)

    @property
    def physical_name(self) -> str | None:
        key = NAME_INPUTS.get(self.type)
        return None if key is None else self.inputs.get(key)


@dataclass(frozen=True)
class Read:
    """A resource the program read rather than declared: a stack reference, a `get`."""

    type: str
    name: str
    urn: str
    outputs: Mapping[str, Any]


@dataclass
class Evaluation:
    stack: str
    resources: list[Registration] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    error: BaseException | None = None

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        """The resource registered with this Pulumi name."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name}, found {len(found)}")
        return found[0]

    def waits_for(self, resource: Registration, urn: str) -> bool:
        """Whether `resource` is created only after `urn`: it depends on it, or one of its
        ancestors does (the SDK registers a child once its parent's URN resolves, which waits
        for the parent's own dependencies: how a component's `depends_on` reaches its children)."""
        by_urn = {r.urn: r for r in self.resources}
        current: Registration | None = resource
        while current is not None:
            if urn in current.depends_on:
                return True
            current = by_urn.get(current.parent)
        return False

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]

    @property
    def azure_resources(self) -> list[Registration]:
        return [r for r in self.resources if r.type.startswith("azure-native:")]


# What a StackReference reads: another evaluation, or plain outputs.
StackOutputs = Evaluation | Mapping[str, Any]


def stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


def stack_config(stack: str) -> tuple[dict[str, str], set[str]]:
    """The config of `Pulumi.<stack>.yaml` as the engine passes it to the program (the file is
    read every time; its parse is reused while its text is the same)."""
    config, secret_keys = _parsed_config(stack_file(stack).read_text())
    return dict(config), set(secret_keys)


@functools.lru_cache(maxsize=32)
def _parsed_config(text: str) -> tuple[Mapping[str, str], frozenset[str]]:
    """`stack_config` of a stack file's text. Parsing YAML in pure Python is most of what a
    validation costs, and the tests validate the same few files hundreds of times; callers get
    their own copies, so nothing they change reaches the cache."""
    document = yaml.safe_load(text) or {}
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            # The ciphertext needs the stack's passphrase; offline, a placeholder stands in.
            config[key] = f"offline-placeholder-for-{key}"
            secret_keys.add(key)
        else:
            # An object holding a secure value (`pulumi config set --path --secret`) reaches
            # the program decrypted, and the whole key is a secret key.
            plain = _placeholders(value, key)
            if plain != value:
                secret_keys.add(key)
            config[key] = _engine_string(plain)
    return MappingProxyType(config), frozenset(secret_keys)


def _placeholders(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return f"offline-placeholder-for-{path}"
        return {k: _placeholders(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, f"{path}.{i}") for i, v in enumerate(value)]
    return value


def _with_bootstrap_secrets(config: dict[str, str], secret_keys: set[str]) -> None:
    """What a person sets with `pulumi config set --path --secret` at bootstrap, which no
    committed stack file carries in plain text: offline, a placeholder secret stands in
    where the stack's devops object lacks it."""
    key = f"{PROJECT}:devops"
    try:
        devops = json.loads(config[key])
    except (KeyError, ValueError):
        return
    if not isinstance(devops, dict):
        return
    missing = [name for name in DevOpsConfig.BOOTSTRAP_SECRETS if name not in devops]
    if not missing:
        return
    for name in missing:
        devops[name] = f"offline-placeholder-for-{key}.{name}"
    config[key] = json.dumps(devops)
    secret_keys.add(key)


def _engine_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


class AzureMocks(pulumi.runtime.Mocks):
    """Computes the outputs Azure would: ids, names, login servers, identities."""

    def __init__(self, references: Mapping[str, StackOutputs]):
        self.references = references

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            reference = self.references.get(args.inputs["name"], {})
            if isinstance(reference, Evaluation):
                outputs, secrets = dict(reference.outputs), sorted(reference.secret_outputs)
            else:
                outputs, secrets = dict(reference), []
            return args.inputs["name"], {**state, "outputs": outputs, "secretOutputNames": secrets}
        if args.typ.startswith("azuredevops:"):
            return self._azure_devops(args, state)
        key = NAME_INPUTS.get(args.typ)
        name = state.get(key, args.name) if key else args.name
        state["name"] = name
        provider, _, kind = args.typ.removeprefix("azure-native:").partition(":")
        group = state.get("resourceGroupName", name)
        resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/{provider}/{kind}/{name}"
        principal = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id))
        if args.typ == "azure-native:containerregistry:Registry":
            state["loginServer"] = f"{name.lower()}.azurecr.io"
        elif args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state.update(
                principalId=principal, clientId=str(uuid.uuid5(uuid.NAMESPACE_DNS, resource_id)), tenantId=TENANT_ID
            )
        elif "identity" in state and isinstance(state["identity"], dict):
            identity = {**state["identity"], "principalId": principal, "tenantId": TENANT_ID}
            # Inputs list user-assigned identity ids; Azure answers with a map keyed by id.
            if isinstance(identity.get("userAssignedIdentities"), list):
                identity["userAssignedIdentities"] = {i: {} for i in identity["userAssignedIdentities"]}
            state["identity"] = identity
        if args.typ == "azure-native:operationalinsights:Workspace":
            state["customerId"] = str(uuid.uuid5(uuid.NAMESPACE_OID, resource_id))
        if args.typ == "azure-native:containerservice:ManagedCluster":
            state["identityProfile"] = {"kubeletidentity": _kubelet_identity(resource_id)}
            state["oidcIssuerProfile"] = {
                **(state.get("oidcIssuerProfile") or {}),
                "issuerURL": mock_issuer(resource_id),
            }
            # Azure changes a cluster's eTag with every update: here, with every change of its inputs.
            state["eTag"] = mock_etag(args.inputs)
        if args.typ == "azure-native:containerinstance:ContainerGroup":
            label = state["ipAddress"].get("dnsNameLabel", name)
            state["ipAddress"] = {**state["ipAddress"], "fqdn": f"{label}.{state['location']}.azurecontainer.io"}
        if args.typ == "command:local:Command" and state.get("create") == IMAGE_DIGEST_COMMAND:
            # The registry answers a locked tag's digest: one per registry and image.
            env = state.get("environment") or {}
            content = f"{env.get('REGISTRY_NAME')}/{env.get('IMAGE')}".encode()
            state["stdout"] = "sha256:" + hashlib.sha256(content).hexdigest()
        if args.typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {
                "name": state["name"],
                "namespace": state["namespace"],
                "status": "deployed",
                "revision": 1,
            }
        if args.typ == "azure-native:applicationinsights:Component":
            state["instrumentationKey"] = principal
            state["connectionString"] = (
                f"InstrumentationKey={principal};IngestionEndpoint=https://{state['location']}.in.applicationinsights.azure.com/"
            )
        return resource_id, state

    def _azure_devops(self, args: pulumi.runtime.MockResourceArgs, state: dict) -> tuple[str, dict]:
        # Definitions, environments and variable groups have numeric ids; the rest GUIDs.
        numeric = ("BuildDefinition", "Environment", "VariableGroup", "BuildFolder")
        if args.typ.rsplit(":", 1)[1] in numeric:
            resource_id = str(int(uuid.uuid5(uuid.NAMESPACE_URL, args.typ + args.name)) % 9000 + 1000)
        elif args.typ == "azuredevops:index/project:Project":
            # The id a lookup of the same project answers (getProject below).
            resource_id = _guid("project", state["name"])
        else:
            resource_id = _guid(args.typ, args.name)
        if args.typ == "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM":
            state.update(
                workloadIdentityFederationIssuer=f"https://vstoken.dev.azure.com/{_guid('organization', 'org')}",
                workloadIdentityFederationSubject=f"sc://digitre/DigitRE/{state['serviceEndpointName']}",
            )
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
                "clientId": "00000000-0000-0000-0000-0000000000c1",
                "objectId": DEPLOYER_OBJECT_ID,
            }, []
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            kubeconfig = mock_kubeconfig(args.args["resourceName"])
            return {
                "kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]
            }, []
        if args.token == "azure-native:containerservice:getManagedCluster":
            group, name = args.args["resourceGroupName"], args.args["resourceName"]
            resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/containerservice/ManagedCluster/{name}"
            return {
                "id": resource_id,
                "name": name,
                "location": "westeurope",
                "identityProfile": {"kubeletidentity": _kubelet_identity(resource_id)},
                "oidcIssuerProfile": {"enabled": True, "issuerURL": mock_issuer(resource_id)},
                "eTag": mock_etag({"id": resource_id}),
            }, []
        if args.token == "azure-native:operationalinsights:getSharedKeys":
            seed = f"{args.args['resourceGroupName']}/{args.args['workspaceName']}"
            return {"primarySharedKey": f"offline-key-{_guid('la-key', seed)}", "secondarySharedKey": ""}, []
        if args.token == "azuredevops:index/getProject:getProject":
            name = args.args["name"]
            return {"id": _guid("project", name), "projectId": _guid("project", name), "name": name}, []
        if args.token == "azuredevops:index/getGitRepository:getGitRepository":
            name = args.args["name"]
            return {
                "id": _guid("repository", name),
                "name": name,
                "projectId": args.args["projectId"],
                "defaultBranch": "refs/heads/main",
            }, []
        if args.token == "azuredevops:index/getGroup:getGroup":
            name = args.args["name"]
            return {"id": _guid("group", name), "originId": _guid("group-origin", name), "name": name}, []
        if args.token == "azuredevops:index/getIdentityUsers:getIdentityUsers":
            return _identity(args.args["name"]), []
        raise NotImplementedError(f"no offline answer for invoke {args.token}")


def _identity(name: str) -> dict[str, str]:
    """A project's build service answers as Azure DevOps' identity search would: its identity
    descriptor ends with `:Build:<project id>`; any other name is an ordinary user."""
    host = _guid("organization", "org")
    project, marker, _ = name.partition(" Build Service (")
    if marker and name.endswith(")"):
        identifier = f"{host}:Build:{_guid('project', project)}"
        descriptor = f"Microsoft.TeamFoundation.ServiceIdentity;{identifier}"
        subject = "svc." + base64.b64encode(identifier.encode()).decode().rstrip("=")
    else:
        descriptor = f"Microsoft.IdentityModel.Claims.ClaimsIdentity;{host}\\{name}"
        subject = "aad." + base64.b64encode(name.encode()).decode().rstrip("=")
    return {"id": _guid("identity", name), "name": name, "descriptor": descriptor, "subjectDescriptor": subject}


def _guid(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{kind}/{name}"))


def _kubelet_identity(cluster_id: str) -> dict[str, str]:
    return {
        "objectId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster_id}/kubelet")),
        "clientId": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{cluster_id}/kubelet")),
        "resourceId": f"{cluster_id}-agentpool",
    }


def mock_issuer(cluster_id: str) -> str:
    """The shape of an AKS cluster's OIDC issuer URL."""
    return f"https://westeurope.oic.prod-aks.azure.com/{TENANT_ID}/{uuid.uuid5(uuid.NAMESPACE_URL, cluster_id)}/"


def mock_etag(inputs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:32]


def mock_kubeconfig(cluster: str) -> str:
    """The shape of the exec kubeconfig AKS returns for an Entra ID cluster."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": f"https://{cluster}.hcp.westeurope.azmk8s.io:443"}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"clusterUser_{cluster}"}}],
            "current-context": cluster,
            "users": [
                {
                    "name": f"clusterUser_{cluster}",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "kubelogin",
                            "args": [
                                "get-token",
                                "--login",
                                "devicecode",
                                "--server-id",
                                "6dae42f8-4368-4678-94ff-3960e28e3630",
                                "--client-id",
                                "80faf920-1908-4b52-b5ef-a8e7bedfc67a",
                                "--tenant-id",
                                TENANT_ID,
                                "--environment",
                                "AzurePublicCloud",
                            ],
                            "env": None,
                            "interactiveMode": "IfAvailable",
                        }
                    },
                }
            ],
        }
    )


class RecordingMonitor(MockMonitor):
    """A mock monitor that also keeps the resource options the engine would act on."""

    def __init__(self, mocks: AzureMocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.reads: list[Read] = []
        # A component's outputs and the paths of the secret ones, by URN, as it registered them.
        self.component_outputs: dict[str, tuple[dict[str, Any], frozenset[str]]] = {}

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().ReadResource(request)
        state = self.resources[response.urn].state
        outputs = _unwrap_secrets(state, "", set())
        self.reads.append(Read(type=request.type, name=request.name, urn=response.urn, outputs=outputs))
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        secrets: set[str] = set()
        outputs = _unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(request.outputs), "", secrets)
        self.component_outputs[request.urn] = (outputs, frozenset(secrets))
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: set[str] = set()
            inputs = _unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(request.object), "", secrets)
            answered = self.resources[response.urn]
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=inputs,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    secret_paths=frozenset(secrets),
                    depends_on=tuple(sorted(request.dependencies)),  # an unordered set to the engine
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    deleted_with=request.deletedWith,
                    provider=request.provider,
                    id=answered.id or "",
                    outputs=_unwrap_secrets(answered.state, "", set()),
                )
            )
        return response


def _unwrap_secrets(value: Any, path: str, secrets: set[str]) -> Any:
    """The value with secret wrappers removed; the path of each one goes into `secrets`."""
    rpc = pulumi.runtime.rpc
    if rpc.is_rpc_secret(value):
        secrets.add(path)
        return _unwrap_secrets(rpc.unwrap_rpc_secret(value), path, secrets)
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v, f"{path}.{i}" if path else str(i), secrets) for i, v in enumerate(value)]
    return value


def _config_for(
    stack: str, overrides: Mapping[str, str | None] | None, secrets: Iterable[str], bootstrap_secrets: bool
) -> tuple[dict[str, str], set[str]]:
    """The config the engine would hand the program of `stack`, with `overrides` applied."""
    config, secret_keys = stack_config(stack)
    secret_keys |= set(secrets)
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    if bootstrap_secrets:
        _with_bootstrap_secrets(config, secret_keys)
    return config, secret_keys


def validate(
    stack: str, *, overrides: Mapping[str, str | None] | None = None, secrets: Iterable[str] = ()
) -> SharedStackConfig | EnvironmentStackConfig | ConfigError:
    """Only the program's first step: `load_config` on the config `evaluate` would pass, without
    running the program (fast). Returns the validated config, or the error it raised."""
    config, secret_keys = _config_for(stack, overrides, secrets, bootstrap_secrets=True)
    pulumi.runtime.reset_options(project=PROJECT, stack=stack)
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    try:
        return load_config(stack, deployed_to=deployed_environments())
    except ConfigError as error:
        return error


def evaluate(
    stack: str,
    *,
    overrides: Mapping[str, str | None] | None = None,
    references: Mapping[str, StackOutputs] | None = None,
    preview: bool = False,
    main: Path = MAIN,
    secrets: Iterable[str] = (),
    bootstrap_secrets: bool = True,
) -> Evaluation:
    """Run the program for `stack` under mocks. `overrides` sets (or, with None, removes)
    config keys, and `secrets` marks keys as set with `--secret`; `references` are the
    outputs of other stacks, by stack reference name; `bootstrap_secrets=False` leaves out
    the secrets a person sets at bootstrap. An exception the program raises is returned in
    `Evaluation.error`, not raised."""
    config, secret_keys = _config_for(stack, overrides, secrets, bootstrap_secrets)
    mocks = AzureMocks(references or {})
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.reset_options(project=PROJECT, stack=stack)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, organization=LOCAL_ORGANIZATION
    )
    pulumi.runtime.set_all_config(config, sorted(secret_keys))
    # set_mocks installs a finished root stack; the program gets a fresh one, as under the CLI.
    pulumi.runtime.settings.ROOT.set(None)
    result = Evaluation(stack)
    stacks: list[pulumi.Resource | None] = []

    def program() -> None:
        # run_in_stack sets the root stack in its own context; keep a handle to read exports.
        stacks.append(pulumi.runtime.get_root_resource())
        pulumi.runtime.register_stack_transformation(_without_api_version_aliases)
        runpy.run_path(str(main), run_name="__main__")

    try:
        _sync_await(run_in_stack(program))
    except Exception as error:
        result.error = error
    if result.error is None and stacks:
        for key, value in getattr(stacks[0], "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            result.outputs[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                result.secret_outputs.add(key)
    result.resources = [r if r.custom else _with_registered_outputs(r, monitor) for r in monitor.registrations]
    result.reads = list(monitor.reads)
    return result


def _with_registered_outputs(component: Registration, monitor: RecordingMonitor) -> Registration:
    outputs, secrets = monitor.component_outputs.get(component.urn, ({}, frozenset()))
    return dataclasses.replace(component, outputs=outputs, secret_paths=component.secret_paths | secrets)


def _without_api_version_aliases(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """The provider SDKs alias each resource to its type in every former API version (over a
    hundred for a managed cluster), so that the engine follows a type change; the runtime
    turns each alias into URN outputs while registering. Offline nothing reads aliases and
    they were half of an evaluation's time, so they are dropped here. Aliases the program
    declares itself (a rename, a new parent) are kept: those carry more than a type."""
    aliases = args.opts.aliases or []
    kept = [alias for alias in aliases if not _is_api_version_alias(alias, args.type_)]
    if len(kept) == len(aliases):
        return None
    opts = pulumi.ResourceOptions.merge(args.opts, None)
    opts.aliases = kept
    return pulumi.ResourceTransformationResult(args.props, opts)


def _is_api_version_alias(alias: Any, type_: str) -> bool:
    if not isinstance(alias, pulumi.Alias) or not isinstance(alias.type_, str):
        return False
    others = (alias.name, alias.parent, alias.stack, alias.project)
    if any(value is not ... for value in others):
        return False
    package, _, kind = type_.partition(":")
    alias_package, _, alias_kind = alias.type_.partition(":")
    # e.g. azure-native:containerservice/v20240801:ManagedCluster for azure-native:containerservice:ManagedCluster
    return alias_package == package and alias_kind.rsplit(":", 1)[-1] == kind.rsplit(":", 1)[-1] and "/" in alias_kind


def shared_stack_name(stack: str) -> str:
    """The stack reference an environment stack's config points at."""
    config, _ = stack_config(stack)
    return config.get(f"{PROJECT}:sharedStack", EnvironmentStackConfig.model_fields["shared_stack"].default)


def environments() -> tuple[str, ...]:
    """The environment stacks, as the shared stack's `environments` table names them. A value
    that is not a map falls back to the default here; evaluating the shared stack then reports
    it (a missing or broken stack file, likewise)."""
    default: tuple[str, ...] = ()  # the shared stack requires a table
    try:
        config, _ = stack_config(SHARED)
    except FileNotFoundError:
        return _environment_files()
    except yaml.YAMLError:
        return default
    raw = config.get(f"{PROJECT}:environments")
    if raw is None:
        return default
    try:
        table = json.loads(raw)
    except ValueError:
        return default
    return tuple(table) if isinstance(table, dict) else default


def _environment_files() -> tuple[str, ...]:
    """Without a shared stack file: the stack files of role environment."""
    found = []
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue
        if (document.get("config") or {}).get(f"{PROJECT}:role") == "environment":
            found.append(path.name.removeprefix("Pulumi.").removesuffix(".yaml"))
    return tuple(found)


def environment_table() -> dict[str, EnvironmentConfig]:
    """The shared stack's `environments` table, validated as the shared stack validates it
    (empty when the file sets none, which the shared stack refuses)."""
    config, _ = stack_config(SHARED)
    raw = config.get(f"{PROJECT}:environments")
    if raw is None:
        return {}
    table: dict[str, EnvironmentConfig] = TypeAdapter(dict[str, EnvironmentConfig]).validate_python(json.loads(raw))
    return table


# Every stack of this repo: the shared one first, then the environments.
STACKS = (SHARED, *environments())


def shared_stack_file(stack: str) -> str:
    """The local stack an environment's `sharedStack` reference names (its last segment)."""
    return shared_stack_name(stack).rsplit("/", 1)[-1]


def evaluate_all(preview: bool = False) -> dict[str, Evaluation]:
    """Every stack, the environments reading the shared stack's outputs as they would."""
    shared = evaluate(SHARED, preview=preview)
    if shared.error is not None:
        raise shared.error
    runs = {SHARED: shared}
    for stack in STACKS[1:]:
        runs[stack] = evaluate(stack, references={shared_stack_name(stack): shared}, preview=preview)
    return runs
