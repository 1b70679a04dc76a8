"""DSE sweep specs and the results database: bad input in one line, before any point runs."""

import json
import sqlite3

import pytest
from vta.compiler.dse import ResultStore, SpecError, StoreError, SweepSpec, load_spec
from vta.compiler.dse.evaluate import tasks_for
from vta.compiler.dse.report import design_points, pareto_front
from vta.hw.cli import main

SMALL = {"conv2d": [{"name": "L1", "height": 8, "width": 8, "in_channels": 16,
                     "out_channels": 16, "kernel": 3, "stride": 1, "padding": 1}]}


def test_a_toml_spec_gives_every_combination_on_every_board(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\nbase = "tiny"\nboards = ["pynq-z1", "ultra96"]\n'
                    'levels = ["estimate", "resources"]\n[fixed]\nCMD_QUEUE_DEPTH = 64\n'
                    '[axes]\nDRAM_LATENCY = [8, 16]\nLOG_ACC_BUFF_SIZE = [12, 13]\n'
                    '[workload]\nmodel = "resnet18"\nlayers = "C8-C10"\n')
    spec = load_spec(path)
    points = spec.points()
    assert len(points) == 8 and {p.board for p in points} == {"pynq-z1", "ultra96-v2"}
    assert all(p.config.CMD_QUEUE_DEPTH == 64 and p.config.TARGET == "tiny" for p in points)
    assert [la.name for la in spec.workload.layers] == ["C8", "C9", "C10"]
    tasks = tasks_for(spec)
    # estimate once per config (any board); resources once per config and part
    assert sum(t["level"] == "estimate" for t in tasks) == 4
    assert sum(t["level"] == "resources" for t in tasks) == 8
    assert len({t["key"] for t in tasks}) == len(tasks)


@pytest.mark.parametrize("spec, message", [
    ({"axes": {"BLOCK": [8]}}, "unknown knob 'BLOCK' in axes"),
    ({"fixed": {"LOG_BLCK": 3}}, "unknown knob 'LOG_BLCK' in fixed"),
    ({"axes": {"LOG_BLOCK": [4, 9]}}, "axis LOG_BLOCK value 9 is rejected by the config: "
                                      "LOG_BLOCK must be [1, 6], not 9"),
    ({"axes": {"ALU_TENSOR_II": [3]}}, "ALU_TENSOR_II must be one of 1, 2, not 3"),
    ({"boards": ["pynq-z9"]}, "unknown board 'pynq-z9'; boards are pynq-z1"),
    ({"levels": ["estimate", "timing"]}, "unknown evaluation level 'timing'"),
    ({"workload": {"model": "vgg16"}}, "unknown workload model 'vgg16'"),
    ({"workload": {"model": "resnet18", "layers": "C2-C14"}}, "unknown ResNet-18 layer"),
    ({"workload": {"conv2d": [{"name": "x", "height": 4}]}}, "workload.conv2d[0] (x)"),
    ({"workload": {"conv2d": [{"hieght": 4}]}}, "unknown key 'hieght'"),
    ({"colour": "red"}, "unknown key 'colour' in spec"),
    ({"axes": {"DRAM_LATENCY": []}}, "axis DRAM_LATENCY has no values"),
    ({"base": "huge"}, "base: config 'huge' is neither a preset"),
])
def test_bad_specs_fail_in_one_line(spec, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        SweepSpec.from_dict({"base": "tiny", "workload": SMALL, **spec})


def test_a_combination_the_config_rejects_is_a_failed_point_not_an_error():
    # LOG_BLOCK=3 needs WIDE_ISA; each value is valid in some combination.
    spec = SweepSpec.from_dict({"base": "default", "workload": SMALL,
                                "axes": {"LOG_BLOCK": [3, 4], "WIDE_ISA": [False, True]}})
    points = spec.points()
    assert len(points) == 4
    bad = [p for p in points if p.error]
    assert len(bad) == 1 and bad[0].label == "LOG_BLOCK=3,WIDE_ISA=False"


def test_cli_reports_bad_specs_before_running(tmp_path, capsys):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"base": "tiny", "axes": {"NOPE": [1]}, "workload": SMALL}))
    db = tmp_path / "r.sqlite"
    assert main(["dse", "run", str(spec), "--db", str(db), "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown knob 'NOPE'" in err[0]
    assert not db.exists()
    (tmp_path / "bad.json").write_text("{nope")
    assert main(["dse", "run", str(tmp_path / "bad.json"), "--db", str(db)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_a_corrupt_or_foreign_database_is_refused_untouched(tmp_path, capsys):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 10)
    before = junk.read_bytes()
    with pytest.raises(StoreError, match="is not a SQLite database"):
        ResultStore.open(junk)
    assert junk.read_bytes() == before
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    with pytest.raises(StoreError, match="not a vta-kit DSE database .tables invoices."):
        ResultStore.open(foreign)
    assert foreign.read_bytes() == before
    truncated = tmp_path / "trunc.sqlite"
    ResultStore.open(truncated).close()
    truncated.write_bytes(truncated.read_bytes()[:100] + b"\xff" * 4000)
    before = truncated.read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        ResultStore.open(truncated)
    assert truncated.read_bytes() == before
    for path in (junk, foreign):
        assert main(["dse", "show", "--db", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "left untouched" in err[0]
    assert main(["dse", "show", "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert "no DSE database" in capsys.readouterr().err


def _row(label, digest, level, metrics, board="pynq-z1", status="ok", cfg=None):
    return {"config_digest": digest, "workload": "w@1" if level != "resources" else "",
            "level": level, "target": "xc7z020clg400-1" if level == "resources" else "",
            "tools": "t", "status": status, "reason": "" if status == "ok" else "boom",
            "label": label, "board": board, "config": cfg or {"CLOCK_MHZ": 100,
                                                              "TARGET": "tiny"},
            "metrics": metrics, "seconds": 1.0, "worker": "here"}


def test_points_join_levels_and_the_pareto_front_is_the_undominated_set(tmp_path):
    with ResultStore.open(tmp_path / "r.sqlite") as store:
        for label, digest, cycles, dsp, lut in (("a", "1", 1000, 16, 5000),
                                                ("b", "2", 800, 32, 6000),
                                                ("c", "3", 900, 32, 7000),   # dominated by b
                                                ("d", "4", 500, 300, 9000)):  # fastest, no fit
            store.put(_row(label, digest, "estimate", {"cycles": cycles, "macs": 16000,
                                                       "dram_bytes": 10}))
            store.put(_row(label, digest, "resources", {
                "lut": lut, "ff": 1, "bram36": 2.0, "dsp": dsp, "fits": dsp < 220,
                "verdict": "x"}))
        store.put(_row("e", "5", "estimate", {}, status="failed"))
        store.put(_row("e", "5", "estimate", {}, status="failed"))   # same key: one row
        assert store.count() == 9
        points = design_points(store.rows())
    front = pareto_front(points, ["latency", "dsp", "lut"])
    assert sorted(p.label for p in front) == ["a", "b"]
    b = next(p for p in points if p.label == "b")
    assert b.latency_ms == pytest.approx(800 / 100e3)
    assert b.gops == pytest.approx(2 * 16000 / (800 / 100e6) / 1e9)
    assert b.gops_per_dsp == pytest.approx(b.gops / 32)
    with pytest.raises(Exception, match="unknown Pareto objective 'speed'"):
        pareto_front(points, ["speed"])
