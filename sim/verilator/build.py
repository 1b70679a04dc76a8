"""Compile a design's Verilog and the C++ harness into a cached shared library.

One build = Verilator (``--cc --exe``) on the Verilog plus ``harness.cpp``,
``dram_model.cpp`` and the generated ``vta_ports.h`` and ``vta_regmap.h`` (:mod:`.glue`),
then ``make`` linking everything into ``libvtasim.so``.  Builds are cached by a digest of
the Verilog, the harness sources, the generated glue, the flags and the tool versions in
``<cache>/verilator/<digest>/``, where ``<cache>`` is ``$VTA_CACHE_DIR``, else
``$XDG_CACHE_HOME/vta-kit``, else ``~/.cache/vta-kit``.  A file lock makes concurrent
builders of the same model (pytest-xdist workers) wait for one build instead of racing.
Tracing builds (``trace="vcd"|"fst"``) are separate cache entries.

For a configuration, :func:`build_for_config` also caches the generated Verilog keyed by the
configuration and a digest of the gateware sources, so a cached start costs no elaboration.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from vta.hw import cache
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.hw.ports import MEMORY_PREFIX, Port, ports_from_manifest
from vta.hw.toolchain import ToolError, cache_root, verilator_env, verilator_path

from .glue import (
    clock_trigger_member,
    clocked_eval,
    port_glue,
    ports_from_verilog,
    regmap_header,
    sim_wrapper,
    verilated_members,
)

__all__ = ["BuildError", "BuiltModel", "cache_root", "build_library", "build_for_config",
           "verilog_for_config", "TRACE_KINDS", "LIBRARY_NAME"]

HERE = Path(__file__).resolve().parent
HARNESS_SOURCES = ("harness.cpp", "dram_model.cpp", "dram_model.h")
LIBRARY_NAME = "libvtasim.so"
TRACE_KINDS = (None, "vcd", "fst")
# Bumped when the build recipe changes in a way the digest's other inputs do not show.
_RECIPE = 3


class BuildError(VTAError):
    """Verilating or compiling the model failed; the message quotes the tool's error."""


@dataclass(frozen=True)
class BuiltModel:
    """A compiled model: the shared library and what it was built from.

    ``seconds`` is the time this call spent (building, or just finding the cache entry);
    ``cached`` tells which.
    """

    library: Path
    digest: str
    ports: tuple[Port, ...]
    trace: str | None
    cached: bool
    seconds: float

    @property
    def bus_bytes(self) -> int:
        return next(p.width for p in self.ports if p.name == MEMORY_PREFIX + "RDATA") // 8


def _tool_versions() -> str:
    try:
        verilator = metadata.version("verilator")
    except metadata.PackageNotFoundError:
        verilator = "system"
    return f"verilator {verilator}; cxx {_cxx()}"


def _cxx() -> str:
    return os.environ.get("CXX", "g++")


def _check_tools() -> Path:
    """Raise :class:`ToolError` naming the missing tool (C++ compiler, make, Verilator)."""
    cxx = _cxx()
    if shutil.which(cxx) is None:
        raise ToolError(f"no C++ compiler {cxx!r} on PATH: the Verilator simulator needs one "
                        f"(Debian/Ubuntu: apt-get install g++)")
    if shutil.which("make") is None:
        raise ToolError("no 'make' on PATH: the Verilator simulator build needs it "
                        "(Debian/Ubuntu: apt-get install make)")
    return verilator_path()


def _verilator_args(trace: str | None, threads: int) -> list[str]:
    args = ["--cc", "--exe", "--top-module", "vta_sim_top", "--prefix", "Vvta_top",
            "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
            "-Wno-fatal", "-Wno-lint", "-Wno-style",
            "-CFLAGS", "-fPIC", "-CFLAGS", "-std=c++17", "-LDFLAGS", "-shared",
            "-o", LIBRARY_NAME]
    if threads > 1:
        args += ["--threads", str(threads)]
    if trace == "vcd":
        args += ["--trace", "-CFLAGS", "-DVTA_TRACE_VCD"]
    elif trace == "fst":
        args += ["--trace-fst", "-CFLAGS", "-DVTA_TRACE_FST"]
    return args


def _make_vars(opt: str) -> list[str]:
    # The model's hot code and our harness at `opt`; the constructor code stays at -O0 (it
    # is large and runs once).
    return [f"OPT_FAST={opt}", f"OPT_GLOBAL={opt}", "OPT_SLOW="]


