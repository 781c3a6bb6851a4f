"""Signal processing: DFT, STFT, window functions and the mel filterbank matrix.

Complex values are held as a trailing axis of size 2 (real, imaginary); real signals have a trailing
axis of size 1. Transforms compute at the operand's precision (single precision for f32 and narrower types, double
for f64) and return its element type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, DTYPE
from tritium.ir.dialects.nn.common import ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

INDEX = [D.i32, D.i64]


def _scalar(op: Op, v: Any) -> int | None:
    """The value of a constant one-element integer operand, else None."""
    c = op.const(v)
    if c is None or c.size != 1:
        return None
    return int(c.reshape(-1)[0])


def _check_scalar(op: Op, v: Any, what: str) -> None:
    if v is None:
        return
    t = ttype(op, v, what)
    if t.shape is not None and any(isinstance(d, int) and d != 1 for d in t.shape):
        op.fail(f"{what} must hold one element, found {t}")


def _one(x: np.ndarray | None) -> int | None:
    return None if x is None else int(np.asarray(x).reshape(-1)[0])


def _to_complex(x: np.ndarray) -> np.ndarray:
    """The complex values of ``x``, at its own precision (single for f32 and narrower, double for
    f64): numpy's FFTs then compute at that precision."""
    real = np.float64 if x.dtype == np.float64 else np.float32
    x = x.astype(real)
    z = np.empty(x.shape[:-1], np.complex128 if real is np.float64 else np.complex64)
    z.real = x[..., 0]
    z.imag = x[..., 1] if x.shape[-1] == 2 else 0
    return z


def _from_complex(z: np.ndarray) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1)


class DFT(Op):
    """ONNX DFT (opset 20 form): the transform of ``x`` along ``axis`` (ONNX's default: -2), with the signal
    zero-padded or cut to ``dft_length``. ``onesided`` keeps ``n // 2 + 1`` bins of a real signal's
    transform (forward), or takes them to rebuild a real signal (inverse, default n = 2 * (bins - 1)).
    The inverse scales by ``1 / n``."""

    name = "nn.dft"
    traits = (Pure,)
    x = operand(D.FLOATS)
    dft_length = opt_operand(INDEX)
    axis = operand([D.i64])
    out = result()
    inverse = attr(BOOL, default=False)
    onesided = attr(BOOL, default=False)

    def _axis(self, rank: int) -> int | None:
        a = _scalar(self, self.axis)
        if a is None:
            return None
        if not (-rank <= a <= -2 or 0 <= a <= rank - 2):
            self.fail(f"axis {a} is out of range for rank {rank} (the last axis holds the complex parts)")
        return a % rank

    def infer(self) -> TensorType:
        t = ttype(self, self.x)
        if t.shape is None:
            return TensorType(None, t.dtype)
        r = len(t.shape)
        if r < 2:
            self.fail(f"input must have a signal axis and a complex axis, found {t}")
        irfft = self.onesided and self.inverse
        shape: list[Dim] = list(t.shape)
        shape[-1] = 1 if irfft else 2
        axis = self._axis(r)
        n = _scalar(self, self.dft_length) if self.dft_length is not None else None
        changes = self.dft_length is not None or self.onesided
        if axis is None:
            if changes:
                shape[:-1] = [None] * (r - 1)
            return TensorType(tuple(shape), t.dtype)
        d = t.shape[axis]
        if n is None and self.dft_length is None and isinstance(d, int):
            n = 2 * (d - 1) if irfft else d
        if self.onesided and not self.inverse:
            shape[axis] = None if n is None else n // 2 + 1
        elif changes:
            shape[axis] = n
        return TensorType(tuple(shape), t.dtype)

    def verify_op(self) -> None:
        t = ttype(self, self.x)
        _check_scalar(self, self.dft_length, "dft_length")
        _check_scalar(self, self.axis, "axis")
        last = t.shape[-1] if t.shape else None
        if isinstance(last, int) and last not in (1, 2):
            self.fail(f"the last axis must be 1 (real) or 2 (complex), found {t}")
        if self.onesided and not self.inverse and last == 2:
            self.fail("a one-sided forward DFT takes a real signal (last axis 1)")
        if self.onesided and self.inverse and last == 1:
            self.fail("a one-sided inverse DFT takes a complex spectrum (last axis 2)")
        n = _scalar(self, self.dft_length) if self.dft_length is not None else None
        if n is not None and n < 1:
            self.fail(f"dft_length must be positive, found {n}")

    def reference(self, x: np.ndarray, dft_length: np.ndarray | None, axis: np.ndarray) -> np.ndarray:
        r = x.ndim
        a = _one(axis)
        if not (-r <= a <= -2 or 0 <= a <= r - 2):  # type: ignore[operator]
            raise ValueError(f"axis {a} is out of range for rank {r}")
        a %= r  # type: ignore[operator]
        n = _one(dft_length)
        z = _to_complex(x)
        if self.onesided and self.inverse:
            if x.shape[-1] != 2:
                raise ValueError("a one-sided inverse DFT takes a complex spectrum")
            n = 2 * (x.shape[a] - 1) if n is None else n
            out = np.fft.irfft(z, n=n, axis=a)[..., None]
        elif self.onesided:
            if x.shape[-1] != 1:
                raise ValueError("a one-sided forward DFT takes a real signal")
            out = _from_complex(np.fft.rfft(z.real, n=n, axis=a))
        elif self.inverse:
            out = _from_complex(np.fft.ifft(z, n=n, axis=a))
        else:
            out = _from_complex(np.fft.fft(z, n=n, axis=a))
        return out.astype(x.dtype)


