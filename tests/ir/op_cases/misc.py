"""Cases for string ops, classic-ML ops, optimizer steps and random ops.

The registry compares numeric results, so string results are mapped to numbers inside each case
(nn.label_encoder, nn.string_split's counts) and bool results cast to i32. Random ops are checked
where their result is determined: probabilities of 0 and 1, empty ranges, zero scale.
"""

from __future__ import annotations

import re

import numpy as np

from tests.ir.op_cases.base import N, OpCase, T
from tritium.ir.plugins import register_plugin

WORDS = ["monday", "Tuesday", "WEDNESDAY", "thursday", "friday", "a.b", "x-y-z", ""]


def strings(*shape: int, words: list[str] = WORDS):
    def gen(g: np.random.Generator) -> np.ndarray:
        arr = np.empty(int(np.prod(shape)), object)
        arr[:] = [words[i] for i in g.integers(0, len(words), arr.size)]
        return arr.reshape(shape)

    return gen


def _encode(table: list[str], values: list[str], default: int = -1) -> np.ndarray:
    return np.array([table.index(v) if v in table else default for v in values], np.int64)


def _keys(words: list[str]) -> str:
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


UPPER = [w.upper() for w in WORDS]
NORMALIZE = f"""func.func @main(%x: tensor<6xstring>) -> tensor<?xi64> {{
  %y = nn.string_normalizer %x {{case_change_action = "UPPER", is_case_sensitive = false, locale = "", stopwords = ["MONDAY", "friday"]}} : (tensor<6xstring>) -> tensor<?xstring>
  %i = nn.label_encoder %y {{default = -1, keys = {_keys(UPPER)}, value_dtype = i64, values = {list(range(len(UPPER)))}}} : (tensor<?xstring>) -> tensor<?xi64>
  func.return %i : tensor<?xi64>
}}"""


def _normalize_oracle(x: np.ndarray) -> list[np.ndarray]:
    kept = [w.upper() for w in x.tolist() if w.lower() not in ("monday", "friday")] or [""]
    return [_encode(UPPER, kept)]


PIECES = ["a", "b", "x", "y", "z", "monday", "Tuesday", "WEDNESDAY", "thursday", "friday", ""]
SPLIT = f"""func.func @main(%x: tensor<2x3xstring>) -> (tensor<2x3xi64>, tensor<2x3x?xi64>) {{
  %y, %n = nn.string_split %x {{delimiter = "-", maxsplit = 1}} : (tensor<2x3xstring>) -> (tensor<2x3x?xstring>, tensor<2x3xi64>)
  %i = nn.label_encoder %y {{default = -1, keys = {_keys(["x", "y-z", *WORDS])}, value_dtype = i64, values = {list(range(len(WORDS) + 2))}}} : (tensor<2x3x?xstring>) -> tensor<2x3x?xi64>
  func.return %n, %i : tensor<2x3xi64>, tensor<2x3x?xi64>
}}"""


def _split_oracle(x: np.ndarray) -> list[np.ndarray]:
    table = ["x", "y-z", *WORDS]
    parts = [re.split("-", w, maxsplit=1) for w in x.reshape(-1).tolist()]
    width = max(len(p) for p in parts)
    codes = [_encode(table, p + [""] * (width - len(p))) for p in parts]
    return [np.array([len(p) for p in parts], np.int64).reshape(2, 3), np.stack(codes).reshape(2, 3, width)]


CONCAT = f"""func.func @main(%x: tensor<2x3xstring>) -> tensor<2x3xi64> {{
  %s = nn.string_constant {{shape = [3], value = ["", "!", "?"]}} : () -> tensor<3xstring>
  %y = nn.string_concat %x, %s : (tensor<2x3xstring>, tensor<3xstring>) -> tensor<2x3xstring>
  %i = nn.label_encoder %y {{default = 99, keys = {_keys(["monday", "monday!", "friday?", "a.b"])}, value_dtype = i64, values = [1, 2, 3, 4]}} : (tensor<2x3xstring>) -> tensor<2x3xi64>
  func.return %i : tensor<2x3xi64>
}}"""


def _concat_oracle(x: np.ndarray) -> list[np.ndarray]:
    table = {"monday": 1, "monday!": 2, "friday?": 3, "a.b": 4}
    joined = [[w + s for w, s in zip(row, ["", "!", "?"])] for row in x.tolist()]
    return [np.array([[table.get(w, 99) for w in row] for row in joined], np.int64)]


