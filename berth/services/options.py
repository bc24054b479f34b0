"""`options:` of a service.yml: typed settings a service owns, overridable in globals.yml.

Each option becomes a field of the globals model (`globals_model()`), so globals.yml validation treats it like a
core key (types, unknown keys, `did you mean`, file:line) and templates see it like any global; yet the core
never names it, and adding a service with options still means adding one folder.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo

OPTION_NAME = r"^[a-z][a-z0-9_]*$"
_TYPES: dict[str, Any] = {"string": str, "integer": int, "boolean": bool, "ipv4_network": IPv4Network}


class OptionDef(BaseModel):
    """One option: `{name, type, default, description}` plus optional constraints (choices, pattern, min, max)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=OPTION_NAME)
    type: Literal["string", "integer", "boolean", "ipv4_network"] = "string"
    default: Any
    description: str
    choices: list[str] | None = None  # the value must be one of these (type string)
    pattern: str | None = None  # type string: a regular expression the whole value must match
    min: int | None = None  # type integer: bounds, inclusive
    max: int | None = None
    # value -> services that value cannot work without (`{rbd: [ceph]}`): choosing it while one of them is
    # disabled is a configuration error naming the key and both ways out
    requires: dict[str, list[str]] = Field(default_factory=dict)

    def annotation(self) -> Any:
        """The Python type of the field; choices become a Literal so errors list them."""
        if self.choices:
            return Literal[tuple(self.choices)]
        return _TYPES[self.type]

    def field(self) -> tuple[Any, FieldInfo]:
        """(annotation, FieldInfo) as `pydantic.create_model` takes them."""
        info = Field(self.default, description=self.description, pattern=self.pattern, ge=self.min, le=self.max)
        return self.annotation(), info

    @model_validator(mode="after")
    def _consistent(self) -> OptionDef:
        """Constraints must fit the type, and the default must be a valid value: a broken default would only
        show as a confusing globals.yml error on every installation."""
        if self.choices and self.type != "string":
            raise ValueError(f"option `{self.name}`: choices need type string")
        if self.pattern is not None and self.type != "string":
            raise ValueError(f"option `{self.name}`: pattern needs type string")
        if (self.min is not None or self.max is not None) and self.type != "integer":
            raise ValueError(f"option `{self.name}`: min/max need type integer")
        unknown = [value for value in self.requires if self.choices and value not in self.choices]
        if unknown:
            raise ValueError(f"option `{self.name}`: requires names {unknown}, which are not among its choices")
        probe = create_model("OptionProbe", value=self.field())
        try:
            probe.model_validate({"value": self.default})
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise ValueError(f"option `{self.name}`: default {self.default!r} is not a valid {self.type}: {reason}"
                             ) from None
        return self
