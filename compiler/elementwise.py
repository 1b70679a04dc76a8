"""The fused element-wise epilogue as ALU micro-kernels over an ACC tile.

After the GEMMs of an output tile, the accumulator rows go through the
:class:`~vta.compiler.reference_ops.Epilogue` as the instruction sequence
:meth:`~vta.compiler.reference_ops.Epilogue.alu_steps` lists, one ALU instruction per step:
ADD bias rows (loaded into ACC beside the tile), SHR by immediates, MAX/MIN with immediates
(clip), then the residual add -- SHR by negative immediates (left shifts) of the output or
the residual rows (loaded with ``LOAD ACC_8BIT``, sign-extended), ADD of the residual rows,
ADD of the offset immediates, SHR -- and MAX/MIN again.  Every ALU write-back also narrows
into the OUT buffer, so the store after the last operation writes the truncated int8
result.
"""

from __future__ import annotations

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
    """ALU kernels applying ``epilogue`` to an ACC tile (one per ``epilogue.alu_steps()``).

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
    rows = {"out": 0, "residual": residual_delta}
    out: list[Kernel] = []
    for step in epilogue.alu_steps():
        delta = rows[step.rows]
        if step.src == "bias":
            out.append(alu_kernel(loops, uops, step.op))
        elif step.src == "residual":
            out.append(alu_kernel(imm_loops, tuple((d, d + residual_delta) for d, _ in uops),
                                  step.op))
        else:
            out.append(alu_kernel(imm_loops, tuple((d + delta, d + delta) for d, _ in uops),
                                  step.op, step.src))
    return tuple(out)