REGEX = """func.func @main(%x: tensor<8xstring>) -> tensor<8xi32> {
  %m = nn.regex_full_match %x {pattern = "[a-z]+(day)?|[a-z]\\\\.[a-z]"} : (tensor<8xstring>) -> tensor<8xi1>
  %i = nn.cast %m {to = i32} : (tensor<8xi1>) -> tensor<8xi32>
  func.return %i : tensor<8xi32>
}"""


def _regex_oracle(x: np.ndarray) -> list[np.ndarray]:
    def match(w: str) -> bool:
        if "." in w:
            a, _, b = w.partition(".")
            return len(a) == 1 and len(b) == 1 and a.islower() and b.islower()
        return w != "" and w.isalpha() and w.islower()

    return [np.array([match(w) for w in x.tolist()], np.int32)]


LABELS = """func.func @main(%x: tensor<2x4xi64>) -> tensor<2x4xf32> {
  %y = nn.label_encoder %x {default = -0.5, keys = [1, 2, 3], value_dtype = f32, values = [0.25, 2.5, -4.0]} : (tensor<2x4xi64>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}"""

EXTRACT = """func.func @main(%x: tensor<3x5xf32>) -> tensor<3x3xf32> {
  %i = nn.constant dense<[4, 0, 2]> : tensor<3xi64>
  %y = nn.array_feature_extractor %x, %i : (tensor<3x5xf32>, tensor<3xi64>) -> tensor<3x3xf32>
  func.return %y : tensor<3x3xf32>
}"""

BINARIZE = """func.func @main(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %y = nn.binarizer %x {threshold = 0.25} : tensor<3x4xf32>
  func.return %y : tensor<3x4xf32>
}"""

# node 0: x0 <= 0.5 ? node 1 : leaf 2;  node 1: x1 in {1, 2} ? leaf 0 : leaf 1; a second tree is leaf 3
TREES = """func.func @main(%x: tensor<6x2xf32>) -> tensor<6x2xf32> {
  %y = nn.tree_ensemble %x {aggregate_function = 1, leaf_targetids = [0, 1, 0, 1], leaf_weights = [1.5, -2.0, 4.0, 0.5], membership_values = [1.0, 2.0], n_targets = 2, nodes_falseleafs = [1, 1, 1], nodes_falsenodeids = [2, 1, 3], nodes_featureids = [0, 1, 0], nodes_modes = [0, 6, 0], nodes_splits = [0.5, 0.0, 0.0], nodes_trueleafs = [0, 1, 1], nodes_truenodeids = [1, 0, 3], post_transform = 0, tree_roots = [0, 2]} : (tensor<6x2xf32>) -> tensor<6x2xf32>
  func.return %y : tensor<6x2xf32>
}"""


def _trees_oracle(x: np.ndarray) -> list[np.ndarray]:
    out = np.zeros((6, 2), np.float32)
    for r, (a, b) in enumerate(x.tolist()):
        if a <= 0.5:
            out[r, 0 if b in (1.0, 2.0) else 1] += 1.5 if b in (1.0, 2.0) else -2.0
        else:
            out[r, 0] += 4.0
        out[r, 1] += 0.5
    return [out]


TFIDF = """func.func @main(%x: tensor<2x8xi64>) -> tensor<2x5xf32> {
  %y = nn.tf_idf_vectorizer %x {max_gram_length = 2, max_skip_count = 1, min_gram_length = 1, mode = "TFIDF", ngram_counts = [0, 2], ngram_indexes = [4, 0, 1, 3, 2], pool_int64s = [1, 2, 1, 1, 2, 3, 3, 1], weights = [0.5, 1.0, 2.0, 3.0, 4.0]} : (tensor<2x8xi64>) -> tensor<2x5xf32>
  func.return %y : tensor<2x5xf32>
}"""


def _tfidf_oracle(x: np.ndarray) -> list[np.ndarray]:
    grams = {(1,): 0, (2,): 1, (1, 1): 2, (2, 3): 3, (3, 1): 4}
    cols, weights = [4, 0, 1, 3, 2], [0.5, 1.0, 2.0, 3.0, 4.0]
    out = np.zeros((2, 5), np.float32)
    for r, row in enumerate(x.tolist()):
        seen = [(v,) for v in row]
        seen += [(row[i], row[j]) for i in range(len(row)) for j in (i + 1, i + 2) if j < len(row)]
        for gram in seen:
            if gram in grams:
                k = grams[gram]
                out[r, cols[k]] += weights[k]
    return [out]


