"""What a design-space exploration sweeps: :class:`SweepSpec`, read from TOML, JSON or flags.

A spec names a base configuration, config *axes* (any :class:`~vta.hw.config.VTAConfig`
knob and the values to try), the *workload* (ResNet-18 layers, or conv2d/dense layers
given by shape), the target *boards* and the evaluation *levels*:

``estimate``
    the kernel compiler's cost model (cycles, DRAM bytes) -- milliseconds per point;
``cycles``
    every layer compiled, run on the Verilator model of the generated Verilog with random
    int8 data and checked bit for bit against numpy -- the measured cycles;
``resources``
    yosys on the board's part (LUT, FF, BRAM, DSP) and the fits verdict.

A TOML spec (JSON has the same keys)::

    name = "pynq-latency"
    base = "pynq"                       # preset or JSON file (default: the board's preset)
    boards = ["pynq-z1"]
    levels = ["estimate", "cycles", "resources"]
    seed = 0
    [fixed]                             # knobs set on the base for every point
    CMD_QUEUE_DEPTH = 256
    [axes]                              # every combination is a point
    DRAM_LATENCY = [16, 32, 64]
    ALU_TENSOR_II = [1, 2]
    [workload]
    model = "resnet18"
    layers = "C2-C11"                   # or ["C5", "C8"]
    # or: conv2d = [{name = "L1", height = 14, width = 14, in_channels = 64,
    #                out_channels = 64, kernel = 3, stride = 1, padding = 1}]

Everything a spec can get wrong (an unknown key, knob, board, layer or level; a value the
config rejects in every combination) is a :class:`SpecError` raised by :func:`load_spec` /
:meth:`SweepSpec.build` before any point runs.  Combinations of individually valid values
that the config rejects together become failed points (stored with the reason).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vta.hw.config import VTAConfig
from vta.hw.errors import ConfigError, VTAError

__all__ = ["SpecError", "SweepSpec", "Workload", "Layer", "Point", "LEVELS", "load_spec",
           "parse_value", "config_digest", "resnet18_layers", "read_spec_data"]

LEVELS: tuple[str, ...] = ("estimate", "cycles", "resources")
_SPEC_KEYS = ("name", "base", "fixed", "axes", "workload", "boards", "levels", "seed")
_WORKLOAD_KEYS = ("model", "layers", "conv2d", "dense", "name")
_CONV_KEYS = ("name", "height", "width", "in_channels", "out_channels", "kernel", "stride",
              "padding", "batch")
_DENSE_KEYS = ("name", "batch", "in_features", "out_features")


class SpecError(VTAError):
    """A sweep spec names something that does not exist or a value nothing accepts."""


def config_digest(config: VTAConfig) -> str:
    """A short digest of every key of ``config`` (the database key of its points)."""
    return hashlib.sha256(config.to_json().encode()).hexdigest()[:16]


def parse_value(text: str) -> object:
    """A knob value typed on the command line: ``true``/``false``, an integer, or text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text, 0)
    except ValueError:
        return text.strip()


@dataclass(frozen=True)
class Layer:
    """One layer of a workload: ``kind`` is ``conv2d`` or ``dense``, ``shape`` the keyword
    arguments of its workload class."""

    name: str
    kind: str
    shape: tuple[tuple[str, Any], ...]

    def workload(self) -> Any:
        """The compiler's workload object (via the DSE's compiler adapter)."""
        from .adapter import make_workload

        return make_workload(self.kind, dict(self.shape))


def resnet18_layers(names: str | Sequence[str] = "C2-C11") -> tuple[Layer, ...]:
    """ResNet-18 convolutions by name: ``"C2-C11"``, ``"C5,C8"`` or a list of names."""
    from .adapter import resnet18_shapes

    shapes = resnet18_shapes()
    order = list(shapes)
    parts = names.split(",") if isinstance(names, str) else list(names)
    chosen: list[str] = []
    for part in parts:
        lo, _, hi = str(part).strip().upper().partition("-")
        if lo not in shapes or (hi and hi not in shapes):
            raise SpecError(f"unknown ResNet-18 layer {part!r}; layers are "
                            f"{', '.join(order)} (ranges like C2-C11)")
        chosen += order[order.index(lo):order.index(hi) + 1] if hi else [lo]
    if not chosen:
        raise SpecError("the workload names no layer")
    return tuple(Layer(n, "conv2d", tuple(shapes[n].items())) for n in chosen)


