"""One module per topic; each defines `register(group)` adding its commands to the `berth` group."""
