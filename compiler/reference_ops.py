"""Numpy int8 reference operators: the exact results the accelerator must reproduce.

Every function here computes in the accelerator's arithmetic: int8 x int8 products summed
into int32 with two's-complement wrap-around, then the element-wise epilogue in the order
the compute module performs it (see :class:`Epilogue`):

1. ``+ bias`` (int32, per output channel, wraps),
2. ``>> shift`` (arithmetic),
3. clip to ``[clip_lo, clip_hi]`` (ALU MAX then MIN),
4. the residual add, ResNet's rescaled ``qadd``: ``(x << lshift) + (residual <<
   residual_lshift) + residual_offset`` (``residual`` a second int8 tensor, sign-extended;
   int32 wrap-around), then ``>> residual_shift`` (arithmetic),
5. clip to ``residual_clip`` (optional),
6. cast to int8 by truncation (the OUT buffer keeps the low 8 bits, no saturation).

:meth:`Epilogue.alu_steps` is the ALU instruction sequence that computes exactly this; the
lowering (:mod:`vta.compiler.elementwise`), the cost model and the tiling search all read it.

Layouts are the plain framework ones: NCHW activations, OIHW weights, (N, K) x (M, K) dense.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from vta.hw.errors import VTAError
from vta.hw.isa import AluOp

__all__ = ["OperatorError", "Epilogue", "NO_EPILOGUE", "AluStep", "conv2d", "dense",
           "apply_epilogue", "conv2d_epilogue", "dense_epilogue", "max_pool2d",
           "check_int_array", "shift_immediates", "add_immediates", "MAX_OFFSET_IMMEDIATES"]

MAX_SHIFT_RIGHT = 15
"""Largest right shift of one SHR immediate (its low 5 bits read as signed: -16..15)."""
MAX_SHIFT_LEFT = 16
"""Largest left shift of one SHR immediate (-16)."""
MAX_OFFSET_IMMEDIATES = 4
"""An epilogue adds its residual offset in at most this many int16 ALU immediates."""


class OperatorError(VTAError):
    """An operator was given arguments it cannot compute (shape, dtype, parameter)."""


def check_int_array(name: str, array: np.ndarray, dtype: type, ndim: int) -> np.ndarray:
    """Return ``array`` if it is an ndarray of ``dtype`` with ``ndim`` dims, else raise.

    Raises
    ------
    OperatorError
        naming the argument, what it was and what was expected.
    """
    if not isinstance(array, np.ndarray):
        raise OperatorError(f"{name} must be a numpy array of {np.dtype(dtype).name}, "
                            f"not {type(array).__name__}")
    if array.dtype != dtype:
        raise OperatorError(f"{name} must have dtype {np.dtype(dtype).name}, not "
                            f"{array.dtype.name} (the accelerator computes int8 x int8 -> "
                            f"int32)")
    if array.ndim != ndim:
        raise OperatorError(f"{name} must have {ndim} dimensions, not shape {array.shape}")
    return array


class AluStep(NamedTuple):
    """One ALU instruction of an epilogue over an output tile.

    Members
    -------
    op:
        The ALU opcode (:class:`~vta.hw.isa.AluOp`).
    rows:
        ``"out"`` (the tile's accumulator rows) or ``"residual"`` (its residual rows).
    src:
        An int immediate, or ``"bias"`` / ``"residual"``: the tensor rows added.
    """

    op: AluOp
    rows: str
    src: int | str


def shift_immediates(amount: int, left: bool = False) -> tuple[int, ...]:
    """SHR immediates shifting by ``amount`` (>= 0) bits: right in steps of at most 15, left
    (negative immediates) in steps of at most 16.  Arithmetic right shifts compose exactly,
    and so do left shifts modulo 2**32."""
    if amount < 0:
        raise OperatorError(f"a shift amount must be >= 0, not {amount}")
    step = MAX_SHIFT_LEFT if left else MAX_SHIFT_RIGHT
    out = [step] * (amount // step) + ([amount % step] if amount % step else [])
    return tuple(-v for v in out) if left else tuple(out)


def _shr_steps(rows: str, amount: int, left: bool = False) -> list[AluStep]:
    return [AluStep(AluOp.SHR, rows, imm) for imm in shift_immediates(amount, left)]


def add_immediates(value: int) -> tuple[int, ...]:
    """int16 immediates whose sum is ``value`` (fewest of them; ADD wraps modulo 2**32, so
    adding them one by one equals one wrapped add of ``value``)."""
    step = 32767 if value > 0 else -32768
    n = -(-value // step) if value else 0
    out = [step] * (n - 1) + [value - step * (n - 1)] if n else []
    return tuple(out)


def _check_int(name: str, value: object, lo: int, hi: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not lo <= value <= hi:
        raise OperatorError(f"{name} must be an integer in [{lo}, {hi}]{why}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Epilogue:
    """The fused element-wise tail of a conv2d/dense, applied to the int32 accumulator.

    Parameters
    ----------
    bias:
        True if a per-output-channel int32 bias is added first.
    shift:
        Arithmetic right shift in ``[0, 31]`` (0: none).
    clip:
        ``(lo, hi)`` int16 bounds applied after the shift, or None.
    residual:
        True if a second int8 tensor of the output's shape is added after the clip.
    residual_clip:
        ``(lo, hi)`` applied after the residual add (e.g. ReLU after a ResNet skip), or None.
    lshift, residual_lshift:
        Left shifts in ``[0, 31]`` of the clipped value and of the residual before they are
        added (the frontend ``qadd``'s ``lshift_a`` / ``lshift_b``), modulo 2**32.
    residual_offset:
        int32 added to the sum (``qadd``'s rounding ``offset``), at most
        :data:`MAX_OFFSET_IMMEDIATES` int16 ALU immediates (``|offset| <= 131068``).
    residual_shift:
        Arithmetic right shift in ``[0, 31]`` after the offset (``qadd``'s ``shift``).

    Raises
    ------
    OperatorError
        for a shift, bound or offset out of range, or residual parameters without
        ``residual=True``.
    """

    bias: bool = False
    shift: int = 0
    clip: tuple[int, int] | None = None
    residual: bool = False
    residual_clip: tuple[int, int] | None = None
    lshift: int = 0
    residual_lshift: int = 0
    residual_offset: int = 0
    residual_shift: int = 0

    def __post_init__(self) -> None:
        for name in ("shift", "lshift", "residual_lshift", "residual_shift"):
            object.__setattr__(self, name, _check_int(name, getattr(self, name), 0, 31))
        limit = 32767 * MAX_OFFSET_IMMEDIATES
        offset = _check_int("residual_offset", self.residual_offset,
                            -32768 * MAX_OFFSET_IMMEDIATES, limit,
                            f" ({MAX_OFFSET_IMMEDIATES} ALU immediates)")
        object.__setattr__(self, "residual_offset", offset)
        for name in ("clip", "residual_clip"):
            bounds = getattr(self, name)
            if bounds is None:
                continue
            if len(bounds) != 2 or not all(isinstance(b, (int, np.integer)) for b in bounds) \
                    or not -(1 << 15) <= bounds[0] <= bounds[1] < (1 << 15):
                raise OperatorError(f"{name} must be (lo, hi) integers with "
                                    f"-32768 <= lo <= hi <= 32767, not {bounds!r}")
            object.__setattr__(self, name, (int(bounds[0]), int(bounds[1])))
        if self.residual_clip is not None and not self.residual:
            raise OperatorError("residual_clip needs residual=True")
        if not self.residual and (self.lshift or self.residual_lshift or offset
                                  or self.residual_shift):
            raise OperatorError("lshift, residual_lshift, residual_offset and residual_shift "
                                "need residual=True")

    @property
    def rescaled(self) -> bool:
        """True if the residual add shifts or offsets (a rescaling ``qadd``)."""
        return bool(self.lshift or self.residual_lshift or self.residual_offset
                    or self.residual_shift)

    def alu_steps(self) -> tuple[AluStep, ...]:
        """The ALU instructions, in order, that compute this epilogue exactly on a tile
        (cached: the tiling search asks for them per candidate).

        The residual add ``((x << a) + (r << b) + off) >> s`` is lowered one of two ways:

        * in general, with ``m = min(a, b)``: ``(x << a) + (r << b) == ((x << a-m) +
          (r << b-m)) << m`` modulo 2**32, so at most one operand needs its own shift;
        * when ``b >= s`` and the clip bounds ``x`` so that nothing can wrap
          (``|x| 2**a + 128 2**b + |off| < 2**31``): ``r << b`` is a multiple of ``2**s``,
          so the result is ``((x << a) + off) >> s + (r << b-s)`` exactly -- for ResNet's
          ``b == s`` skip adds no shift of the residual rows at all.  Chosen when it takes
          fewer instructions.
        """
        return _alu_steps(self)

    def _build_alu_steps(self) -> tuple[AluStep, ...]:
        steps: list[AluStep] = []

        def clip(bounds: tuple[int, int] | None) -> None:
            if bounds is not None:
                steps.extend((AluStep(AluOp.MAX, "out", bounds[0]),
                              AluStep(AluOp.MIN, "out", bounds[1])))

        if self.bias:
            steps.append(AluStep(AluOp.ADD, "out", "bias"))
        steps += _shr_steps("out", self.shift)
        clip(self.clip)
        if self.residual:
            a, b, s = self.lshift, self.residual_lshift, self.residual_shift
            offset = [AluStep(AluOp.ADD, "out", imm)
                      for imm in add_immediates(self.residual_offset)]
            add = [AluStep(AluOp.ADD, "out", "residual")]
            m = min(a, b)
            general = (_shr_steps("out", a - m, True) + _shr_steps("residual", b - m, True)
                       + add + _shr_steps("out", m, True) + offset + _shr_steps("out", s))
            plan = general
            if b >= s and self._no_wrap():
                folded = (_shr_steps("out", a, True) + offset + _shr_steps("out", s)
                          + _shr_steps("residual", b - s, True) + add)
                plan = min(general, folded, key=len)
            steps += plan
        clip(self.residual_clip)
        return tuple(steps)

    def _no_wrap(self) -> bool:
        """True if the residual add cannot wrap: the clip bounds the value it reads."""
        if self.clip is None:
            return False
        x = max(abs(self.clip[0]), abs(self.clip[1]))
        return (x << self.lshift) + (128 << self.residual_lshift) \
            + abs(self.residual_offset) < 1 << 31

    @property
    def alu_passes(self) -> int:
        """ALU instructions per output tile (each one uop per output row)."""
        return len(self.alu_steps())


@functools.lru_cache(maxsize=256)
def _alu_steps(epilogue: Epilogue) -> tuple[AluStep, ...]:
    return epilogue._build_alu_steps()


NO_EPILOGUE = Epilogue()
"""The empty epilogue: the int32 sums truncated to int8."""


def _wrap32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64).astype(np.int32)  # numpy casts wrap modulo 2**32


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int8 (M, K) @ (K, N) exactly, wrapped to int32.

    float64 is exact here: |products| <= 2**14 and K < 2**38 keeps every sum below 2**53
    in chunks of 2**20 terms; BLAS makes it fast.
    """
    k = a.shape[1]
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for k0 in range(0, max(k, 1), 1 << 20):
        out += (a[:, k0:k0 + (1 << 20)].astype(np.float64)
                @ b[k0:k0 + (1 << 20)].astype(np.float64)).astype(np.int64)
    return _wrap32(out)


def _pair(name: str, value: int | tuple[int, int], lo: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= lo for v in pair):
        raise OperatorError(f"{name} must be an integer >= {lo} or a pair of them, "
                            f"not {value!r}")
    return int(pair[0]), int(pair[1])


def conv2d(data: np.ndarray, weight: np.ndarray, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] = 0) -> np.ndarray:
    """int8 NCHW x int8 OIHW -> int32 NCHW convolution (zero padding, wrap-around sums).

    Raises
    ------
    OperatorError
        for a dtype other than int8, mismatched channels, or a kernel larger than the
        padded input.
    """
    check_int_array("data", data, np.int8, 4)
    check_int_array("weight", weight, np.int8, 4)
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    n, c, h, w = data.shape
    o, c2, kh, kw = weight.shape
    if c2 != c:
        raise OperatorError(f"weight has {c2} input channels, data has {c}")
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if oh <= 0 or ow <= 0:
        raise OperatorError(f"kernel {kh}x{kw} is larger than the padded input "
                            f"{h + 2 * ph}x{w + 2 * pw}")
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=np.int8)
    padded[:, :, ph:ph + h, pw:pw + w] = data
    # im2col: (N*OH*OW, C*KH*KW), columns ordered like the flattened OIHW weight.
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=np.int8)
    for y in range(kh):
        for x in range(kw):
            win = padded[:, :, y:y + sh * (oh - 1) + 1:sh, x:x + sw * (ow - 1) + 1:sw]
            cols[:, :, :, :, y, x] = win.transpose(0, 2, 3, 1)
    out = _exact_matmul(cols.reshape(n * oh * ow, c * kh * kw), weight.reshape(o, -1).T)
    return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2).copy()