@dataclass(frozen=True)
class Workload:
    """The layers every point runs, under a name (e.g. ``resnet18:C2-C11``)."""

    name: str
    layers: tuple[Layer, ...]

    @property
    def key(self) -> str:
        """The database key: the name and a digest of every layer's shape."""
        text = json.dumps([(la.name, la.kind, la.shape) for la in self.layers])
        return f"{self.name}@{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Workload:
        if not isinstance(d, Mapping):
            raise SpecError(f"workload must be a table of {', '.join(_WORKLOAD_KEYS)}, "
                            f"not {d!r}")
        _unknown_keys(d, _WORKLOAD_KEYS, "workload")
        layers: list[Layer] = []
        model = d.get("model")
        if model is not None:
            if model != "resnet18":
                raise SpecError(f"unknown workload model {model!r}; models are resnet18 (or "
                                f"give conv2d/dense layers by shape)")
            spec = d.get("layers", "C2-C11")
            layers += resnet18_layers(spec)
            label = spec if isinstance(spec, str) else ",".join(spec)
            name = f"resnet18:{label}"
        elif "layers" in d:
            raise SpecError("workload.layers needs model = \"resnet18\"")
        else:
            name = "custom"
        for kind, keys in (("conv2d", _CONV_KEYS), ("dense", _DENSE_KEYS)):
            for i, item in enumerate(d.get(kind, ()) or ()):
                if not isinstance(item, Mapping):
                    raise SpecError(f"workload.{kind}[{i}] must be a table, not {item!r}")
                _unknown_keys(item, keys, f"workload.{kind}[{i}]")
                shape = {k: v for k, v in item.items() if k != "name"}
                shape.setdefault("batch", 1)
                layer = Layer(str(item.get("name", f"{kind}{i}")), kind,
                              tuple(sorted(shape.items())))
                try:
                    layer.workload()
                except (TypeError, VTAError) as e:
                    raise SpecError(f"workload.{kind}[{i}] ({layer.name}): {e}") from None
                layers.append(layer)
        if not layers:
            raise SpecError("the workload has no layer: set model = \"resnet18\" or give "
                            "conv2d/dense layers")
        return cls(str(d.get("name", name)), tuple(layers))


@dataclass(frozen=True)
class Point:
    """One configuration on one board: what a sweep evaluates at each level."""

    config: VTAConfig
    board: str
    label: str
    error: str = ""          # the config rejected this combination: a failed point

    @property
    def digest(self) -> str:
        return config_digest(self.config)


