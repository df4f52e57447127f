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

Renamed keys: a config class may list ``RENAMED_KEYS`` (a ``ClassVar`` mapping an old dotted
key to its new one, or to ``None`` for a key dropped because it is derived now). Each YAML
file (before its bases merge) and each override is read with the old key moved to the new
place and one ``FutureWarning`` naming the file, both keys and what to write instead, so
saved run configs and old command lines keep working; an old and a new key with different
values in one file are a :class:`ConfigError` naming both.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import types
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
#: A number in exponent form without a dot (``1e-4``), which YAML 1.1 loads as a string.
_EXPONENT = re.compile(r"[-+]?\d+[eE][-+]?\d+")


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


def renamed_keys(cls: Any) -> dict[str, str | None]:
    """A config class's ``RENAMED_KEYS`` (old dotted key -> new dotted key or ``None``)."""
    return dict(getattr(cls, "RENAMED_KEYS", None) or {})


def _pop_dotted(data: dict, key: str) -> tuple[bool, Any]:
    *parents, last = key.split(".")
    node = data
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return False, None
    if last not in node:
        return False, None
    return True, node.pop(last)


def _get_dotted(data: dict, key: str) -> tuple[bool, Any]:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _deprecated(source: str, old: str, new: str | None) -> None:
    what = f"write {new} instead" if new else "it is derived now and ignored"
    warnings.warn(f"{source}: config key {old} is deprecated ({what})", FutureWarning, stacklevel=4)


def migrate_keys(data: dict, renamed: Mapping[str, str | None], source: str = "<dict>") -> dict:
    """Move the old keys of ``renamed`` found in ``data`` (a config mapping) to their new keys.

    Args:
        data: One YAML file's mapping (changed in place and returned).
        renamed: Old dotted key -> new dotted key, or ``None`` to drop the old key.
        source: Named in the warning and in errors (the YAML path).

    Raises:
        ConfigError: An old key and its new key (or two old keys of one new key) disagree.
    """
    for old, new in renamed.items():
        found, value = _pop_dotted(data, old)
        if not found:
            continue
        _deprecated(source, old, new)
        if new is None:
            continue
        present, current = _get_dotted(data, new)
        if present and current != value:
            raise ConfigError(f"{source}: {old} ({value!r}, deprecated) and {new} ({current!r}) "
                              f"disagree; keep only {new}")
        *parents, last = new.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def migrate_override(item: str, renamed: Mapping[str, str | None]) -> str | None:
    """``item`` (``key.sub=value``) with an old key renamed (``None``: a dropped key)."""
    key, sep, value = item.partition("=")
    if sep and key.strip() in renamed:
        new = renamed[key.strip()]
        _deprecated(f"override {item!r}", key.strip(), new)
        return None if new is None else f"{new}={value}"
    return item


def load_yaml(path: str | os.PathLike, _seen: tuple[Path, ...] = (),
              renamed: Mapping[str, str | None] | None = None) -> dict:
    """Read a YAML config and resolve its ``_base_`` chain.

    Args:
        path: The YAML file.
        renamed: Renamed keys (:func:`migrate_keys`) applied to each file before merging.

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
    if renamed:
        data = migrate_keys(data, renamed, str(path))
    merged: dict = {}
    for base in bases:
        merged = _deep_merge(merged, load_yaml(path.parent / base, _seen + (path,), renamed))
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
        if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
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
        renamed = renamed_keys(cls)
        if renamed:
            data = migrate_keys(copy.deepcopy(data), renamed, source)
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
    renamed = renamed_keys(cls)
    data = load_yaml(path, renamed=renamed) if path is not None else {}
    for item in overrides:
        item = migrate_override(item, renamed)
        if item is not None:
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