def dense(data: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """int8 (N, K) x int8 (M, K) -> int32 (N, M): ``data @ weight.T`` with wrap-around."""
    check_int_array("data", data, np.int8, 2)
    check_int_array("weight", weight, np.int8, 2)
    if data.shape[1] != weight.shape[1]:
        raise OperatorError(f"dense: data has {data.shape[1]} features, weight expects "
                            f"{weight.shape[1]}")
    return _exact_matmul(data, weight.T)


def apply_epilogue(acc: np.ndarray, epilogue: Epilogue, bias: np.ndarray | None = None,
                   residual: np.ndarray | None = None, channel_axis: int = 1) -> np.ndarray:
    """Apply ``epilogue`` to an int32 accumulator and cast to int8, as the hardware does.

    Parameters
    ----------
    acc:
        int32 accumulator, channels on ``channel_axis``.
    bias:
        int32 vector of the channel count (needed iff ``epilogue.bias``).
    residual:
        int8 tensor of ``acc``'s shape (needed iff ``epilogue.residual``).
    """
    check_int_array("accumulator", acc, np.int32, acc.ndim)
    x = acc.astype(np.int64)
    if epilogue.bias:
        if bias is None:
            raise OperatorError("the epilogue adds a bias but none was given")
        check_int_array("bias", bias, np.int32, 1)
        if bias.shape[0] != acc.shape[channel_axis]:
            raise OperatorError(f"bias has {bias.shape[0]} values, expected one per output "
                                f"channel ({acc.shape[channel_axis]})")
        shape = [1] * acc.ndim
        shape[channel_axis] = -1
        x = _wrap32(x + bias.reshape(shape)).astype(np.int64)
    if epilogue.shift:
        x = x >> epilogue.shift
    if epilogue.clip is not None:
        x = np.minimum(np.maximum(x, epilogue.clip[0]), epilogue.clip[1])
    if epilogue.residual:
        if residual is None:
            raise OperatorError("the epilogue adds a residual but none was given")
        check_int_array("residual", residual, np.int8, acc.ndim)
        if residual.shape != acc.shape:
            raise OperatorError(f"residual has shape {residual.shape}, expected the "
                                f"output's {acc.shape}")
        # The rescaled add (frontend qadd): shifts and sums wrap modulo 2**32.
        x = _wrap32(x << epilogue.lshift).astype(np.int64)
        r = _wrap32(residual.astype(np.int64) << epilogue.residual_lshift).astype(np.int64)
        x = _wrap32(x + r + epilogue.residual_offset).astype(np.int64)
        x = x >> epilogue.residual_shift
    if epilogue.residual_clip is not None:
        x = np.minimum(np.maximum(x, epilogue.residual_clip[0]), epilogue.residual_clip[1])
    return x.astype(np.int8)  # truncation to the low 8 bits, like the OUT buffer


def conv2d_epilogue(data: np.ndarray, weight: np.ndarray, epilogue: Epilogue,
                    bias: np.ndarray | None = None, residual: np.ndarray | None = None,
                    stride: int | tuple[int, int] = 1,
                    padding: int | tuple[int, int] = 0) -> np.ndarray:
    """:func:`conv2d` followed by :func:`apply_epilogue`: int8 NCHW out."""
    return apply_epilogue(conv2d(data, weight, stride, padding), epilogue, bias, residual)


def dense_epilogue(data: np.ndarray, weight: np.ndarray, epilogue: Epilogue,
                   bias: np.ndarray | None = None,
                   residual: np.ndarray | None = None) -> np.ndarray:
    """:func:`dense` followed by :func:`apply_epilogue`: int8 (N, M) out."""
    return apply_epilogue(dense(data, weight), epilogue, bias, residual)


def max_pool2d(data: np.ndarray, size: int = 2, stride: int | None = None) -> np.ndarray:
    """Max pooling of an integer NCHW tensor (no padding, floor output size)."""
    stride = size if stride is None else stride
    n, c, h, w = data.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = None
    for y in range(size):
        for x in range(size):
            win = data[:, :, y:y + stride * (oh - 1) + 1:stride,
                       x:x + stride * (ow - 1) + 1:stride]
            out = win.copy() if out is None else np.maximum(out, win)
    return out