class STFT(Op):
    """Short-time Fourier transform of ``signal`` [batch, length, 1|2]: frames of ``frame_length``
    (default: the window's length, else the signal's) every ``frame_step`` samples, each multiplied by
    ``window`` (default: ones) and transformed. The result is [batch, frames, bins, 2], bins being
    ``frame_length // 2 + 1`` when ``onesided`` (real signals only), else ``frame_length``."""

    name = "nn.stft"
    traits = (Pure,)
    signal = operand(D.FLOATS)
    frame_step = operand(INDEX)
    window = opt_operand(D.FLOATS)
    frame_length = opt_operand(INDEX)
    out = result()
    onesided = attr(BOOL, default=True)

    def _frame_length(self) -> int | None:
        if self.frame_length is not None:
            return _scalar(self, self.frame_length)
        if self.window is not None:
            w = ttype(self, self.window, "window")
            return w.shape[0] if w.shape and isinstance(w.shape[0], int) else None
        s = ttype(self, self.signal, "signal")
        return s.shape[1] if s.shape and isinstance(s.shape[1], int) else None

    def infer(self) -> TensorType:
        t = ttype(self, self.signal, "signal")
        batch = t.shape[0] if t.shape is not None else None
        length = t.shape[1] if t.shape is not None else None
        fl = self._frame_length()
        step = _scalar(self, self.frame_step)
        frames = (length - fl) // step + 1 if isinstance(length, int) and fl is not None and step else None
        bins = None if fl is None else (fl // 2 + 1 if self.onesided else fl)
        return TensorType((batch, frames, bins, 2), t.dtype)

    def verify_op(self) -> None:
        t = ttype(self, self.signal, "signal")
        if t.shape is not None and (
            len(t.shape) != 3 or (isinstance(t.shape[2], int) and t.shape[2] not in (1, 2))
        ):
            self.fail(f"signal must be [batch, length, 1 or 2], found {t}")
        if self.onesided and t.shape is not None and t.shape[2] == 2:
            self.fail("a one-sided STFT takes a real signal (last axis 1)")
        _check_scalar(self, self.frame_step, "frame_step")
        _check_scalar(self, self.frame_length, "frame_length")
        if self.window is not None:
            w = ttype(self, self.window, "window")
            if w.rank is not None and w.rank != 1:
                self.fail(f"window must be 1-D, found {w}")
        step = _scalar(self, self.frame_step)
        if step is not None and step < 1:
            self.fail(f"frame_step must be positive, found {step}")

    def reference(
        self, signal: np.ndarray, step: np.ndarray, window: np.ndarray | None, frame_length: np.ndarray | None
    ) -> np.ndarray:
        hop = _one(step)
        fl = _one(frame_length)
        if fl is None:
            fl = window.shape[0] if window is not None else signal.shape[1]
        if window is not None and window.shape[0] != fl:
            raise ValueError(f"window has {window.shape[0]} samples, frame_length is {fl}")
        w = np.ones(fl, np.float32) if window is None else window.astype(np.float32)
        if signal.dtype == np.float64:
            w = w.astype(np.float64) if window is None else window.astype(np.float64)
        z = _to_complex(signal)  # [batch, length]
        count = (signal.shape[1] - fl) // hop + 1
        if count < 1:
            raise ValueError(f"signal of {signal.shape[1]} samples is shorter than a frame ({fl})")
        frames = np.stack([z[:, f * hop : f * hop + fl] * w for f in range(count)], axis=1)
        spec = np.fft.rfft(frames.real, axis=-1) if self.onesided else np.fft.fft(frames, axis=-1)
        return _from_complex(spec).astype(signal.dtype)


class WindowOp(Op):
    """A window of ``size`` samples: periodic (one period of a window of size + 1) or symmetric."""

    traits = (Pure,)
    size = operand(INDEX)
    out = result()
    output_datatype = attr(DTYPE, default=D.f32)
    periodic = attr(BOOL, default=True)

    def infer(self) -> TensorType:
        return TensorType((_scalar(self, self.size),), self.output_datatype)

    def verify_op(self) -> None:
        _check_scalar(self, self.size, "size")
        if self.output_datatype.kind not in ("float", "int", "uint"):
            self.fail(f"output_datatype must be numeric, found {self.output_datatype}")

    def terms(self, phase: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference(self, size: np.ndarray) -> np.ndarray:
        n = _one(size)
        if n < 0:  # type: ignore[operator]
            raise ValueError(f"size {n} must not be negative")
        period = n if self.periodic else n - 1  # type: ignore[operator]
        if period <= 0:
            w = np.ones(n)  # type: ignore[arg-type]
        else:
            w = self.terms(2 * np.pi * np.arange(n) / period)
        return w.astype(self.output_datatype.np_dtype)


class HannWindow(WindowOp):
    """0.5 - 0.5 cos(2 pi n / N)"""

    name = "nn.hann_window"

    def terms(self, phase: np.ndarray) -> np.ndarray:
        return 0.5 - 0.5 * np.cos(phase)


class HammingWindow(WindowOp):
    """25/46 - 21/46 cos(2 pi n / N)"""

    name = "nn.hamming_window"

    def terms(self, phase: np.ndarray) -> np.ndarray:
        return 25 / 46 - (21 / 46) * np.cos(phase)


class BlackmanWindow(WindowOp):
    """0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N)"""

    name = "nn.blackman_window"

    def terms(self, phase: np.ndarray) -> np.ndarray:
        return 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2 * phase)


def _mel(f: Any) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _hertz(m: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


class MelWeightMatrix(Op):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters, equally spaced on the mel scale
    (mel(f) = 2595 log10(1 + f / 700)), each peaking at 1.0.

    The num_mel_bins + 2 band edges start at mel(lower_edge_hertz) and are spaced
    (mel(upper_edge_hertz) - mel(lower_edge_hertz)) / (num_mel_bins + 2) apart, as the ONNX
    conformance data defines them; edge ``e`` maps to spectrogram bin
    floor((dft_length + 1) * hertz(e) / sample_rate). Filter ``i`` rises linearly from its edge ``i``
    to 1 at edge ``i + 1`` and falls to 0 at edge ``i + 2``."""

    name = "nn.mel_weight_matrix"
    traits = (Pure,)
    num_mel_bins = operand(INDEX)
    dft_length = operand(INDEX)
    sample_rate = operand(INDEX)
    lower_edge_hertz = operand(D.FLOATS)
    upper_edge_hertz = operand(D.FLOATS)
    out = result()
    output_datatype = attr(DTYPE, default=D.f32)

    def infer(self) -> TensorType:
        n = _scalar(self, self.dft_length)
        return TensorType(
            (None if n is None else n // 2 + 1, _scalar(self, self.num_mel_bins)), self.output_datatype
        )

    def verify_op(self) -> None:
        for v, what in zip(
            self.operands,
            ("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz"),
        ):
            _check_scalar(self, v, what)

    def reference(
        self, num_mel_bins: Any, dft_length: Any, sample_rate: Any, lower: Any, upper: Any
    ) -> np.ndarray:
        bands, n, rate = _one(num_mel_bins), _one(dft_length), _one(sample_rate)
        if bands < 1 or n < 1 or rate < 1:  # type: ignore[operator]
            raise ValueError(f"num_mel_bins {bands}, dft_length {n} and sample_rate {rate} must be positive")
        lo, hi = _mel(float(np.asarray(lower).reshape(-1)[0])), _mel(float(np.asarray(upper).reshape(-1)[0]))
        edges_mel = lo + (hi - lo) * np.arange(bands + 2) / (bands + 2)  # type: ignore[operator]
        edges = np.floor((n + 1) * _hertz(edges_mel) / rate).astype(np.int64)  # type: ignore[operator]
        bins = n // 2 + 1  # type: ignore[operator]
        k = np.arange(bins)[:, None]
        left, center, right = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            rise = np.where(center > left, (k - left) / np.maximum(center - left, 1), 1.0)
            fall = np.where(right > center, (right - k) / np.maximum(right - center, 1), 0.0)
        w = np.where((k >= left) & (k <= center), rise, 0.0)
        w = np.where((k > center) & (k < right), fall, w)
        return w.astype(self.output_datatype.np_dtype)
