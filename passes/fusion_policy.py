"""Which nn ops fuse how: the one table the fusion pass reads.

- anchors (conv, matmul, attention) start a kernel and absorb elementwise epilogues;
- reductions (softmax, norms, pooling, reduce ops) absorb elementwise prologues and epilogues;
- elementwise ops (the ``Elementwise`` trait, and the listed extras) chain together;
- views change only the shape (free at run time); data movement copies; everything else runs alone.
"""

from __future__ import annotations

from typing import Any

from tritium.ir.core import Operation
from tritium.ir.opdef import Elementwise

ANCHORS = {
    "nn.conv": "conv",
    "nn.conv_transpose": "conv",
    "nn.conv_integer": "conv",
    "nn.conv_float8": "conv",
    "nn.matmul": "matmul",
    "nn.matmul_integer": "matmul",
    "nn.matmul_float8": "matmul",
    "nn.gemm": "matmul",
    "nn.attention": "attention",
}
GEMM_ANCHORS = ("nn.matmul", "nn.matmul_integer", "nn.matmul_float8")
"""The products the GEMM template generates (float, integer and float 8 operands)."""
REDUCTIONS = {
    "nn.softmax",
    "nn.log_softmax",
    "nn.reduce_sum",
    "nn.reduce_mean",
    "nn.reduce_max",
    "nn.reduce_min",
    "nn.reduce_prod",
    "nn.reduce_l1",
    "nn.reduce_l2",
    "nn.reduce_sum_square",
    "nn.reduce_log_sum",
    "nn.reduce_log_sum_exp",
    "nn.layer_normalization",
    "nn.rms_normalization",
    "nn.group_normalization",
    "nn.instance_normalization",
    "nn.max_pool",
    "nn.average_pool",
    "nn.global_average_pool",
    "nn.global_max_pool",
    "nn.lp_pool",
    "nn.arg_max",
    "nn.arg_min",
}
ELEMENTWISE_EXTRA = {"nn.cast", "nn.clip", "nn.where", "nn.prelu"}
VIEWS = {"nn.reshape", "nn.squeeze", "nn.unsqueeze", "nn.flatten"}
DATA_MOVEMENT = {
    "nn.transpose",
    "nn.concat",
    "nn.slice",
    "nn.gather",
    "nn.gather_elements",
    "nn.gather_nd",
    "nn.pad",
    "nn.resize",
    "nn.split",
    "nn.expand",
    "nn.tile",
    "nn.depth_to_space",
    "nn.space_to_depth",
}


def _generated_integer_product(op: Operation) -> bool:
    """An integer conv/matmul the templates generate: i8 x i8 without zero points, and also i8 or u8
    activations with one zero point for them (onnxruntime's default asymmetric activations, and its
    dynamic quantization); the rest runs alone on the host."""

    def dtype(v: Any) -> str | None:
        return getattr(getattr(v.type, "dtype", None), "name", None) if v is not None else None

    x, w = op.operand(0), op.operand(1)
    if op.name == "nn.conv_integer":
        zx, zw = op.x_zero_point, op.w_zero_point  # type: ignore[attr-defined]
        if dtype(x) not in ("i8", "ui8") or dtype(w) != "i8" or zw is not None:
            return False
        return zx is None or getattr(zx.type, "numel", None) == 1
    za = op.a_zero_point  # type: ignore[attr-defined]
    if dtype(x) not in ("i8", "ui8") or dtype(w) != "i8" or op.b_zero_point is not None:  # type: ignore[attr-defined]
        return False  # (lower-quant drops weight zero points that are all zero)
    return za is None or getattr(za.type, "numel", None) == 1


