"""The GEMM template's library tactic: cuBLAS / cuBLASLt through torch computing the tiled product
(f16 and bf16 ``torch.mm``/``addmm``, i8 ``torch._int_mm``, e4m3 ``torch._scaled_mm``), competing
in tuning with the generated kernels (config ``LIBRARY``). A mixin of ``gemm.MatmulKernel``, whose
fields it reads (the operands' type and indices, the epilogue, whether the batch folds into M)."""

from __future__ import annotations

from typing import Any

from tritium.codegen.indexing import Unsupported
from tritium.ir.core import Value
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.types import TensorType


def shape_of(v: Value) -> tuple:
    """A GEMM value's shape (Unsupported for a value that is not a ranked tensor)."""
    t = v.type
    if not isinstance(t, TensorType) or t.shape is None:
        raise Unsupported(f"value of type {t}")
    return t.shape


class LibraryTactic:
    dtype: Any
    integer: bool
    fold: bool
    corrected: bool
    epilogue: list[Any]
    fused: Any
    anchor: Any
    out_shape: tuple
    extra: list[Value]
    a_index: int
    b_index: int
    bias_index: int
    pieces: list[int]
    library: str | None
    name: str

    def _library_form(self) -> str | None:
        """How cuBLAS (through torch) can stand in for the tiled product, or None (f32: cuBLAS could
        round through TF32 when the process allows it; generated kernels stay exact). "matmul": the
        kernel is the bare product, written straight into the output; "addmm": the product plus a
        row-vector bias (cuBLASLt's bias epilogue); "addmm_relu": then a ReLU (cuBLASLt's ReLU-and-bias
        epilogue, ``torch._addmm_activation``); "epilogue": any other epilogue, applied by this
        kernel's epilogue-alone twin to the library's product."""
        float8 = self.dtype.name == "f8E4M3FN" and self._kmajor_weight()  # cuBLASLt's FP8 GEMM's terms
        if self.dtype.name not in ("f16", "bf16", "i8") and not float8:
            return None
        if ((self.integer or float8) and not self.fold) or self.corrected or self.whole_only:
            return None  # (a left operand made in the kernel: torch would need it stored)
        ops = [op for op in self.epilogue if not isinstance(op, Constant)]
        yields = list(self.fused.yield_op().values)
        if not ops and yields == [self.anchor.results[0]]:
            return "matmul"
        if self.dtype.itemsize == 1:
            return "epilogue"
        relu = len(ops) == 2 and ops[1].name == "nn.relu" and ops[1].operand(0) is ops[0].results[0]
        if (len(ops) == 1 or relu) and ops[0].name == "nn.add" and self.fold:
            bias = [v for v in ops[0].operands if v is not self.anchor.results[0]]
            n = self.out_shape[-1]
            if (
                len(bias) == 1
                and bias[0] in self.extra
                and yields == [ops[-1].results[0]]
                and all(op.results[0].type.dtype == self.dtype for op in ops)  # type: ignore[attr-defined]
            ):
                shape = shape_of(bias[0])
                if shape[-1:] == (n,) and all(d == 1 for d in shape[:-1]):
                    self.bias_index = list(self.fused.body.block.args).index(bias[0])
                    return "addmm_relu" if relu else "addmm"
        return "epilogue"

    @property
    def library_form(self) -> str | None:
        return self.library

    @property
    def library_twin(self) -> bool:
        """Whether the library tactic runs the generated epilogue-alone twin after the product."""
        return self.library == "epilogue"

    def _kmajor_weight(self) -> bool:
        """Whether ``b`` is a matrix the runtime may hold K-major (K, N multiples of 16; a weight is
        held so, ``views.k_major``; a row-major one fails the call, and tuning drops the candidate)."""
        dims = shape_of(self.fused.operands[self.b_index])
        return len(dims) == 2 and all(d % 16 == 0 for d in dims)

    def library_config(self) -> dict[str, int] | None:
        """The cuBLAS tactic as a config (its tile sizes are the epilogue twin's), or None."""
        if self.library is None:
            return None
        return {
            "LIBRARY": 1,
            "BLOCK_M": 64,
            "BLOCK_N": 64,
            "BLOCK_K": 32,
            "GROUP_M": 8,
            "num_warps": 4,
            "num_stages": 1,
        }

    def _library_product(self, inputs: list[Any], outputs: list[Any]) -> Any | None:
        """The product by torch (cuBLAS on the GPU): written into the output (the bare product and
        the bias forms; returns None), else a contiguous tensor for the epilogue twin."""
        import torch

        if self.library is None:
            raise Unsupported(f"kernel '{self.name}' has no library tactic ({self.dtype} operands)")
        a, b = inputs[self.a_index], inputs[self.b_index]
        if not self.fold:
            if self.library != "matmul":
                return torch.matmul(a, b).contiguous()
            torch.matmul(a, b, out=outputs[0])
            return None
        a2, out2 = a.reshape(-1, a.shape[-1]), outputs[0].view(-1, b.shape[-1])
        if self.dtype.itemsize == 1:
            if self.integer:  # cuBLASLt's int8 GEMM (M > 16, K and N multiples of 8, else it raises)
                product = torch._int_mm(a2, b)
            else:  # cuBLASLt's FP8 GEMM (b K-major, sizes multiples of 16, else it raises), f32 sums
                one = torch.ones((), dtype=torch.float32, device=a2.device)
                product = torch._scaled_mm(a2, b, scale_a=one, scale_b=one, out_dtype=torch.float32)
            if self.library == "matmul":
                out2.copy_(product)
                return None
            return product
        if self.library == "matmul":
            torch.mm(a2, b, out=out2)
        elif self.library == "addmm":
            torch.addmm(inputs[self.bias_index].reshape(-1), a2, b, out=out2)
        elif self.library == "addmm_relu":
            torch._addmm_activation(inputs[self.bias_index].reshape(-1), a2, b, out=out2)
        else:
            return torch.mm(a2, b)
        return None
