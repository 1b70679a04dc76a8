"""Design-space sweeps: estimates per configuration, the CLI, the plot, the notebook."""

import json
from pathlib import Path

import pytest
from vta.compiler.sweep import C2_C11, REQUANT, format_table, plot, sweep, variants
from vta.hw import VTAConfig
from vta.hw.cli import main
from vta.hw.errors import ConfigError, VTAError

ROOT = Path(__file__).resolve().parents[2]


def test_variants_cover_the_product_and_report_what_does_not_fit():
    rejected: list = []
    cfgs = variants("default", rejected=rejected, LOG_BLOCK=[3, 4], WIDE_ISA=[False, True])
    assert sorted((c.block, c.WIDE_ISA) for c in cfgs) == [(8, True), (16, False), (16, True)]
    assert len(rejected) == 1 and "LOG_BLOCK=3" in rejected[0][0]
    assert "WIDE_ISA" in rejected[0][1]
    with pytest.raises(ConfigError, match="unknown config key 'BLOCK'"):
        variants("default", BLOCK=[8])


def test_sweep_estimates_match_the_scheduler_and_rank_configs():
    from vta.compiler.cost_model import estimate
    from vta.compiler.search import schedule_conv2d
    from vta.compiler.workload import resnet18_workload

    base = VTAConfig.preset("default")
    cfgs = variants(base, LOG_BLOCK=[4, 5])
    points = sweep(cfgs, ["C5", "C8"], base=base)
    assert [p.label for p in points] == ["base", "LOG_BLOCK=5"]
    cycles = 0
    for name in ("C5", "C8"):
        w = resnet18_workload(name)
        cycles += estimate(w, schedule_conv2d(w, base, REQUANT), base, REQUANT).cycles
    assert points[0].cycles == cycles
    assert points[0].macs == sum(resnet18_workload(n).macs for n in ("C5", "C8"))
    assert 0.5 < points[0].utilization <= 1.0
    assert points[1].cycles < points[0].cycles        # 4x the MACs per cycle is faster...
    assert points[1].utilization < points[0].utilization   # ...but less well used
    table = format_table(points)
    assert "LOG_BLOCK=5" in table and "base" in table


def test_a_config_no_tile_fits_is_reported_not_raised():
    cfg = VTAConfig.preset("default").replace(LOG_INP_BUFF_SIZE=6)
    (point,) = sweep([cfg], ["C2"])
    assert not point.fits and point.utilization == 0.0 and "C2" in point.note
    with pytest.raises(VTAError, match="unknown ResNet-18 layer"):
        sweep([cfg], ["C12"])


def test_plot_writes_an_image(tmp_path):
    points = sweep(variants("default", LOG_BLOCK=[4, 5]), C2_C11[:2])
    path = tmp_path / "sweep.png"
    plot(points, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_sweep_prints_the_table_and_the_best(tmp_path, capsys):
    png = tmp_path / "s.png"
    assert main(["bench", "sweep", "--set", "LOG_BLOCK=3,4", "--layers", "C8",
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "skipped LOG_BLOCK=3" in out and "best: base" in out and png.exists()
    assert main(["bench", "sweep", "--set", "LOG_BLOCK"]) == 2


def test_the_design_sweep_notebook_runs(monkeypatch):
    """Every code cell of notebooks/design_sweep.ipynb, in order, as a reader would run it."""
    import matplotlib

    matplotlib.use("Agg")
    nb = json.loads((ROOT / "notebooks" / "design_sweep.ipynb").read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells and all(not c.get("outputs") for c in cells), "commit notebooks without outputs"
    namespace: dict = {}
    for cell in cells:
        exec(compile("".join(cell["source"]), "design_sweep.ipynb", "exec"), namespace)
    assert namespace["got"].shape == namespace["ref"].shape
    assert (namespace["got"] == namespace["ref"]).all()
