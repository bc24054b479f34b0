"""Operator configuration: globals.yml, passwords.yml, inventory, layered overrides, rendering."""
