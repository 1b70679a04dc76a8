"""dense (fully connected) lowered to a :class:`~vta.compiler.tile_program.TileProgram`.

Packed layouts: data ``(N/B, K/BLOCK, B, BLOCK)`` int8, weight ``(M/BLOCK, K/BLOCK, BLOCK,
BLOCK)`` int8, output ``(N/B, M/BLOCK, B, BLOCK)`` int8, bias ``(M/BLOCK, B, BLOCK)`` int32,
residual like the output.  SRAM: input chunk ``[n][k]``, weight chunk ``[m][k]``, ACC tile
``[n][m]`` then bias rows ``[m]`` and residual rows ``[n][m]``.  The GEMM kernel loops over
``n`` and ``k`` in hardware; its uops run over ``m``.
"""

from __future__ import annotations

from vta.hw.config import VTAConfig
from vta.hw.isa import MemType

from .elementwise import epilogue_kernels
from .reference_ops import NO_EPILOGUE, Epilogue
from .schedule import (
    DenseSchedule,
    DenseWorkload,
    ceil_div,
    check_dense_schedule,
    reuse_flags,
)
from .tile_program import DmaLoad, DmaStore, Kernel, Operand, Step, Tile, TileProgram

__all__ = ["lower_dense", "dense_operands"]


def dense_operands(w: DenseWorkload, config: VTAConfig,
                   epilogue: Epilogue) -> dict[str, Operand]:
    nb, kb, mb = w.blocks(config)
    ops = {"data": Operand(MemType.INP, nb * kb), "weight": Operand(MemType.WGT, mb * kb),
           "out": Operand(MemType.OUT, nb * mb)}
    if epilogue.bias:
        ops["bias"] = Operand(MemType.ACC, mb)
    if epilogue.residual:
        ops["residual"] = Operand(MemType.ACC_8BIT, nb * mb)
    return ops


def lower_dense(w: DenseWorkload, s: DenseSchedule, config: VTAConfig,
                epilogue: Epilogue = NO_EPILOGUE) -> TileProgram:
    """Lower a dense layer under schedule ``s`` (checked and clamped here).

    Raises
    ------
    ScheduleError
        if the schedule does not fit the configuration.
    """
    s = check_dense_schedule(w, s, config, epilogue)
    nb, kb, mb = w.blocks(config)
    T = s.threads
    inp_half, wgt_half = config.inp_depth // T, config.wgt_depth // T
    acc_half = config.acc_depth // T
    if s.order == "oc_outer":
        order = [(n0, m0) for m0 in range(0, mb, s.m_tile) for n0 in range(0, nb, s.n_tile)]
    else:
        order = [(n0, m0) for n0 in range(0, nb, s.n_tile) for m0 in range(0, mb, s.m_tile)]
    inp_reuse, wgt_reuse = reuse_flags(ceil_div(kb, s.k_tile), ceil_div(mb, s.m_tile),
                                       ceil_div(nb, s.n_tile), T, s.order)
    inp_held: list[object] = [None] * T
    wgt_held: list[object] = [None] * T
    tiles, step = [], 0
    for index, (n0, m0) in enumerate(order):
        tn, tm = min(s.n_tile, nb - n0), min(s.m_tile, mb - m0)
        abase = (index % T) * acc_half
        bias_base = abase + tn * tm
        res_base = bias_base + (tm if epilogue.bias else 0)
        prologue: list[Kernel | DmaLoad] = [Kernel(
            "gemm", ((tn, tm, 0, 0),), tuple((abase + m, 0, 0) for m in range(tm)),
            reset=True)]
        if epilogue.bias:
            prologue.append(DmaLoad(MemType.ACC, bias_base, "bias", m0, 1, tm, tm))
        if epilogue.residual:
            prologue.append(DmaLoad(MemType.ACC_8BIT, res_base, "residual", n0 * mb + m0,
                                    tn, tm, mb))
        steps = []
        for k0 in range(0, kb, s.k_tile):
            tk = min(s.k_tile, kb - k0)
            h = step % T
            ibase, wbase = h * inp_half, h * wgt_half
            loads = []
            if not inp_reuse or inp_held[h] != (n0, tn, k0, tk):
                inp_held[h] = (n0, tn, k0, tk)
                loads.append(DmaLoad(MemType.INP, ibase, "data", n0 * kb + k0, tn, tk, kb))
            if not wgt_reuse or wgt_held[h] != (m0, tm, k0, tk):
                wgt_held[h] = (m0, tm, k0, tk)
                loads.append(DmaLoad(MemType.WGT, wbase, "weight", m0 * kb + k0, tm, tk, kb))
            gemm = Kernel("gemm", ((tn, tm, tk, 0), (tk, 0, 1, 1)),
                          tuple((abase + m, ibase, wbase + m * tk) for m in range(tm)))
            steps.append(Step(tuple(loads), (gemm,)))
            step += 1
        alu = epilogue_kernels(epilogue, ((tn, tm, 0),),
                               tuple((abase + m, bias_base + m) for m in range(tm)),
                               res_base - abase)
        stores = (DmaStore(abase, "out", n0 * mb + m0, tn, tm, mb),)
        tiles.append(Tile(tuple(prologue), tuple(steps), alu, stores))
    return TileProgram(T, tiles, dense_operands(w, config, epilogue),
                       description=f"dense {s.to_dict()}", stats={"schedule": s.to_dict()})