def classify(op: Operation) -> str:
    """One of: conv, matmul, attention, reduction, elementwise, view, data_movement, other."""
    if op.name in ("nn.matmul_integer", "nn.conv_integer") and not _generated_integer_product(op):
        return "other"
    if (
        op.name in ("nn.matmul_float8", "nn.conv_float8")
        and op.operand(0).type.dtype != op.operand(1).type.dtype
    ):  # type: ignore[attr-defined]
        return "other"  # e4m3 x e5m2: tl.dot takes one float 8 type
    if op.name in ANCHORS:
        return ANCHORS[op.name]
    if op.name in REDUCTIONS:
        return "reduction"
    if Elementwise in op.TRAITS or op.name in ELEMENTWISE_EXTRA:
        return "elementwise"
    if op.name in VIEWS:
        return "view"
    if op.name in DATA_MOVEMENT:
        return "data_movement"
    return "other"


def takes_epilogue(kind: str) -> bool:
    """Kernels of this kind can apply elementwise ops to their result before storing it."""
    return kind in ("conv", "matmul", "reduction", "elementwise", "attention")


def epilogue_reads_only_scalars(kind: str) -> bool:
    """Kernels of this kind take only ``scalar_epilogue_op``s as epilogue: the attention template
    computes nothing but its output tile (a quantizing ``x / s``, a cast)."""
    return kind == "attention"


def scalar_constant(v: Any) -> bool:
    """A constant of one value, which a kernel gets as a literal."""
    from tritium.ir.attributes import Dense
    from tritium.ir.dialects.nn.constant import Constant

    c = v.defining_op
    return isinstance(c, Constant) and isinstance(c.value, Dense) and getattr(v.type, "numel", None) == 1


def scalar_epilogue_op(op: Operation, v: Any) -> bool:
    """``op`` applied to ``v`` is plain arithmetic (``SIDE_CHAIN_OPS``, a saturating cast: an op
    without a generated form would send the whole kernel to the host) with scalar constants as its
    other operands, at ``v``'s shape: what an attention kernel's epilogue computes."""
    if op.name not in SIDE_CHAIN_OPS or not op.attributes.get("saturate", True) or len(op.results) != 1:
        return False
    if getattr(op.results[0].type, "shape", None) != getattr(v.type, "shape", None):
        return False  # (a scalar of higher rank broadcasts to more dims)
    return getattr(op, "_segments", None) is None and all(w is v or scalar_constant(w) for w in op.operands)


def takes_side_inputs(kind: str) -> bool:
    """Kernels of this kind can compute an epilogue's other operands from elementwise chains of
    their inputs (the GEMM and convolution templates load epilogue inputs by broadcasting)."""
    return kind in ("conv", "matmul")


SIDE_CHAIN_OPS = {
    "nn.cast", "nn.mul", "nn.add", "nn.sub", "nn.div", "nn.neg", "nn.abs", "nn.round", "nn.clip",
    "nn.relu", "nn.max", "nn.min",
}  # fmt: skip
"""What a side chain (see takes_side_inputs) may hold: arithmetic every template lowers (a dequantize,
a requantize, a scale), never an op that would send the whole anchor group to the host."""


def takes_prologue(kind: str) -> bool:
    """Kernels of this kind can apply elementwise ops to an input as they load it."""
    return kind in ("reduction", "elementwise")


EXTRA_OUTPUT_REDUCTIONS = {"nn.layer_normalization", "nn.rms_normalization", "nn.softmax", "nn.log_softmax"}
"""Reductions whose (row) kernels store a second output of their result's shape, computed from it."""

PROLOGUE_NORMS = {"nn.layer_normalization", "nn.rms_normalization"}
"""Norms that take a GEMM's elementwise epilogue as their prologue where they alone read its result
(``fuse_kernels.Grouping.norm_takes_it``)."""

WINDOWED = {"nn.max_pool", "nn.average_pool", "nn.lp_pool"}
"""Reductions over windows: their kernels compute one output element from its window and never load
the input at the output's own position, so an epilogue may read only the pooled value (and constants)."""


