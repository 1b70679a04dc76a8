"""Tiling schedules for conv2d and dense on VTA, and the search that picks them.

A workload (:class:`Conv2dWorkload`, :class:`DenseWorkload`) is cut into output tiles;
each output tile accumulates over reduction chunks, and every (tile, chunk) *step* loads
one input and one weight chunk into SRAM.  A schedule (:class:`ConvSchedule`,
:class:`DenseSchedule`) fixes the tile sizes (in packed blocks / output pixels), the loop
order and the number of virtual threads: with ``threads=2`` the INP, WGT and ACC buffers are
split into halves used alternately, so the load module fills one half while compute works
on the other and the store module drains the previous ACC half (TVM's latency hiding).

:func:`schedule_conv2d` and :func:`schedule_dense` enumerate the tile sizes that fit every
SRAM buffer of the configuration and pick the one with the fewest estimated cycles
(:mod:`vta.compiler.cost_model`), then the fewest DRAM bytes.  Every field can be forced
(``overrides``) for experiments; a forced schedule that does not fit is a
:class:`ScheduleError` naming the buffer.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace

from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .reference_ops import NO_EPILOGUE, Epilogue

__all__ = ["ScheduleError", "Conv2dWorkload", "DenseWorkload", "ConvSchedule",
           "DenseSchedule", "conv2d_footprint", "dense_footprint", "check_conv2d_schedule",
           "check_dense_schedule", "schedule_conv2d", "schedule_dense", "tile_sizes",
           "reuse_flags", "row_subsampled", "conv_input_tile",
           "ceil_div"]

LOOP_ORDERS = ("oc_outer", "spatial_outer")


class ScheduleError(VTAError):
    """No tiling fits the configuration's SRAM buffers, or a forced schedule does not fit."""


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def tile_sizes(total: int, tile: int) -> list[tuple[int, int]]:
    """``(size, count)`` of the tiles cutting ``total`` into ``tile``-sized pieces."""
    full, rem = divmod(total, tile)
    out = [(tile, full)] if full else []
    if rem:
        out.append((rem, 1))
    return out


def reuse_flags(n_chunks: int, n_oc: int, n_sp: int, threads: int,
                order: str) -> tuple[bool, bool]:
    """(input reuse, weight reuse): whether a step may skip reloading an operand its SRAM
    half already holds.  Consecutive steps of one half hold the same reduction chunk when
    there are 1 or ``threads`` chunks; the input then stays while only the output-channel
    tile changes (``spatial_outer``, or a single spatial tile), the weights while only
    the spatial tile changes (``oc_outer``, or a single output-channel tile).  The
    lowering and the cost model both follow this rule, so their byte counts agree."""
    same_chunk = n_chunks in (1, threads)
    return (same_chunk and (order == "spatial_outer" or n_sp == 1),
            same_chunk and (order == "oc_outer" or n_oc == 1))


def _pos_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleError(f"{name} must be a positive integer, not {value!r}")
    return value


