"""Hand-tiled int8 GEMM and convolution written directly against the command queue.

The worked examples of docs/runtime.md, and the runtime-level workload of ``vta bench``
(the same layers without the compiler):

* :func:`tiled_gemm`: ``clip((A . W^T) >> shift, -128, 127)`` with int8 operands, tiled
  over the SRAMs, with two *virtual threads*: iterations alternate between the two halves
  of the INP/WGT buffers and the dependency tokens let one thread's loads run while the
  other computes; output tiles alternate between two ACC halves so stores overlap too.
* :func:`conv2d`: a ResNet-style int8 convolution (batch 1, any kernel size, padding and
  stride) with the requantisation of SPEC section 8: ``>> shift``, ``+ bias``, clip to
  ``[0, 127]``, cast to int8; same pipelining.

Both return numpy arrays and are checked bit for bit against :func:`gemm_reference` and
:func:`conv2d_reference` by the tests.  The token pattern (TVM's)::

    prologue   dep_push(C, L) x2          # both INP/WGT halves start free
               dep_push(S, C) x2          # both ACC halves start free
    per tile   dep_pop(S, C)              # wait until this ACC half was stored
               reset, and for each reduction step:
                   dep_pop(C, L); loads; dep_push(L, C)
                   dep_pop(L, C); GEMMs; dep_push(C, L)
               ALU requantisation; dep_push(C, S); dep_pop(C, S); store; dep_push(S, C)
    epilogue   dep_pop(C, L) x2; dep_pop(S, C) x2
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from vta.driver.result import RunResult
from vta.hw.isa import AluOp, MemType
from vta.runtime.command_queue import COMPUTE, LOAD, STORE, CommandQueue
from vta.runtime.errors import CommandError
from vta.runtime.layout import pack_matrix, pack_nchw, pack_oihw, unpack_matrix, unpack_nchw

__all__ = ["tiled_gemm", "gemm_reference", "conv2d", "conv2d_reference", "conv_output_size"]


def gemm_reference(a: np.ndarray, w: np.ndarray, shift: int) -> np.ndarray:
    """numpy: ``clip((a . w^T) >> shift, -128, 127)`` as int8 (int32 wrap-around)."""
    acc = (a.astype(np.int64) @ w.astype(np.int64).T).astype(np.int32)
    return np.clip(acc >> shift, -128, 127).astype(np.int8)


def conv_output_size(size: int, kernel: int, pad: int, stride: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def conv2d_reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray, pad: int, stride: int,
                     shift: int) -> np.ndarray:
    """numpy: NCHW int8 conv, then ``>> shift``, ``+ bias``, clip to [0, 127], int8."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    ho, wo = conv_output_size(h, k, pad, stride), conv_output_size(wd, k, pad, stride)
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    acc = np.zeros((n, o, ho, wo), dtype=np.int64)
    w64 = w.astype(np.int64)
    for kh in range(k):
        for kw in range(k):
            patch = xp[:, :, kh:kh + stride * ho:stride, kw:kw + stride * wo:stride]
            acc += np.einsum("nchw,oc->nohw", patch, w64[:, :, kh, kw])
    acc32 = acc.astype(np.int32)
    res = (acc32 >> shift) + bias.astype(np.int32)[None, :, None, None]
    return np.clip(res, 0, 127).astype(np.int8)


def _check_shift(shift: int) -> None:
    # SHR reads its amount as a signed LOG_ACC_WIDTH-bit number: 16..31 shift *left*.
    if not 0 <= shift <= 15:
        raise CommandError(f"shift must be in [0, 15] (the ALU's SHR amount), not {shift}")


def _alu(q: CommandQueue, key: Any, op: AluOp, base: int, count: int, imm: int) -> None:
    def record(k: Any) -> None:
        with k.loop(count, 1, 1):
            k.alu(op, base, base, imm=imm)
    q.push_alu_op(key, record)