def joinable_concat(cat: Operation, mm: Operation) -> str | None:
    """Why the GEMM template cannot read ``cat``, the left operand of ``mm``, piece by piece
    (``codegen/gemm_pieces.py``), or None when it can: a concat along K, a float product by a
    matrix, pieces of static width that are not constants (which would be inlined into the kernel)."""
    a, w = mm.operand(0), mm.operand(1)
    rank = getattr(a.type, "rank", None)
    if rank is None or cat.attributes["axis"] not in (-1, rank - 1):
        return "a GEMM operand joined along another axis than K"
    if getattr(w.type, "rank", None) != 2 or not getattr(getattr(a.type, "dtype", None), "is_float", False):
        return "a joined left operand needs a float product by a matrix"
    for piece in cat.operands:
        if piece.defining_op is not None and piece.defining_op.name == "nn.constant":
            return "a joined GEMM operand that is a constant"
        if not getattr(piece.type, "is_static", False):
            return "a joined GEMM operand of dynamic shape"
    return None


def depthwise_chain(a: Any) -> tuple[Operation, list[Operation]] | None:
    """The depthwise convolution computing ``a`` (a GEMM's left operand) and the elementwise ops
    between them (its activation: scalar arithmetic only), or None when ``a`` is not computed so."""
    chain: list[Operation] = []
    op = a.defining_op
    while op is not None and op.name != "nn.conv":
        if len(op.results) != 1 or not op.operands or op.operand(0).type != op.results[0].type:
            return None
        if not scalar_epilogue_op(op, op.operand(0)):
            return None
        chain.insert(0, op)
        op = op.operand(0).defining_op
    return (op, chain) if op is not None else None


def depthwise_operand(conv: Operation, mm: Operation) -> str | None:
    """Why the GEMM template cannot compute its left operand as ``conv``'s depthwise output (plus the
    activation between them, ``depthwise_chain``) tile by tile (``codegen/gemm_depthwise.py``), or
    None when it can: a 2-D NHWC convolution with one filter per channel, static shapes, float types,
    feeding a float product by a matrix. Whether it pays is ``depthwise_operand_pays``."""
    x, w = conv.operand(0), conv.operand(1)
    a = conv.attributes
    if conv.name != "nn.conv" or a.get("layout") != "NHWC" or getattr(x.type, "rank", None) != 4:
        return "a GEMM operand from a convolution that is not 2-D NHWC"
    if not all(getattr(v.type, "is_static", False) for v in (x, w, mm.operand(0), mm.operand(1))):
        return "a depthwise GEMM operand of dynamic shape"
    c = x.type.shape[-1]  # type: ignore[attr-defined]
    if a.get("group") != c or tuple(w.type.shape[::3]) != (c, 1):  # type: ignore[attr-defined]
        return "a GEMM operand from a convolution that is not depthwise (one filter per channel)"
    if getattr(mm.operand(1).type, "rank", None) != 2 or mm.operand(0).type.rank != 4:  # type: ignore[attr-defined]
        return "a depthwise GEMM operand needs a product by a matrix"
    if not all(getattr(v.type.dtype, "is_float", False) for v in (x, w, mm.operand(1))):  # type: ignore[attr-defined]
        return "a depthwise GEMM operand needs float types"
    if len({v.type.dtype for v in (x, w, mm.operand(0), mm.operand(1))}) != 1:  # type: ignore[attr-defined]
        return "a depthwise GEMM operand of mixed types"
    return None


def depthwise_operand_pays() -> bool:
    """Whether ``fuse-kernels`` should put the depthwise convolution into its projection's GEMM: only
    when asked (``TRITIUM_DEPTHWISE_GEMM=1``), as it measured no faster. The fused kernel saves the
    depthwise output's write and read and one launch, but each program then convolves every channel
    of its rows in turn, where the depthwise kernel alone spreads the channels over programs too. On
    an H100 (MobileNetV2 at batch 32, each kernel tuned; RESULTS.md, twenty-first session) it paid
    where there are many rows and channels (112x112x96, stride 2: 69 -> 54 us for the pair) and lost
    with few rows (7x7x960: 20 -> 61 us; 14x14x576: 26 -> 35) or few channels (112x112x32: 65 -> 71).
    Whole model: 0.607 -> 0.906 ms fused wherever the template can, and 0.618 -> 0.621-0.628 with
    only the two layers of 65536 rows and 64 channels or more fused."""
    import os

    return os.environ.get("TRITIUM_DEPTHWISE_GEMM") == "1"


