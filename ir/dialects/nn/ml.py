"""Classic machine-learning ops (ONNX's ai.onnx.ml domain, and TfIdfVectorizer): label encoding,
tree ensembles, feature extraction, binarization, n-gram counting."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import DTYPE, FLOAT, FLOATS, INT, INTS, STRS, AttrKind, one_of
from tritium.ir.dialects.nn.common import ttype
from tritium.ir.opdef import Elementwise, Op, Pure, SameOperandsAndResultType, attr, operand, result
from tritium.ir.types import TensorType


def _scalar(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (str, int, float, np.integer, np.floating)):
        raise ValueError(f"expected a string or a number, got {v!r}")
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _scalars(v: Any) -> tuple:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if not isinstance(v, (tuple, list)):
        raise ValueError(f"expected an array, got {v!r}")
    out = tuple(_scalar(x) for x in v)
    kinds = {_kind(x) for x in out}
    if len(kinds) > 1:
        raise ValueError(f"expected values of one kind (strings, integers or floats), got {sorted(kinds)}")
    return out


def _kind(x: Any) -> str:
    return "string" if isinstance(x, str) else "int" if isinstance(x, int) else "float"


SCALAR = AttrKind("string or number", _scalar)
SCALARS = AttrKind("array<string> or array<number>", _scalars)


def _dtype_kind(dt: D.DType) -> str:
    return "string" if dt.kind == "string" else "float" if dt.is_float else "int"


class LabelEncoder(Op):
    """Maps each element of ``x`` found in ``keys`` to the value at the same position in ``values``,
    others to ``default``; the result has element type ``value_dtype``. NaN keys match NaN inputs; a
    repeated key maps to its last value."""

    name = "nn.label_encoder"
    traits = (Pure, Elementwise)
    x = operand()
    out = result()
    keys = attr(SCALARS)
    values = attr(SCALARS)
    default = attr(SCALAR)
    value_dtype = attr(DTYPE)

    def infer(self) -> TensorType:
        return TensorType(ttype(self, self.x).shape, self.value_dtype)

    def verify_op(self) -> None:
        if len(self.keys) != len(self.values):
            self.fail(f"has {len(self.keys)} keys and {len(self.values)} values")
        xk = _dtype_kind(ttype(self, self.x).dtype)
        vk = _dtype_kind(self.value_dtype)
        for what, vals, kind in (("keys", self.keys, xk), ("values", self.values, vk)):
            if vals and not all(_kind(v) == kind or (kind == "float" and _kind(v) == "int") for v in vals):
                self.fail(f"{what} must be {kind}s to match {'x' if what == 'keys' else 'value_dtype'}")
        if _kind(self.default) != vk and not (vk == "float" and _kind(self.default) == "int"):
            self.fail(f"default {self.default!r} does not match value_dtype {self.value_dtype}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        table: dict[Any, Any] = {}
        nan_value = None
        for k, v in zip(self.keys, self.values):
            if isinstance(k, float) and math.isnan(k):
                nan_value = v
            else:
                table[k] = v
        out = []
        for e in x.reshape(-1).tolist():
            if isinstance(e, float) and math.isnan(e):
                out.append(self.default if nan_value is None else nan_value)
            else:
                out.append(table.get(e, self.default))
        dt = self.value_dtype.np_dtype
        if self.value_dtype.kind == "string":
            arr = np.empty(len(out), object)
            arr[:] = out
            return arr.reshape(x.shape)
        return np.array(out, dtype=dt).reshape(x.shape)


class ArrayFeatureExtractor(Op):
    """The elements of ``x`` at ``indices`` along its last axis."""

    name = "nn.array_feature_extractor"
    traits = (Pure,)
    x = operand()
    indices = operand([D.i64])
    out = result()

    def infer(self) -> TensorType:
        t = ttype(self, self.x)
        i = ttype(self, self.indices, "indices")
        n = i.numel if i.shape is not None else None
        if t.shape is None:
            return TensorType(None, t.dtype)
        if not t.shape:
            self.fail("x must have at least one axis")
        return TensorType((*t.shape[:-1], n), t.dtype)

    def reference(self, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        idx = indices.reshape(-1)
        n = x.shape[-1]
        if ((idx < 0) | (idx >= n)).any():
            raise ValueError(f"indices {idx.tolist()} are out of range for a last axis of {n}")
        return np.take(x, idx, axis=-1)


class Binarizer(Op):
    """1 where ``x > threshold``, else 0, in ``x``'s type."""

    name = "nn.binarizer"
    traits = (Pure, Elementwise, SameOperandsAndResultType)
    x = operand(D.NUMERIC)
    out = result()
    threshold = attr(FLOAT, default=0.0)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return (x > self.threshold).astype(x.dtype)


