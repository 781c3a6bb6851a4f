"""The models of the whole-model tests and their export to ONNX (run them with tests/models/zoo.py).

Models: HF transformers BERT, DistilBERT, GPT-2 and ViT built from tiny configs (no download), and
ResNet-style (BasicBlock, Bottleneck) and MobileNetV2-style CNNs written here (torchvision cannot be
imported beside this torch). Every weight is re-randomized, BatchNorm statistics and zero-initialized
heads included, so outputs are not degenerate. Exporters: ``legacy`` = ``torch.onnx.export(...,
dynamo=False, opset_version=17)`` and ``dynamo`` = ``torch.onnx.export(..., dynamo=True)`` (its
default opset), both with dynamic batch (and sequence) axes.

Exported files are cached in ``$TRITIUM_MODEL_CACHE`` or ``<tempdir>/tritium-model-cache``, in a
folder keyed by the torch, transformers, onnx and onnxscript versions and a hash of this file, so
editing a model here exports it again (editing the harness in zoo.py does not). Files are written
under a temporary name and renamed into place, so concurrent exporters (pytest-xdist workers, two
checkouts) never see a partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EXPORTERS = ("legacy", "dynamo")
LEGACY_OPSET = 17


# ---------------------------------------------------------------------------------------------------
# Model specifications


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], Any]  # () -> torch.nn.Module in eval mode, forward(*inputs) -> tuple of tensors
    inputs: Callable[[np.random.Generator, bool], dict[str, np.ndarray]]  # (rng, example?) -> inputs
    outputs: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]  # input name -> {axis: dim name}
    dim_max: dict[str, int] = field(default_factory=dict)  # upper bounds for torch.export's Dims


def _tokens(
    rng: np.random.Generator, vocab: int, batch: int, seq: int, *, types: bool = False
) -> dict[str, np.ndarray]:
    """Token ids within the vocabulary and an attention mask padding each row at its end."""
    ids = rng.integers(0, vocab, (batch, seq), dtype=np.int64)
    lengths = rng.integers(1, seq + 1, batch)
    lengths[0] = seq  # one row is never padded
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    out = {"input_ids": ids, "attention_mask": mask}
    if types:
        out["token_type_ids"] = rng.integers(0, 2, (batch, seq), dtype=np.int64)
    return out


def _text_shape(rng: np.random.Generator, example: bool) -> tuple[int, int]:
    # The example the exporters trace with differs from the test shapes, so dynamic axes are exercised.
    return (2, 16) if example else (int(rng.integers(1, 4)), int(rng.integers(5, 24)))


def _image(rng: np.random.Generator, example: bool, size: int) -> dict[str, np.ndarray]:
    batch = 2 if example else int(rng.integers(1, 4))
    return {"pixel_values": rng.standard_normal((batch, 3, size, size)).astype(np.float32)}


class _HFWrapper:
    """A torch module calling a transformers model with keyword inputs and returning a tuple."""

    @staticmethod
    def make(model: Any, names: tuple[str, ...], n_out: int) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x0: Any, x1: Any = None, x2: Any = None) -> tuple[Any, ...]:
                args = (x0, x1, x2)[: len(names)]  # positional, so torch.export's dynamic_shapes match
                out = self.model(**dict(zip(names, args)), return_dict=False)
                return tuple(out[:n_out])

        return Wrapper().eval()


VOCAB = 500


def _bert() -> Any:
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    return _HFWrapper.make(BertModel(cfg), ("input_ids", "attention_mask", "token_type_ids"), 2)


def _distilbert() -> Any:
    from transformers import DistilBertConfig, DistilBertModel

    cfg = DistilBertConfig(
        vocab_size=VOCAB, dim=64, n_layers=2, n_heads=4, hidden_dim=128, max_position_embeddings=64
    )
    return _HFWrapper.make(DistilBertModel(cfg), ("input_ids", "attention_mask"), 1)


def _gpt2() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=VOCAB,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=64,
        bos_token_id=0,  # within the small vocabulary
        eos_token_id=0,
        use_cache=False,
    )
    return _HFWrapper.make(GPT2LMHeadModel(cfg), ("input_ids", "attention_mask"), 1)


def _vit() -> Any:
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        num_labels=10,
    )
    return _HFWrapper.make(ViTForImageClassification(cfg), ("pixel_values",), 1)


def _resnet(bottleneck: bool) -> Any:
    import torch
    from torch import nn

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if stride != 1 or cin != cout
                else None
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            mid = cout // 4
            self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
            self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.down = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if stride != 1 or cin != cout
                else None
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn1(self.conv1(x)))
            y = torch.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    block = Bottleneck if bottleneck else Basic
    widths = (32, 64) if bottleneck else (16, 32)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 16, 7, 2, 3, bias=False),
                nn.BatchNorm2d(16),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
            self.layer1 = nn.Sequential(block(16, widths[0], 1), block(widths[0], widths[0], 1))
            self.layer2 = nn.Sequential(block(widths[0], widths[1], 2), block(widths[1], widths[1], 1))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(widths[1], 10)
            nn.init.zeros_(self.fc.weight)  # as torchvision's zero-init options do: re-randomized below

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
            x = self.layer2(self.layer1(self.stem(x)))
            return (self.fc(torch.flatten(self.pool(x), 1)),)

    return ResNet().eval()


def _mobilenet_v2() -> Any:
    import torch
    from torch import nn

    def cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[nn.Module] = [cbr(cin, hidden, 1)] if expand != 1 else []
            layers += [
                cbr(hidden, hidden, 3, stride, groups=hidden),  # depthwise
                nn.Conv2d(hidden, cout, 1, bias=False),  # linear bottleneck
                nn.BatchNorm2d(cout),
            ]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x) if self.residual else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                cbr(3, 16, 3, 2),
                InvertedResidual(16, 8, 1, 1),
                InvertedResidual(8, 16, 2, 6),
                InvertedResidual(16, 16, 1, 6),
                InvertedResidual(16, 24, 2, 6),
                InvertedResidual(24, 24, 1, 6),
                cbr(24, 64, 1),
            )
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, 10))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
            x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
            return (self.classifier(torch.flatten(x, 1)),)

    return MobileNetV2().eval()


_text_axes = {0: "batch", 1: "seq"}

MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "bert",
            _bert,
            lambda rng, ex: _tokens(rng, VOCAB, *_text_shape(rng, ex), types=True),
            ("last_hidden_state", "pooler_output"),
            {k: _text_axes for k in ("input_ids", "attention_mask", "token_type_ids")},
            {"seq": 64},
        ),
        ModelSpec(
            "distilbert",
            _distilbert,
            lambda rng, ex: _tokens(rng, VOCAB, *_text_shape(rng, ex)),
            ("last_hidden_state",),
            {k: _text_axes for k in ("input_ids", "attention_mask")},
            {"seq": 64},
        ),
        ModelSpec(
            "gpt2",
            _gpt2,
            lambda rng, ex: _tokens(rng, VOCAB, *_text_shape(rng, ex)),
            ("logits",),
            {k: _text_axes for k in ("input_ids", "attention_mask")},
            {"seq": 64},
        ),
        ModelSpec(
            "vit",
            _vit,
            lambda rng, ex: _image(rng, ex, 32),
            ("logits",),
            {"pixel_values": {0: "batch"}},
        ),
        ModelSpec(
            "resnet_basic",
            lambda: _resnet(False),
            lambda rng, ex: _image(rng, ex, 32),
            ("logits",),
            {"pixel_values": {0: "batch"}},
        ),
        ModelSpec(
            "resnet_bottleneck",
            lambda: _resnet(True),
            lambda rng, ex: _image(rng, ex, 32),
            ("logits",),
            {"pixel_values": {0: "batch"}},
        ),
        ModelSpec(
            "mobilenet_v2",
            _mobilenet_v2,
            lambda rng, ex: _image(rng, ex, 32),
            ("logits",),
            {"pixel_values": {0: "batch"}},
        ),
    ]
}
CASES = [(m, e) for m in MODELS for e in EXPORTERS]


def rerandomize(model: Any, seed: int = 0) -> None:
    """Replace every float parameter and BatchNorm statistic with values that keep activations O(1).

    Matrices and kernels: N(0, 1/fan_in); 1-D weights (norm gammas): U(0.5, 1.5); biases and running
    means: N(0, 0.1^2); running variances: U(0.5, 2). Tied weights stay tied (each tensor once).
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    seen: set[int] = set()
    with torch.no_grad():
        tensors = [*model.named_parameters(remove_duplicate=True), *model.named_buffers()]
        for name, t in tensors:
            if not t.is_floating_point() or id(t) in seen:
                continue
            seen.add(id(t))
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_var":
                new = torch.rand(t.shape, generator=g) * 1.5 + 0.5
            elif leaf == "running_mean" or (t.ndim == 1 and "bias" in leaf):
                new = torch.randn(t.shape, generator=g) * 0.1
            elif t.ndim == 1:
                new = torch.rand(t.shape, generator=g) + 0.5
            elif t.ndim >= 2:
                fan_in = math.prod(t.shape[1:])
                new = torch.randn(t.shape, generator=g) / math.sqrt(fan_in)
            else:
                continue
            t.copy_(new.to(t.dtype))


