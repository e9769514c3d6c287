"""Which model an environment serves: from config, else its last deployment, else nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from components.serving.image import image_tag
from tests.support.evaluations import ENVIRONMENTS, MODEL_VERSION, WORKLOAD, deploy, self_reference


def served_image(run) -> str:
    workload = run.one(WORKLOAD[run.stack])
    if run.stack == "prod":
        image = workload.inputs["values"]["image"]
        return f"{image['repository']}:{image['tag']}"
    return workload.inputs["containers"][0]["image"]


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_image_is_the_shared_registry_repository_and_model_tag(served, shared, stack):
    run = served[stack]
    expected = f"{shared.outputs['registryLoginServer']}/estimation-engine:estimation-model-{MODEL_VERSION}"
    assert served_image(run) == expected
    assert run.outputs["image"] == expected
    assert run.outputs["modelVersion"] == MODEL_VERSION
    assert run.outputs["modelVersionSource"] == "config"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_with_no_version_ever_deployed_everything_but_the_workload_is_declared(runs, stack):
    run = runs[stack]
    assert run.of_type(WORKLOAD[stack]) == []
    # No health check and no HTTPS-only proof; prod's cluster access wait and the HTTPS entry's
    # implementation check and GatewayClass wait are infrastructure, not the workload.
    infrastructure = {"aks-access-wait", "https-entry-implementation", "https-entry-gateway-class"}
    assert [r.name for r in run.of_type("command:local:Command") if r.name not in infrastructure] == []
    assert run.outputs["modelVersion"] == ""
    assert run.outputs["modelVersionSource"] == "none"
    assert run.outputs["serving"].startswith("nothing yet")
    assert run.outputs["resourceGroupName"] == f"rg-digitre-{stack}"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_without_a_version_the_last_deployed_one_keeps_serving(served, shared, stack):
    run = deploy(stack, shared, version=None, references={self_reference(stack): served[stack]})
    assert run.error is None, run.error
    assert run.outputs["modelVersion"] == MODEL_VERSION
    assert run.outputs["modelVersionSource"] == "last-deployment"
    # Nothing to roll back: the workload is declared exactly as deployed (the same version
    # evaluated again declares the same workload).
    assert run.one(WORKLOAD[stack]).inputs == served[stack].one(WORKLOAD[stack]).inputs


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_a_version_in_config_wins_over_the_last_deployment(served, served_next, stack):
    # served_next: version 8 in config, the last deployment (served) with MODEL_VERSION.
    run = served_next[stack]
    assert run.outputs["modelVersion"] == "8"
    assert run.outputs["modelVersionSource"] == "config"
    assert served_image(run).endswith(":estimation-model-8")


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_a_new_version_changes_the_image_and_nothing_else(served, served_next, stack):
    before = served[stack].one(WORKLOAD[stack])
    after = served_next[stack].one(WORKLOAD[stack])
    assert served_image(served[stack]).endswith(f":estimation-model-{MODEL_VERSION}")
    assert after.inputs != before.inputs

    def without_image(inputs):
        inputs = dict(inputs)
        if stack == "prod":
            # The tag and the digest resolved for it (tests/test_image_digest.py).
            inputs["values"] = {**inputs["values"], "image": {**inputs["values"]["image"], "tag": None, "digest": None}}
        else:
            inputs["containers"] = [{**inputs["containers"][0], "image": None}]
        return inputs

    assert without_image(after.inputs) == without_image(before.inputs)


def test_a_fixed_name_container_group_is_deleted_before_it_is_replaced(served):
    assert served["dev"].one("azure-native:containerinstance:ContainerGroup").delete_before_replace is True


def test_image_tag_is_model_name_and_version():
    assert image_tag("estimation-model", "12") == "estimation-model-12"
    assert image_tag("Price_Model", "3.1") == "price_model-3.1"


def test_pipelines_get_the_same_image_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "commands.image_tag", "--version", "12"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "estimation-engine:estimation-model-12"
