"""`vta board deploy|run`: the ssh/scp commands, checked in dry-run."""

from __future__ import annotations

import json
import shlex

import pytest
from vta.boards.deploy import PYNQ_PYTHON, Remote, deploy_commands, execute, run_commands
from vta.boards.table import BoardError
from vta.hw.cli import main as vta_main


@pytest.fixture
def built(tmp_path):
    (tmp_path / "vta_x.bit").write_bytes(b"bit")
    (tmp_path / "vta_x.hwh").write_text("<EDKSYSTEM/>")
    (tmp_path / "build.json").write_text(json.dumps({"board": "pynq-z2", "bit": "vta_x.bit"}))
    return tmp_path


def test_deploy_copies_both_files_and_loads_the_overlay(built):
    remote = Remote("pynq.local", port=2222)
    mkdir, scp, load = deploy_commands(remote, built / "vta_x.bit")
    assert mkdir == ["ssh", "-p", "2222", "-o", "BatchMode=yes", "xilinx@pynq.local",
                     "mkdir -p /home/xilinx/vta"]
    assert scp[:4] == ["scp", "-P", "2222", "-o"]
    assert scp[-3:] == [str(built / "vta_x.bit"), str(built / "vta_x.hwh"),
                        "xilinx@pynq.local:/home/xilinx/vta/"]
    remote_cmd = shlex.split(load[-1])
    assert remote_cmd[:3] == ["sudo", "-n", PYNQ_PYTHON]
    assert "pynq.Overlay(sys.argv[1])" in remote_cmd[4] and "vta_0" in remote_cmd[4]
    assert remote_cmd[5] == "/home/xilinx/vta/vta_x.bit"


def test_run_copies_the_model_and_runs_vta_on_the_board(tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(b"onnx")
    cmds = run_commands(Remote("10.0.0.2", user="me", remote_dir="/tmp/v"), model,
                        config="pynq", bit_name="vta_x.bit")
    argv = shlex.split(cmds[-1][-1])
    assert argv[:3] == ["sudo", "-n", "env"]
    assert argv[3] == "VTA_PYNQ_BITSTREAM=/tmp/v/vta_x.bit"
    assert argv[4:] == ["/usr/local/share/pynq-venv/bin/vta", "run", "/tmp/v/net.onnx",
                        "--device", "pynq", "--config", "pynq"]
    assert cmds[1][-1] == "me@10.0.0.2:/tmp/v/"


def test_cli_dry_run_prints_and_runs_nothing(built, capsys):
    status = vta_main(["board", "deploy", "--board", "pynq-z2", "--host", "board",
                       "--build-dir", str(built), "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    assert status == 0 and len(out) == 3
    assert out[0].startswith("ssh ") and out[1].startswith("scp ")
    assert execute([["definitely-not-a-tool"]], dry_run=True, echo=lambda s: None) == 0


def test_errors(built, tmp_path, capsys):
    with pytest.raises(BoardError, match="must be a host name"):
        Remote("-oProxyCommand=x")
    (built / "vta_x.hwh").unlink()
    with pytest.raises(BoardError, match="vta_x.hwh does not exist"):
        deploy_commands(Remote("b"), built / "vta_x.bit")
    assert vta_main(["board", "deploy", "--board", "zcu104", "--host", "b",
                     "--build-dir", str(built), "--dry-run"]) == 2
    assert "was built for pynq-z2, not zcu104" in capsys.readouterr().err
    with pytest.raises(BoardError, match="definitely-not-a-tool is not installed"):
        execute([["definitely-not-a-tool"]], echo=lambda s: None)
