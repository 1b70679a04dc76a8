"""Pass 2 of the kernel compiler: the tiling search.

:func:`schedule_conv2d` (and :func:`schedule_dense`, its matrix case) enumerates the tile
sizes that fit every SRAM buffer of the configuration (:mod:`vta.compiler.workload`) and
picks the one with the fewest estimated cycles (:mod:`vta.compiler.cost_model`), then the
fewest DRAM bytes.  Every field can be forced (``overrides``) for experiments; a forced
schedule that does not fit is a :class:`~vta.compiler.errors.ScheduleError` naming the
buffer.  Two threads never lose to one in the model, so one thread is only the fallback
when no tiling fits the halves.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import fields

from vta.hw.config import VTAConfig

from .cost_model import CostEstimate, CostParams, estimate
from .epilogue import NO_EPILOGUE, Epilogue
from .errors import ScheduleError
from .workload import (
    LOOP_ORDERS,
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    acc_rows_per_tile,
    capacities,
    ceil_div,
    check_positive,
    check_schedule,
    const_rows_per_block,
    conv_input_tile,
    footprint,
    misfit,
)

__all__ = ["schedule_conv2d", "schedule_dense", "shortlist_conv2d", "dense_overrides"]

_TILE_FIELDS = ("oc_tile", "ic_tile", "h_tile", "w_tile")
_DENSE_NAMES = {"n_tile": "n_tile", "m_tile": "oc_tile", "k_tile": "ic_tile"}
"""Dense tile names -> the conv schedule fields of the matrix workload."""


def _ceil_values(total: int) -> list[int]:
    """Tile sizes worth trying: every distinct ``ceil(total / n)`` (largest first)."""
    return sorted({ceil_div(total, n) for n in range(1, total + 1)}, reverse=True)


def _divisor_values(total: int) -> list[int]:
    vals = {d for d in range(1, total + 1) if total % d == 0}
    return sorted(vals | {ceil_div(total, n) for n in (1, 2, 3)}, reverse=True)


def _check_overrides(overrides: dict, cls: type) -> dict:
    names = {f.name for f in fields(cls)}
    for key in overrides:
        if key not in names:
            raise ScheduleError(f"unknown schedule override {key!r}; expected one of "
                                f"{', '.join(sorted(names))}")
    return {k: v for k, v in overrides.items() if v is not None}


Candidates = Iterator[tuple[int, Iterable[tuple[int, ...]]]]
"""Groups of tilings, each with a lower bound of its estimated cycles; a tiling is the
:class:`ConvSchedule` fields (built only when the search visits its group)."""


def _image_candidates(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue,
                      forced: dict, threads: int) -> Candidates:
    """Image tilings (one group per tile size: its loop orders) that can fit, with a lower
    bound on their cycles (GEMM and epilogue uops plus per-instruction start-up, no
    DMA)."""
    n_groups, icb, ocb = w.group_blocks(config)   # per super-group
    oh, ow = w.out_height, w.out_width
    order_opts = [forced["order"]] if "order" in forced else list(LOOP_ORDERS)
    oc_opts = [forced["oc_tile"]] if "oc_tile" in forced else _divisor_values(ocb)
    ic_opts = [forced["ic_tile"]] if "ic_tile" in forced else _divisor_values(icb)
    h_opts = [forced["h_tile"]] if "h_tile" in forced else _ceil_values(oh)
    kk = w.kernel_area
    nb = w.blocks(config)[0]
    # ALU passes a row costs beside its GEMM uops (none when they overlap the next
    # tile's GEMMs), and its reset pass (none when the first step overwrites).
    n_alu = 0 if config.ALU_OVERLAP and threads >= 2 else epilogue.alu_passes
    reset = 0 if config.GEMM_OVERWRITE else 1
    n_const = const_rows_per_block(w, epilogue)
    ovh = CostParams().insn_overhead
    fixed = nb * n_groups * ocb * oh * ow * (icb * kk + reset + n_alu)
    cap = capacities(config, threads)
    for oc in oc_opts:
        for ic in ic_opts:
            for ht in h_opts:
                # Widest w tile that fits (full rows make the longest uop loops).
                if "w_tile" in forced:
                    w_opts = [forced["w_tile"]]
                else:
                    w_opts = sorted({ow, ceil_div(ow, 2), ceil_div(ow, 4)}, reverse=True)
                    if ht == 1:  # the only way to shrink further
                        w_opts = _ceil_values(ow)
                n_chunks = ceil_div(icb, ic)
                orders = order_opts if n_chunks in (1, threads) else order_opts[:1]
                tih = conv_input_tile(w, ht, 1)[0]
                for wt in w_opts:
                    # Cheap capacity checks first (the search visits many candidates).
                    tiw = (wt - 1) * w.stride[1] + w.kernel_span[1]
                    rows = oc * ht * wt
                    if ic * tih * tiw > cap["inp"] or oc * ic * kk > cap["wgt"] \
                            or acc_rows_per_tile(rows, oc, epilogue, n_const) > cap["acc"]:
                        continue
                    tiles = nb * n_groups * ceil_div(ocb, oc) * ceil_div(oh, ht) \
                        * ceil_div(ow, wt)
                    bound = fixed + (tiles * n_chunks + tiles * (1 + n_alu)) * ovh
                    if order_opts == list(LOOP_ORDERS) and ocb <= oc and n_groups == 1:
                        group_orders = orders[:1]   # one oc tile: the orders are the same
                    else:
                        group_orders = orders
                    yield bound, [(oc, ic, ht, wt, threads, order)
                                  for order in group_orders]


def _matrix_candidates(w: Conv2dWorkload, config: VTAConfig, forced: dict, threads: int
                       ) -> Candidates:
    """Matrix tilings (batch, output and input blocks), one per group, without a bound."""
    nb, icb, ocb = w.blocks(config)
    n_opts = [forced["n_tile"]] if "n_tile" in forced else _ceil_values(nb)[:12]
    oc_opts = [forced["oc_tile"]] if "oc_tile" in forced else _divisor_values(ocb)
    ic_opts = [forced["ic_tile"]] if "ic_tile" in forced else _divisor_values(icb)
    order_opts = [forced["order"]] if "order" in forced else list(LOOP_ORDERS)
    for n in n_opts:
        for oc in oc_opts:
            for ic in ic_opts:
                for order in order_opts:
                    yield 0, [(oc, ic, 1, 1, threads, order, n)]


def _fitting(w: Conv2dWorkload, group: Iterable[tuple], config: VTAConfig, epilogue: Epilogue,
             cap: dict[str, int]) -> Iterator[tuple[ConvSchedule, CostEstimate]]:
    """The schedules of a candidate group whose footprint fits ``cap``, with their cost
    model estimates."""
    for fields_ in group:
        s = ConvSchedule(*fields_)
        foot = footprint(w, s, config, epilogue)
        if any(foot[b] > cap[b] for b in cap):
            continue
        yield s, estimate(w, s, config, epilogue, footprint=foot)


@functools.lru_cache(maxsize=512)
def _search(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue,
            forced: tuple) -> ConvSchedule:
    forced_d = dict(forced)
    threads = forced_d.get("threads", 2)
    cap = capacities(config, threads)
    best, best_key = None, None
    candidates = _matrix_candidates(w, config, forced_d, threads) if w.is_matrix else \
        _image_candidates(w, config, epilogue, forced_d, threads)
    # Lowest bound first: once a group's bound reaches the best estimate so far, no later
    # group can beat it (the sort is stable: ties keep the candidates' order).
    for bound, group in sorted(candidates, key=lambda c: c[0]):
        if best_key is not None and bound >= best_key[0]:
            break
        for s, est in _fitting(w, group, config, epilogue, cap):
            key = (est.cycles, est.dram_bytes, -threads)
            if best_key is None or key < best_key:
                best, best_key = s, key
    if best is None and "threads" not in forced_d:
        try:   # no latency hiding rather than no schedule
            return _search(w, config, epilogue,
                           tuple(sorted({**forced_d, "threads": 1}.items())))
        except ScheduleError:
            pass
    if best is None:
        s = ConvSchedule(1, 1, 1, 1, 1)
        bad = misfit(footprint(w, s, config, epilogue), config, s.threads)
        forced_txt = f" with {forced_d}" if forced_d else ""
        smallest = "a 1-block tile" if w.is_matrix else "a 1-block, 1x1-pixel tile"
        raise ScheduleError(f"no {w.kind} tiling of {w.describe()} fits config "
                            f"{config.name}{forced_txt}: "
                            + (f"even {smallest} fails: {bad}" if bad else
                               "the forced tile sizes are too large"))
    return best


def shortlist_conv2d(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue = NO_EPILOGUE,
                     count: int = 8, **overrides: object) -> list[ConvSchedule]:
    """The ``count`` tilings with the fewest estimated cycles, one per group of equal
    channel tiles and loop order (the best tile size of each), best first: candidates for a
    finer estimate (:func:`vta.compiler.replay.replay_program`) to choose among.

    Raises
    ------
    ScheduleError
        as :func:`schedule_conv2d` (no tiling fits, an unknown override).
    """
    forced = _check_overrides(overrides, ConvSchedule)
    for k in (*_TILE_FIELDS, "n_tile"):
        if k in forced:
            check_positive(k, forced[k])
    threads = forced.get("threads", 2)
    cap = capacities(config, threads)
    candidates = _matrix_candidates(w, config, forced, threads) if w.is_matrix else \
        _image_candidates(w, config, epilogue, forced, threads)
    best: dict[tuple, tuple[tuple, ConvSchedule]] = {}
    cut = None          # the count-th best estimate so far: a group bounded above it is out
    for bound, group in candidates:
        if cut is not None and bound >= cut:
            continue
        for s, est in _fitting(w, group, config, epilogue, cap):
            key = (est.cycles, est.dram_bytes)
            cls = (s.n_tile, s.oc_tile, s.ic_tile, s.order)
            if cls not in best or key < best[cls][0]:
                best[cls] = (key, s)
                if len(best) >= count:
                    cut = sorted(v[0] for v in best.values())[count - 1][0]
    if not best:
        return [schedule_conv2d(w, config, epilogue, **overrides)]   # raises, or 1 thread
    return [s for _, s in sorted(best.values(), key=lambda v: v[0])[:count]]


def schedule_conv2d(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue = NO_EPILOGUE,
                    **overrides: object) -> ConvSchedule:
    """Pick the schedule with the fewest estimated cycles on ``config``.

    Parameters
    ----------
    overrides:
        any :class:`~vta.compiler.workload.ConvSchedule` field to force (``threads=1``
        disables latency hiding).

    Raises
    ------
    ScheduleError
        if no tiling fits (the message names the buffer) or an override is unknown.
    """
    forced = _check_overrides(overrides, ConvSchedule)
    tile_fields = ("n_tile", "oc_tile", "ic_tile") if w.is_matrix else _TILE_FIELDS
    if all(k in forced for k in tile_fields) or forced.get("n_tile", 1) != 1 \
            and not w.is_matrix:
        return check_schedule(w, ConvSchedule(**{"h_tile": 1, "w_tile": 1, "threads": 2,
                                                 "oc_tile": 1, "ic_tile": 1, **forced}),
                              config, epilogue)
    for k in (*_TILE_FIELDS, "n_tile"):
        if k in forced:
            check_positive(k, forced[k])
    return _search(w, config, epilogue, tuple(sorted(forced.items())))


def schedule_dense(w: DenseWorkload, config: VTAConfig, epilogue: Epilogue = NO_EPILOGUE,
                   **overrides: object) -> DenseSchedule:
    """Pick the dense schedule with the fewest estimated cycles (overrides: any
    :class:`~vta.compiler.workload.DenseSchedule` field)."""
    conv = dense_overrides(overrides)
    return DenseSchedule.from_conv2d(schedule_conv2d(w.as_conv2d(), config, epilogue, **conv))


def dense_overrides(overrides: dict) -> dict:
    """Dense schedule overrides (:class:`~vta.compiler.workload.DenseSchedule` fields),
    checked, as the conv schedule fields of the matrix workload."""
    forced = _check_overrides(overrides, DenseSchedule)
    return {_DENSE_NAMES.get(k, k): v for k, v in forced.items()}