def _optimizer(name: str, attrs: str, groups: int, outs: int) -> str:
    t2 = "tensor<2xf32>"
    args = ", ".join(f"%a{i}: {t2}" for i in range(groups))
    res = ", ".join(f"%o{i}" for i in range(outs))
    types = ", ".join([t2] * outs)
    ins = ", ".join(f"%a{i}" for i in range(groups))
    return (
        f"func.func @main(%r: tensor<f32>, %t: tensor<i64>, {args}) -> ({types}) {{\n"
        f"  {res} = nn.{name} %r, %t, {ins} {{{attrs}}} : (tensor<f32>, tensor<i64>, {', '.join([t2] * groups)}) -> ({types})\n"
        f"  func.return {res} : {types}\n}}"
    )


def _opt_inputs(groups: int, step: int):
    def gen(g: np.random.Generator) -> list[np.ndarray]:
        xs = [g.standard_normal(2).astype(np.float32) for _ in range(groups)]
        xs[-1] = np.abs(xs[-1])  # accumulated squares are not negative (Adagrad H, Adam H)
        return [np.array(0.1, np.float32), np.array(step, np.int64), *xs]

    return gen


def _adagrad_oracle(r, t, x, g, h):
    X, G, H = T(x).double(), T(g).double(), T(h).double()
    lr = float(r) / (1.0 + float(t) * 0.5)
    G = G + 0.01 * X
    H = H + G.pow(2)
    return [N((X - lr * G / (H.sqrt() + 1e-6)).float()), N(H.float())]


def _adam_oracle(r, t, x, g, v, h):
    X, G, V, H = (T(a).double() for a in (x, g, v, h))
    G = G + 0.01 * X
    V = 0.9 * V + 0.1 * G
    H = 0.99 * H + 0.01 * G * G
    lr = float(r) * (1 - 0.99 ** int(t)) ** 0.5 / (1 - 0.9 ** int(t)) if int(t) > 0 else float(r)
    X = (X - lr * V / (H.sqrt() + 1e-6)) * (1 - 0.05)
    return [N(X.float()), N(V.float()), N(H.float())]


def _momentum_oracle(nesterov: bool):
    def oracle(r, t, x, g, v):
        X, G, V = (T(a).double() for a in (x, g, v))
        G = G + 0.01 * X
        V = 0.9 * V + (0.5 if int(t) > 0 else 1.0) * G
        X = X - float(r) * (G + 0.9 * V) if nesterov else X - float(r) * V
        return [N(X.float()), N(V.float())]

    return oracle


MOMENTUM_ATTRS = "alpha = 0.9, beta = 0.5, mode = {mode}, norm_coefficient = 0.01"

RANDOM = """func.func @main(%p: tensor<3x4xf32>, %l: tensor<2x3xf32>) -> (tensor<3x4xf64>, tensor<2x3xf32>, tensor<2x2xf64>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<2x5xi64>) {
  %b = nn.bernoulli %p {dtype = f64} : (tensor<3x4xf32>) -> tensor<3x4xf64>
  %n = nn.random_normal {dtype = f32, mean = 1.5, scale = 0.0, shape = [2, 3]} : () -> tensor<2x3xf32>
  %u = nn.random_uniform {dtype = f64, high = -2.0, low = -2.0, seed = 3.0, shape = [2, 2]} : () -> tensor<2x2xf64>
  %nl = nn.random_normal_like %p {dtype = f32, mean = -1.0, scale = 0.0} : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %ul = nn.random_uniform_like %p {dtype = f32, high = 0.5, low = 0.5} : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %m = nn.multinomial %l {dtype = i64, sample_size = 5} : (tensor<2x3xf32>) -> tensor<2x5xi64>
  func.return %b, %n, %u, %nl, %ul, %m : tensor<3x4xf64>, tensor<2x3xf32>, tensor<2x2xf64>, tensor<3x4xf32>, tensor<3x4xf32>, tensor<2x5xi64>
}"""


def _random_inputs(g: np.random.Generator) -> list[np.ndarray]:
    p = (g.random((3, 4)) < 0.5).astype(np.float32)  # certain outcomes only
    logits = np.full((2, 3), -np.inf, np.float32)
    logits[0, 2] = 0.3  # one class with all the mass per row
    logits[1, 0] = -7.0
    return [p, logits]


