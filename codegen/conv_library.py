"""The convolution template's library tactic: cuDNN through torch, competing in tuning with the
generated kernels (config ``LIBRARY``). A mixin of ``conv.ConvKernel``, whose fields it reads.

cuDNN fuses the epilogues that CNNs end their convolutions with, in the convolution's own kernel:
``torch.cudnn_convolution_relu`` computes relu(conv(x, w) + bias) and
``torch.cudnn_convolution_add_relu`` relu(conv(x, w) + bias + z), each sum in float32 and rounded
once. On the H100 they take the bare convolution's time (ResNet-50's 3x3 convolutions at batch 32:
17.2 against 17.0 us at 14 x 14), where the convolution followed by the generated epilogue took two
kernels and about 5 us more (RESULTS.md, twentieth session). Neither writes into a given tensor, so
those forms return their result and the runtime takes it in place of the planned buffer
(``Program.run``). Any other epilogue runs in the kernel's epilogue-alone twin on torch's product.
"""

from __future__ import annotations

from typing import Any

from tritium.codegen.indexing import Unsupported
from tritium.ir.core import Value
from tritium.ir.dialects.nn.constant import Constant


class LibraryConv:
    conv: Any
    fused: Any
    epilogue: list[Any]
    extra: list[Value]
    layout: str
    library: str | None
    b_i: int | None
    name: str
    out_shape: tuple
    z_i: int | None = None
    """The residual's block argument ("add_relu"), set where the form is found."""

    def _library_form(self) -> str | None:
        """How cuDNN stands in for the kernel, or None (no library tactic). "conv": the convolution
        (with its bias) is the kernel's one result; "relu": then a ReLU; "add_relu": then the sum
        with a tensor of the output's shape and type (a residual), then a ReLU; "epilogue": any
        other epilogue, applied by the epilogue-alone twin to the library's product."""
        if self.library is None:
            return None
        ops = [op for op in self.epilogue if not isinstance(op, Constant)]
        yields = list(self.fused.yield_op().values)
        y = self.conv.results[0]
        if len(yields) != 1:
            return "epilogue"
        if not ops and yields == [y]:
            return "conv"
        if not ops or ops[-1].name != "nn.relu" or yields != [ops[-1].results[0]]:
            return "epilogue"
        if len(ops) == 1 and ops[0].operand(0) is y:
            return "relu"
        add = ops[0]
        if (
            len(ops) == 2
            and add.name == "nn.add"
            and ops[1].operand(0) is add.results[0]
            and y in add.operands
        ):
            z = [v for v in add.operands if v is not y]
            if len(z) == 1 and z[0] in self.extra and z[0].type == y.type and add.results[0].type == y.type:
                self.z_i = list(self.fused.body.block.args).index(z[0])
                return "add_relu"
        return "epilogue"

    def library_config(self) -> dict[str, int] | None:
        """The cuDNN tactic as a config (its tile sizes are the epilogue twin's), or None."""
        if self.library is None:
            return None
        return {"LIBRARY": 1, "BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1}

    def _as_torch(self, t: Any) -> Any:
        """A kernel tensor as torch's convolutions index it: NCHW (channels-last is a strided view)."""
        return t.permute(0, 3, 1, 2) if self.layout == "NHWC" else t

    def _from_torch(self, y: Any) -> Any:
        """torch's NCHW result laid out as the kernel's output (contiguous)."""
        return (y.permute(0, 2, 3, 1) if self.layout == "NHWC" else y).contiguous()

    def _library_conv(self, x: Any, w: Any) -> Any:
        """The convolution without bias by torch (cuDNN on the GPU), laid out as the output: the
        epilogue twin's product."""
        import torch.nn.functional as F

        if self.library is None:
            raise Unsupported(f"kernel '{self.name}' has no library tactic")
        a = self.conv.attributes
        y = F.conv2d(
            self._as_torch(x),
            self._as_torch(w),
            None,
            a["strides"],
            a["pads"][:2],
            a["dilations"],
            a.get("group", 1),
        )
        return self._from_torch(y)

    def _library_result(self, inputs: list[Any]) -> Any:
        """The kernel's result computed whole by the library ("conv", "relu" and "add_relu"): cuDNN's
        fused kernels on the GPU; elsewhere the same sums by torch in float32, rounded once."""
        import torch
        import torch.nn.functional as F

        a = self.conv.attributes
        x, w = self._as_torch(inputs[self.x_i]), self._as_torch(inputs[self.w_i])  # type: ignore[attr-defined]
        bias = inputs[self.b_i] if self.b_i is not None else None
        z = self._as_torch(inputs[self.z_i]) if self.library_form == "add_relu" else None  # type: ignore[attr-defined]
        conv_args = (list(a["strides"]), list(a["pads"][:2]), list(a["dilations"]), a.get("group", 1))
        if self.library_form == "conv":
            return self._from_torch(F.conv2d(x, w, bias, *conv_args))
        if x.is_cuda:
            if z is None:
                return self._from_torch(torch.cudnn_convolution_relu(x, w, bias, *conv_args))
            return self._from_torch(torch.cudnn_convolution_add_relu(x, w, z, 1.0, bias, *conv_args))
        f32 = F.conv2d(x.float(), w.float(), None if bias is None else bias.float(), *conv_args)
        if z is not None:
            f32 = f32 + z.float()
        return self._from_torch(torch.relu(f32).to(x.dtype))

    @property
    def library_twin(self) -> bool:
        """Whether the library tactic runs the generated epilogue-alone twin after torch's product."""
        return self.library_form == "epilogue"  # type: ignore[attr-defined]
