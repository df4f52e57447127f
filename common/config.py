"""Validated dataclass configs loaded from YAML with ``_base_`` inheritance.

A solution declares its config as a (nested) dataclass with a ``validate()``
method that raises :class:`ConfigError` on inconsistent settings::

    @dataclass
    class Train:
        epochs: int = 10
        lr: float = 1e-3

    @dataclass
    class MyConfig:
        name: str = "demo"
        train: Train = field(default_factory=Train)

        def validate(self):
            if self.train.epochs < 1:
                raise ConfigError("train.epochs must be >= 1")

    cfg = load_config(MyConfig, "configs/small.yaml", overrides=["train.epochs=2"])

A YAML file may name ``_base_: other.yaml`` (or a list of files), resolved
relative to itself; keys in the child win and mappings merge deeply. Unknown
keys are rejected with the key and the file named.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or value is invalid. The message names the key and the file."""


def _deep_merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML config and resolve its ``_base_`` chain.

    Args:
        path: The YAML file.

    Returns:
        The merged mapping, without ``_base_``.

    Raises:
        ConfigError: The file is missing, unreadable, not a mapping, or its bases loop.
    """
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: _base_ chain loops back to itself")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {type(data).__name__}")
    bases = data.pop("_base_", [])
    if isinstance(bases, (str, os.PathLike)):
        bases = [bases]
    merged: dict = {}
    for base in bases:
        merged = _deep_merge(merged, load_yaml(path.parent / base, _seen + (path,)))
    return _deep_merge(merged, data)


def apply_override(data: dict, item: str) -> None:
    """Set ``key.sub=value`` (a YAML value) in a config mapping; ConfigError when malformed."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({problem})") from None


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert lists to tuples etc."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _build(tp, value, where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type[T], data: dict, where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def from_dict(cls: type[T], data: dict, source: str = "<dict>") -> T:
    """Build and validate a config dataclass from a mapping.

    Args:
        cls: The dataclass type.
        data: The mapping (as read from YAML).
        source: Named in error messages (usually the YAML path).

    Raises:
        ConfigError: Unknown keys, wrong types or a failed ``validate()``.
    """
    try:
        cfg = _build(cls, data, "")
        _validate_tree(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cfg


def _validate_tree(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            _validate_tree(value)
    validate = getattr(cfg, "validate", None)
    if callable(validate):
        validate()


def load_config(cls: type[T], path: str | os.PathLike | None = None,
                overrides: typing.Sequence[str] = ()) -> T:
    """Load ``path`` (with bases), apply ``key.sub=value`` overrides, validate.

    Args:
        cls: The config dataclass.
        path: YAML file, or ``None`` for the dataclass defaults.
        overrides: Items like ``"train.epochs=3"``; values are parsed as YAML.

    Returns:
        The validated config instance.
    """
    data = load_yaml(path) if path is not None else {}
    for item in overrides:
        apply_override(data, item)
    return from_dict(cls, data, source=str(path) if path is not None else "<defaults>")


def to_dict(cfg: Any) -> dict:
    """Plain mapping of a config (tuples become lists) for YAML/JSON."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(cfg))


def save_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically."""
    from common.io import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
