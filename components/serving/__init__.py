"""Serving the engine: the contract, ACI (dev, qa), AKS with its Helm release and HTTPS entry (prod), the post-deploy check."""
