"""The shared ML platform: monitoring, the container registry, the Azure ML workspace and its compute."""
