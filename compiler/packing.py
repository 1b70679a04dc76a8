"""Operands in the accelerator's packed layouts: packed shapes, the bias vector and the
epilogue's constant rows.

The layouts themselves are :mod:`vta.runtime.layout` (activations ``NCHW ->
(N/B, C/BLOCK, H, W, B, BLOCK)``, matrices ``(N, K) -> (N/B, K/BLOCK, B, BLOCK)``, weights
with ``BLOCK x BLOCK`` elements); a bias is one int32 ACC element per output-channel block,
``(O/BLOCK, B, BLOCK)``, repeated over the batch lanes; the constant rows are ``R`` such
elements per block, ``(O/BLOCK, R, B, BLOCK)``.
"""

from __future__ import annotations

import functools

import numpy as np
from vta.hw.config import VTAConfig

from .errors import OperatorError

__all__ = ["activation_shape", "matrix_view", "weight_shape", "pack_bias", "pack_const_rows",
           "super_groups", "grouped_weight"]


def _blocks(n: int, block: int) -> int:
    return -(-n // block)


def matrix_view(shape: tuple[int, ...]) -> tuple[int, int]:
    """The ``(N, K)`` matrix a dense layer sees in a ``(..., K)`` activation: leading axes
    (batch, sequence) are rows."""
    n = 1
    for d in shape[:-1]:
        n *= d
    return n, shape[-1]


def activation_shape(shape: tuple[int, ...], config: VTAConfig) -> tuple[int, ...]:
    """The packed shape of an NCHW or ``(..., K)`` int8 activation."""
    c = config
    if len(shape) == 4:
        n, ch, h, w = shape
        return (_blocks(n, c.batch), _blocks(ch, c.block), h, w, c.batch, c.block)
    n, k = matrix_view(shape)
    return (_blocks(n, c.batch), _blocks(k, c.block), c.batch, c.block)


def weight_shape(shape: tuple[int, ...], config: VTAConfig) -> tuple[int, ...]:
    """The packed shape of OIHW conv weights or ``(M, K)`` dense weights."""
    b = config.block
    if len(shape) == 4:
        o, i, kh, kw = shape
        return (_blocks(o, b), _blocks(i, b), kh, kw, b, b)
    m, k = shape
    return (_blocks(m, b), _blocks(k, b), b, b)


def pack_bias(bias: np.ndarray, config: VTAConfig, out_blocks: int) -> np.ndarray:
    """An int32 bias vector -> ACC elements ``(OC/BLOCK, BATCH, BLOCK)`` (zero-padded,
    repeated over the batch lanes)."""
    bias = np.asarray(bias)
    if bias.dtype != np.int32 or bias.ndim != 1:
        raise OperatorError(f"bias must be a 1-D int32 array, not {bias.dtype} of shape "
                            f"{bias.shape}")
    n = out_blocks * config.block
    if bias.shape[0] > n:
        raise OperatorError(f"bias has {bias.shape[0]} values, more than the {n} output "
                            f"channels")
    padded = np.zeros(n, dtype=np.int32)
    padded[:bias.shape[0]] = bias
    return np.ascontiguousarray(np.broadcast_to(
        padded.reshape(out_blocks, 1, config.block),
        (out_blocks, config.batch, config.block)))


def pack_const_rows(rows: np.ndarray, config: VTAConfig, out_blocks: int) -> np.ndarray:
    """int32 constant rows ``(R, O)`` (one value per output channel each) -> ACC elements
    ``(O/BLOCK, R, BATCH, BLOCK)`` (zero-padded, repeated over the batch lanes)."""
    rows = np.asarray(rows)
    if rows.dtype != np.int32 or rows.ndim != 2:
        raise OperatorError(f"constant rows must be a 2-D int32 array (rows, channels), not "
                            f"{rows.dtype} of shape {rows.shape}")
    n = out_blocks * config.block
    if rows.shape[1] > n:
        raise OperatorError(f"constant rows have {rows.shape[1]} channels, more than the "
                            f"{n} output channels")
    padded = np.zeros((rows.shape[0], n), np.int32)
    padded[:, :rows.shape[1]] = rows
    blocks = padded.reshape(rows.shape[0], out_blocks, 1, config.block).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(np.broadcast_to(
        blocks, (out_blocks, rows.shape[0], config.batch, config.block)))


@functools.lru_cache(maxsize=1024)
def super_groups(groups: int, in_channels: int, out_channels: int, block: int
                 ) -> tuple[int, int, int]:
    """(super-groups, input and output blocks of each) of a grouped convolution; see
    :meth:`vta.compiler.workload.Conv2dWorkload.group_blocks`."""
    if groups == 1:
        return 1, _blocks(in_channels, block), _blocks(out_channels, block)
    cin, cout = in_channels // groups, out_channels // groups
    for s in range(1, groups + 1):
        if groups % s == 0 and (s * cin) % block == 0 and (s * cout) % block == 0:
            return groups // s, s * cin // block, s * cout // block
    return 1, _blocks(in_channels, block), _blocks(out_channels, block)


def grouped_weight(weight: np.ndarray, groups: int, in_channels: int, config: VTAConfig
                   ) -> np.ndarray:
    """A grouped convolution's ``(O, C / groups, KH, KW)`` weight as the ``(O, Cs, KH, KW)``
    weight of its super-groups (:meth:`~vta.compiler.workload.Conv2dWorkload.group_blocks`):
    output channel ``o`` of super-group ``s`` holds its group's taps at the group's input
    channels within the ``Cs`` channels of ``s`` and zeros elsewhere (a block-diagonal
    weight).  ``groups == 1`` returns ``weight`` unchanged."""
    if groups == 1:
        return weight
    o, cin, kh, kw = weight.shape
    width = super_groups(groups, in_channels, o, config.block)[1] * config.block
    out = np.zeros((o, width, kh, kw), dtype=weight.dtype)
    cout = o // groups
    for g in range(groups):   # group g's inputs start g * cin channels into the tensor
        first = g * cin % width
        out[g * cout:(g + 1) * cout, first:first + cin] = weight[g * cout:(g + 1) * cout]
    return out
