"""`python -m berth`: the CLI from whichever interpreter runs it (tests and benchmarks need no venv path)."""

from berth.cli.main import run

run()
