"""Running work: the DAG scheduler, its events, and the actions that touch the engine."""
