"""Pass 1 of the kernel compiler: workloads, schedules, SRAM footprints and legality.

A workload is a 2-D convolution (:class:`Conv2dWorkload`); a dense layer is the special
case of a 1x1 kernel over a 1x1 image with a batch (:class:`DenseWorkload` is its
framework-shaped view, :meth:`DenseWorkload.as_conv2d`).  A schedule
(:class:`ConvSchedule`; :class:`DenseSchedule` for dense) cuts the output into tiles:
each output tile accumulates over reduction chunks (``ic_tile`` input-channel blocks), and
every (tile, chunk) *step* loads one input and one weight chunk into SRAM.  With
``threads=2`` the INP, WGT and ACC buffers are split into halves used alternately, so the
load module fills one half while compute works on the other and the store module drains
the previous ACC half (TVM's latency hiding); with ``ALU_OVERLAP`` the output tiles
rotate through four ACC regions instead (:func:`acc_regions`).

Tile geometry.  A tile covers a grid of ACC rows (one row = one ``BATCH x BLOCK``
element):

* an *image* tile covers ``oc_tile`` output-channel blocks x ``h_tile`` output rows x
  ``w_tile`` output columns of one batch block; the batch is walked outside the tiles;
* a *matrix* tile (:attr:`Conv2dWorkload.is_matrix`: a 1x1 kernel over a 1x1 image, i.e.
  dense) covers ``n_tile`` batch blocks x ``oc_tile`` output-channel blocks: the batch
  plays the role of the spatial axes.

``order`` walks the output-channel tiles outside (``oc_outer``) or inside
(``spatial_outer``) the spatial tiles.  :func:`footprint` gives the SRAM elements and uops
a schedule needs, :func:`check_schedule` clamps it to the workload and checks it fits
(:class:`~vta.compiler.errors.ScheduleError` naming the buffer otherwise).  The search that
picks a schedule is :mod:`vta.compiler.search`; what a schedule costs is
:mod:`vta.compiler.cost_model`; the tiles it makes are :mod:`vta.compiler.lower`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace

from vta.hw.config import VTAConfig

from .epilogue import NO_EPILOGUE, Epilogue
from .errors import ScheduleError
from .packing import super_groups
from .windows import pair, span, window_out

__all__ = ["Conv2dWorkload", "DenseWorkload", "ConvSchedule", "DenseSchedule", "LOOP_ORDERS",
           "check_positive", "ceil_div", "tile_sizes", "reuse_flags",
           "row_subsampled",
           "conv_input_tile", "acc_rows_per_tile", "gemm_positions", "footprint", "uop_kernels",
           "PadPatterns", "pad_patterns", "const_rows_per_block", "acc_regions",
           "acc_region_base", "capacities", "misfit", "check_schedule", "describe_schedule",
           "RESNET18_CONVS", "DENSE_SHAPES", "resnet18_workload"]

LOOP_ORDERS = ("oc_outer", "spatial_outer")
"""Tile walks: output-channel tiles outside or inside the spatial tiles."""


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


def check_positive(name: str, value: object) -> int:
    """``value`` if it is a positive int, else a :class:`ScheduleError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleError(f"{name} must be a positive integer, not {value!r}")
    return value


# ------------------------------------------------------------------------------ workloads
@dataclass(frozen=True)
class Conv2dWorkload:
    """A 2-D convolution in framework terms (NCHW data, OIHW weight).

    ``padding`` is the (top, left) padding and ``padding_end`` the (bottom, right) one
    (None: the same as ``padding``); ``dilation`` spaces the kernel taps; with ``groups``
    the weight is ``(O, C / groups, KH, KW)`` and output channel ``o`` reads the input
    channels of group ``o // (O / groups)`` (ONNX ``Conv``).  The accelerator runs a
    grouped convolution as :meth:`group_blocks` super-groups of whole channel blocks, each
    an independent GEMM over its channel slice with a block-diagonal weight (zeros where a
    group does not read an input channel: the waste :attr:`macs` vs
    :meth:`padded_macs` shows).

    ``out_scatter`` = ``(FH, FW, y0, x0, sy, sx)`` places output ``(j, i)`` at ``(y0 + sy *
    j, x0 + sx * i)`` of a larger ``FH x FW`` output tensor (None: the output is its own
    tensor) -- one phase of a transposed convolution (:mod:`vta.compiler.transposed`).

    Raises
    ------
    ScheduleError
        for a non-positive size, a padding not smaller than the dilated kernel (a window
        made of padding only), a padding over 15 (the DMA pad fields), channels that the
        groups do not divide, or an empty output.
    """

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    dilation: tuple[int, int] = (1, 1)
    padding_end: tuple[int, int] | None = None
    out_scatter: tuple[int, int, int, int, int, int] | None = None

    def __post_init__(self) -> None:
        for name in ("batch", "in_channels", "height", "width", "out_channels", "groups"):
            check_positive(name, getattr(self, name))
        if self.padding_end is None:
            object.__setattr__(self, "padding_end", self.padding)
        for name, lo in (("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1),
                         ("padding_end", 0)):
            try:
                object.__setattr__(self, name, pair(getattr(self, name), f"conv2d {name}", lo))
            except ValueError as e:
                raise ScheduleError(str(e)) from None
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ScheduleError(f"conv2d groups {self.groups} must divide the "
                                f"{self.in_channels} input and {self.out_channels} output "
                                "channels")
        spans = tuple(span(k, d) for k, d in zip(self.kernel, self.dilation, strict=True))
        for axis, (k, p0, p1) in enumerate(zip(spans, self.padding, self.padding_end,
                                               strict=True)):
            p = max(p0, p1)
            if p >= k:
                raise ScheduleError(f"conv2d padding {p} must be smaller than the kernel "
                                    f"span {k} (axis {'hw'[axis]}): a window of padding only "
                                    f"is not supported")
            if p > 15:
                raise ScheduleError(f"conv2d padding {p} exceeds 15, the largest the DMA pad "
                                    f"fields hold")
        out = tuple(window_out(size, k, st, p0, p1, d) for size, k, st, p0, p1, d in zip(
            (self.height, self.width), self.kernel, self.stride, self.padding,
            self.padding_end, self.dilation, strict=True))
        if min(out) < 1:
            raise ScheduleError(f"conv2d kernel {self.kernel} is larger than the padded "
                                f"input {self.height}x{self.width}")
        if self.out_scatter is not None:
            sc = tuple(self.out_scatter)
            object.__setattr__(self, "out_scatter", sc)
            if len(sc) != 6 or not all(isinstance(v, int) for v in sc) or min(sc[4:]) < 1 \
                    or min(sc[2:4]) < 0 or sc[2] + sc[4] * (out[0] - 1) >= sc[0] \
                    or sc[3] + sc[5] * (out[1] - 1) >= sc[1]:
                raise ScheduleError(f"conv2d out_scatter {self.out_scatter} does not place a "
                                    f"{out[0]}x{out[1]} output inside its tensor")
        # Derived values the search reads in its inner loops (not fields: equality, hashing
        # and the saved form stay the fields).
        object.__setattr__(self, "_out", out)
        object.__setattr__(self, "_span", spans)
        object.__setattr__(self, "_matrix", (self.height, self.width, self.kernel,
                                             self.groups, self.out_scatter)
                           == (1, 1, (1, 1), 1, None))

    @property
    def out_height(self) -> int:
        return self._out[0]

    @property
    def out_width(self) -> int:
        return self._out[1]

    @property
    def out_tensor(self) -> tuple[int, int]:
        """(rows, columns) of the tensor the output is stored in."""
        return self._out if self.out_scatter is None else self.out_scatter[:2]

    @property
    def kernel_area(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def kernel_span(self) -> tuple[int, int]:
        """Input rows and columns one window covers (the dilated kernel)."""
        return self._span

    @property
    def is_matrix(self) -> bool:
        """A 1x1 kernel over a 1x1 image: a matrix product (dense), tiled over the batch."""
        return self._matrix

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates (unpadded channels, each output channel reading its
        group's inputs)."""
        return (self.batch * self.out_channels * self.out_height * self.out_width
                * (self.in_channels // self.groups) * self.kernel_area)

    def blocks(self, config: VTAConfig) -> tuple[int, int, int]:
        """(batch blocks, input-channel blocks, output-channel blocks) after padding."""
        return (ceil_div(self.batch, config.batch), ceil_div(self.in_channels, config.block),
                ceil_div(self.out_channels, config.block))

    def group_blocks(self, config: VTAConfig) -> tuple[int, int, int]:
        """(super-groups, input-channel blocks and output-channel blocks of each).

        A super-group is the fewest consecutive groups whose input and output channels
        both fill whole blocks (one group when its channel counts are multiples of BLOCK;
        BLOCK groups of a depthwise convolution); the GEMM of a super-group reduces over
        its own input blocks only.  When no number of groups fills whole blocks the whole
        convolution is one super-group (a block-diagonal weight over all channels).
        """
        return super_groups(self.groups, self.in_channels, self.out_channels, config.block)

    def padded_macs(self, config: VTAConfig) -> int:
        """Multiply-accumulates the GEMM core performs (padded blocks, zero weights of
        the groups included)."""
        nb, _, ocb = self.blocks(config)
        icb_s = self.group_blocks(config)[1]
        return (nb * ocb * self.out_height * self.out_width * icb_s * self.kernel_area
                * config.macs_per_cycle)

    @property
    def kind(self) -> str:
        """``"dense"`` for a matrix workload, else ``"conv2d"`` (as messages name it)."""
        return "dense" if self.is_matrix else "conv2d"

    def describe(self) -> str:
        """The shape in words, e.g. ``1x64x56x56 -> 64 channels, kernel 3x3, ...``."""
        if self.is_matrix:
            return f"{self.batch}x{self.in_channels} -> {self.out_channels}"
        pad = self.padding if self.padding == self.padding_end else \
            (*self.padding, *self.padding_end)
        extra = (f", {self.groups} groups" if self.groups > 1 else "") + \
            (f", dilation {self.dilation}" if self.dilation != (1, 1) else "")
        return (f"{self.batch}x{self.in_channels}x{self.height}x{self.width} -> "
                f"{self.out_channels} channels, kernel {self.kernel[0]}x{self.kernel[1]}, "
                f"stride {self.stride}, padding {pad}{extra}")


@dataclass(frozen=True)
class DenseWorkload:
    """``(batch, in_features) x (out_features, in_features)^T``: the conv2d of a 1x1
    kernel over a 1x1 image (:meth:`as_conv2d`)."""

    batch: int
    in_features: int
    out_features: int

    def __post_init__(self) -> None:
        for f in fields(self):
            check_positive(f.name, getattr(self, f.name))

    def as_conv2d(self) -> Conv2dWorkload:
        return Conv2dWorkload(self.batch, self.in_features, 1, 1, self.out_features)

    @property
    def macs(self) -> int:
        return self.batch * self.in_features * self.out_features

    def blocks(self, config: VTAConfig) -> tuple[int, int, int]:
        """(batch blocks, in-feature blocks, out-feature blocks) after padding."""
        return self.as_conv2d().blocks(config)

    def padded_macs(self, config: VTAConfig) -> int:
        return self.as_conv2d().padded_macs(config)

    def describe(self) -> str:
        """The shape in words, e.g. ``1x512 -> 1000 features``."""
        return f"{self.batch}x{self.in_features} -> {self.out_features} features"


# ------------------------------------------------------------------------------ schedules
def _check_threads_and_order(threads: object, order: object) -> None:
    if threads not in (1, 2):
        raise ScheduleError(f"threads must be 1 or 2, not {threads!r}")
    if order not in LOOP_ORDERS:
        raise ScheduleError(f"order must be one of {', '.join(LOOP_ORDERS)}, not {order!r}")


@dataclass(frozen=True)
class ConvSchedule:
    """Tile sizes of a conv2d: output-channel and input-channel blocks, output rows and
    columns per tile; the loop order of the tiles; the number of virtual threads (1 or 2);
    batch blocks per tile (``n_tile``, above 1 only for a matrix workload).

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
    n_tile: int = 1

    def __post_init__(self) -> None:
        sizes = (self.oc_tile, self.ic_tile, self.h_tile, self.w_tile, self.n_tile)
        if not all(type(v) is int and v > 0 for v in sizes):   # the search makes many
            for name in ("oc_tile", "ic_tile", "h_tile", "w_tile", "n_tile"):
                check_positive(name, getattr(self, name))
        _check_threads_and_order(self.threads, self.order)

    def to_dict(self) -> dict:
        """The fields as a dict (``n_tile`` only when it is not 1: saved image kernels keep
        the six fields they always had)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        if d["n_tile"] == 1:
            del d["n_tile"]
        return d


@dataclass(frozen=True)
class DenseSchedule:
    """Tile sizes of a dense layer in blocks: batch, output features, input features --
    the :class:`ConvSchedule` of its matrix workload (:meth:`as_conv2d`)."""

    n_tile: int
    m_tile: int
    k_tile: int
    threads: int = 2
    order: str = "oc_outer"

    def __post_init__(self) -> None:
        for name in ("n_tile", "m_tile", "k_tile"):
            check_positive(name, getattr(self, name))
        _check_threads_and_order(self.threads, self.order)

    def as_conv2d(self) -> ConvSchedule:
        return ConvSchedule(self.m_tile, self.k_tile, 1, 1, self.threads, self.order,
                            self.n_tile)

    @classmethod
    def from_conv2d(cls, s: ConvSchedule) -> DenseSchedule:
        return cls(s.n_tile, s.oc_tile, s.ic_tile, s.threads, s.order)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def describe_schedule(w: Conv2dWorkload, s: ConvSchedule) -> dict:
    """A schedule as its workload's users name it (dense tile names for a matrix)."""
    return DenseSchedule.from_conv2d(s).to_dict() if w.is_matrix else s.to_dict()


# ------------------------------------------------------------------------------ padding
def _classes(out: int, size: int, kernel: int, stride: int, pad: int, dilation: int = 1
             ) -> list[tuple[int, int]]:
    """Per output index: (taps before the input, taps after it).  Tap ``i`` reads input
    ``o * stride - pad + i * dilation``; the taps outside are a prefix and a suffix of the
    kernel, whatever the dilation and however the end is padded."""
    out_classes = []
    for o in range(out):
        start = o * stride - pad
        inside = [0 <= start + i * dilation < size for i in range(kernel)]
        before = next((i for i, x in enumerate(inside) if x), kernel)
        after = next((i for i, x in enumerate(reversed(inside)) if x), kernel - before)
        out_classes.append((before, after))
    return out_classes


@dataclass(frozen=True)
class PadPatterns:
    """Which output positions of a conv read padding, and how.

    Members
    -------
    rows, cols:
        Per output row / column: (taps above/left of the input, taps below/right).
    patterns:
        The distinct ((above, below), (left, right)) pairs of border positions, in order of
        first appearance (row-major); the index is the constant row's position.
    """

    rows: tuple[tuple[int, int], ...]
    cols: tuple[tuple[int, int], ...]
    patterns: tuple[tuple[tuple[int, int], tuple[int, int]], ...]

    def __len__(self) -> int:
        return len(self.patterns)

    def index(self, oh: int, ow: int) -> int | None:
        """The pattern of output position (oh, ow), or None inside the image."""
        key = (self.rows[oh], self.cols[ow])
        if key == ((0, 0), (0, 0)):
            return None
        return self._lookup()[key]

    def _lookup(self) -> dict:
        cache = self.__dict__.get("_index")
        if cache is None:
            cache = {p: i for i, p in enumerate(self.patterns)}
            object.__setattr__(self, "_index", cache)
        return cache

    def border_rows(self, oh0: int, toh: int, ow0: int, tow: int
                    ) -> list[tuple[int, int, int]]:
        """Border positions of an output tile: ``(row in tile, column in tile, pattern)``
        in row-major order."""
        out = []
        for y in range(toh):
            for x in range(tow):
                p = self.index(oh0 + y, ow0 + x)
                if p is not None:
                    out.append((y, x, p))
        return out

    def border_count(self) -> int:
        """Border positions of the whole output (per image and channel)."""
        inner_r = sum(1 for r in self.rows if r == (0, 0))
        inner_c = sum(1 for c in self.cols if c == (0, 0))
        return len(self.rows) * len(self.cols) - inner_r * inner_c


@functools.lru_cache(maxsize=256)
def pad_patterns(w: Conv2dWorkload) -> PadPatterns:
    """The border patterns of a conv workload (none without padding; a matrix has none);
    cached: the search asks for every candidate."""
    kh, kw = w.kernel
    sh, sw = w.stride
    ph, pw = w.padding
    dh, dw = w.dilation
    rows = _classes(w.out_height, w.height, kh, sh, ph, dh)
    cols = _classes(w.out_width, w.width, kw, sw, pw, dw)
    seen: dict = {}
    for r in rows:
        for c in cols:
            if (r, c) != ((0, 0), (0, 0)) and (r, c) not in seen:
                seen[(r, c)] = len(seen)
    return PadPatterns(tuple(rows), tuple(cols), tuple(seen))



# ------------------------------------------------------------------------------ footprints
def row_subsampled(w: Conv2dWorkload) -> bool:
    """A 1-row kernel with a row stride > 1 reads every stride-th input row only: the DMA
    skips the others (its row pitch becomes stride x W), halving or better the input
    traffic of ResNet's 1x1 stride-2 shortcut convolutions."""
    return w.kernel[0] == 1 and w.stride[0] > 1


def conv_input_tile(w: Conv2dWorkload, h_tile: int, w_tile: int) -> tuple[int, int]:
    """(rows, columns) of the SRAM input tile (padding included) for an output tile."""
    rows = h_tile if row_subsampled(w) else (h_tile - 1) * w.stride[0] + w.kernel_span[0]
    return rows, (w_tile - 1) * w.stride[1] + w.kernel_span[1]


def const_rows_per_block(w: Conv2dWorkload, epilogue: Epilogue) -> int:
    """Constant rows of the epilogue per output-channel block: the requantization's, then
    one per border pattern of the input zero point's correction (:func:`pad_patterns`)."""
    pads = len(pad_patterns(w)) if epilogue.pad_correction and not w.is_matrix else 0
    return len(epilogue.const_rows) + pads


def acc_rows_per_tile(out_rows: int, oc_blocks: int, epilogue: Epilogue,
                      const_rows: int = 0) -> int:
    """ACC elements one image tile needs: outputs, bias rows, constant rows
    (``const_rows`` per channel block), residual rows, and the scratch rows that keep a
    tile of fewer than 3 rows free of uop hazards."""
    return (out_rows + (oc_blocks if epilogue.bias else 0) + oc_blocks * const_rows
            + (out_rows if epilogue.residual else 0) + max(0, 3 - out_rows))


def gemm_positions(oc: int, ht: int, wt: int) -> int:
    """Output positions in an image tile's GEMM uop body (see lower._image_gemm)."""
    if wt >= 3:
        return wt
    if ht * wt >= 3:
        return ht * wt
    return max(3, oc * ht * wt)


def footprint(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
              epilogue: Epilogue = NO_EPILOGUE) -> dict[str, int]:
    """SRAM elements one thread's half needs, and the uops of its micro-kernels
    (``uop``: all of them, ``uop_max``: the largest)."""
    n_alu = epilogue.alu_passes
    n_const = const_rows_per_block(w, epilogue)
    _, icb, ocb = w.group_blocks(config)
    oc_sizes = [t for t, _ in tile_sizes(ocb, min(s.oc_tile, ocb))]
    if w.is_matrix:
        # Micro-kernels of one uop per output block: reset, GEMM (the reduction is a
        # hardware loop) and one per ALU step.
        out_rows = s.n_tile * s.oc_tile
        return {"inp": s.n_tile * s.ic_tile, "wgt": s.oc_tile * s.ic_tile,
                "acc": out_rows + (s.oc_tile if epilogue.bias else 0) + s.oc_tile * n_const
                + (out_rows if epilogue.residual else 0),
                "uop": s.threads * sum(oc_sizes) * (2 + n_alu), "uop_max": max(oc_sizes)}
    tih, tiw = conv_input_tile(w, s.h_tile, s.w_tile)
    out_rows = s.oc_tile * s.h_tile * s.w_tile
    kernels = uop_kernels(w, s, config, epilogue)
    return {"inp": s.ic_tile * tih * tiw, "wgt": s.oc_tile * s.ic_tile * w.kernel_area,
            "acc": acc_rows_per_tile(out_rows, s.oc_tile, epilogue, n_const),
            "uop": sum(size * n for size, n in kernels), "uop_max": kernels[0][0]}


@functools.lru_cache(maxsize=4096)
def uop_kernels(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
                epilogue: Epilogue = NO_EPILOGUE) -> tuple[tuple[int, int], ...]:
    """The distinct micro-kernels an image tiling's lowering loads, as (uops, how many of
    that size), the largest GEMM kernel first.

    A kernel's uops hold its tile's input-half and ACC-region addresses and its loops the
    tile's extents, so there is one GEMM kernel per output-tile shape (``oc x h x w``),
    input chunk size and (input half, ACC region) pair its steps use -- tiles take the
    regions in turn and steps the halves, in the lowering's tile order -- and one reset
    (none with ``GEMM_OVERWRITE``) and one per ALU pass of ``w_tile`` uops per tile shape
    and region; the border correction adds one uop per border row of a tile.
    """
    groups, icb, ocb = w.group_blocks(config)
    regions = acc_regions(config, s.threads)
    n_chunks = ceil_div(icb, min(s.ic_tile, icb))
    # Per axis: tile size -> residues (mod regions) of the tile positions of that size.
    oc_axis = _residues([min(s.oc_tile, ocb - o) for _ in range(groups)
                         for o in range(0, ocb, s.oc_tile)], regions)
    h_axis = _residues([t for t, n in tile_sizes(w.out_height, min(s.h_tile, w.out_height))
                        for _ in range(n)], regions)
    w_axis = _residues([t for t, n in tile_sizes(w.out_width, min(s.w_tile, w.out_width))
                        for _ in range(n)], regions)
    n_oc = groups * ceil_div(ocb, s.oc_tile)
    n_w = ceil_div(w.out_width, s.w_tile)
    n_sp = ceil_div(w.out_height, s.h_tile) * n_w
    images = {n * n_oc * n_sp % regions for n in range(min(w.blocks(config)[0], regions))}
    # Tile index = image x tiles + (oc x n_sp + h x n_w + w), or (h x n_w + w) x n_oc + oc.
    k_oc, k_sp = (n_sp, 1) if s.order == "oc_outer" else (1, n_oc)
    # Chunk size -> the positions (mod threads) of the steps of that size in a tile.
    ic_axis = _residues([t for t, n in tile_sizes(icb, min(s.ic_tile, icb)) for _ in range(n)],
                        s.threads)
    per_tile = (0 if config.GEMM_OVERWRITE else 1) + epilogue.alu_passes
    gemm: dict[int, int] = {}
    small: dict[int, int] = {}
    for oc, r_oc in oc_axis.items():
        for ht, r_h in h_axis.items():
            for wt, r_w in w_axis.items():
                tiles = {(i + o * k_oc + (h * n_w + x) * k_sp) % regions for i in images
                         for o in r_oc for h in r_h for x in r_w}
                for ic, r_ic in ic_axis.items():
                    pairs = {((t * n_chunks + j) % s.threads, t) for t in tiles for j in r_ic}
                    size = ic * w.kernel_area * gemm_positions(oc, ht, wt)
                    gemm[size] = gemm.get(size, 0) + len(pairs)
                if per_tile:
                    small[wt] = small.get(wt, 0) + per_tile * len(tiles)
    if epilogue.pad_correction:
        size = 2 * (s.h_tile + s.w_tile)
        small[size] = small.get(size, 0) + len(h_axis) * len(w_axis) * regions
    return tuple(sorted(gemm.items(), reverse=True) + sorted(small.items(), reverse=True))


def _residues(sizes: list[int], modulus: int) -> dict[int, set[int]]:
    """Tile size -> the positions (mod ``modulus``) of the tiles of that size on an axis."""
    out: dict[int, set[int]] = {}
    for i, size in enumerate(sizes):
        out.setdefault(size, set()).add(i % modulus)
    return out


def acc_regions(config: VTAConfig, threads: int) -> int:
    """ACC regions the output tiles rotate through: one per thread, or with
    ``ALU_OVERLAP`` and two threads four, two per accumulator bank, so that a tile's GEMMs
    (one bank) overlap the previous tile's ALU epilogue (the other bank) while the tile
    before that is still being stored."""
    return 2 * threads if config.ALU_OVERLAP and threads >= 2 else threads


def acc_region_base(config: VTAConfig, threads: int, index: int) -> int:
    """First ACC row of the region of output tile ``index``: consecutive tiles alternate
    between the two banks (the halves of ACC) when there are four regions."""
    regions = acc_regions(config, threads)
    size = config.acc_depth // regions
    if regions == 4:
        r = index % 4
        return (r % 2) * (config.acc_depth // 2) + (r // 2) * size
    return (index % regions) * size


def capacities(config: VTAConfig, threads: int) -> dict[str, int]:
    """Hard limits: SRAM halves (ACC regions: :func:`acc_regions`), and one micro-kernel
    must fit the uop buffer (a working set larger than the buffer only costs reloads, which
    the cost model charges)."""
    return {"inp": config.inp_depth // threads, "wgt": config.wgt_depth // threads,
            "acc": config.acc_depth // acc_regions(config, threads),
            "uop_max": config.uop_depth}


def misfit(foot: dict[str, int], config: VTAConfig, threads: int) -> str | None:
    """Which buffer a footprint overflows (a readable phrase), or None if it fits."""
    cap = capacities(config, threads)
    for buf in ("inp", "wgt", "acc", "uop_max"):
        if foot[buf] > cap[buf]:
            if buf == "uop_max":
                return (f"a GEMM micro-kernel needs {foot[buf]} uops but the UOP buffer "
                        f"holds {cap[buf]}")
            half = "" if threads == 1 else " (one of 2 thread halves)" if buf != "acc" \
                else f" (one of {acc_regions(config, threads)} tile regions)"
            return (f"{buf.upper()} buffer needs {foot[buf]} elements but holds {cap[buf]}"
                    f"{half}")
    return None


def check_schedule(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
                   epilogue: Epilogue = NO_EPILOGUE) -> ConvSchedule:
    """Clamp tile sizes to the workload and check they fit; return the clamped schedule.

    Raises
    ------
    ScheduleError
        naming the buffer that overflows, or for a batch tile of an image workload.
    """
    nb = w.blocks(config)[0]
    _, icb, ocb = w.group_blocks(config)
    if not w.is_matrix and s.n_tile != 1:
        raise ScheduleError(f"n_tile {s.n_tile}: only a dense (1x1 image, 1x1 kernel) "
                            f"workload tiles the batch; an image tile holds one batch block")
    s = replace(s, oc_tile=min(s.oc_tile, ocb), ic_tile=min(s.ic_tile, icb),
                h_tile=min(s.h_tile, w.out_height), w_tile=min(s.w_tile, w.out_width),
                n_tile=min(s.n_tile, nb))
    bad = misfit(footprint(w, s, config, epilogue), config, s.threads)
    if bad:
        raise ScheduleError(f"{w.kind} schedule {describe_schedule(w, s)} does not fit config "
                            f"{config.name}: {bad}")
    return s


# ------------------------------------------------------------------------------ benchmarks
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
