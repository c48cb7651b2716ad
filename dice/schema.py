"""The JSON schema of config files, generated from the typed settings (`dice.settings` and each
method's settings in `dice.methods`): defaults, bounds and descriptions are written only there.

`config_schema()` is what `dice.config.validate_config` validates against;
`workflow/schemas/config.schema.yaml` is a committed copy for readers and editors (regenerate it
with ``python -m dice.schema > workflow/schemas/config.schema.yaml``; a test checks it is current).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Literal, get_args, get_origin

import yaml

from dice.settings import STUDIES, StudySpec, SuiteSettings, TrainSettings

_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string"}


def dataclass_schema(cls: type, *, defaults: bool = True) -> dict:
    """The object schema of a settings dataclass (unknown keys rejected); with `defaults`, each
    field's default is written as the schema default (filled in by validation)."""
    hints = typing.get_type_hints(cls)
    properties, required = {}, []
    for f in dataclasses.fields(cls):
        properties[f.name] = field_schema(f, hints[f.name], defaults=defaults)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if (cls.__doc__ or "").strip() and not cls.__doc__.startswith(f"{cls.__name__}("):
        schema = {"description": " ".join(cls.__doc__.split()), **schema}
    return schema | ({"required": required} if required else {})


def field_schema(f: dataclasses.Field, hint: Any, *, defaults: bool) -> dict:
    meta = f.metadata
    extra = dict(meta.get("schema", {}))
    sub_defaults = defaults and not meta.get("optional", False)
    schema = extra.pop("schema", None) or type_schema(hint, defaults=sub_defaults)
    schema = {"description": meta.get("doc", f.name), **schema, **extra}
    if meta.get("source"):
        schema["x-source"] = meta["source"]
    if defaults and not meta.get("optional", False):
        if dataclasses.is_dataclass(hint):
            schema["default"] = {}
        elif f.default is not dataclasses.MISSING:
            schema["default"] = _plain(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            schema["default"] = _plain(f.default_factory())
    return schema


def type_schema(hint: Any, *, defaults: bool = True) -> dict:
    """The schema of a type: scalars, Literal, lists/tuples, dicts, dataclasses, optionals."""
    origin, args = get_origin(hint), get_args(hint)
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if dataclasses.is_dataclass(hint):
        return dataclass_schema(hint, defaults=defaults)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(a, defaults=defaults) for a in args]}
    if hint is type(None):
        return {"type": "null"}
    if origin is tuple and args and args[-1] is not Ellipsis:
        item = type_schema(args[0], defaults=defaults)
        return {"type": "array", "items": item, "minItems": len(args), "maxItems": len(args)}
    if origin in (list, tuple):
        return {"type": "array", **({"items": type_schema(args[0])} if args else {})}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1], defaults=defaults)}
    if hint in (dict, list):
        return {"type": "object" if hint is dict else "array"}
    raise TypeError(f"no schema for type {hint!r}")


def method_setting_schema() -> dict:
    """A `method_settings` entry: `objective` (the registry entry it is based on) and any
    method's settings (which ones belong to the key's method is checked on resolution)."""
    from dice.methods import REGISTRY, methods

    properties = {"objective": {"description": "the registry entry this key is based on "
                                "(defaults to the key itself)", "enum": list(REGISTRY)}}  # fmt: skip
    for method in methods():
        for name, sub in dataclass_schema(method.settings, defaults=False)["properties"].items():
            properties.setdefault(name, {**sub, "description": f"{method.family}: {sub['description']}"})  # fmt: skip
    return {"type": "object", "additionalProperties": False, "properties": properties}


def config_schema() -> dict:
    """The schema of a config file."""
    schema = dataclass_schema(SuiteSettings)
    props = schema["properties"]
    study = dataclass_schema(StudySpec, defaults=False)
    props["studies"] |= {"additionalProperties": False,
                         "properties": {name: study for name in STUDIES}}  # fmt: skip
    props["method_settings"] |= {"additionalProperties": method_setting_schema()}
    props["profiles"]["additionalProperties"] = dataclass_schema(TrainSettings, defaults=False)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _plain(value: Any) -> Any:
    """JSON/YAML-able copy (tuples as lists)."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def schema_yaml() -> str:
    header = "# Generated by `python -m dice.schema` from dice/settings.py and dice/methods/: do not edit.\n"  # fmt: skip
    return header + yaml.safe_dump(config_schema(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(schema_yaml())
