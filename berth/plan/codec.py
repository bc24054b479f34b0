"""Plain data <-> frozen plan values, driven by the dataclasses' own type hints.

Plans, desired and observed states are frozen dataclasses holding tuples, read-only mappings, frozensets and
enums. A host plan must survive a trip through JSON to another host unchanged, so one codec reads each field's
declared type instead of every value class writing its own to_dict/from_dict pair (which drift apart).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from berth.errors import BerthError

T = TypeVar("T")


class DecodeError(BerthError):
    """Data that does not have the shape of the value it should become (names the path inside it)."""


def to_data(value: Any) -> Any:
    """JSON-ready data: dataclasses become mappings, tuples and frozensets lists (sorted), enums their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(to_data(v) for v in value)
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


def from_data(cls: type[T], data: Any, path: str = "$") -> T:
    """The value of type `cls` that `to_data` turned into `data`; DecodeError naming the first bad path."""
    return typing.cast(T, _decode(cls, data, path))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, data: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return _freeze(data)
    if origin in (typing.Union, types.UnionType):
        return _union(tp, data, path)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, data, path)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            raise DecodeError(f"{path}: {data!r} is not one of {[m.value for m in tp]}") from None
    if origin is tuple:
        return _tuple(tp, data, path)
    if origin in (frozenset, set):
        (item,) = typing.get_args(tp)
        return frozenset(_decode(item, v, f"{path}[]") for v in _expect(list, data, path))
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        args = typing.get_args(tp) or (str, Any)
        items = _expect(dict, data, path).items()
        return types.MappingProxyType({k: _decode(args[1], v, f"{path}.{k}") for k, v in items})
    if tp is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if isinstance(tp, type):
        return _expect(tp, data, path)
    raise DecodeError(f"{path}: cannot decode type {tp!r}")


def _union(tp: Any, data: Any, path: str) -> Any:
    args = typing.get_args(tp)
    if data is None and type(None) in args:
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return _decode(arg, data, path)
        except DecodeError as exc:
            errors.append(exc.message)
    raise DecodeError(errors[0] if errors else f"{path}: no type fits {data!r}")


def _dataclass(cls: Any, data: Any, path: str) -> Any:
    data = _expect(dict, data, path)
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise DecodeError(f"{path}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    kwargs = {name: _decode(hints[name], value, f"{path}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DecodeError(f"{path}: {cls.__name__}: {exc}") from None


def _tuple(tp: Any, data: Any, path: str) -> tuple[Any, ...]:
    args = typing.get_args(tp)
    items = _expect(list, data, path)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(items))
    if len(args) != len(items):
        raise DecodeError(f"{path}: expected {len(args)} items, found {len(items)}")
    return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, items, strict=True)))


def _expect(kind: type, data: Any, path: str) -> Any:
    if kind is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise DecodeError(f"{path}: expected {kind.__name__}, found {type(data).__name__}")
    return data


def _freeze(data: Any) -> Any:
    """`Any` fields keep JSON's own shapes (specs and payloads are plain JSON data)."""
    return data
