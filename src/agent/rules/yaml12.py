"""A YAML loader with YAML 1.2 core-schema scalars (healing.md §1.1).

Only ``true``/``false`` (any case) are booleans; ``yes``/``no``/``on``/``off`` and dates stay
strings; ``null``/``~``/empty are null; integers and floats follow the core schema.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Resolver(yaml.resolver.BaseResolver):
    pass


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Constructor(yaml.constructor.SafeConstructor):
    def construct_yaml_bool(self, node: Any) -> bool:
        return str(self.construct_scalar(node)).lower() == "true"

    def construct_yaml_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)


_Constructor.add_constructor("tag:yaml.org,2002:bool", _Constructor.construct_yaml_bool)  # type: ignore[type-var]
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)  # type: ignore[type-var]


class Yaml12Loader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Constructor,
    _Resolver,
):
    def __init__(self, stream: str | bytes) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


if getattr(yaml, "__with_libyaml__", False):
    _CParser: Any = yaml.cyaml.CParser  # type: ignore[attr-defined]

    class Yaml12CLoader(_CParser, _Constructor, _Resolver):  # type: ignore[misc]
        """The same loader on libyaml's parser (the runbooks and rules load ~10x faster); the
        constructor and resolver, which give the YAML 1.2 semantics, are the ones above."""

        def __init__(self, stream: str | bytes) -> None:
            _CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

    _LOADER: type[Any] = Yaml12CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _LOADER = Yaml12Loader


def load_yaml12(text: str | bytes) -> Any:
    loader = _LOADER(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
