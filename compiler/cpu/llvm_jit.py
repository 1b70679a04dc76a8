"""llvmlite JIT: compile LLVM modules for the host CPU, with two caches.

- An in-process cache keyed by the kernel's key (op, shapes, dtypes, attributes): a kernel
  is compiled once per process.
- An optional on-disk object cache (``VTA_CPU_CACHE`` directory, or ``cache_dir=``; off
  when neither is set): objects are keyed by a digest of the LLVM IR, the host CPU name and
  features and the llvmlite version, so a second process skips code generation.

Per llvmlite 0.50: no ``llvm.initialize()``; the target machine is created for the host
CPU name and features (without them LLVM emits SSE2-only code); optimization runs through
the new pass manager at ``-O3``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite
import llvmlite.binding as llvm
from vta.hw.cache import touch
from vta.hw.errors import VTAError

__all__ = ["KernelError", "Jit", "jit", "host_description"]


class KernelError(VTAError, ValueError):
    """A CPU kernel cannot be built or was called with arrays it was not built for."""


_INIT_LOCK = threading.Lock()
_INITIALIZED = False


def _init_llvm() -> None:
    global _INITIALIZED
    with _INIT_LOCK:
        if not _INITIALIZED:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _INITIALIZED = True


def host_description() -> str:
    """``cpu-name +features`` of the host, as the code generator sees it."""
    _init_llvm()
    return f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"


class Jit:
    """One MCJIT engine for the host CPU holding every compiled kernel module.

    Parameters
    ----------
    cache_dir:
        Directory for the on-disk object cache; None reads ``VTA_CPU_CACHE`` (unset: no
        disk cache).
    """

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        _init_llvm()
        env = os.environ.get("VTA_CPU_CACHE")
        self.cache_dir = Path(cache_dir) if cache_dir else (Path(env) if env else None)
        target = llvm.Target.from_default_triple()
        self.target_machine = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=3, codemodel="jitdefault")
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""),
                                                  self.target_machine)
        self._engine.finalize_object()
        self._engine.set_object_cache(self._notify, self._getbuffer)
        self._lock = threading.Lock()
        self._functions: dict[Any, int] = {}
        self._host = host_description() + f" llvmlite {llvmlite.__version__}"
        self.stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0}

    # ------------------------------------------------------------------ object cache
    def _module_path(self, module: Any) -> Path | None:
        # Only kernel modules are named by their digest; anything else is not cached.
        name = module.name
        if not self.cache_dir or not name.startswith("vta-cpu-"):
            return None
        return self.cache_dir / f"{name[len('vta-cpu-'):]}.o"

    def _notify(self, module: Any, buffer: bytes) -> None:
        path = self._module_path(module)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(buffer)
                tmp.replace(path)
            except OSError:
                pass  # a read-only cache directory only costs recompilation

    def _getbuffer(self, module: Any) -> bytes | None:
        path = self._module_path(module)
        if path is not None and path.exists():
            self.stats["disk_hits"] += 1
            touch(path)                       # last use, for `vta cache prune --keep`
            return path.read_bytes()
        return None

    # ------------------------------------------------------------------ compile
    def _optimize(self, mod: Any) -> None:
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(self.target_machine, pto)
        pb.getModulePassManager().run(mod, pb)

    def function(self, key: Any, ir_text: str | Callable[[], str], name: str) -> int:
        """Address of function ``name`` in the module ``ir_text``, compiled once per key.

        ``ir_text`` may be a callable producing the IR, so a cache hit skips generation.

        Raises
        ------
        KernelError
            if LLVM rejects the IR (a bug in a kernel generator, reported with the key).
        """
        with self._lock:
            addr = self._functions.get(key)
            if addr is not None:
                self.stats["memory_hits"] += 1
                return addr
            text = ir_text() if callable(ir_text) else ir_text
            digest = hashlib.sha256((self._host + "\n" + text).encode()).hexdigest()[:32]
            try:
                mod = llvm.parse_assembly(text)
                mod.verify()
            except RuntimeError as e:
                raise KernelError(f"CPU kernel {key!r}: LLVM rejected the generated IR: "
                                  f"{str(e).splitlines()[0]}") from None
            mod.triple = self.target_machine.triple
            mod.data_layout = str(self.target_machine.target_data)
            mod.name = f"vta-cpu-{digest}"
            path = self._module_path(mod)
            if path is None or not path.exists():
                self._optimize(mod)
                self.stats["compiled"] += 1
            self._engine.add_module(mod)
            self._engine.finalize_object()
            addr = self._engine.get_function_address(name)
            if not addr:
                raise KernelError(f"CPU kernel {key!r}: function {name!r} not found")
            self._functions[key] = addr
            return addr

    def cfunc(self, key: Any, ir_text: str | Callable[[], str], name: str,
              argtypes: list[Any]) -> Callable[..., None]:
        """A ctypes callable for ``void name(argtypes...)`` (see :meth:`function`)."""
        addr = self.function(key, ir_text, name)
        return ctypes.CFUNCTYPE(None, *argtypes)(addr)


_DEFAULT: Jit | None = None


def jit() -> Jit:
    """The process-wide :class:`Jit` (created on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Jit()
    return _DEFAULT
