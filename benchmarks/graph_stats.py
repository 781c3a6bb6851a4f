"""Graph-optimizer figures on the CPU (issue 4): kernel groups, layout changes and recognized
attention per model and exporter, and ResNet-50's peak activation memory against the sum of its
intermediate tensors at batch 32. Uses torchvision's ResNet-50 when installed, else the same
architecture defined here; BERT-base from transformers (random weights).

    python benchmarks/graph_stats.py
"""

from __future__ import annotations

import io
import sys
import warnings

import torch
from torch import nn

warnings.filterwarnings("ignore")


class Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, stride: int) -> None:
        super().__init__()
        cout = mid * 4
        self.c1, self.b1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.c2, self.b2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid)
        self.c3, self.b3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b1(self.c1(x)))
        y = torch.relu(self.b2(self.c2(y)))
        y = self.b3(self.c3(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


def resnet50() -> nn.Module:
    try:
        import torchvision

        return torchvision.models.resnet50().eval()
    except ImportError:
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        ]
        cin = 64
        for mid, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(n):
                layers.append(Bottleneck(cin, mid, stride if i == 0 else 1))
                cin = mid * 4
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
        return nn.Sequential(*layers).eval()


def export(model: nn.Module, args: tuple, names: list[str], dynamo: bool) -> bytes:
    buf = io.BytesIO()
    if dynamo:
        prog = torch.onnx.export(model, args, input_names=names, output_names=["out"], dynamo=True)
        prog.save(buf)
    else:
        torch.onnx.export(model, args, buf, input_names=names, output_names=["out"], dynamo=False)
    return buf.getvalue()


def stats(onnx_bytes: bytes, shapes: dict[str, tuple[int, ...]]) -> dict:
    import tritium as tr

    engine = tr.compile(onnx_bytes)
    prog = engine.program(shapes)
    kinds: dict[str, int] = {}
    for s in prog.steps:
        k = getattr(s.op, "kind", s.op.name)
        kinds[k] = kinds.get(k, 0) + 1
    kernels = sum(1 for s in prog.steps if s.mode not in ("view", "strided"))  # views launch nothing
    graph_ops = [op.name for op in engine.module.walk()]
    values = [
        r for op in prog.func.block.ops for r in op.results if op.name not in ("nn.constant", "func.return")
    ]
    total = sum(v.type.nbytes for v in values)
    return {
        "kernel groups (views excluded)": kernels,
        "strided views": sum(1 for s in prog.steps if s.mode == "strided"),
        "by kind": kinds,
        "transposes in the graph": graph_ops.count("nn.transpose"),
        "attention ops": graph_ops.count("nn.attention"),
        "arena MB": prog.arena_bytes / 1e6,
        "intermediates MB": total / 1e6,
        "arena / intermediates": prog.arena_bytes / max(total, 1),
    }


def main() -> None:
    which = sys.argv[1:] or ["resnet50", "bert"]
    for dynamo in (False, True):
        exporter = "dynamo" if dynamo else "legacy"
        if "resnet50" in which:
            m = resnet50()
            for batch in (1, 32):
                onnx_bytes = export(m, (torch.randn(batch, 3, 224, 224),), ["input"], dynamo)
                print(
                    f"resnet50 {exporter} batch {batch}:",
                    stats(onnx_bytes, {"input": (batch, 3, 224, 224)}),
                    flush=True,
                )
        if "bert" in which:
            from transformers import BertConfig, BertModel

            class Hidden(nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.m = BertModel(BertConfig(attn_implementation="eager"))

                def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                    return self.m(input_ids=ids, attention_mask=mask).last_hidden_state

            m = Hidden().eval()
            ids, mask = torch.randint(0, 1000, (1, 128)), torch.ones(1, 128, dtype=torch.int64)
            onnx_bytes = export(m, (ids, mask), ["input_ids", "attention_mask"], dynamo)
            s = stats(onnx_bytes, {"input_ids": (1, 128), "attention_mask": (1, 128)})
            s["kernel groups per encoder layer"] = s["kernel groups (views excluded)"] / 12
            print(f"bert-base {exporter}:", s, flush=True)


if __name__ == "__main__":
    main()
