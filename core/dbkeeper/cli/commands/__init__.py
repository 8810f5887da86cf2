"""Built-in commands, one module each; :data:`dbkeeper.cli.BUILTIN_COMMANDS` maps names to them."""