def build(name: str) -> Any:
    import torch

    torch.manual_seed(0)
    model = MODELS[name].build()
    rerandomize(model)
    return model.eval()


# ---------------------------------------------------------------------------------------------------
# Export and cache


def _versions() -> dict[str, str]:
    import onnx
    import torch

    out = {"torch": torch.__version__, "onnx": onnx.__version__}
    for mod in ("transformers", "onnxscript"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "none"
    return out


def cache_dir(tag: str | None = None) -> Path:
    """The folder of exported files for these library versions and ``tag`` (by default a hash of this
    file, so that editing a model definition here exports it again)."""
    root = os.environ.get("TRITIUM_MODEL_CACHE") or os.path.join(tempfile.gettempdir(), "tritium-model-cache")
    v = _versions()
    tag = tag or hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    key = f"torch{v['torch']}-tf{v['transformers']}-onnx{v['onnx']}-oxs{v['onnxscript']}-{tag}"
    return Path(root) / key.replace("+", "_")


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".partial")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache may be shared
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def export_module(
    module: Any,
    example: dict[str, np.ndarray],
    path: Path,
    exporter: str,
    outputs: tuple[str, ...],
    dynamic: dict[str, dict[int, str]],
    dim_max: dict[str, int] | None = None,
) -> None:
    """Export ``module`` (called with the example inputs in order) to a single self-contained file."""
    import onnx
    import torch

    args = tuple(torch.from_numpy(v) for v in example.values())
    names = list(example)
    logger = logging.getLogger("torch.onnx")  # "torchvision is not installed" notes and the like
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if exporter == "legacy":
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    dynamo=False,
                    opset_version=LEGACY_OPSET,
                    input_names=names,
                    output_names=list(outputs),
                    dynamic_axes=dynamic,
                )
            elif exporter == "dynamo":
                dims = {
                    d: torch.export.Dim(d, max=(dim_max or {}).get(d, 4096))
                    for ax in dynamic.values()
                    for d in ax.values()
                }
                shapes = tuple(
                    {a: dims[d] for a, d in dynamic[n].items()} if n in dynamic else None for n in names
                )
                program = torch.onnx.export(
                    module,
                    args,
                    dynamo=True,
                    input_names=names,
                    output_names=list(outputs),
                    dynamic_shapes=shapes,
                    verbose=False,
                )
                # One file with the weights inline (under 2 GB), as such models are usually shipped.
                onnx.save_model(program.model_proto, str(path), save_as_external_data=False)
            else:
                raise ValueError(f"unknown exporter {exporter!r}")
    finally:
        logger.setLevel(level)


def exported(name: str, exporter: str) -> Path:
    """The cached ONNX file of model ``name`` from ``exporter``, exporting it first if needed."""
    path = cache_dir() / f"{name}-{exporter}.onnx"
    if path.exists():
        return path
    spec = MODELS[name]
    example = spec.inputs(np.random.default_rng(0), True)
    module = build(name)
    return atomic_write(
        path,
        lambda tmp: export_module(module, example, tmp, exporter, spec.outputs, spec.dynamic, spec.dim_max),
    )
