"""The one place that knows a stack's configuration, a module per job:

- `base`: what every config model shares (a section's key rules, a stack's role)
- `serving`: the serving contract; with `stack_files`, all the build pipeline reads
- `shared`, `environment`: the sections a shared or an environment stack reads
- `stack`: the stack's model, picked by its role and then its serving platform
- `messages`: pydantic's errors as one line naming the key, the value and the rule
- `load`: `load_config()`, which reads the stack's Pulumi config before any resource
- `errors`: `ConfigError`, how the program stops on bad config
- `stack_files`: the environments' `serving` read from the stack files outside Pulumi

Import the module you need: this file imports nothing, so a command reading the stack files
never loads Pulumi nor builds the models it does not use.
"""
