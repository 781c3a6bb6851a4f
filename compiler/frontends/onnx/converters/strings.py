"""String ops: StringNormalizer, StringSplit, StringConcat, RegexFullMatch."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("StringNormalizer", since=10)
def string_normalizer(ctx: NodeContext) -> Value:
    ctx.check_attrs("case_change_action", "is_case_sensitive", "locale", "stopwords")
    action = ctx.attr("case_change_action", "NONE")
    if action not in ("NONE", "LOWER", "UPPER"):
        ctx.fail(f"case_change_action must be NONE, LOWER or UPPER, found {action!r}")
    return ctx.value(
        nn.StringNormalizer,
        ctx.input(0),
        case_change_action=action,
        is_case_sensitive=bool(ctx.attr("is_case_sensitive", 0)),
        locale=ctx.attr("locale", ""),
        stopwords=tuple(ctx.attr("stopwords", ())),
    )


@converter("StringSplit", since=20)
def string_split(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("delimiter", "maxsplit")
    maxsplit = ctx.attr("maxsplit", -1)
    if maxsplit < 0 and ctx.has_attr("maxsplit"):
        ctx.fail(f"maxsplit must not be negative, found {maxsplit}")
    op = ctx.emit(nn.StringSplit, ctx.input(0), delimiter=ctx.attr("delimiter", ""), maxsplit=maxsplit)
    return list(op.results)


@converter("StringConcat", since=20)
def string_concat(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.StringConcat, ctx.input(0), ctx.input(1))


@converter("RegexFullMatch", since=20)
def regex_full_match(ctx: NodeContext) -> Value:
    ctx.check_attrs("pattern")
    return ctx.value(nn.RegexFullMatch, ctx.input(0), pattern=ctx.attr("pattern"))