@dataclass
class SweepSpec:
    """A parsed sweep: base config, axes, workload, boards, levels (see the module doc)."""

    base: VTAConfig
    axes: dict[str, list[Any]]
    workload: Workload
    boards: list[str]
    levels: list[str]
    seed: int = 0
    name: str = "sweep"
    fixed: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, origin: str = "spec") -> SweepSpec:
        """Validate a spec's keys and values (see the module doc); raise :class:`SpecError`."""
        from .adapter import board_preset, check_board

        if not isinstance(d, Mapping):
            raise SpecError(f"{origin} must hold a table of {', '.join(_SPEC_KEYS)}")
        _unknown_keys(d, _SPEC_KEYS, origin)
        boards = d.get("boards", ["pynq-z1"])
        if isinstance(boards, str):
            boards = [boards]
        if not boards:
            raise SpecError(f"{origin}: boards is empty; name at least one board")
        try:
            boards = [check_board(b) for b in boards]
        except VTAError as e:
            raise SpecError(str(e)) from None
        levels = d.get("levels", ["estimate"])
        if isinstance(levels, str):
            levels = [levels]
        bad = [lv for lv in levels if lv not in LEVELS]
        if bad or not levels:
            raise SpecError(f"unknown evaluation level {bad[0] if bad else '(none)'!r}; "
                            f"levels are {', '.join(LEVELS)}")
        try:
            base = VTAConfig.load(d.get("base") or board_preset(boards[0]))
        except ConfigError as e:
            raise SpecError(f"{origin}: base: {e}") from None
        known = set(base.to_dict())
        fixed = dict(d.get("fixed", {}) or {})
        axes = {k: (list(v) if isinstance(v, (list, tuple)) else [v])
                for k, v in (d.get("axes", {}) or {}).items()}
        for where, keys in (("fixed", fixed), ("axes", axes)):
            for key in keys:
                if key not in known:
                    raise SpecError(f"{origin}: unknown knob {key!r} in {where}; knobs are "
                                    f"{', '.join(sorted(known))}")
        for key, values in axes.items():
            if not values:
                raise SpecError(f"{origin}: axis {key} has no values")
        if fixed:
            try:
                base = base.replace(**fixed)
            except ConfigError as e:
                raise SpecError(f"{origin}: fixed: {e}") from None
        seed = d.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SpecError(f"{origin}: seed must be an integer, not {seed!r}")
        spec = cls(base, axes, Workload.from_dict(d.get("workload", {"model": "resnet18"})),
                   list(boards), list(levels), seed, str(d.get("name", "sweep")), fixed)
        spec.points()   # rejects a value no combination accepts
        return spec

    def points(self) -> list[Point]:
        """Every combination of the axes on every board, in a stable order.

        Raises :class:`SpecError` when some axis value is rejected by the config in every
        combination it appears in; other rejected combinations are failed points.
        """
        keys = list(self.axes)
        combos = list(itertools.product(*(self.axes[k] for k in keys))) or [()]
        made: list[tuple[dict[str, Any], VTAConfig | None, str]] = []
        for values in combos:
            changes = dict(zip(keys, values, strict=True))
            try:
                made.append((changes, self.base.replace(**changes), ""))
            except (ConfigError, TypeError) as e:
                made.append((changes, None, str(e)))
        for key in keys:
            for value in self.axes[key]:
                tried = [m for m in made if m[0][key] == value]
                if tried and all(cfg is None for _, cfg, _ in tried):
                    raise SpecError(f"axis {key} value {value!r} is rejected by the config: "
                                    f"{tried[0][2]}")
        out: list[Point] = []
        for board in self.boards:
            for changes, cfg, error in made:
                label = ",".join(f"{k}={v}" for k, v in changes.items()) or "base"
                out.append(Point(cfg if cfg is not None else self.base, board, label, error))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The spec as data (stored with each sweep run)."""
        wl: dict[str, Any] = {"name": self.workload.name, "conv2d": [], "dense": []}
        for la in self.workload.layers:
            wl[la.kind].append({"name": la.name, **dict(la.shape)})
        return {"name": self.name, "base": self.base.to_dict(), "axes": self.axes,
                "workload": wl, "boards": self.boards, "levels": self.levels,
                "seed": self.seed}


def read_spec_data(path: str | Path) -> dict[str, Any]:
    """The raw table of a TOML (``.toml``) or JSON spec file; SpecError if unreadable."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"cannot read sweep spec {path}: {e.strerror}") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:   # Python 3.10
            raise SpecError("TOML sweep specs need Python 3.11 or newer; use a .json "
                            "spec") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"sweep spec {path} is not valid TOML: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"sweep spec {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"sweep spec {path} must hold a JSON object")
    return data


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a spec file; raise :class:`SpecError` on any problem."""
    return SweepSpec.from_dict(read_spec_data(path), origin=str(path))


def _unknown_keys(d: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in d:
        if key not in allowed:
            raise SpecError(f"unknown key {key!r} in {where}; expected "
                            f"{', '.join(allowed)}")
