"""The offline plan: what a stack will create, for a person to read, without Azure credentials.

    python -m offline.plan <stack> [--model-version V] [--diagram FILE]
    python -m offline.plan --docs        # regenerate docs/architecture.md and docs/configuration.md

Evaluates the stack under Pulumi mocks with its real `Pulumi.<stack>.yaml` (an environment
reads the outputs of the shared stack, evaluated once in the same process), then prints the
stack's outputs, a resource count, each resource by component with its location, tags,
sizes and the security settings that matter, and a Mermaid diagram at the level of
components whose edges say what flows between them. Bad config prints its one-line error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components import roles
from components.config.errors import ConfigError
from components.devops import pipelines
from components.types import PROJECT
from offline.configuration import CONFIG_DOCS, render_configuration
from offline.evaluate import (
    ROOT,
    SHARED,
    Evaluation,
    Read,
    Registration,
    environments,
    evaluate,
    shared_stack_file,
    shared_stack_name,
    stack_file,
)

DOCS = ROOT / "docs" / "architecture.md"
DOCS_MODEL_VERSION = "1"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass(frozen=True)
class Setting:
    """One input worth seeing in a review: where it is, and what to call it."""

    path: str
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.path.rsplit(".", 1)[-1]


def _settings(*specs: str | tuple[str, str]) -> tuple[Setting, ...]:
    return tuple(Setting(spec) if isinstance(spec, str) else Setting(*spec) for spec in specs)


# What sets a resource's size and cost, per type (dotted input paths).
SIZES: dict[str, tuple[Setting, ...]] = {
    "azure-native:containerregistry:Registry": _settings(("sku.name", "sku")),
    "azure-native:storage:StorageAccount": _settings(("sku.name", "sku"), "kind"),
    "azure-native:keyvault:Vault": _settings(("properties.sku.name", "sku")),
    "azure-native:operationalinsights:Workspace": _settings(("sku.name", "sku"), "retentionInDays"),
    "azure-native:machinelearningservices:Workspace": _settings(("sku.name", "sku")),
    "azure-native:machinelearningservices:Compute": _settings(
        "properties.properties.vmSize",
        "properties.properties.vmPriority",
        "properties.properties.scaleSettings.minNodeCount",
        "properties.properties.scaleSettings.maxNodeCount",
        ("properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown", "idleBeforeScaleDown"),
    ),
    "azure-native:containerinstance:ContainerGroup": _settings(
        "sku",
        ("containers.0.resources.requests.cpu", "cpu"),
        ("containers.0.resources.requests.memoryInGB", "memoryInGB"),
    ),
    "azure-native:containerservice:ManagedCluster": _settings(
        ("sku.tier", "tier"),
        ("kubernetesVersion", "kubernetesVersion"),
        ("agentPoolProfiles.0.vmSize", "systemPool.vmSize"),
        ("agentPoolProfiles.0.minCount", "systemPool.minCount"),
        ("agentPoolProfiles.0.maxCount", "systemPool.maxCount"),
    ),
    "azure-native:containerservice:AgentPool": _settings("mode", "vmSize", "minCount", "maxCount"),
    "kubernetes:helm.sh/v3:Release": _settings(
        ("values.autoscaling.minReplicas", "minReplicas"),
        ("values.autoscaling.maxReplicas", "maxReplicas"),
        ("values.resources.requests.cpu", "cpu"),
        ("values.resources.requests.memory", "memory"),
    ),
}

# The settings that decide who can reach or change what, per type.
SECURITY: dict[str, tuple[Setting, ...]] = {
    "azure-native:containerregistry:Registry": _settings(
        "adminUserEnabled", "anonymousPullEnabled", "publicNetworkAccess"
    ),
    "azure-native:storage:StorageAccount": _settings(
        "minimumTlsVersion", "enableHttpsTrafficOnly", "allowBlobPublicAccess", "allowCrossTenantReplication"
    ),
    "azure-native:keyvault:Vault": _settings(
        "properties.enableRbacAuthorization",
        "properties.enableSoftDelete",
        "properties.softDeleteRetentionInDays",
        "properties.enablePurgeProtection",
        "properties.publicNetworkAccess",
    ),
    "azure-native:applicationinsights:Component": _settings(
        "ingestionMode", "publicNetworkAccessForIngestion", "publicNetworkAccessForQuery"
    ),
    "azure-native:machinelearningservices:Workspace": _settings(("identity.type", "identity")),
    "azure-native:machinelearningservices:Compute": _settings(
        ("identity.type", "identity"),
        "properties.disableLocalAuth",
        "properties.properties.remoteLoginPortPublicAccess",
        "properties.properties.enableNodePublicIp",
    ),
    "azure-native:authorization:RoleAssignment": _settings(("roleDefinitionId", "role"), "scope", "principalType"),
    "azure-native:managedidentity:FederatedIdentityCredential": _settings("issuer", "subject", "audiences"),
    "azure-native:containerinstance:ContainerGroup": _settings(
        ("identity.type", "identity"),
        ("ipAddress.type", "ipAddress"),
        ("ipAddress.autoGeneratedDomainNameLabelScope", "dnsNameLabelReuse"),
    ),
    "azure-native:containerservice:ManagedCluster": _settings(
        ("aadProfile.enableAzureRBAC", "entraIdAzureRbac"),
        "disableLocalAccounts",
        ("networkProfile.networkPolicy", "networkPolicy"),
        ("securityProfile.workloadIdentity.enabled", "workloadIdentity"),
        ("oidcIssuerProfile.enabled", "oidcIssuer"),
        ("autoUpgradeProfile.upgradeChannel", "upgradeChannel"),
        ("autoUpgradeProfile.nodeOSUpgradeChannel", "nodeOSUpgradeChannel"),
        ("ingressProfile.webAppRouting.enabled", "appRoutingAddOn"),
    ),
    "kubernetes:helm.sh/v3:Release": _settings(("values.service.type", "service"), "namespace"),
    "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM": _settings(
        "serviceEndpointName", ("serviceEndpointAuthenticationScheme", "authentication")
    ),
    "azuredevops:index/checkApproval:CheckApproval": _settings(
        "requesterCanApprove", "minimumRequiredApprovers", ("timeout", "timeoutMinutes")
    ),
    "azuredevops:index/checkBranchControl:CheckBranchControl": _settings("allowedBranches", "verifyBranchProtection"),
    "azuredevops:index/variableGroup:VariableGroup": _settings("allowAccess"),
    "azuredevops:index/branchPolicyBuildValidation:BranchPolicyBuildValidation": _settings("blocking"),
    "azuredevops:index/pipelineAuthorization:PipelineAuthorization": _settings(("type", "authorizes")),
    "azuredevops:index/projectPipelineSettings:ProjectPipelineSettings": _settings(
        "enforceJobScope", "enforceSettableVar", "enforceReferencedRepoScopedToken", "statusBadgesArePrivate"
    ),
}

# What a component says of itself (the outputs it registers) that a review should see, per type token.
COMPONENTS: dict[str, tuple[Setting, ...]] = {
    "digitre:serving:HttpsEntry": _settings(
        "baseUrl", "gatewayClassName", "listeners", "publicPorts", "httpsOnlyProven"
    ),
}

# What a resource runs or deploys, per type.
RUNS: dict[str, tuple[Setting, ...]] = {
    "azure-native:containerinstance:ContainerGroup": _settings(("containers.0.image", "image")),
    "kubernetes:helm.sh/v3:Release": _settings("chart", ("values.image.tag", "image.tag"), "atomic", "timeout"),
    "command:local:Command": _settings("create"),
    "azuredevops:index/buildDefinition:BuildDefinition": _settings(("repository.ymlPath", "yaml")),
    "azuredevops:index/branchPolicyBuildValidation:BranchPolicyBuildValidation": _settings(
        ("settings.displayName", "pipeline")
    ),
}


class PlanError(Exception):
    """A stack that cannot be planned, said in one line (bad config, no shared stack)."""


# --- evaluating ------------------------------------------------------------------------


def known_stacks() -> tuple[str, ...]:
    return (SHARED, *environments())


def run_stack(stack: str, model_version: str | None = None, shared: Evaluation | None = None) -> Evaluation:
    """Evaluate `stack`; an environment reads the outputs of `shared` (evaluated here once
    when not given). Raises PlanError, in one line, when either does not evaluate."""
    try:
        return _run_stack(stack, model_version, shared)
    except yaml.YAMLError as error:
        raise PlanError(f"stack {stack}: a stack file is not YAML: {' '.join(str(error).split())}") from None


def _run_stack(stack: str, model_version: str | None, shared: Evaluation | None) -> Evaluation:
    if stack not in known_stacks():
        raise PlanError(
            f"no stack {stack!r}: the stacks are {', '.join(known_stacks())} "
            f"({PROJECT}:environments in Pulumi.{SHARED}.yaml names the environments)"
        )
    if not stack_file(stack).exists():
        raise PlanError(f"stack {stack}: no {stack_file(stack).name} in {ROOT}")
    overrides = {} if model_version is None else {f"{PROJECT}:modelVersion": model_version}
    if stack == SHARED:
        return _checked(evaluate(stack, overrides=overrides))
    reference = shared_stack_name(stack)
    source = shared_stack_file(stack)
    if not stack_file(source).exists():
        raise PlanError(
            f"stack {stack} reads the shared stack {reference} ({PROJECT}:sharedStack), "
            f"but there is no {stack_file(source).name} to evaluate it from"
        )
    shared = evaluate(source) if shared is None else shared
    if shared.error is not None:
        raise PlanError(
            f"stack {stack} reads stack {source} ({reference}), which does not evaluate: {one_line(shared.error)}"
        )
    return _checked(evaluate(stack, overrides=overrides, references={reference: shared}))


def _checked(run: Evaluation) -> Evaluation:
    if run.error is not None:
        raise PlanError(f"stack {run.stack}: {one_line(run.error)}")
    return run


def one_line(error: BaseException) -> str:
    """The error as one line: a config error's problems joined, others their message."""
    if isinstance(error, ConfigError):
        return "invalid configuration: " + "; ".join(error.problems)
    text = " ".join(str(error).split())
    return text if isinstance(error, pulumi.RunError | ValueError) else f"{type(error).__name__}: {text}"


