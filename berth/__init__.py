"""berth: containerized OpenStack, built and run by one tool."""

__version__ = "0.1.0"