def chained_product(mm1: Operation, mm2: Operation) -> str | None:
    """Why the GEMM chain template cannot compute ``mm2`` in ``mm1``'s kernel, its left operand being
    ``mm1``'s product or a value its epilogue computes from it (``codegen/gemm_chain.py``), or None
    when it can: two float16 or bfloat16 products by matrices of static width, the first's rows not
    broadcast (its batch dims fold into the rows), the second's left operand at the first product's
    shape. Whether it pays is ``chained_product_pays``."""
    if mm1.name != "nn.matmul" or mm2.name != "nn.matmul":
        return "a GEMM chain of products other than float matmuls"
    x, w1, v, w2 = mm1.operand(0), mm1.operand(1), mm2.operand(0), mm2.operand(1)
    y = mm1.results[0]
    if any(getattr(t.type, "rank", None) != 2 for t in (w1, w2)) or getattr(x.type, "rank", 0) < 2:
        return "a GEMM chain needs products of a matrix of rows by a matrix"
    if v.type.shape != y.type.shape or x.type.shape[:-1] != y.type.shape[:-1]:  # type: ignore[attr-defined]
        return "a GEMM chain whose second operand is not at the first product's shape"
    types = {getattr(getattr(t.type, "dtype", None), "name", None) for t in (x, w1, v, w2)}
    if len(types) != 1 or not types <= {"f16", "bf16"}:
        return "a GEMM chain needs float16 or bfloat16 operands, all of one type"
    if not all(isinstance(d, int) for d in (*w1.type.shape, *w2.type.shape)):  # type: ignore[attr-defined]
        return "a GEMM chain of dynamic width"
    if w2.type.shape[1] > 128:  # type: ignore[attr-defined]
        return "a GEMM chain's second product wider than 128 (its accumulator holds all its columns)"
    return None


def chained_product_pays(k1: int, n1: int, n2: int) -> bool:
    """Whether ``fuse-kernels`` should put a GEMM reading another's output (through its epilogue)
    into that GEMM's kernel (``chained_product``). The first product's output is then never read
    back, but each program computes a BLOCK_M-row strip of both products in turn, one slice of the
    first's columns after another, which serializes what two kernels spread over more programs.
    Measured on an H100 (RESULTS.md, twenty-second session). Scratch kernels against Tritium's own,
    each tuned alone: ResNet-50's first-stage pair (the block's last 1x1 convolution, 64 -> 256
    channels with the residual add, then the next block's first, 256 -> 64) at batch 32 70.1 ->
    53.9 us, at batch 1 7.2 -> 5.8; into the next stage's first (256 -> 128) 76.5 -> 67.5; the second
    stage's pair (128 -> 512 -> 128) lost, 34.3 -> 42.3. In ResNet-50 (the engine's layers timed
    alone) the first-stage pair went 77.6 -> 66.7 us but the pair into stage 2 82.6 -> 86.6, and
    with both the network was 1% slower; with the first alone 1% faster at batch 32 (batch 1 within
    1%). So: a short first reduction (K1 up to 64) into a first product 128 to 256 wide, and a second
    product up to 64 wide. ``TRITIUM_GEMM_CHAIN=0`` turns it off."""
    import os

    if os.environ.get("TRITIUM_GEMM_CHAIN") == "0":
        return False
    return k1 <= 64 and 128 <= n1 <= 256 and n2 <= 64
