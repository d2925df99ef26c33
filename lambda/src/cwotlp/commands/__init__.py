"""The `cwotlp` command and its subcommands, for use outside Lambda."""