# ---------------------------------------------------------------------------------------------------
# TreeEnsemble

MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "BRANCH_MEMBER")


class TreeEnsemble(Op):
    """ONNX ai.onnx.ml TreeEnsemble: x [N, F] -> [N, n_targets].

    Node ``i`` compares feature ``nodes_featureids[i]`` with ``nodes_splits[i]`` by
    ``nodes_modes[i]`` (0 <=, 1 <, 2 >=, 3 >, 4 ==, 5 !=, 6 membership in the next NaN-delimited set
    of ``membership_values``); a NaN feature goes to the true branch where
    ``nodes_missing_value_tracks_true[i]``, else to the false one. A branch leads to node
    ``nodes_*nodeids[i]``, or to leaf ``nodes_*nodeids[i]`` where ``nodes_*leafs[i]``. Each tree,
    starting at ``tree_roots``, reaches one leaf, adding ``leaf_weights`` to target
    ``leaf_targetids``; targets aggregate by ``aggregate_function`` (0 average, 1 sum, 2 min, 3 max;
    a target no leaf reaches is 0), then ``post_transform`` applies (0 none, 1 softmax, 2 logistic,
    3 softmax ignoring zeros).
    """

    name = "nn.tree_ensemble"
    traits = (Pure,)
    x = operand(D.FLOATS)
    out = result()
    n_targets = attr(INT)
    aggregate_function = attr(INT, default=1)
    post_transform = attr(INT, default=0)
    tree_roots = attr(INTS)
    nodes_modes = attr(INTS)
    nodes_featureids = attr(INTS)
    nodes_splits = attr(FLOATS)
    nodes_truenodeids = attr(INTS)
    nodes_trueleafs = attr(INTS)
    nodes_falsenodeids = attr(INTS)
    nodes_falseleafs = attr(INTS)
    nodes_missing_value_tracks_true = attr(INTS, default=())
    leaf_targetids = attr(INTS)
    leaf_weights = attr(FLOATS)
    membership_values = attr(FLOATS, default=())

    def infer(self) -> TensorType:
        t = ttype(self, self.x)
        if t.shape is not None and len(t.shape) != 2:
            self.fail(f"x must be [N, F], found {t}")
        return TensorType((t.shape[0] if t.shape else None, self.n_targets), t.dtype)

    def verify_op(self) -> None:
        n = len(self.nodes_modes)
        for key in (
            "nodes_featureids",
            "nodes_splits",
            "nodes_truenodeids",
            "nodes_trueleafs",
            "nodes_falsenodeids",
            "nodes_falseleafs",
        ):
            if len(getattr(self, key)) != n:
                self.fail(f"{key} has {len(getattr(self, key))} entries, nodes_modes has {n}")
        if self.nodes_missing_value_tracks_true and len(self.nodes_missing_value_tracks_true) != n:
            self.fail("nodes_missing_value_tracks_true must have one entry per node")
        if len(self.leaf_targetids) != len(self.leaf_weights):
            self.fail("leaf_targetids and leaf_weights must have the same length")
        if any(not 0 <= m < len(MODES) for m in self.nodes_modes):
            self.fail(f"nodes_modes must be in [0, 6], found {list(self.nodes_modes)}")
        if any(not 0 <= t < self.n_targets for t in self.leaf_targetids):
            self.fail(f"leaf_targetids must be in [0, {self.n_targets})")
        for key, leafs in (
            ("nodes_truenodeids", self.nodes_trueleafs),
            ("nodes_falsenodeids", self.nodes_falseleafs),
        ):
            for i, (j, leaf) in enumerate(zip(getattr(self, key), leafs)):
                bound = len(self.leaf_weights) if leaf else n
                if not 0 <= j < bound:
                    self.fail(f"{key}[{i}] = {j} is out of range ({'leaves' if leaf else 'nodes'}: {bound})")
        if any(not 0 <= r < n for r in self.tree_roots):
            self.fail(f"tree_roots must index nodes, found {list(self.tree_roots)}")
        if self.aggregate_function not in (0, 1, 2, 3):
            self.fail(f"aggregate_function must be 0..3, found {self.aggregate_function}")
        if self.post_transform not in (0, 1, 2, 3):
            self.fail(f"post_transform must be 0..3 (PROBIT is not supported), found {self.post_transform}")
        sets = sum(1 for m in self.nodes_modes if m == 6)
        if sets and len(self._sets()) < sets:
            self.fail(f"membership_values holds fewer than the {sets} sets the membership nodes need")

    def _sets(self) -> list[set[float]]:
        sets: list[set[float]] = [set()]
        for v in self.membership_values:
            if math.isnan(v):
                sets.append(set())
            else:
                sets[-1].add(v)
        if not sets[-1] and self.membership_values:
            sets.pop()
        return sets

    def _leaf(self, row: np.ndarray, root: int, member: dict[int, set[float]]) -> int:
        track = self.nodes_missing_value_tracks_true
        i = root
        for _ in range(len(self.nodes_modes) + 1):
            v = float(row[self.nodes_featureids[i]])
            s = self.nodes_splits[i]
            mode = self.nodes_modes[i]
            if math.isnan(v):
                go = bool(track[i]) if track else False
            elif mode == 6:
                go = v in member[i]
            else:
                go = (v <= s, v < s, v >= s, v > s, v == s, v != s)[mode]
            nxt, leaf = (
                (self.nodes_truenodeids[i], self.nodes_trueleafs[i])
                if go
                else (self.nodes_falsenodeids[i], self.nodes_falseleafs[i])
            )
            if leaf:
                return nxt
            i = nxt
        raise ValueError(f"the tree at node {root} has a cycle")

    def reference(self, x: np.ndarray) -> np.ndarray:
        sets = iter(self._sets())
        member = {i: next(sets) for i, m in enumerate(self.nodes_modes) if m == 6}
        agg = self.aggregate_function
        out = np.zeros((x.shape[0], self.n_targets), np.float64)
        for r, row in enumerate(x):
            vals: list[list[float]] = [[] for _ in range(self.n_targets)]
            for root in self.tree_roots:
                leaf = self._leaf(row, root, member)
                vals[self.leaf_targetids[leaf]].append(self.leaf_weights[leaf])
            for t, vs in enumerate(vals):
                if not vs:
                    continue
                out[r, t] = (
                    sum(vs) / len(self.tree_roots)
                    if agg == 0
                    else sum(vs)
                    if agg == 1
                    else min(vs)
                    if agg == 2
                    else max(vs)
                )
        return self._transform(out).astype(x.dtype)

    def _transform(self, y: np.ndarray) -> np.ndarray:
        if self.post_transform == 1:
            e = np.exp(y - y.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.post_transform == 2:
            return 1.0 / (1.0 + np.exp(-y))
        if self.post_transform == 3:
            nz = y != 0
            m = np.where(nz, y, -np.inf).max(axis=1, keepdims=True)
            e = np.where(nz, np.exp(y - np.where(np.isfinite(m), m, 0)), 0.0)
            s = e.sum(axis=1, keepdims=True)
            return np.divide(e, s, out=np.zeros_like(e), where=s > 0)
        return y


# ---------------------------------------------------------------------------------------------------
# TfIdfVectorizer


class TfIdfVectorizer(Op):
    """Counts the n-grams of ``pool_int64s`` / ``pool_strings`` (``ngram_counts[k]`` is where the
    (k+1)-grams start) found in each row of ``x`` ([C] or [N, C]), with lengths in
    [min_gram_length, max_gram_length] and up to ``max_skip_count`` skipped items between the items of
    an n-gram; pool entry ``i`` counts into column ``ngram_indexes[i]``. ``mode`` TF keeps counts, IDF
    turns positive counts into ``weights[i]``, TFIDF multiplies counts by them."""

    name = "nn.tf_idf_vectorizer"
    traits = (Pure,)
    x = operand([D.string, D.i32, D.i64])
    out = result()
    mode = attr(one_of("TF", "IDF", "TFIDF"))
    min_gram_length = attr(INT)
    max_gram_length = attr(INT)
    max_skip_count = attr(INT)
    ngram_counts = attr(INTS)
    ngram_indexes = attr(INTS)
    pool_int64s = attr(INTS, default=())
    pool_strings = attr(STRS, default=())
    weights = attr(FLOATS, default=())

    def _width(self) -> int:
        return max(self.ngram_indexes, default=-1) + 1

    def infer(self) -> TensorType:
        t = ttype(self, self.x)
        if t.shape is None:
            return TensorType(None, D.f32)
        if len(t.shape) == 1:
            return TensorType((self._width(),), D.f32)
        if len(t.shape) == 2:
            return TensorType((t.shape[0], self._width()), D.f32)
        self.fail(f"x must be [C] or [N, C], found {t}")
        raise AssertionError

    def verify_op(self) -> None:
        pool = self.pool_strings or self.pool_int64s
        if bool(self.pool_strings) == bool(self.pool_int64s) and (self.pool_strings or self.pool_int64s):
            self.fail("give pool_strings or pool_int64s, not both")
        is_str = ttype(self, self.x).dtype == D.string
        if pool and bool(self.pool_strings) != is_str:
            self.fail("string inputs need pool_strings, integer inputs pool_int64s")
        if not 1 <= self.min_gram_length <= self.max_gram_length:
            self.fail(
                f"need 1 <= min_gram_length <= max_gram_length, found {self.min_gram_length}, {self.max_gram_length}"
            )
        if self.max_skip_count < 0:
            self.fail(f"max_skip_count must not be negative, found {self.max_skip_count}")
        if self.weights and len(self.weights) != len(self.ngram_indexes):
            self.fail(f"weights has {len(self.weights)} entries, ngram_indexes {len(self.ngram_indexes)}")
        if any(i < 0 for i in self.ngram_indexes):
            self.fail("ngram_indexes must not be negative")
        if len(self._table()) > len(self.ngram_indexes):
            self.fail("the pool has more n-grams than ngram_indexes has entries")

    def _table(self) -> dict[tuple, int]:
        """n-gram (a tuple) -> its position among the pool's n-grams."""
        pool = list(self.pool_strings) if self.pool_strings else list(self.pool_int64s)
        starts = list(self.ngram_counts) + [len(pool)]
        table: dict[tuple, int] = {}
        pos = 0
        for n, (lo, hi) in enumerate(itertools.pairwise(starts), 1):
            if (hi - lo) % n:
                raise ValueError(f"the {n}-grams of the pool ({hi - lo} items) are not whole")
            for i in range(lo, hi, n):
                table[tuple(pool[i : i + n])] = pos
                pos += 1
        return table

    def reference(self, x: np.ndarray) -> np.ndarray:
        table = self._table()
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        out = np.zeros((rows.shape[0], self._width()), np.float32)
        weights = self.weights or (1.0,) * len(self.ngram_indexes)
        for r, row in enumerate(rows.tolist()):
            counts: dict[int, int] = {}
            for n in range(self.min_gram_length, self.max_gram_length + 1):
                for skip in range(self.max_skip_count + 1 if n > 1 else 1):
                    step = skip + 1
                    for i in range(len(row) - (n - 1) * step):
                        p = table.get(tuple(row[i : i + (n - 1) * step + 1 : step]))
                        if p is not None:
                            counts[p] = counts.get(p, 0) + 1
            for p, c in counts.items():
                col = self.ngram_indexes[p]
                if self.mode == "TF":
                    out[r, col] = c
                elif self.mode == "IDF":
                    out[r, col] = weights[p] if c > 0 else 0
                else:
                    out[r, col] = c * weights[p]
        return out.reshape(self._width()) if x.ndim == 1 else out
