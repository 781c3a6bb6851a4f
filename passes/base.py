"""Passes: frozen dataclasses named by kebab-case strings, with options, in a registry.

    @register_pass
    @dataclass(frozen=True)
    class FoldConstants(Pass):
        '''Requires: ... Guarantees: ...'''
        name = "fold-constants"
        max_bytes: int = 1 << 20

        def run(self, module: ModuleOp) -> dict[str, int] | None: ...

A pipeline is text: ``canonicalize,cse,fold-constants{max-bytes=4096}``. Options are written in
kebab-case, separated by spaces; list options take comma-separated values (``{keep=softmax,erf}``).
A pass keeps no state between runs; ``run`` may return statistics (name -> count).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from tritium.ir.diagnostics import TritiumError

PASS_REGISTRY: dict[str, type[Pass]] = {}
_KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


class PipelineError(TritiumError):
    """A pipeline string or a pass option is malformed."""


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = ""

    def run(self, module: Any) -> dict[str, int] | None:
        raise NotImplementedError

    # -- options ---------------------------------------------------------------------------------------
    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def from_options(cls, opts: dict[str, str]) -> Pass:
        hints = typing.get_type_hints(cls)
        fields = {f.name.replace("_", "-"): f for f in cls.options()}
        kwargs: dict[str, Any] = {}
        for key, text in opts.items():
            f = fields.get(key)
            if f is None:
                known = ", ".join(fields) or "none"
                raise PipelineError(f"pass '{cls.name}' has no option '{key}' (options: {known})")
            kwargs[f.name] = _convert(cls.name, key, text, hints[f.name])
        return cls(**kwargs)

    def __str__(self) -> str:
        parts = []
        for f in self.options():
            val = getattr(self, f.name)
            if val != f.default:
                shown = (
                    ",".join(map(str, val))
                    if isinstance(val, tuple)
                    else str(val).lower()
                    if isinstance(val, bool)
                    else str(val)
                )
                parts.append(f"{f.name.replace('_', '-')}={shown}")
        return self.name + ("{" + " ".join(parts) + "}" if parts else "")


def _convert(pass_name: str, key: str, text: str, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if text not in ("true", "false", "1", "0"):
                raise ValueError("expected true or false")
            return text in ("true", "1")
        if hint in (int, float, str):
            return hint(text)
        if origin is tuple:
            elem = typing.get_args(hint)[0]
            return tuple(elem(x) for x in text.split(",") if x)
    except ValueError as e:
        raise PipelineError(f"pass '{pass_name}' option '{key}': bad value '{text}' ({e})") from None
    raise PipelineError(f"pass '{pass_name}' option '{key}' has unsupported type {hint}")


def register_pass(cls: type[Pass]) -> type[Pass]:
    if not _KEBAB.match(cls.name):
        raise ValueError(f"pass name '{cls.name}' must be kebab-case")
    if not (cls.__doc__ or "").strip() or cls.__doc__ == Pass.__doc__:
        raise ValueError(f"pass '{cls.name}' needs a docstring stating what it requires and guarantees")
    if cls.name in PASS_REGISTRY and PASS_REGISTRY[cls.name] is not cls:
        raise ValueError(f"pass '{cls.name}' is registered twice")
    PASS_REGISTRY[cls.name] = cls
    return cls


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside braces."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise PipelineError(f"unbalanced '}}' in pipeline '{text}'")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise PipelineError(f"unclosed '{{' in pipeline '{text}'")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_pipeline(text: str) -> list[Pass]:
    """``'canonicalize,cse'`` -> [Canonicalize(), CSE()]."""
    import tritium.passes  # noqa: F401  (registers the passes)

    out: list[Pass] = []
    for item in split_top_level(text):
        m = re.fullmatch(r"([a-z0-9-]+)\s*(?:\{(.*)\})?", item, re.S)
        if m is None:
            raise PipelineError(f"cannot read pass '{item}' (expected name or name{{opt=value ...}})")
        name, body = m.group(1), m.group(2)
        cls = PASS_REGISTRY.get(name)
        if cls is None:
            raise PipelineError(f"unknown pass '{name}'; run `tritium opt --list-passes` to see them")
        opts: dict[str, str] = {}
        for tok in (body or "").split():
            if "=" not in tok:
                raise PipelineError(f"pass '{name}': option '{tok}' must be written key=value")
            k, v = tok.split("=", 1)
            opts[k] = v
        out.append(cls.from_options(opts))
    return out


def pipeline_text(passes: list[Pass]) -> str:
    return ",".join(map(str, passes))
