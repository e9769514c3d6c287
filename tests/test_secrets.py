"""Secrets end to end: every value that carries a secret is a Pulumi secret wherever it lands
(a resource's inputs, its state, a stack output), in every stack, with and without a model.

The secrets are followed by value, not by where the code puts them: the SendGrid key from
the encrypted config, App Insights' connection string and key, the Log Analytics workspace
key and the AKS kubeconfig as the mocks answer them, and an Azure DevOps token in the
environment of whoever runs `pulumi`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.types import PROJECT
from offline.evaluate import ROOT, SHARED, Evaluation, Registration, evaluate
from tests.support.pipeline_jobs import load

PIPELINE_FILES = sorted((ROOT / "pipelines").rglob("*.yml"))

# What the offline evaluation gives each secret (offline/evaluate.py).
SENDGRID_KEY = f"offline-placeholder-for-{PROJECT}:devops.sendgridApiKey"
WORKSPACE_KEY = "offline-key-"  # operationalinsights.getSharedKeys
KUBECONFIG_USER = "clusterUser_"  # listManagedClusterUserCredentials: the kubeconfig's user
DEVOPS_TOKEN = "offline-azure-devops-token-5f1c2d"


def secret_texts(shared: Evaluation) -> tuple[str, ...]:
    appi = shared.one("azure-native:applicationinsights:Component")
    return (
        SENDGRID_KEY,
        WORKSPACE_KEY,
        KUBECONFIG_USER,
        appi.outputs["connectionString"],
        appi.outputs["instrumentationKey"],
    )


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, str):
        yield path, value


def carries(text: str, secrets: tuple[str, ...]) -> bool:
    return any(secret in text for secret in secrets)


def secret_in_state(resource: Registration, path: str) -> bool:
    """Whether the engine encrypts the output at `path`: outputs are secret by top-level
    property, either named in `additional_secret_outputs` or sent in as a secret input."""
    top = path.split(".", 1)[0]
    return top in resource.additional_secret_outputs or any(
        p == top or p.startswith(f"{top}.") for p in resource.secret_paths
    )


def plain_secrets(run: Evaluation, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for resource in run.resources:
        for path, text in leaves(resource.inputs):
            if carries(text, secrets) and not resource.is_secret(path):
                found.append(f"{run.stack}: {resource.type} {resource.name} input {path}")
        for path, text in leaves(dict(resource.outputs)):
            if carries(text, secrets) and not secret_in_state(resource, path):
                found.append(f"{run.stack}: {resource.type} {resource.name} state {path}")
    for key, value in run.outputs.items():
        if any(carries(text, secrets) for _, text in leaves(value)) and key not in run.secret_outputs:
            found.append(f"{run.stack}: stack output {key}")
    return found


def test_every_secret_is_a_pulumi_secret_wherever_it_lands(shared, every_run):
    secrets = secret_texts(shared)
    assert not [problem for run in every_run for problem in plain_secrets(run, secrets)]


def test_the_scan_follows_each_secret_to_where_the_stacks_use_it(shared, every_run):
    # A marker that matched nothing would make the test above pass vacuously.
    secrets = secret_texts(shared)
    for secret in secrets:
        landed = [
            (run.stack, resource.name)
            for run in every_run
            for resource in run.resources
            if any(secret in text for _, text in leaves(resource.inputs))
        ]
        assert landed, f"{secret} reaches no resource"


def test_the_scan_reports_a_secret_sent_in_plain_text(shared):
    leaky = Registration(
        type="t",
        name="leaky",
        urn="u",
        parent="",
        custom=True,
        inputs={"environment": {"KEY": SENDGRID_KEY}},
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        outputs={"connectionString": secret_texts(shared)[3]},
    )
    run = Evaluation("leaky", resources=[leaky], outputs={"key": WORKSPACE_KEY + "x"})
    assert plain_secrets(run, secret_texts(shared)) == [
        "leaky: t leaky input environment.KEY",
        "leaky: t leaky state connectionString",
        "leaky: stack output key",
    ]


def test_the_azure_devops_token_in_the_environment_reaches_no_input_state_or_output(monkeypatch):
    # The provider and the REST commands read the token from the environment of `pulumi up`;
    # the program must never copy it into what the engine stores.
    monkeypatch.setenv("AZDO_PERSONAL_ACCESS_TOKEN", DEVOPS_TOKEN)
    run = evaluate(SHARED)
    assert run.error is None
    texts = [text for r in run.resources for _, text in [*leaves(r.inputs), *leaves(dict(r.outputs))]]
    texts += [text for _, text in leaves(run.outputs)]
    assert texts and not [text for text in texts if DEVOPS_TOKEN in text]


# --- pipeline output ----------------------------------------------------------------------

# Pipeline variables that hold a secret: the Key Vault-linked SendGrid key and the job token.
SECRET_MACROS = ("$(sendgrid-api-key)", "$(System.AccessToken)")
# Trace modes print each command with its expanded arguments, secrets included.
TRACING = re.compile(r"\bset\s+-[a-wyz]*x|\bset\s+-o\s+xtrace\b|\bbash\s+-[a-z]*x\b|\bset\s+-[a-uw-z]*v\b")
# curl's verbose and trace modes print request headers, the Authorization header included.
CURL_VERBOSE = re.compile(r"\bcurl\b[^\n]*\s(-[a-zA-Z]*v[a-zA-Z]*|--verbose|--trace(-ascii)?)\b")
SET_VARIABLE = re.compile(r"##vso\[task\.setvariable ([^\]]*)\]")
SECRET_NAME = re.compile(r"key|token|secret|password|connection", re.I)


@dataclass(frozen=True)
class Script:
    where: str
    text: str
    env: dict[str, str]


def scripts(node: Any, where: str) -> Iterator[Script]:
    """Every script a pipeline file runs: bash and script steps, AzureCLI inline scripts."""
    if isinstance(node, list):
        for item in node:
            yield from scripts(item, where)
    elif isinstance(node, dict):
        env = {str(k): str(v) for k, v in (node.get("env") or {}).items()}
        for key in ("bash", "script", "pwsh", "powershell"):
            if isinstance(node.get(key), str):
                yield Script(f"{where}: {node.get('displayName', key)}", node[key], env)
        inputs = node.get("inputs")
        if isinstance(inputs, dict) and isinstance(inputs.get("inlineScript"), str):
            yield Script(f"{where}: {node.get('displayName', node.get('task'))}", inputs["inlineScript"], env)
        for value in node.values():
            yield from scripts(value, where)


def every_script() -> list[Script]:
    return [s for path in PIPELINE_FILES for s in scripts(load(path), str(path.relative_to(ROOT)))]


def leaks(script: Script) -> list[str]:
    """What in one script could put a secret into the pipeline log."""
    found = []
    secret_env = [name for name, value in script.env.items() if value in SECRET_MACROS]
    if TRACING.search(script.text):
        found.append(f"{script.where}: traces its commands")
    if CURL_VERBOSE.search(script.text):
        found.append(f"{script.where}: curl prints its request headers")
    for line in script.text.splitlines():
        printing = re.match(r"\s*(echo|printf|print\(|cat\b|env\b|printenv\b|set\s*$|declare\s+-p)", line)
        for name in secret_env:
            if printing and re.search(rf"\${{?{name}\b", line):
                found.append(f"{script.where}: prints ${name}")
        for settings in SET_VARIABLE.findall(line):
            variable = re.search(r"variable=([^;\]]+)", settings)
            if variable and SECRET_NAME.search(variable[1]) and "issecret=true" not in settings.lower():
                found.append(f"{script.where}: sets {variable[1]} without issecret=true")
        if printing and any(macro in line for macro in SECRET_MACROS):
            found.append(f"{script.where}: prints a secret macro")
    return found


def test_no_pipeline_script_can_print_a_secret():
    found = every_script()
    assert len(found) >= 10, "the scan found too few scripts to mean anything"
    assert not [leak for script in found for leak in leaks(script)]


@pytest.mark.parametrize(
    "text",
    [
        "set -euxo pipefail\ncurl https://x",
        "set -o xtrace",
        'curl -fsSv -H "Authorization: Bearer $TOKEN" https://x',
        'echo "key is $TOKEN"',
        "printf '%s' \"${TOKEN}\"",
        "echo '##vso[task.setvariable variable=API_KEY]abc'",
    ],
)
def test_the_script_scan_reports_each_way_to_print_a_secret(text):
    assert leaks(Script("test", text, {"TOKEN": "$(System.AccessToken)"}))


def test_the_script_scan_leaves_safe_scripts_alone():
    safe = 'set -euo pipefail\ncurl -fsS -H "Authorization: Bearer $TOKEN" https://x\necho "done"'
    assert not leaks(Script("test", safe, {"TOKEN": "$(System.AccessToken)"}))
    assert not leaks(Script("test", "echo '##vso[task.setvariable variable=MODEL_VERSION]7'", {}))


def test_no_step_hands_the_federated_token_or_debug_logs_to_the_job():
    # addSpnToEnvironment exports the service connection's idToken to the script; system.debug
    # logs every variable's expansion.
    for path in PIPELINE_FILES:
        text = path.read_text()
        assert not re.search(r"addSpnToEnvironment:\s*['\"]?true", text, re.I), path.name
        assert not re.search(r"system\.debug\s*:\s*['\"]?true", text, re.I), path.name
