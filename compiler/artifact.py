"""The saved executable (``.vtax``): one zip file, written and read here.

``manifest.json``
    format version, config, the quantized graph (:mod:`~vta.compiler.frontend.graph_json`),
    the layers in order; for an accelerator layer its kernel description
    (:meth:`~vta.compiler.ops.CompiledKernel.to_dict`: workload, schedule, epilogue -- the
    lowering is deterministic) and a digest of the tile program it lowers to; for a CPU
    layer the node (the kernel is regenerated from it for the loading host's CPU).
``arrays/*.npy``
    graph params and the packed accelerator weights and biases.

Reading re-lowers each accelerator kernel from its description and refuses the artifact
if the instruction program differs from the saved digest, so a board runs exactly what
the host compiled.  :meth:`vta.compiler.executable.Executable.save` and
:func:`vta.compiler.load` are the user-facing entry points.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError

from .frontend.graph_json import graph_from_json, graph_to_json
from .ops import CompiledKernel
from .partition import CpuLayer, Partition, VtaLayer

__all__ = ["FORMAT", "ArtifactError", "Artifact", "program_digest", "write_artifact",
           "read_artifact"]

FORMAT = "vta-kit-executable/1"
"""Format tag of saved artifacts."""


class ArtifactError(VTAError):
    """A saved executable cannot be read, or does not match this kit's compiler."""


@dataclass
class Artifact:
    """What an artifact holds: everything :class:`~vta.compiler.executable.Executable`
    is built from."""

    partition: Partition
    kernels: dict[str, CompiledKernel]
    packed: dict[str, dict[str, np.ndarray]]
    device: str
    compile_stats: dict[str, float]


def program_digest(kernel: CompiledKernel) -> str:
    """A digest of the kernel's tile program (every DMA descriptor and micro-kernel)."""
    return hashlib.sha256(repr((kernel.program.threads, kernel.program.tiles)).encode()
                          ).hexdigest()[:32]


def write_artifact(path: str | Path, artifact: Artifact) -> Path:
    """Write ``artifact`` to ``path``.

    Raises
    ------
    ArtifactError
        if the file cannot be written.
    """
    path = Path(path)
    partition = artifact.partition
    arrays: dict[str, np.ndarray] = {}
    graph_json = graph_to_json(partition.graph, arrays)
    layers = []
    for i, lay in enumerate(partition.layers):
        if isinstance(lay, VtaLayer):
            kernel = artifact.kernels[lay.name]
            keys = {}
            for what, arr in artifact.packed[lay.name].items():
                keys[what] = f"vta{i}.{what}"
                arrays[keys[what]] = arr
            layers.append({"device": "vta", "name": lay.name, "op": lay.op,
                           "nodes": list(lay.nodes),
                           "data": lay.data, "weight": lay.weight, "bias": lay.bias,
                           "residual": lay.residual, "output": lay.output,
                           "kernel": kernel.to_dict(), "digest": program_digest(kernel),
                           "arrays": keys})
        else:
            layers.append({"device": "cpu", "node": lay.name, "reason": lay.reason})
    manifest = {"format": FORMAT, "config": partition.config.to_dict(),
                "device": artifact.device, "graph": graph_json, "layers": layers,
                "compile_stats": artifact.compile_stats}
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=1))
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
                z.writestr(f"arrays/{key}.npy", buf.getvalue())
    except OSError as e:
        raise ArtifactError(f"cannot write executable {path}: {e.strerror or e}") from None
    return path


def _read_zip(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
            arrays = {}
            for name in z.namelist():
                if name.startswith("arrays/") and name.endswith(".npy"):
                    arrays[name[7:-4]] = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
    except FileNotFoundError:
        raise ArtifactError(f"no executable at {path}") from None
    except KeyError:
        raise ArtifactError(f"{path} is a broken vta-kit executable: the zip has no "
                            f"manifest.json") from None
    except zipfile.BadZipFile as e:
        raise ArtifactError(f"{path} is a broken vta-kit executable: not a readable zip "
                            f"({e}; truncated or not a .vtax)") from None
    except (ValueError, OSError, EOFError, zipfile.LargeZipFile) as e:
        raise ArtifactError(f"{path} is a broken vta-kit executable: "
                            f"{type(e).__name__}: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ArtifactError(f"{path} is not a vta-kit executable of this kit: format "
                            f"{found!r}, expected {FORMAT!r}")
    return manifest, arrays


def read_artifact(path: str | Path) -> Artifact:
    """Read an artifact written by :func:`write_artifact`, re-lowering its kernels.

    Raises
    ------
    ArtifactError
        for a missing or malformed file, or an accelerator kernel whose lowering on this
        kit differs from the saved program digest.
    """
    path = Path(path)
    manifest, arrays = _read_zip(path)
    try:
        config = VTAConfig.from_dict(manifest["config"])
        graph = graph_from_json(manifest["graph"], arrays)
        layers: list[VtaLayer | CpuLayer] = []
        kernels: dict[str, CompiledKernel] = {}
        packed: dict[str, dict[str, np.ndarray]] = {}
        by_desc: dict[str, CompiledKernel] = {}
        for d in manifest["layers"]:
            if d["device"] == "cpu":
                layers.append(CpuLayer(graph.node(d["node"]), d.get("reason", "")))
                continue
            desc = json.dumps(d["kernel"], sort_keys=True)
            kernel = by_desc.get(desc)
            if kernel is None:
                kernel = by_desc[desc] = CompiledKernel.from_dict(d["kernel"])
            if program_digest(kernel) != d["digest"]:
                raise ArtifactError(f"{path}: layer {d['name']!r} lowers to a different "
                                    "instruction program on this kit than when it was saved "
                                    "(recompile the model)")
            layers.append(VtaLayer(d["name"], d.get("op", kernel.op), tuple(d["nodes"]),
                                   d["data"],
                                   d["weight"], d["bias"], d["residual"], d["output"],
                                   kernel.workload, kernel.epilogue, kernel.schedule,
                                   kernel.estimate))
            kernels[d["name"]] = kernel
            packed[d["name"]] = {what: arrays[key] for what, key in d["arrays"].items()}
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise ArtifactError(f"{path}: malformed executable manifest ({e})") from None
    return Artifact(Partition(graph, config, tuple(layers)), kernels, packed,
                    manifest.get("device", "fsim"), {})
