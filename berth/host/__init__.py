"""Preparing a host: packages, the container engine, kernel settings."""
