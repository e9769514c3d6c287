"""The Azure DevOps side of the shared stack: pipelines, their identity, environments, permissions, dashboard."""
