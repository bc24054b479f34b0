"""The `berth` command line: global options, command discovery and the one error boundary."""