def build_library(verilog: str | Path, *, ports: list[Port] | None = None,
                  manifest: str | Path | dict | None = None, trace: str | None = None,
                  opt: str = "-O3", jobs: int = 2, threads: int = 1,
                  progress: bool = True) -> BuiltModel:
    """Build (or find in the cache) the simulator library for a ``vta_top`` Verilog design.

    Parameters
    ----------
    verilog:
        The Verilog text, or a path to a ``.v`` file.
    ports, manifest:
        The top-level port list, or a gateware manifest holding it; parsed from the Verilog
        when neither is given.
    trace:
        ``None``, ``"vcd"`` or ``"fst"``: compile waveform tracing in (a separate cache entry).
    opt:
        C++ optimisation level of the model's code.
    jobs:
        Parallel compiler processes.
    threads:
        Threads the model evaluates with (Verilator ``--threads``); 1 suits machines that
        run several simulations at once.
    progress:
        Show tqdm progress bars (on stderr) while building.

    Raises
    ------
    ToolError
        When the C++ compiler, make or Verilator is missing.
    BuildError
        When Verilator or the compiler fails (the message quotes the first error).
    PortError
        When the design's ports do not fit the harness.
    """
    t0 = time.perf_counter()
    if trace not in TRACE_KINDS:
        raise BuildError(f"trace must be one of None, 'vcd', 'fst', not {trace!r}")
    if isinstance(verilog, Path) or (isinstance(verilog, str) and "\n" not in verilog
                                     and verilog.endswith((".v", ".sv"))):
        try:
            text = Path(verilog).read_text()
        except OSError as e:
            raise BuildError(f"cannot read Verilog {verilog}: {e.strerror}") from None
    else:
        text = str(verilog)
    if ports is None:
        ports = ports_from_manifest(manifest) if manifest is not None \
            else ports_from_verilog(text)
    glue = port_glue(ports)
    if not isinstance(threads, int) or not 1 <= threads <= 64:
        raise BuildError(f"threads must be an integer in [1, 64], not {threads!r}")
    args = _verilator_args(trace, threads)
    make_vars = _make_vars(opt)
    h = hashlib.sha256()
    for part in (f"recipe {_RECIPE}", _tool_versions(), " ".join(args), " ".join(make_vars),
                 glue, regmap_header(), sim_wrapper(ports), text):
        h.update(part.encode())
        h.update(b"\0")
    for name in HARNESS_SOURCES:
        h.update((HERE / name).read_bytes())
        h.update(b"\0")
    digest = h.hexdigest()[:24]
    root = cache.kind_dir("verilator")
    entry = root / digest
    library = entry / LIBRARY_NAME
    if library.exists():
        cache.touch(entry)
        return BuiltModel(library, digest, tuple(ports), trace, True, time.perf_counter() - t0)

    verilator = _check_tools()
    cache.check_writable()
    root.mkdir(parents=True, exist_ok=True)
    with cache.entry_lock(root / f"{digest}.lock"):  # another process may be building it
        if library.exists():
            return BuiltModel(library, digest, tuple(ports), trace, True,
                              time.perf_counter() - t0)
        for stale in root.glob(f"{digest}.build-*"):   # left by a killed build of this digest
            shutil.rmtree(stale, ignore_errors=True)
        cache.remove_abandoned_work()      # and those killed builds of other digests left
        work = Path(tempfile.mkdtemp(prefix=f"{digest}.build-", dir=root))
        try:
            _build(work, verilator, text, ports, glue, args, make_vars, jobs, progress, trace)
            final = work / "final"
            final.mkdir()
            shutil.copy2(work / "obj" / LIBRARY_NAME, final / LIBRARY_NAME)
            (final / "vta_top.v").write_text(text)
            (final / "build.json").write_text(json.dumps({
                "digest": digest, "trace": trace, "verilator_args": args,
                "make_vars": make_vars, "tools": _tool_versions(),
                "build_seconds": round(time.perf_counter() - t0, 2),
                "ports": [p.__dict__ for p in ports]}, indent=1))
            os.replace(final, entry)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return BuiltModel(library, digest, tuple(ports), trace, False, time.perf_counter() - t0)