def _reset(q: CommandQueue, key: Any, base: int, count: int) -> None:
    def record(k: Any) -> None:
        with k.loop(count, 1, 0, 0):
            k.gemm(base, 0, 0, reset=True)
    q.push_gemm_op(key, record)


@contextlib.contextmanager
def _two_virtual_threads(q: CommandQueue) -> Iterator[None]:
    """The token prologue and epilogue of two virtual threads: both INP/WGT halves and
    both ACC halves start free; at the end every token is taken back."""
    for src, dst in ((COMPUTE, LOAD), (COMPUTE, LOAD), (STORE, COMPUTE), (STORE, COMPUTE)):
        q.dep_push(src, dst)
    yield
    for src, dst in ((COMPUTE, LOAD), (COMPUTE, LOAD), (STORE, COMPUTE), (STORE, COMPUTE)):
        q.dep_pop(src, dst)


def _store_tile(q: CommandQueue, acc0: int, dst: Any, offset: int, x_size: int, y_size: int,
                x_stride: int) -> None:
    """Hand the finished ACC tile to the store stage, store it, free the ACC half."""
    q.dep_push(COMPUTE, STORE)
    q.dep_pop(COMPUTE, STORE)
    q.store_buffer_2d(acc0, MemType.OUT, dst, offset, x_size, y_size, x_stride)
    q.dep_push(STORE, COMPUTE)


