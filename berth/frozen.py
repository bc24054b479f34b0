"""Read-only mappings for the frozen values berth passes around (plans, states, engine answers)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

V = TypeVar("V")


def frozen(value: Mapping[str, V] | None = None) -> Mapping[str, V]:
    """A read-only copy: a frozen dataclass's mapping field cannot be changed behind the value's back."""
    return MappingProxyType(dict(value or {}))

