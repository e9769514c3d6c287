"""Serving the engine: the contract, ACI (dev, qa), AKS with its Helm release and ingress (prod), the post-deploy check."""