# --- formatting values -----------------------------------------------------------------


def _lookup(inputs: Any, path: str) -> Any:
    node = inputs
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def show(value: Any, short: bool = True) -> str:
    """A value as a person writes it: 2 not 2.0, true not True; `short`, an Azure id by its
    last segment (a role by its name)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(show(item, short) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {show(item, short)}" for key, item in value.items()) + "}"
    text = str(value)
    if short and text.startswith("/subscriptions/"):
        last = text.rsplit("/", 1)[1]
        return roles.ROLE_NAMES.get(last, last)
    return text


def _kind(type_: str) -> str:
    if type_.startswith("pulumi:providers:"):
        return f"{type_.rsplit(':', 1)[-1]} provider"
    return type_.rsplit(":", 1)[-1]


def _provider(type_: str) -> str:
    package = type_.split(":", 1)[0]
    names = {
        "azure-native": "Azure",
        "azuredevops": "Azure DevOps",
        "kubernetes": "Kubernetes",
        "command": "local command",
    }
    return names.get(package, package)


def _display_name(resource: Registration) -> str:
    return resource.physical_name or str(resource.inputs.get("name") or resource.name)


# --- the text plan ---------------------------------------------------------------------


def outputs(run: Evaluation) -> list[str]:
    """The stack outputs, secrets masked."""
    if not run.outputs:
        return ["  (none)"]
    width = max(len(key) for key in run.outputs)
    lines = []
    for key, value in run.outputs.items():
        text = "[secret]" if key in run.secret_outputs else ("(empty)" if value == "" else show(value, short=False))
        lines.append(f"  {key:<{width}}  {text}")
    return lines


def common_tags(run: Evaluation) -> dict[str, str]:
    """The tags most resources of the stack carry."""
    tagged = [
        json.dumps(r.inputs["tags"], sort_keys=True) for r in run.resources if isinstance(r.inputs.get("tags"), dict)
    ]
    if not tagged:
        return {}
    return dict(json.loads(Counter(tagged).most_common(1)[0][0]))


def _tags_line(resource: Registration, common: Mapping[str, str]) -> str | None:
    tags = resource.inputs.get("tags")
    if not isinstance(tags, dict):
        return None
    differing = [f"{k}={v}" for k, v in sorted(tags.items()) if common.get(k) != v]
    missing = [k for k in sorted(common) if k not in tags]
    if not differing and not missing:
        return "the stack's tags"
    parts = ["the stack's tags" if set(tags) & set(common) else "", *differing, *(f"no {k}" for k in missing)]
    return ", ".join(part for part in parts if part)


def _settings_line(resource: Registration, settings: Iterable[Setting], outputs: bool = False) -> str:
    # Pulumi marks a whole property secret when any part of it is (an ACI container with one
    # secure variable): the settings listed here are never that part, and tests check that no
    # secret value reaches the plan.
    shown = []
    for setting in settings:
        value = _lookup(resource.outputs if outputs else resource.inputs, setting.path)
        if value is not None:
            shown.append(f"{setting.name}={show(value)}")
    return ", ".join(shown)


def describe(resource: Registration, common: Mapping[str, str]) -> list[str]:
    """A resource as a few lines: what and which, where, tags, size, security."""
    flags = [flag for flag, on in (("protected", resource.protect), ("secret inputs", resource.secret_paths)) if on]
    head = f"{_kind(resource.type)} {_display_name(resource)}" + "".join(f" [{flag}]" for flag in flags)
    lines = [f"    {head}"]
    group, location = resource.inputs.get("resourceGroupName"), resource.inputs.get("location")
    where = ", ".join(str(part) for part in (group, location) if part)
    details = [
        ("where", where),
        ("tags", _tags_line(resource, common)),
        ("size", _settings_line(resource, SIZES.get(resource.type, ()))),
        ("security", _settings_line(resource, SECURITY.get(resource.type, ()))),
        ("runs", _settings_line(resource, RUNS.get(resource.type, ()))),
    ]
    lines += [f"      {label}: {text}" for label, text in details if text]
    return lines


def _top_component(resource: Registration, components: Mapping[str, Registration]) -> Registration | None:
    """The outermost component the resource belongs to (children fold into it)."""
    found = None
    parent = resource.parent
    while parent in components:
        found = components[parent]
        parent = found.parent
    return found


def _groups(run: Evaluation) -> list[tuple[str, Registration | None, list[Registration]]]:
    """Resources by top-level component (with the component); outside any component, by type."""
    components = {r.urn: r for r in run.resources if not r.custom}
    grouped: dict[str, tuple[Registration | None, list[Registration]]] = {}
    for resource in sorted((r for r in run.resources if r.custom), key=lambda r: (r.type, _display_name(r), r.urn)):
        top = _top_component(resource, components)
        key = f"{top.name} ({top.type})" if top else f"outside any component: {_kind(resource.type)}"
        grouped.setdefault(key, (top, []))[1].append(resource)
    ordered = sorted(grouped.items(), key=lambda item: (item[0].startswith("outside"), item[0]))
    return [(title, top, members) for title, (top, members) in ordered]


def count(run: Evaluation) -> str:
    """How many resources, by provider, and what the stack reads."""
    declared = [r for r in run.resources if r.custom]
    by_provider = Counter(_provider(r.type) for r in declared if not r.type.startswith("pulumi:providers:"))
    providers = sum(1 for r in declared if r.type.startswith("pulumi:providers:"))
    parts = [f"{n} {name}" for name, n in sorted(by_provider.items())]
    if providers:
        parts.append(f"{providers} provider{'s' if providers > 1 else ''}")
    components = sum(1 for r in run.resources if not r.custom)
    text = f"{len(declared)} resources" + (f" ({', '.join(parts)})" if parts else "")
    text += f" in {components} components" if components else ""
    reads = sorted(_read_label(read) for read in run.reads)
    return text + (f"; reads {', '.join(reads)}" if reads else "")


def _read_label(read: Read) -> str:
    if read.type == STACK_REFERENCE:
        return f"stack {read.outputs.get('name', read.name)} ({read.name})"
    return f"{_kind(read.type)} {read.name}"


def report(run: Evaluation, model_version: str | None = None) -> list[str]:
    """The whole plan of one stack, as text."""
    version = f", model version {model_version}" if model_version else ""
    lines = [f"Stack {run.stack}{version}, evaluated offline with its Pulumi.{run.stack}.yaml", "", "Outputs"]
    lines += outputs(run)
    lines += ["", f"Resources: {count(run)}"]
    common = common_tags(run)
    if common:
        lines.append("Tags unless said otherwise: " + ", ".join(f"{k}={v}" for k, v in sorted(common.items())))
    for title, top, members in _groups(run):
        lines += ["", f"  {title}"]
        said = _settings_line(top, COMPONENTS.get(top.type, ()), outputs=True) if top else ""
        if said:
            lines.append(f"    says: {said}")
        for resource in members:
            lines += describe(resource, common)
    return lines


def inventory(run: Evaluation) -> list[str]:
    """One line per resource: type, name, and its size and security settings."""
    lines = []
    for resource in sorted((r for r in run.resources if r.custom), key=lambda r: (r.type, _display_name(r), r.urn)):
        tables = (SIZES, SECURITY, RUNS)
        settings = _settings_line(resource, [s for table in tables for s in table.get(resource.type, ())])
        flags = [flag for flag, on in (("protected", resource.protect), ("secret inputs", resource.secret_paths)) if on]
        parts = [resource.type, _display_name(resource), settings, *(f"[{flag}]" for flag in flags)]
        lines.append(" ".join(part for part in parts if part))
    return lines


# --- the diagram -----------------------------------------------------------------------


def _label(text: str) -> str:
    return re.sub(r'["<>|]', "", text)


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}" if path else str(index))
    else:
        yield path, value


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _distinctive(value: str) -> bool:
    # A region, a number or a flag would match by chance; ids, names and URLs do not.
    return len(value) >= 12 or any(ch in value for ch in "/.:-")


def _offered(source: Registration | Read) -> dict[str, str]:
    """What a resource hands to others: its id, its name, and what Azure computes for it."""
    if isinstance(source, Read):
        stack_outputs = source.outputs.get("outputs", {}) if source.type == STACK_REFERENCE else source.outputs
        return {
            path.split(".", 1)[0]: text
            for path, value in _leaves(stack_outputs)
            if (text := _text(value)) and _distinctive(text)
        }
    offered = {"id": source.id} if source.id else {}
    name = source.physical_name
    if name:
        offered["name"] = name
    for path, value in _leaves(source.outputs):
        text = _text(value)
        if text and _lookup(source.inputs, path) is None and _distinctive(text):
            offered[path] = text
    return offered


def _flows(target: Registration, source: Registration | Read) -> set[str]:
    """What `target` takes from `source`: a role it grants on it, or the outputs it uses."""
    if target.type == "azure-native:authorization:RoleAssignment":
        role = show(target.inputs.get("roleDefinitionId", ""))
        return {f"{role} role"}
    # Only whole values count: a value found inside a longer one (a tag inside an image
    # reference) is as often chance as flow.
    offered = _offered(source)
    given = {text: key for key, text in offered.items()}
    used = {given[text] for _, value in _leaves(target.inputs) if (text := _text(value)) in given}
    return used if isinstance(source, Read) else {f"{_kind(source.type)} {key}" for key in used}


def _unnamed_flow(source: Registration | Read) -> str:
    """The label of an edge along which no value could be named: an ordering, or a read
    whose values the program reshapes before use."""
    return f"{_kind(source.type)} outputs" if isinstance(source, Read) else f"after {_kind(source.type)}"


@dataclass
class _Node:
    id: str
    title: str
    members: list[Registration]
    component: bool


def diagram(run: Evaluation) -> str:
    """A Mermaid flowchart of components: each component one node (its resources folded in),
    resources outside components one node per type, what the stack reads outside it; an
    edge goes from what provides to what uses it, labelled with what flows."""
    components = {r.urn: r for r in run.resources if not r.custom}
    nodes: dict[str, _Node] = {}
    owner: dict[str, str] = {}
    for resource in sorted((r for r in run.resources if r.custom), key=lambda r: r.urn):
        if resource.type.startswith("pulumi:providers:") and resource.parent not in components:
            continue  # a provider on its own carries nothing worth a box
        top = _top_component(resource, components)
        key = top.urn if top else resource.type
        title = f"{top.name}<br/><i>{_kind(top.type)}</i>" if top else f"<i>{_kind(resource.type)}</i>"
        nodes.setdefault(key, _Node("", title, [], top is not None)).members.append(resource)
        owner[resource.urn] = key
    reads = {read.urn: read for read in run.reads}
    for index, key in enumerate(sorted(nodes, key=lambda k: nodes[k].title)):
        nodes[key].id = f"c{index}"
    read_ids = {urn: f"x{index}" for index, urn in enumerate(sorted(reads))}

    flows: dict[tuple[str, str], set[str]] = {}
    sources: dict[tuple[str, str], Registration | Read] = {}
    # Sorted: registration and dependency order vary between runs, the document must not.
    for resource in sorted(run.resources, key=lambda r: r.urn):
        if resource.urn not in owner:
            continue
        target = nodes[owner[resource.urn]].id
        for dependency in sorted(resource.depends_on):
            source: Registration | Read | None = None
            if dependency in owner and owner[dependency] != owner[resource.urn]:
                source = next(r for r in run.resources if r.urn == dependency)
                source_id = nodes[owner[dependency]].id
            elif dependency in reads:
                source, source_id = reads[dependency], read_ids[dependency]
            if source is not None:
                flows.setdefault((source_id, target), set()).update(_flows(resource, source))
                sources.setdefault((source_id, target), source)

    lines = ["flowchart LR"]
    for urn, read in sorted(reads.items()):
        lines.append(f'  {read_ids[urn]}[("{_label(_read_label(read))}<br/><i>read</i>")]')
    lines.append(f'  subgraph stack["stack {run.stack}"]')
    if not nodes:
        lines.append('    empty["no resources declared"]')
    for node in sorted(nodes.values(), key=lambda n: _order(n.id)):
        lines.append(f'    {node.id}["{node.title}<br/>{_summary(node.members, node.component)}"]')
    lines.append("  end")
    for read_id in read_ids.values():
        if not any(source == read_id for source, _ in flows):
            lines.append(f"  {read_id} -.-> stack")
    for edge, what in sorted(flows.items(), key=lambda item: (_order(item[0][0]), _order(item[0][1]))):
        label = _edge_label(what) if what else _unnamed_flow(sources[edge])
        lines.append(f'  {edge[0]} -->|"{_label(label)}"| {edge[1]}')
    return "\n".join(lines) + "\n"


def _order(node_id: str) -> tuple[str, int]:
    return node_id[0], int(node_id[1:])


def _summary(members: Sequence[Registration], component: bool) -> str:
    """What a node holds: named resources by name, the rest counted by kind. A node of
    resources outside components holds one kind: their names say enough."""
    if not component:
        return "<br/>".join(_label(_display_name(r)) for r in members)
    named = [f"{_kind(r.type)} {r.physical_name}" for r in members if r.physical_name]
    counted = Counter(_kind(r.type) for r in members if not r.physical_name)
    parts = named + [f"{n} {kind}" if n > 1 else kind for kind, n in sorted(counted.items())]
    parts = [_label(part) for part in parts]
    return "<br/>".join(parts) if len(parts) <= 4 else "<br/>".join([*parts[:3], f"and {len(parts) - 3} more"])


def _edge_label(what: set[str]) -> str:
    items = sorted(what)
    return ", ".join(items) if len(items) <= 5 else ", ".join([*items[:4], f"and {len(items) - 4} more"])


# --- the pipelines and the docs --------------------------------------------------------


def pipeline_flow() -> str:
    """The pipelines and what starts each, from components/devops/pipelines.py."""
    ids = {p.name: f"p{i}" for i, p in enumerate(pipelines.PIPELINES)}
    lines = ["flowchart TD"]
    for pipeline in pipelines.PIPELINES:
        stacks = f"<br/>stacks: {', '.join(pipeline.stacks)}" if pipeline.stacks else ""
        lines.append(f'  {ids[pipeline.name]}["{_label(pipeline.name)}<br/>{_label(pipeline.summary)}{stacks}"]')
    for pipeline in pipelines.PIPELINES:
        target = ids[pipeline.name]
        if pipeline.repository_trigger:
            push = pipeline.repository_trigger
            lines.append(f'  {target}_repo(["push to {", ".join(push.branches)} of {push.repository}"]) --> {target}')
        if pipeline.completion_trigger:
            done = pipeline.completion_trigger
            tags = f", tagged {', '.join(done.tags)}" if done.tags else ""
            lines.append(f'  {ids[done.pipeline]} -->|"completes on {", ".join(done.branches)}{tags}"| {target}')
        if pipeline.queued_by:
            queued = pipeline.queued_by
            branch = pipelines.short_branch(queued.branch)
            lines.append(f'  {ids[queued.pipeline]} -->|"succeeds, queues it on {branch}"| {target}')
        if pipeline.pull_request_validation:
            lines.append(f'  {target}_pr(["pull request to main of {pipelines.PLATFORM_REPOSITORY}"]) --> {target}')
        if pipeline.schedule:
            when = pipeline.schedule
            always = ", also when nothing changed" if when.always else ""
            lines.append(
                f'  {target}_schedule(["schedule {when.cron} UTC on {", ".join(when.branches)}{always}"]) --> {target}'
            )
        if pipeline.manual_only:
            lines.append(f'  {target}_manual(["by hand"]) --> {target}')
    return "\n".join(lines) + "\n"


def render_docs(shared: Evaluation | None = None) -> str:
    """docs/architecture.md: the pipeline flow, then each stack's diagram and plan.
    `shared` is the shared stack's evaluation when the caller has one already."""
    parts = [
        "# Architecture",
        "",
        "Generated by `python -m offline.plan --docs` from the stacks evaluated offline under",
        "Pulumi mocks with their real `Pulumi.<stack>.yaml` (environments shown serving model",
        f"version {DOCS_MODEL_VERSION}), and from `components/devops/pipelines.py`. Do not edit by hand:",
        "a test fails when this file is stale.",
        "",
        "## Pipelines",
        "",
        "```mermaid",
        pipeline_flow().rstrip(),
        "```",
    ]
    shared = run_stack(SHARED) if shared is None else _checked(shared)
    for stack in known_stacks():
        run = shared if stack == SHARED else run_stack(stack, DOCS_MODEL_VERSION, shared)
        parts += [
            "",
            f"## Stack `{stack}`",
            "",
            f"{count(run)}.",
            "",
            "```mermaid",
            diagram(run).rstrip(),
            "```",
            "",
            "<details><summary>Plan</summary>",
            "",
            "```text",
            *report(run, None if stack == SHARED else DOCS_MODEL_VERSION),
            "```",
            "",
            "</details>",
        ]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", help=f"one of {', '.join(known_stacks())}")
    parser.add_argument("--model-version", help="evaluate an environment as a deploy of this model version")
    parser.add_argument("--diagram", type=Path, help="where to write the Mermaid diagram (default: print it)")
    parser.add_argument(
        "--docs",
        action="store_true",
        help=f"regenerate {DOCS.relative_to(ROOT)} and {CONFIG_DOCS.relative_to(ROOT)}",
    )
    args = parser.parse_args(argv)
    if not args.docs and args.stack is None:
        parser.error("give a stack, or --docs")
    try:
        if args.docs:
            DOCS.parent.mkdir(exist_ok=True)
            DOCS.write_text(render_docs())
            CONFIG_DOCS.write_text(render_configuration())
            print(f"wrote {DOCS.relative_to(ROOT)} and {CONFIG_DOCS.relative_to(ROOT)}")
            return 0
        run = run_stack(args.stack, args.model_version)
    except PlanError as error:
        print(f"plan: {error}", file=sys.stderr)
        return 1
    print("\n".join(report(run, args.model_version)))
    chart = diagram(run)
    if args.diagram:
        args.diagram.write_text(f"```mermaid\n{chart}```\n")
        print(f"\nwrote the diagram to {args.diagram}")
    else:
        print(f"\n```mermaid\n{chart}```")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