def _build(work: Path, verilator: Path, text: str, ports: list[Port], glue: str, args: list[str],
           make_vars: list[str], jobs: int, progress: bool, trace: str | None = None) -> None:
    from tqdm import tqdm

    src = work / "src"
    obj = work / "obj"
    src.mkdir()
    (src / "vta_top.v").write_text(text)
    (src / "vta_ports.h").write_text(glue)
    (src / "vta_regmap.h").write_text(regmap_header())
    (src / "vta_sim_top.v").write_text(sim_wrapper(ports))
    for name in HARNESS_SOURCES:
        shutil.copy2(HERE / name, src / name)
    env = verilator_env()
    cmd = [str(verilator), *args, "-Mdir", str(obj), "-CFLAGS", f"-I{src}",
           str(src / "vta_sim_top.v"), str(src / "vta_top.v"), str(src / "harness.cpp"),
           str(src / "dram_model.cpp")]
    with tqdm(total=1, desc="verilator: verilate", unit="step", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        bar.update(1)
    if proc.returncode != 0:
        raise BuildError(f"verilator failed on vta_top.v: {_first_error(proc.stderr)}")
    # Regenerate the glue with the member names Verilator chose (it renames some ports),
    # and with single-evaluation cycles where the generated model allows them.
    members = verilated_members((obj / "Vvta_top.h").read_text())
    trigger = None
    sources = {p.name: p.read_text() for p in obj.glob("Vvta_top___024root__*.cpp")}
    if trace is None:
        trigger = clock_trigger_member((obj / "Vvta_top___024root.h").read_text(), sources,
                                       ports, members)
    (src / "vta_ports.h").write_text(port_glue(ports, members=members, clock_trigger=trigger,
                                               clocked=clocked_eval(sources)))

    make = ["make", "-C", str(obj), "-f", "Vvta_top.mk", f"-j{max(1, jobs)}", *make_vars]
    dry = subprocess.run([*make, "-n"], env=env, capture_output=True, text=True)
    total = sum(1 for line in dry.stdout.splitlines() if _is_compile(line)) or 1
    out_lines: list[str] = []
    with tqdm(total=total, desc="verilator: compile", unit="file", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        proc2 = subprocess.Popen(make, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        assert proc2.stdout is not None
        for line in proc2.stdout:
            out_lines.append(line)
            if _is_compile(line):
                bar.update(1)
        proc2.wait()
    if proc2.returncode != 0 or not (obj / LIBRARY_NAME).exists():
        raise BuildError(f"compiling the Verilated model failed: "
                         f"{_first_error(''.join(out_lines))}")


def _is_compile(line: str) -> bool:
    return " -c " in line or line.rstrip().endswith(" -c")


def _first_error(output: str) -> str:
    for line in output.splitlines():
        if re.search(r"\berror\b|%Error", line, re.I):
            return line.strip()[:400]
    tail = [line for line in output.splitlines() if line.strip()]
    return (tail[-1].strip()[:400] if tail else "no output")


# ------------------------------------------------------------------ gateware -> Verilog
def _gateware_digest() -> str:
    """Digest of every source that shapes the generated Verilog (gateware, config, ISA,
    pipeline, register map, ...)."""
    import vta.hw

    hw_dir = Path(vta.hw.__file__).resolve().parent
    # Every module of the hw layer the gateware may read (the tables it derives from).
    sources = list(hw_dir.glob("*.py"))
    sources += [p for p in (hw_dir / "gateware").glob("*.py") if p.name != "commands.py"]
    h = hashlib.sha256()
    for path in sorted(sources):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    try:
        h.update(metadata.version("amaranth").encode())
    except metadata.PackageNotFoundError:
        pass
    return h.hexdigest()[:24]


def verilog_for_config(config: VTAConfig, *, progress: bool = True) -> tuple[str, list[Port]]:
    """The ``vta_top`` Verilog of ``config`` and its port list, generated once and cached.

    The cache key is the configuration plus a digest of the hw layer's sources, so editing
    the gateware regenerates it.
    """
    key = hashlib.sha256((config.to_json() + _gateware_digest()).encode()).hexdigest()[:24]
    entry = cache.kind_dir("verilog") / key
    vfile = entry / "vta_top.v"
    mfile = entry / "vta_top.json"
    if vfile.exists():
        cache.touch(entry)
        text = vfile.read_text()
        ports = ports_from_manifest(mfile) if mfile.exists() else ports_from_verilog(text)
        return text, ports
    cache.check_writable()
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.gen-", dir=entry.parent))
    try:
        from tqdm import tqdm

        with tqdm(total=1, desc=f"elaborate vta_top ({config.TARGET})", unit="step",
                  disable=not progress, file=sys.stderr, leave=False) as bar:
            _generate_verilog(config, work)
            bar.update(1)
        if not (work / "vta_top.v").exists():
            raise BuildError(f"the gateware generator wrote no vta_top.v in {work}")
        try:
            os.replace(work, entry)
        except OSError:  # another process won the race; its files are identical
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = vfile.read_text()
    ports = ports_from_manifest(mfile) if mfile.exists() else ports_from_verilog(text)
    return text, ports


def _generate_verilog(config: VTAConfig, out_dir: Path) -> None:
    """Elaborate ``VTATop(config)`` into ``out_dir/vta_top.v`` (and a manifest if possible)."""
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    try:
        from vta.hw.gateware import verilog as gen  # the gateware's own generator
    except ImportError:
        gen = None
    writer = getattr(gen, "write_verilog", None) if gen is not None else None
    if writer is not None:
        writer(config, out_dir)
        return
    try:
        from amaranth.back import verilog
        from vta.hw.gateware.top import VTATop
    except ImportError as e:
        raise BuildError(f"the gateware top level is not available ({e}); "
                         f"pass a Verilog file instead") from None
    text = verilog.convert(VTATop(config), name="vta_top", emit_src=False)
    (out_dir / "vta_top.v").write_text(text)


def build_for_config(config: VTAConfig | str | None, *, trace: str | None = None,
                     opt: str = "-O3", jobs: int = 2, threads: int = 1,
                     progress: bool = True) -> BuiltModel:
    """Build (or find cached) the simulator library of ``vta_top`` for a configuration."""
    config = VTAConfig.load(config)
    text, ports = verilog_for_config(config, progress=progress)
    return build_library(text, ports=ports, trace=trace, opt=opt, jobs=jobs, threads=threads,
                         progress=progress)