# ------------------------------------------------------------------------------ workloads
@dataclass(frozen=True)
class Conv2dWorkload:
    """A 2-D convolution in framework terms (NCHW data, OIHW weight), symmetric padding.

    Raises
    ------
    ScheduleError
        for a non-positive size, a padding not smaller than the kernel (a window made of
        padding only), a padding over 15 (the DMA pad fields) or an empty output.
    """

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        for name in ("batch", "in_channels", "height", "width", "out_channels"):
            _pos_int(name, getattr(self, name))
        for name, lo in (("kernel", 1), ("stride", 1), ("padding", 0)):
            v = getattr(self, name)
            pair = (v, v) if isinstance(v, int) else tuple(v)
            if len(pair) != 2 or any(isinstance(p, bool) or not isinstance(p, int) or p < lo
                                     for p in pair):
                raise ScheduleError(f"conv2d {name} must be an integer >= {lo} or a pair of "
                                    f"them, not {v!r}")
            object.__setattr__(self, name, pair)
        for axis, (k, p) in enumerate(zip(self.kernel, self.padding, strict=True)):
            if p >= k:
                raise ScheduleError(f"conv2d padding {p} must be smaller than the kernel "
                                    f"size {k} (axis {'hw'[axis]}): a window of padding only "
                                    f"is not supported")
            if p > 15:
                raise ScheduleError(f"conv2d padding {p} exceeds 15, the largest the DMA pad "
                                    f"fields hold")
        if self.out_height < 1 or self.out_width < 1:
            raise ScheduleError(f"conv2d kernel {self.kernel} is larger than the padded "
                                f"input {self.height}x{self.width}")

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding[0] - self.kernel[0]) // self.stride[0] + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding[1] - self.kernel[1]) // self.stride[1] + 1

    @property
    def kernel_area(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates (unpadded channels)."""
        return (self.batch * self.out_channels * self.out_height * self.out_width
                * self.in_channels * self.kernel_area)

    def blocks(self, config: VTAConfig) -> tuple[int, int, int]:
        """(batch blocks, input-channel blocks, output-channel blocks) after padding."""
        return (ceil_div(self.batch, config.batch), ceil_div(self.in_channels, config.block),
                ceil_div(self.out_channels, config.block))

    def padded_macs(self, config: VTAConfig) -> int:
        nb, icb, ocb = self.blocks(config)
        return (nb * ocb * self.out_height * self.out_width * icb * self.kernel_area
                * config.macs_per_cycle)


@dataclass(frozen=True)
class DenseWorkload:
    """``(batch, in_features) x (out_features, in_features)^T``."""

    batch: int
    in_features: int
    out_features: int

    def __post_init__(self) -> None:
        for f in fields(self):
            _pos_int(f.name, getattr(self, f.name))

    @property
    def macs(self) -> int:
        return self.batch * self.in_features * self.out_features

    def blocks(self, config: VTAConfig) -> tuple[int, int, int]:
        """(batch blocks, in-feature blocks, out-feature blocks) after padding."""
        return (ceil_div(self.batch, config.batch), ceil_div(self.in_features, config.block),
                ceil_div(self.out_features, config.block))

    def padded_macs(self, config: VTAConfig) -> int:
        nb, kb, mb = self.blocks(config)
        return nb * kb * mb * config.macs_per_cycle


# ------------------------------------------------------------------------------ schedules
@dataclass(frozen=True)
class ConvSchedule:
    """Tile sizes of a conv2d: output-channel and input-channel blocks, output rows and
    columns per tile; the loop order of the tiles; the number of virtual threads (1 or 2).

    ``oc_outer`` walks the spatial tiles inside each output-channel tile (a weight chunk
    stays in SRAM across them when the reduction is one chunk); ``spatial_outer`` walks
    output-channel tiles inside each spatial tile (the input chunk stays).
    """

    oc_tile: int
    ic_tile: int
    h_tile: int
    w_tile: int
    threads: int = 2
    order: str = "oc_outer"

    def __post_init__(self) -> None:
        for name in ("oc_tile", "ic_tile", "h_tile", "w_tile"):
            _pos_int(name, getattr(self, name))
        if self.threads not in (1, 2):
            raise ScheduleError(f"threads must be 1 or 2, not {self.threads!r}")
        if self.order not in LOOP_ORDERS:
            raise ScheduleError(f"order must be one of {', '.join(LOOP_ORDERS)}, "
                                f"not {self.order!r}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DenseSchedule:
    """Tile sizes of a dense layer in blocks: batch, output features, input features."""

    n_tile: int
    m_tile: int
    k_tile: int
    threads: int = 2
    order: str = "oc_outer"

    def __post_init__(self) -> None:
        for name in ("n_tile", "m_tile", "k_tile"):
            _pos_int(name, getattr(self, name))
        if self.threads not in (1, 2):
            raise ScheduleError(f"threads must be 1 or 2, not {self.threads!r}")
        if self.order not in LOOP_ORDERS:
            raise ScheduleError(f"order must be one of {', '.join(LOOP_ORDERS)}, "
                                f"not {self.order!r}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ------------------------------------------------------------------------------ footprints
def row_subsampled(w: Conv2dWorkload) -> bool:
    """A 1-row kernel with a row stride > 1 reads every stride-th input row only: the DMA
    skips the others (its row pitch becomes stride x W), halving or better the input
    traffic of ResNet's 1x1 stride-2 shortcut convolutions."""
    return w.kernel[0] == 1 and w.stride[0] > 1


def conv_input_tile(w: Conv2dWorkload, h_tile: int, w_tile: int) -> tuple[int, int]:
    """(rows, columns) of the SRAM input tile (padding included) for an output tile."""
    rows = h_tile if row_subsampled(w) else (h_tile - 1) * w.stride[0] + w.kernel[0]
    return rows, (w_tile - 1) * w.stride[1] + w.kernel[1]


def acc_rows_per_tile(out_rows: int, oc_blocks: int, epilogue: Epilogue) -> int:
    """ACC elements one output tile needs: outputs, bias rows, residual rows, and the
    scratch rows that keep a tile of fewer than 3 rows free of uop hazards."""
    return (out_rows + (oc_blocks if epilogue.bias else 0)
            + (out_rows if epilogue.residual else 0) + max(0, 3 - out_rows))


def conv2d_footprint(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
                     epilogue: Epilogue = NO_EPILOGUE) -> dict[str, int]:
    """SRAM elements one thread's half needs, and the uops of its micro-kernels."""
    tih, tiw = conv_input_tile(w, s.h_tile, s.w_tile)
    out_rows = s.oc_tile * s.h_tile * s.w_tile
    # Distinct GEMM kernels: one per (ic chunk size, w tile size) per thread; reset and
    # ALU kernels hold w_tile uops each.
    _, icb, ocb = w.blocks(config)
    ic_sizes = [t for t, _ in tile_sizes(icb, min(s.ic_tile, icb))]
    oc_sizes = [t for t, _ in tile_sizes(ocb, min(s.oc_tile, ocb))]
    h_sizes = [t for t, _ in tile_sizes(w.out_height, min(s.h_tile, w.out_height))]
    w_sizes = [t for t, _ in tile_sizes(w.out_width, min(s.w_tile, w.out_width))]
    positions = {gemm_positions(oc, ht, wt) for oc in oc_sizes for ht in h_sizes
                 for wt in w_sizes}
    gemm = [ic * w.kernel_area * p for ic in ic_sizes for p in positions]
    small = sum(w_sizes) * (1 + len(_alu_ops(epilogue)))
    return {"inp": s.ic_tile * tih * tiw, "wgt": s.oc_tile * s.ic_tile * w.kernel_area,
            "acc": acc_rows_per_tile(out_rows, s.oc_tile, epilogue),
            "uop": s.threads * (sum(gemm) + small), "uop_max": max(gemm)}


def gemm_positions(oc: int, ht: int, wt: int) -> int:
    """Output positions in a conv GEMM kernel's uop body (see conv2d._gemm_kernel)."""
    if wt >= 3:
        return wt
    if ht * wt >= 3:
        return ht * wt
    return max(3, oc * ht * wt)


def dense_footprint(w: DenseWorkload, s: DenseSchedule, config: VTAConfig,
                    epilogue: Epilogue = NO_EPILOGUE) -> dict[str, int]:
    """SRAM elements one thread's half needs, and the uops of its micro-kernels."""
    out_rows = s.n_tile * s.m_tile
    _, _, mb = w.blocks(config)
    m_sizes = [t for t, _ in tile_sizes(mb, min(s.m_tile, mb))]
    return {"inp": s.n_tile * s.k_tile, "wgt": s.m_tile * s.k_tile,
            "acc": out_rows + (s.m_tile if epilogue.bias else 0)
            + (out_rows if epilogue.residual else 0),
            "uop": s.threads * sum(m_sizes) * (2 + len(_alu_ops(epilogue))),
            "uop_max": max(m_sizes)}


def _alu_ops(epilogue: Epilogue) -> list:
    return list(epilogue.alu_steps())


def _capacities(config: VTAConfig, threads: int) -> dict[str, int]:
    """Hard limits: SRAM halves, and one micro-kernel must fit the uop buffer (a working
    set larger than the buffer only costs reloads, which the cost model charges)."""
    return {"inp": config.inp_depth // threads, "wgt": config.wgt_depth // threads,
            "acc": config.acc_depth // threads, "uop_max": config.uop_depth}


def _misfit(foot: dict[str, int], config: VTAConfig, threads: int) -> str | None:
    cap = _capacities(config, threads)
    for buf in ("inp", "wgt", "acc", "uop_max"):
        if foot[buf] > cap[buf]:
            if buf == "uop_max":
                return (f"a GEMM micro-kernel needs {foot[buf]} uops but the UOP buffer "
                        f"holds {cap[buf]}")
            half = "" if threads == 1 else " (one of 2 thread halves)"
            return (f"{buf.upper()} buffer needs {foot[buf]} elements but holds {cap[buf]}"
                    f"{half}")
    return None


def check_conv2d_schedule(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
                          epilogue: Epilogue = NO_EPILOGUE) -> ConvSchedule:
    """Clamp tile sizes to the workload and check they fit; return the clamped schedule.

    Raises
    ------
    ScheduleError
        naming the buffer that overflows.
    """
    _, icb, ocb = w.blocks(config)
    s = replace(s, oc_tile=min(s.oc_tile, ocb), ic_tile=min(s.ic_tile, icb),
                h_tile=min(s.h_tile, w.out_height), w_tile=min(s.w_tile, w.out_width))
    bad = _misfit(conv2d_footprint(w, s, config, epilogue), config, s.threads)
    if bad:
        raise ScheduleError(f"conv2d schedule {s.to_dict()} does not fit config "
                            f"{config.name}: {bad}")
    return s


def check_dense_schedule(w: DenseWorkload, s: DenseSchedule, config: VTAConfig,
                         epilogue: Epilogue = NO_EPILOGUE) -> DenseSchedule:
    """Clamp tile sizes to the workload and check they fit; return the clamped schedule."""
    nb, kb, mb = w.blocks(config)
    s = replace(s, n_tile=min(s.n_tile, nb), m_tile=min(s.m_tile, mb),
                k_tile=min(s.k_tile, kb))
    bad = _misfit(dense_footprint(w, s, config, epilogue), config, s.threads)
    if bad:
        raise ScheduleError(f"dense schedule {s.to_dict()} does not fit config "
                            f"{config.name}: {bad}")
    return s


# ------------------------------------------------------------------------------ search
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


@functools.lru_cache(maxsize=512)
def _search_conv2d(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue,
                   forced: tuple) -> ConvSchedule:
    from .cost_model import CostParams, estimate_conv2d  # it imports this module

    forced_d = dict(forced)
    _, icb, ocb = w.blocks(config)
    oh, ow = w.out_height, w.out_width
    # Two threads never lose to one in the model; one thread is the fallback when no
    # tiling fits the halves.
    threads_opts = [forced_d["threads"]] if "threads" in forced_d else [2]
    order_opts = [forced_d["order"]] if "order" in forced_d else list(LOOP_ORDERS)
    oc_opts = [forced_d["oc_tile"]] if "oc_tile" in forced_d else _divisor_values(ocb)
    ic_opts = [forced_d["ic_tile"]] if "ic_tile" in forced_d else _divisor_values(icb)
    h_opts = [forced_d["h_tile"]] if "h_tile" in forced_d else _ceil_values(oh)
    kk = w.kernel_area
    nb = w.blocks(config)[0]
    n_alu = len(_alu_ops(epilogue))
    ovh = CostParams().insn_overhead
    fixed = nb * ocb * oh * ow * (icb * kk + 1 + n_alu)
    best, best_key = None, None
    for threads in threads_opts:
        cap = _capacities(config, threads)
        for oc in oc_opts:
            for ic in ic_opts:
                for ht in h_opts:
                    # Widest w tile that fits (full rows make the longest uop loops).
                    if "w_tile" in forced_d:
                        w_opts = [forced_d["w_tile"]]
                    else:
                        w_opts = sorted({ow, ceil_div(ow, 2), ceil_div(ow, 4)},
                                        reverse=True)
                        if ht == 1:  # the only way to shrink further
                            w_opts = _ceil_values(ow)
                    n_chunks = ceil_div(icb, ic)
                    orders = order_opts if n_chunks in (1, threads) else order_opts[:1]
                    tih = conv_input_tile(w, ht, 1)[0]
                    for wt in w_opts:
                        # Cheap capacity checks first (the search visits many candidates).
                        tiw = (wt - 1) * w.stride[1] + w.kernel[1]
                        rows = oc * ht * wt
                        if ic * tih * tiw > cap["inp"] or oc * ic * kk > cap["wgt"] \
                                or acc_rows_per_tile(rows, oc, epilogue) > cap["acc"]:
                            continue
                        # Lower bound (GEMM and epilogue uops plus per-instruction
                        # start-up, no DMA): skip candidates that cannot win.
                        tiles = nb * ceil_div(ocb, oc) * ceil_div(oh, ht) * ceil_div(ow, wt)
                        bound = fixed + (tiles * n_chunks + tiles * (1 + n_alu)) * ovh
                        if best_key is not None and bound >= best_key[0]:
                            continue
                        for order in orders:
                            s = ConvSchedule(oc, ic, ht, wt, threads, order)
                            foot = conv2d_footprint(w, s, config, epilogue)
                            if any(foot[b] > cap[b] for b in cap):
                                continue
                            est = estimate_conv2d(w, s, config, epilogue, footprint=foot)
                            key = (est.cycles, est.dram_bytes, -threads)
                            if best_key is None or key < best_key:
                                best, best_key = s, key
                            if order_opts == list(LOOP_ORDERS) and s.order == "oc_outer" \
                                    and ocb <= oc:
                                break  # one oc tile: the two orders are the same
    if best is None and "threads" not in forced_d:
        try:   # no latency hiding rather than no schedule
            return _search_conv2d(w, config, epilogue, tuple(sorted({**forced_d,
                                                                     "threads": 1}.items())))
        except ScheduleError:
            pass
    if best is None:
        s = ConvSchedule(1, 1, 1, 1, 1)
        bad = _misfit(conv2d_footprint(w, s, config, epilogue), config, s.threads)
        forced_txt = f" with {forced_d}" if forced_d else ""
        raise ScheduleError(f"no conv2d tiling of {_describe_conv(w)} fits config "
                            f"{config.name}{forced_txt}: "
                            + (f"even a 1-block, 1x1-pixel tile fails: {bad}" if bad else
                               "the forced tile sizes are too large"))
    return best


def _describe_conv(w: Conv2dWorkload) -> str:
    return (f"{w.batch}x{w.in_channels}x{w.height}x{w.width} -> {w.out_channels} channels, "
            f"kernel {w.kernel[0]}x{w.kernel[1]}, stride {w.stride}, padding {w.padding}")


def schedule_conv2d(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue = NO_EPILOGUE,
                    **overrides: object) -> ConvSchedule:
    """Pick the conv2d schedule with the fewest estimated cycles on ``config``.

    Parameters
    ----------
    overrides:
        any :class:`ConvSchedule` field to force (``threads=1`` disables latency hiding).

    Raises
    ------
    ScheduleError
        if no tiling fits (the message names the buffer) or an override is unknown.
    """
    forced = _check_overrides(overrides, ConvSchedule)
    if all(k in forced for k in ("oc_tile", "ic_tile", "h_tile", "w_tile")):
        return check_conv2d_schedule(w, ConvSchedule(**{"threads": 2, **forced}), config,
                                     epilogue)
    for k in ("oc_tile", "ic_tile", "h_tile", "w_tile"):
        if k in forced:
            _pos_int(k, forced[k])
    return _search_conv2d(w, config, epilogue, tuple(sorted(forced.items())))


@functools.lru_cache(maxsize=512)
def _search_dense(w: DenseWorkload, config: VTAConfig, epilogue: Epilogue,
                  forced: tuple) -> DenseSchedule:
    from .cost_model import estimate_dense

    forced_d = dict(forced)
    nb, kb, mb = w.blocks(config)
    opts = {
        "threads": [forced_d["threads"]] if "threads" in forced_d else [2],
        "order": [forced_d["order"]] if "order" in forced_d else list(LOOP_ORDERS),
        "n_tile": [forced_d["n_tile"]] if "n_tile" in forced_d else _ceil_values(nb)[:12],
        "m_tile": [forced_d["m_tile"]] if "m_tile" in forced_d else _divisor_values(mb),
        "k_tile": [forced_d["k_tile"]] if "k_tile" in forced_d else _divisor_values(kb),
    }
    best, best_key = None, None
    for threads in opts["threads"]:
        cap = _capacities(config, threads)
        for n in opts["n_tile"]:
            for m in opts["m_tile"]:
                for k in opts["k_tile"]:
                    for order in opts["order"]:
                        s = DenseSchedule(n, m, k, threads, order)
                        foot = dense_footprint(w, s, config, epilogue)
                        if any(foot[b] > cap[b] for b in cap):
                            continue
                        est = estimate_dense(w, s, config, epilogue)
                        key = (est.cycles, est.dram_bytes, -threads)
                        if best_key is None or key < best_key:
                            best, best_key = s, key
    if best is None and "threads" not in forced_d:
        try:
            return _search_dense(w, config, epilogue, tuple(sorted({**forced_d,
                                                                    "threads": 1}.items())))
        except ScheduleError:
            pass
    if best is None:
        s = DenseSchedule(1, 1, 1, 1)
        bad = _misfit(dense_footprint(w, s, config, epilogue), config, s.threads)
        forced_txt = f" with {forced_d}" if forced_d else ""
        raise ScheduleError(f"no dense tiling of {w.batch}x{w.in_features} -> "
                            f"{w.out_features} fits config {config.name}{forced_txt}: "
                            + (f"even a 1-block tile fails: {bad}" if bad else
                               "the forced tile sizes are too large"))
    return best


def schedule_dense(w: DenseWorkload, config: VTAConfig, epilogue: Epilogue = NO_EPILOGUE,
                   **overrides: object) -> DenseSchedule:
    """Pick the dense schedule with the fewest estimated cycles (overrides as for conv2d)."""
    forced = _check_overrides(overrides, DenseSchedule)
    if all(k in forced for k in ("n_tile", "m_tile", "k_tile")):
        return check_dense_schedule(w, DenseSchedule(**{"threads": 2, **forced}), config,
                                    epilogue)
    for k in ("n_tile", "m_tile", "k_tile"):
        if k in forced:
            _pos_int(k, forced[k])
    return _search_dense(w, config, epilogue, tuple(sorted(forced.items())))


def total_tiles(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig) -> int:
    nb, _, ocb = w.blocks(config)
    return (nb * math.ceil(ocb / s.oc_tile) * math.ceil(w.out_height / s.h_tile)
            * math.ceil(w.out_width / s.w_tile))


RESNET18_CONVS: dict[str, tuple[int, int, int, int, int, int]] = {
    "C1": (224, 3, 64, 7, 3, 2), "C2": (56, 64, 64, 3, 1, 1), "C3": (56, 64, 128, 3, 1, 2),
    "C4": (56, 64, 128, 1, 0, 2), "C5": (28, 128, 128, 3, 1, 1),
    "C6": (28, 128, 256, 3, 1, 2), "C7": (28, 128, 256, 1, 0, 2),
    "C8": (14, 256, 256, 3, 1, 1), "C9": (14, 256, 512, 3, 1, 2),
    "C10": (14, 256, 512, 1, 0, 2), "C11": (7, 512, 512, 3, 1, 1)}
"""ResNet-18 convolutions (SPEC section 8): H=W, IC, OC, kernel, pad, stride."""

DENSE_SHAPES: tuple[tuple[int, int, int], ...] = ((128, 128, 128), (16, 512, 1008))
"""Dense workloads of SPEC section 8: (batch, in_features, out_features)."""


def resnet18_workload(name: str, batch: int = 1) -> Conv2dWorkload:
    """The ResNet-18 layer ``name`` (``C1`` ... ``C11``) as a workload."""
    try:
        h, ic, oc, k, p, s = RESNET18_CONVS[name]
    except KeyError:
        raise ScheduleError(f"unknown ResNet-18 layer {name!r}; expected C1..C11") from None
    return Conv2dWorkload(batch, ic, h, h, oc, (k, k), (s, s), (p, p))
