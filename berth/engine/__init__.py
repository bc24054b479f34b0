"""The container engine: the only place where Docker SDK errors are translated into BerthErrors."""
