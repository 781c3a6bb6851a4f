"""Classic ML: ai.onnx.ml LabelEncoder, TreeEnsemble, ArrayFeatureExtractor, Binarizer, and the default
domain's TfIdfVectorizer."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir import dtypes as D
from tritium.ir.core import Value
from tritium.ir.dialects import nn

ML = "ai.onnx.ml"


def _items(arr: np.ndarray) -> tuple:
    """A tensor attribute's elements as Python values (strings decoded)."""
    out = []
    for v in np.asarray(arr).reshape(-1).tolist():
        out.append(v.decode("utf-8") if isinstance(v, bytes) else v)
    return tuple(out)


def _tensor_dtype(ctx: NodeContext, arr: np.ndarray, what: str) -> D.DType:
    if arr.dtype == object or arr.dtype.kind in "SU":
        return D.string
    try:
        return D.DType.from_numpy(arr.dtype)
    except ValueError:
        ctx.fail(f"{what} has an unsupported element type {arr.dtype}")


@converter("LabelEncoder", since=2, domain=ML)
def label_encoder(ctx: NodeContext) -> Value:
    ctx.check_attrs(
        "keys_strings", "keys_int64s", "keys_floats", "keys_tensor",
        "values_strings", "values_int64s", "values_floats", "values_tensor",
        "default_string", "default_int64", "default_float", "default_tensor",
    )  # fmt: skip
    keys_given = [k for k in ("keys_strings", "keys_int64s", "keys_floats", "keys_tensor") if ctx.has_attr(k)]
    values_given = [
        k for k in ("values_strings", "values_int64s", "values_floats", "values_tensor") if ctx.has_attr(k)
    ]
    if len(keys_given) != 1 or len(values_given) != 1:
        ctx.fail(f"needs exactly one keys_* and one values_* attribute, found {keys_given + values_given}")
    kattr, vattr = keys_given[0], values_given[0]
    kv = ctx.attr(kattr)
    keys = _items(kv) if kattr == "keys_tensor" else tuple(kv)
    vv = ctx.attr(vattr)
    if vattr == "values_tensor":
        vdtype = _tensor_dtype(ctx, vv, "values_tensor")
        values = _items(vv)
    else:
        vdtype = {"values_strings": D.string, "values_int64s": D.i64, "values_floats": D.f32}[vattr]
        values = tuple(vv)
    default: Any
    if ctx.has_attr("default_tensor"):
        d = np.asarray(ctx.attr("default_tensor"))
        if d.size != 1:
            ctx.fail(f"default_tensor must hold one element, found shape {list(d.shape)}")
        default = _items(d)[0]
    elif vdtype.kind == "string":
        default = ctx.attr("default_string", "_Unused")
    elif vdtype.is_float:
        default = float(ctx.attr("default_float", -0.0))
    else:
        default = int(ctx.attr("default_int64", -1))
    if vdtype.is_float:
        values = tuple(float(v) for v in values)
        default = float(default)
    x = ctx.input(0)
    if x.type.dtype.is_float:  # type: ignore[union-attr]
        keys = tuple(float(k) for k in keys)
    return ctx.value(nn.LabelEncoder, x, keys=keys, values=values, default=default, value_dtype=vdtype)


@converter("LabelEncoder", since=1, domain=ML)
def label_encoder_v1(ctx: NodeContext) -> Value:
    ctx.check_attrs("classes_strings", "default_int64", "default_string")
    classes = tuple(ctx.attr("classes_strings", ()))
    x = ctx.input(0)
    index = tuple(range(len(classes)))
    if ctx.type(0).dtype == D.string:
        return ctx.value(
            nn.LabelEncoder,
            x,
            keys=classes,
            values=index,
            default=ctx.attr("default_int64", -1),
            value_dtype=D.i64,
        )
    return ctx.value(
        nn.LabelEncoder,
        x,
        keys=index,
        values=classes,
        default=ctx.attr("default_string", "_Unused"),
        value_dtype=D.string,
    )


@converter("ArrayFeatureExtractor", domain=ML)
def array_feature_extractor(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.ArrayFeatureExtractor, ctx.input(0), ctx.input(1))


@converter("Binarizer", domain=ML)
def binarizer(ctx: NodeContext) -> Value:
    ctx.check_attrs("threshold")
    return ctx.value(nn.Binarizer, ctx.input(0), threshold=ctx.attr("threshold", 0.0))


def _floats(ctx: NodeContext, name: str, default: Any = None) -> tuple[float, ...]:
    v = ctx.attr(name) if default is None else ctx.attr(name, default)
    return tuple(float(x) for x in np.asarray(v, np.float64).reshape(-1))


@converter("TreeEnsemble", since=5, domain=ML)
def tree_ensemble(ctx: NodeContext) -> Value:
    ints = (
        "tree_roots", "nodes_featureids", "nodes_truenodeids", "nodes_trueleafs",
        "nodes_falsenodeids", "nodes_falseleafs", "leaf_targetids",
    )  # fmt: skip
    ctx.check_attrs(
        *ints,
        "n_targets",
        "aggregate_function",
        "post_transform",
        "nodes_modes",
        "nodes_splits",
        "leaf_weights",
        "membership_values",
        "nodes_missing_value_tracks_true",
        "nodes_hitrates",
    )  # fmt: skip  (nodes_hitrates only guides performance: it does not change the result)
    post = ctx.attr("post_transform", 0)
    if post == 4:
        ctx.fail("post_transform PROBIT is not supported")
    modes = tuple(int(m) for m in np.asarray(ctx.attr("nodes_modes")).reshape(-1))
    return ctx.value(
        nn.TreeEnsemble,
        ctx.input(0),
        n_targets=ctx.attr("n_targets"),
        aggregate_function=ctx.attr("aggregate_function", 1),
        post_transform=post,
        nodes_modes=modes,
        nodes_splits=_floats(ctx, "nodes_splits"),
        leaf_weights=_floats(ctx, "leaf_weights"),
        membership_values=_floats(ctx, "membership_values", np.zeros(0)),
        nodes_missing_value_tracks_true=tuple(ctx.attr("nodes_missing_value_tracks_true", ())),
        **{k: tuple(ctx.attr(k)) for k in ints},
    )


@converter("TfIdfVectorizer", since=9)
def tfidf_vectorizer(ctx: NodeContext) -> Value:
    ctx.check_attrs(
        "mode", "min_gram_length", "max_gram_length", "max_skip_count", "ngram_counts",
        "ngram_indexes", "pool_int64s", "pool_strings", "weights",
    )  # fmt: skip
    return ctx.value(
        nn.TfIdfVectorizer,
        ctx.input(0),
        mode=ctx.attr("mode"),
        min_gram_length=ctx.attr("min_gram_length"),
        max_gram_length=ctx.attr("max_gram_length"),
        max_skip_count=ctx.attr("max_skip_count"),
        ngram_counts=tuple(ctx.attr("ngram_counts")),
        ngram_indexes=tuple(ctx.attr("ngram_indexes")),
        pool_int64s=tuple(ctx.attr("pool_int64s", ())),
        pool_strings=tuple(ctx.attr("pool_strings", ())),
        weights=tuple(ctx.attr("weights", ())),
    )
