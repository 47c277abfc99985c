"""Configuration: defaults < config.toml < setup() overrides, validated field by field.

The schema (``config_schema.json``) is shared with the Lua side, so both report
the same field names and allowed values.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from orchflow_core import paths
from orchflow_core.errors import ConfigError

Config = dict[str, Any]

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
    "table": (dict, list),
}


@cache
def schema() -> dict[str, Any]:
    text = (Path(__file__).parent / "config_schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    data.pop("_comment", None)
    return data


def _is_leaf(node: Any) -> bool:
    return isinstance(node, dict) and "type" in node


def defaults() -> Config:
    def build(node: dict[str, Any]) -> Config:
        return {k: v["default"] if _is_leaf(v) else build(v) for k, v in node.items()}

    return build(schema())


def _describe(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        allowed = "one of " + ", ".join(json.dumps(v) for v in spec["enum"])
    else:
        allowed = " or ".join(spec["type"])
    bounds = [f">= {spec['min']}"] if "min" in spec else []
    bounds += [f"<= {spec['max']}"] if "max" in spec else []
    return ", ".join([allowed, *bounds])


def _check_leaf(key: str, spec: dict[str, Any], value: Any) -> str | None:
    types = spec["type"]
    ok = (value is None and "null" in types) or any(
        isinstance(value, _PY_TYPES[t]) and not (isinstance(value, bool) and t != "boolean")
        for t in types
        if t != "null"
    )
    if ok and value is not None and "enum" in spec and value not in spec["enum"]:
        ok = False
    if ok and isinstance(value, int | float) and not isinstance(value, bool):
        ok = spec.get("min", value) <= value <= spec.get("max", value)
    if ok:
        return None
    return f"{key}: got {json.dumps(value)}, expected {_describe(spec)}"


def validate(
    values: Any, *, origin: str, allow_lua: bool, node: Any = None, prefix: str = ""
) -> None:
    """Raise ConfigError naming the first bad key; ``origin`` says where it came from."""
    node = schema() if node is None else node
    if not isinstance(values, dict):
        raise ConfigError(f"{origin}: {prefix or 'options'} must be a table", origin=origin)
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        spec = node.get(name)
        if spec is None:
            raise ConfigError(
                f"{origin}: unknown key {key!r}; valid here: {', '.join(sorted(node))}",
                origin=origin,
                key=key,
            )
        if _is_leaf(spec):
            if spec["scope"] == "lua" and not allow_lua:
                raise ConfigError(
                    f"{origin}: {key!r} is a Neovim-side option; "
                    "set it in setup(), not config.toml",
                    origin=origin,
                    key=key,
                )
            problem = _check_leaf(key, spec, value)
            if problem:
                raise ConfigError(f"{origin}: {problem}", origin=origin, key=key)
        else:
            validate(value, origin=origin, allow_lua=allow_lua, node=spec, prefix=key)


_SECRET_WORDS = ("key", "token", "secret", "password", "authorization")


def redacted(values: Any) -> Any:
    """``values`` for display: the value of any key that names a secret (``api_key``,
    ``token`` ...; not ``*_env``, which names a variable) replaced by "[redacted]"."""
    if isinstance(values, dict):
        return {
            k: "[redacted]"
            if isinstance(k, str)
            and any(w in k.lower() for w in _SECRET_WORDS)
            and not k.endswith("_env")
            and isinstance(v, str)
            else redacted(v)
            for k, v in values.items()
        }
    if isinstance(values, list):
        return [redacted(v) for v in values]
    return values


def _merge(base: Config, over: Config) -> Config:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_toml(path: Path) -> Config:
    """Parse and validate ``path``; a missing file is an empty config."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(where.group(1)) if where else None
        raise ConfigError(f"{path}: invalid TOML: {exc}", file=str(path), line=line) from None
    validate(data, origin=str(path), allow_lua=False)
    return data


def load(
    overrides: Config | None = None, *, path: Path | None = None, use_file: bool = True
) -> Config:
    """The effective config: defaults, then config.toml, then setup() overrides."""
    overrides = overrides or {}
    validate(overrides, origin="setup()", allow_lua=True)
    file_values = read_toml(path or paths.config_file()) if use_file else {}
    return _merge(_merge(defaults(), file_values), overrides)
