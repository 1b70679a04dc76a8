"""The fused element-wise epilogue as ALU micro-kernels over an ACC tile.

After the GEMMs of an output tile, the accumulator rows go through the
:class:`~vta.compiler.reference_ops.Epilogue` in its fixed order, one ALU instruction per
operation: ADD bias rows (loaded into ACC beside the tile), SHR by an immediate, MAX/MIN
with immediates (clip), ADD residual rows (loaded with ``LOAD ACC_8BIT``, sign-extended),
MAX/MIN again.  Every ALU write-back also narrows into the OUT buffer, so the store after
the last operation writes the truncated int8 result.
"""

from __future__ import annotations

from vta.hw.isa import AluOp

from .reference_ops import Epilogue
from .tile_program import Kernel

__all__ = ["epilogue_kernels", "alu_kernel"]


def alu_kernel(loops: tuple[tuple[int, int, int], ...], uops: tuple[tuple[int, int], ...],
               opcode: int, imm: int | None = None) -> Kernel:
    """An ALU kernel: ``loops`` of ``(extent, dst_factor, src_factor)``, ``uops`` of
    ``(dst, src)``; ``imm`` given means ``use_imm`` (src then mirrors dst)."""
    return Kernel("alu", tuple((e, d, s, 0) for e, d, s in loops),
                  tuple((d, s, 0) for d, s in uops), alu_opcode=int(opcode),
                  use_imm=imm is not None, imm=0 if imm is None else int(imm))


def epilogue_kernels(epilogue: Epilogue, loops: tuple[tuple[int, int, int], ...],
                     uops: tuple[tuple[int, int], ...], residual_delta: int = 0
                     ) -> tuple[Kernel, ...]:
    """ALU kernels applying ``epilogue`` to an ACC tile.

    Parameters
    ----------
    loops:
        ``(extent, dst_factor, bias_factor)`` hardware loops over the tile, outer first.
    uops:
        ``(dst, bias)`` absolute ACC indices of the loop body: an output row and the bias
        row for its channel block.
    residual_delta:
        ACC index distance from an output row to its residual row (same tile layout).
    """
    imm_loops = tuple((e, d, d) for e, d, _ in loops)
    imm_uops = tuple((d, d) for d, _ in uops)
    out: list[Kernel] = []

    def clip(bounds: tuple[int, int]) -> None:
        out.append(alu_kernel(imm_loops, imm_uops, AluOp.MAX, bounds[0]))
        out.append(alu_kernel(imm_loops, imm_uops, AluOp.MIN, bounds[1]))

    if epilogue.bias:
        out.append(alu_kernel(loops, uops, AluOp.ADD))
    if epilogue.shift:
        out.append(alu_kernel(imm_loops, imm_uops, AluOp.SHR, epilogue.shift))
    if epilogue.clip is not None:
        clip(epilogue.clip)
    if epilogue.residual:
        out.append(alu_kernel(imm_loops, tuple((d, d + residual_delta) for d, _ in uops),
                              AluOp.ADD))
    if epilogue.residual_clip is not None:
        clip(epilogue.residual_clip)
    return tuple(out)
