"""Secrets end to end: every value that carries a secret is a Pulumi secret wherever it lands
(a resource's inputs, its state, a stack output), in every stack, with and without a model.

The secrets are followed by value, not by where the code puts them: the SendGrid key from
the encrypted config, App Insights' connection string and key, the Log Analytics workspace
key and the AKS kubeconfig as the mocks answer them, and an Azure DevOps token in the
environment of whoever runs `pulumi`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from components.config import PROJECT
from offline.evaluate import SHARED, Evaluation, Registration, evaluate

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
