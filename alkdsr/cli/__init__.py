"""The ``alkdsr`` command line: one console script with a subcommand per tool."""