def tiled_gemm(q: CommandQueue, a: np.ndarray, w: np.ndarray, *, shift: int = 8,
               tile: tuple[int, int, int] = (4, 4, 4)) -> tuple[np.ndarray, RunResult | None]:
    """``clip((a . w^T) >> shift, -128, 127)`` on the device; returns (result, run result).

    Parameters
    ----------
    q:
        The command queue.
    a, w:
        int8 matrices ``(M, K)`` and ``(N, K)``; M, N, K are padded to the block sizes.
    shift:
        Right shift before clipping (0..15).
    tile:
        ``(tm, tn, tk)`` tile sizes in SRAM elements (rows of BATCH, blocks of BLOCK).
    """
    c = q.config
    _check_shift(shift)
    b, bi, bo = c.batch, c.block_in, c.block_out
    ap = pack_matrix(np.asarray(a, dtype=np.int8), b, bi)        # (M/b, K/bi, b, bi)
    wp = pack_matrix(np.asarray(w, dtype=np.int8), bo, bi)       # (N/bo, K/bi, bo, bi)
    mb, kb = ap.shape[:2]
    nb = wp.shape[0]
    tm, tn, tk = (min(tile[0], mb), min(tile[1], nb), min(tile[2], kb))
    if mb % tm or nb % tn or kb % tk:
        raise CommandError(f"tiled_gemm: tile {tm, tn, tk} must divide the blocked shape "
                           f"{mb, nb, kb}")
    half_inp, half_wgt, half_acc = c.inp_depth // 2, c.wgt_depth // 2, c.acc_depth // 2
    if tm * tk > half_inp or tn * tk > half_wgt or tm * tn > half_acc:
        raise CommandError(f"tiled_gemm: tile {tm, tn, tk} does not fit half of the SRAMs")
    a_dev, w_dev = q.array(ap), q.array(wp)
    o_dev = q.empty((mb, nb, b, bo), np.int8)

    def gemm_kernel(h: int, t: int) -> Any:
        inp0, wgt0, acc0 = h * half_inp, h * half_wgt, t * half_acc

        def record(k: Any) -> None:
            with k.loop(tk, 0, 1, 1):                 # reduction: next INP / WGT column
                with k.loop(tm, tn, tk, 0):           # output rows
                    for n in range(tn):               # output blocks: distinct ACC rows
                        k.gemm(acc0 + n, inp0, wgt0 + n * tk)
        return ("tiled_gemm", tm, tn, tk, h, t), record

    step = 0
    with _two_virtual_threads(q):
        for u, (mt, nt) in enumerate((i, j) for i in range(mb // tm) for j in range(nb // tn)):
            t = u % 2
            acc0 = t * half_acc
            q.dep_pop(STORE, COMPUTE)
            _reset(q, ("reset", tm * tn, acc0), acc0, tm * tn)
            for kt in range(kb // tk):
                h = step % 2
                step += 1
                q.dep_pop(COMPUTE, LOAD)
                q.load_buffer_2d(a_dev, mt * tm * kb + kt * tk, tk, tm, kb, 0, 0, 0, 0,
                                 h * half_inp, MemType.INP)
                q.load_buffer_2d(w_dev, nt * tn * kb + kt * tk, tk, tn, kb, 0, 0, 0, 0,
                                 h * half_wgt, MemType.WGT)
                q.dep_push(LOAD, COMPUTE)
                q.dep_pop(LOAD, COMPUTE)
                q.push_gemm_op(*gemm_kernel(h, t))
                q.dep_push(COMPUTE, LOAD)
            n = tm * tn
            _alu(q, ("shr", n, acc0, shift), AluOp.SHR, acc0, n, shift)
            _alu(q, ("max", n, acc0, -128), AluOp.MAX, acc0, n, -128)
            _alu(q, ("min", n, acc0, 127), AluOp.MIN, acc0, n, 127)
            _store_tile(q, acc0, o_dev, mt * tm * nb + nt * tn, tn, tm, nb)
    result = q.synchronize()
    out = unpack_matrix(o_dev.numpy(), len(a), len(w))
    for arr in (a_dev, w_dev, o_dev):
        arr.free()
    return out, result


def conv2d(q: CommandQueue, x: np.ndarray, w: np.ndarray, bias: np.ndarray, *, pad: int,
           stride: int, shift: int, tile: tuple[int, int, int] = (4, 4, 7)
           ) -> tuple[np.ndarray, RunResult | None]:
    """Requantised int8 convolution on the device; returns (NCHW int8 result, run result).

    Parameters
    ----------
    q:
        The command queue.
    x, w, bias:
        int8 ``(1, C, H, W)`` input, int8 ``(O, C, K, K)`` weights, int32 ``(O,)`` bias.
    pad, stride, shift:
        Zero padding (<= 15), stride, right shift of the requantisation.
    tile:
        ``(t_o, t_i, t_h)``: output-channel blocks, input-channel blocks and output rows
        per tile; they must divide ``O/BLOCK``, ``C/BLOCK`` and the output height.
    """
    c = q.config
    _check_shift(shift)
    if c.batch != 1 or x.shape[0] != 1:
        raise CommandError("conv2d example: batch must be 1 (config and input)")
    bi, bo = c.block_in, c.block_out
    _, cin, h, wd = x.shape
    o, _, k, _ = w.shape
    ho, wo = conv_output_size(h, k, pad, stride), conv_output_size(wd, k, pad, stride)
    xp = pack_nchw(np.asarray(x, dtype=np.int8), 1, bi)           # (1, C/bi, H, W, 1, bi)
    wp = pack_oihw(np.asarray(w, dtype=np.int8), bo, bi)          # (O/bo, C/bi, K, K, bo, bi)
    ib, ob = xp.shape[1], wp.shape[0]
    bias_p = np.zeros((ob, 1, bo), dtype=np.int32)
    bias_p.reshape(-1)[:o] = bias
    t_o, t_i, t_h = tile
    if ob % t_o or ib % t_i or ho % t_h:
        raise CommandError(f"conv2d example: tile {tile} must divide (O/BLOCK, C/BLOCK, "
                           f"H_out) = {(ob, ib, ho)}")
    wpad = wd + 2 * pad
    rows = (t_h - 1) * stride + k                                  # input rows per tile
    inp_tile, wgt_tile, acc_tile = t_i * rows * wpad, t_o * t_i * k * k, t_o * t_h * wo
    half_inp, half_wgt = c.inp_depth // 2, c.wgt_depth // 2
    half_acc = (c.acc_depth - 2 * t_o) // 2
    if inp_tile > half_inp or wgt_tile > half_wgt or acc_tile > half_acc:
        raise CommandError(f"conv2d example: tile {tile} needs {inp_tile} INP, {wgt_tile} "
                           f"WGT, {acc_tile} ACC elements; halves hold {half_inp}, "
                           f"{half_wgt}, {half_acc}")
    x_dev, w_dev, b_dev = q.array(xp), q.array(wp), q.array(bias_p)
    o_dev = q.empty((1, ob, ho, wo, 1, bo), np.int8)
    bias_base = 2 * half_acc

    def gemm_kernel(oo: int, hh: int, t: int) -> Any:
        inp0, wgt0, acc0 = hh * half_inp, hh * half_wgt, t * half_acc

        def record(kb: Any) -> None:
            with kb.loop(k, 0, wpad, k):                    # kernel row
                with kb.loop(k, 0, 1, 1):                   # kernel column
                    for i in range(t_i):
                        for y in range(t_h):
                            for xx in range(wo):
                                kb.gemm(acc0 + (oo * t_h + y) * wo + xx,
                                        inp0 + i * rows * wpad + y * stride * wpad + xx * stride,
                                        wgt0 + (oo * t_i + i) * k * k)
        return ("conv", tile, k, stride, wpad, wo, oo, hh, t), record

    def bias_kernel(t: int) -> Any:
        acc0 = t * half_acc

        def record(kb: Any) -> None:
            with kb.loop(t_o, t_h * wo, 1):
                with kb.loop(t_h * wo, 1, 0):
                    kb.alu(AluOp.ADD, acc0, bias_base + t * t_o)
        return ("bias", t_o, t_h * wo, t), record

    step = 0
    tiles = [(ot, rt) for ot in range(ob // t_o) for rt in range(ho // t_h)]
    with _two_virtual_threads(q):
        for u, (ot, rt) in enumerate(tiles):
            t = u % 2
            acc0 = t * half_acc
            q.dep_pop(STORE, COMPUTE)
            q.load_buffer_2d(b_dev, ot * t_o, t_o, 1, t_o, 0, 0, 0, 0, bias_base + t * t_o,
                             MemType.ACC)
            _reset(q, ("reset", acc_tile, acc0), acc0, acc_tile)
            top = rt * t_h * stride - pad                           # first input row needed
            y0, y1 = max(top, 0), min(top + rows, h)
            pad_top, pad_bottom = y0 - top, top + rows - y1
            for it in range(ib // t_i):
                hh = step % 2
                step += 1
                q.dep_pop(COMPUTE, LOAD)
                for i in range(t_i):
                    q.load_buffer_2d(x_dev, (it * t_i + i) * h * wd + y0 * wd, wd, y1 - y0,
                                     wd, pad, pad_top, pad, pad_bottom,
                                     hh * half_inp + i * rows * wpad, MemType.INP)
                q.load_buffer_2d(w_dev, (ot * t_o * ib + it * t_i) * k * k, t_i * k * k, t_o,
                                 ib * k * k, 0, 0, 0, 0, hh * half_wgt, MemType.WGT)
                q.dep_push(LOAD, COMPUTE)
                q.dep_pop(LOAD, COMPUTE)
                for oo in range(t_o):
                    q.push_gemm_op(*gemm_kernel(oo, hh, t))
                q.dep_push(COMPUTE, LOAD)
            _alu(q, ("shr", acc_tile, acc0, shift), AluOp.SHR, acc0, acc_tile, shift)
            q.push_alu_op(*bias_kernel(t))
            _alu(q, ("max", acc_tile, acc0, 0), AluOp.MAX, acc0, acc_tile, 0)
            _alu(q, ("min", acc_tile, acc0, 127), AluOp.MIN, acc0, acc_tile, 127)
            _store_tile(q, acc0, o_dev, ot * t_o * ho * wo + rt * t_h * wo, t_h * wo, t_o,
                        ho * wo)
    result = q.synchronize()
    out = unpack_nchw(o_dev.numpy(), 1, o)
    for arr in (x_dev, w_dev, b_dev, o_dev):
        arr.free()
    return out, result