def _random_oracle(p: np.ndarray, logits: np.ndarray) -> list[np.ndarray]:
    return [
        p.astype(np.float64),
        np.full((2, 3), 1.5, np.float32),
        np.full((2, 2), -2.0),
        np.full((3, 4), -1.0, np.float32),
        np.full((3, 4), 0.5, np.float32),
        np.repeat(np.argmax(logits, axis=1)[:, None], 5, axis=1).astype(np.int64),
    ]


# A plugin registered by the suite: y = x * gain + row sums (two outputs, fields from JSON).
register_plugin(
    "tests.GainRowSum",
    infer=lambda shapes, dtypes, fields: [(shapes[0], dtypes[0]), (shapes[0][:1], dtypes[0])],
    reference=lambda xs, fields: [xs[0] * fields["gain"], xs[0].sum(axis=1)],
    fields=["gain"],
)
PLUGIN = """func.func @main(%x: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3xf32>) {
  %y, %s = nn.plugin %x {fields = "{\\"gain\\": 2.5}", plugin = "tests.GainRowSum", version = "1"} : (tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3xf32>)
  func.return %y, %s : tensor<3x4xf32>, tensor<3xf32>
}"""


CASES = {
    "nn.plugin": [
        OpCase(
            PLUGIN,
            lambda g: [g.standard_normal((3, 4)).astype(np.float32)],
            lambda x: [x * 2.5, x.sum(axis=1)],
        )
    ],
    "nn.string_normalizer": [
        OpCase(NORMALIZE, lambda g: [strings(6)(g)], _normalize_oracle, ops=("nn.label_encoder",))
    ],
    "nn.string_split": [OpCase(SPLIT, lambda g: [strings(2, 3)(g)], _split_oracle)],
    "nn.string_concat": [
        OpCase(CONCAT, lambda g: [strings(2, 3)(g)], _concat_oracle, ops=("nn.string_constant",))
    ],
    "nn.regex_full_match": [OpCase(REGEX, lambda g: [strings(8)(g)], _regex_oracle)],
    "nn.label_encoder": [
        OpCase(
            LABELS,
            lambda g: [g.integers(0, 5, (2, 4)).astype(np.int64)],
            lambda x: [np.choose(x, [-0.5, 0.25, 2.5, -4.0, -0.5]).astype(np.float32)],
        )
    ],
    "nn.array_feature_extractor": [
        OpCase(EXTRACT, lambda g: [g.standard_normal((3, 5)).astype(np.float32)], lambda x: [x[:, [4, 0, 2]]])
    ],
    "nn.binarizer": [
        OpCase(
            BINARIZE,
            lambda g: [g.standard_normal((3, 4)).astype(np.float32)],
            lambda x: [N((T(x) > 0.25).float())],
        )
    ],
    "nn.tree_ensemble": [
        OpCase(
            TREES,
            lambda g: [np.stack([g.uniform(0, 1, 6), g.integers(0, 4, 6)], axis=1).astype(np.float32)],
            _trees_oracle,
        )
    ],
    "nn.tf_idf_vectorizer": [
        OpCase(TFIDF, lambda g: [g.integers(1, 4, (2, 8)).astype(np.int64)], _tfidf_oracle)
    ],
    "nn.adagrad": [
        OpCase(
            _optimizer("adagrad", "decay_factor = 0.5, epsilon = 1.0e-6, norm_coefficient = 0.01", 3, 2),
            _opt_inputs(3, 2),
            _adagrad_oracle,
        )
    ],
    "nn.adam": [
        OpCase(
            _optimizer(
                "adam",
                "alpha = 0.9, beta = 0.99, epsilon = 1.0e-6, norm_coefficient = 0.01, norm_coefficient_post = 0.05",
                4,
                3,
            ),
            _opt_inputs(4, step),
            _adam_oracle,
        )
        for step in (0, 3)
    ],
    "nn.momentum": [
        OpCase(
            _optimizer("momentum", MOMENTUM_ATTRS.format(mode=f'"{mode}"'), 3, 2),
            _opt_inputs(3, step),
            _momentum_oracle(mode == "nesterov"),
        )
        for mode, step in (("standard", 0), ("nesterov", 4))
    ],
    "nn.bernoulli": [
        OpCase(
            RANDOM,
            _random_inputs,
            _random_oracle,
            ops=(
                "nn.random_normal",
                "nn.random_uniform",
                "nn.random_normal_like",
                "nn.random_uniform_like",
                "nn.multinomial",
            ),
        )
    ],
}
