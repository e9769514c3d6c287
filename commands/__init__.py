"""Small commands run on deploy and build machines (by pipelines and by `pulumi up` local commands)."""
