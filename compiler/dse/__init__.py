"""vta.compiler.dse: measured design-space exploration (``vta dse run|show``).

A sweep (:class:`~vta.compiler.dse.spec.SweepSpec`) names config axes, a workload, boards
and evaluation levels (cost-model ``estimate``, Verilator ``cycles``, yosys ``resources``);
:func:`~vta.compiler.dse.runner.run_sweep` evaluates the points not yet stored, on a Dask
cluster or in process, into a SQLite :class:`~vta.compiler.dse.store.ResultStore`;
:mod:`~vta.compiler.dse.report` joins the rows into design points, marks the Pareto front,
writes CSV and plots.  See docs/codesign.md.
"""

from __future__ import annotations

from .report import DesignPoint, design_points, format_table, pareto_front, plot_front
from .runner import DSEError, SweepSummary, run_sweep
from .spec import SpecError, SweepSpec, load_spec
from .store import ResultStore, StoreError

__all__ = ["SweepSpec", "load_spec", "SpecError", "run_sweep", "SweepSummary", "DSEError",
           "ResultStore", "StoreError", "DesignPoint", "design_points", "pareto_front",
           "format_table", "plot_front"]
