"""Which resources the stacks protect from deletion, and why every other one may go.

`protect` makes Pulumi refuse to delete a resource (a destroy, a removal from the program, a
replacement) until the flag is taken off in code. It is set where a loss would lose data or
break what other resources, stacks or Azure DevOps are wired to, and nowhere else: a
protected resource also blocks its own replacement, and `pulumi destroy --stack dev` (the
teardown pipeline) must remove everything dev created.

Per role: the shared stack keeps everything that holds data or identity; an environment stack
keeps only prod's cluster and its HTTPS entry's identity. dev and qa hold nothing that the next deploy cannot rebuild from
the registry and the stack file, so neither protects anything.

The components set `protect` themselves; tests/test_lifecycle.py holds every declared
resource to this table, so a new kind of resource cannot arrive without a decision.
"""

from __future__ import annotations

from collections.abc import Mapping

# Resource type -> what its loss would lose. Protected wherever it is declared.
PROTECTED: Mapping[str, str] = {
    "azure-native:resources:ResourceGroup": "the shared group and each environment's: deleting one deletes all inside",
    "azure-native:operationalinsights:Workspace": "every environment's logs (AML, AKS, ACI)",
    "azure-native:applicationinsights:Component": (
        "the telemetry route of the AML workspace and every serving environment (its connection string)"
    ),
    "azure-native:keyvault:Vault": "secrets, the Pulumi secrets key, the ingress certificate",
    "azure-native:storage:StorageAccount": "the AML workspace's data, job snapshots and models",
    "azure-native:containerregistry:Registry": "every serving image",
    "azure-native:machinelearningservices:Workspace": "registered models, runs and datastores",
    "azure-native:managedidentity:UserAssignedIdentity": (
        "a principal others are wired to: the AML workspace runs as one, ACI pulls as one, and "
        "the pipelines sign in as two (their client ids sit in the service connections)"
    ),
    "azure-native:managedidentity:FederatedIdentityCredential": "the only way the pipelines sign in to Azure",
    "azure-native:containerservice:ManagedCluster": "production serving (prod's cluster, and what runs on it)",
    "azuredevops:index/project:Project": "repositories, work items, every pipeline and its history",
    "azuredevops:index/buildDefinition:BuildDefinition": (
        "its runs' history; its id is in the platform variables, permissions and the dashboard"
    ),
    "azuredevops:index/environment:Environment": "its deployment history (which version reached prod, who approved)",
}

# Resource type -> why it may go: nothing in it is lost, and the next `pulumi up` rebuilds it
# from code and config with what depends on it.
MAY_GO: Mapping[str, str] = {
    "azure-native:machinelearningservices:Compute": (
        "scales to zero and holds no data; it is replaced whenever its VM size or priority changes"
    ),
    "azure-native:authorization:RoleAssignment": "a grant, rebuilt from code; replaced when its principal or scope changes",
    "azure-native:authorization:RoleDefinition": "a custom role rebuilt from code",
    "azure-native:keyvault:Secret": "written from the encrypted stack config",
    "azure-native:containerinstance:ContainerGroup": "dev/qa serving: stateless, redeployed from the registry",
    "azure-native:containerservice:AgentPool": "prod's engine nodes: stateless, rebuilt (and replaced on a new VM size)",
    "azure-native:monitor:DataCollectionRule": "Container Insights settings; the data is in Log Analytics",
    "azure-native:monitor:DataCollectionRuleAssociation": "links the cluster to its rule",
    "kubernetes:helm.sh/v3:Release": "the engine's release, reinstalled from the chart and the registry",
    "command:local:Command": "a check or a REST call, run again from code",
    "azuredevops:index/buildFolder:BuildFolder": "a folder; the definitions in it are protected",
    "azuredevops:index/branchPolicyBuildValidation:BranchPolicyBuildValidation": "a policy rebuilt from code",
    "azuredevops:index/buildDefinitionPermissions:BuildDefinitionPermissions": "permissions rebuilt from code",
    "azuredevops:index/checkApproval:CheckApproval": "a check rebuilt from code",
    "azuredevops:index/checkBranchControl:CheckBranchControl": "a check rebuilt from code",
    "azuredevops:index/checkExclusiveLock:CheckExclusiveLock": "a check rebuilt from code",
    "azuredevops:index/dashboard:Dashboard": "its widgets are rebuilt from code",
    "azuredevops:index/gitPermissions:GitPermissions": "permissions rebuilt from code",
    "azuredevops:index/pipelineAuthorization:PipelineAuthorization": "an authorization rebuilt from code",
    "azuredevops:index/projectPipelineSettings:ProjectPipelineSettings": "settings rebuilt from code",
    "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM": (
        "pipelines name it, not its id; the identity and credential it signs in with are protected"
    ),
    "azuredevops:index/variableGroup:VariableGroup": "pipelines name it; its values come from code and the vault",
}
