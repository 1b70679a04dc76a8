"""`vta board deploy|run`: the ssh/scp commands (dry-run) and the board check before them.

The board check's probe runs for real here -- with this machine's Python, which has no
PYNQ -- and SSH runs for real against local ports: one that refuses and one that accepts
but never answers (the check must give up within its timeout).
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import threading
import time

import pytest
from vta.boards.board_check import (
    PROBE,
    BitstreamTarget,
    BoardInfo,
    bitstream_target,
    check_board,
    kit_python_floor,
    parse_probe,
    run_probe,
)
from vta.boards.deploy import PYNQ_PYTHON, Remote, deploy_commands, execute, run_commands
from vta.boards.hwh import hwh_xml
from vta.boards.table import BOARDS, BoardError
from vta.hw.cli import main as vta_main

SSH = ["ssh", "-p", "2222", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]


@pytest.fixture
def built(tmp_path):
    (tmp_path / "vta_x.bit").write_bytes(b"bit")
    (tmp_path / "vta_x.hwh").write_text("<EDKSYSTEM/>")
    (tmp_path / "build.json").write_text(json.dumps({"board": "pynq-z2", "bit": "vta_x.bit",
                                                     "pynq": "3.1"}))
    return tmp_path


def test_deploy_copies_both_files_and_loads_the_overlay(built):
    remote = Remote("pynq.local", port=2222)
    mkdir, scp, load = deploy_commands(remote, built / "vta_x.bit")
    assert mkdir == [*SSH, "xilinx@pynq.local", "mkdir -p /home/xilinx/vta"]
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


def test_cli_dry_run_prints_the_check_and_the_commands(built, capsys):
    status = vta_main(["board", "deploy", "--board", "pynq-z2", "--host", "board",
                       "--build-dir", str(built), "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    assert status == 0 and len(out) == 4
    probe = shlex.split(out[0])
    assert probe[:7] == ["ssh", "-p", "22", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    assert shlex.split(probe[-1])[:2] == [PYNQ_PYTHON, "-c"]
    assert shlex.split(probe[-1])[2] == PROBE
    assert out[1].startswith("ssh ") and out[2].startswith("scp ")
    assert vta_main(["board", "deploy", "--board", "pynq-z2", "--host", "board",
                     "--build-dir", str(built), "--dry-run", "--no-check"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert execute([["definitely-not-a-tool"]], dry_run=True, echo=lambda s: None) == 0


def test_the_probe_reports_this_machine(tmp_path):
    """The probe itself, run by this Python: no PYNQ here, so the check says so."""
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=True)
    info = parse_probe("motd noise\n" + proc.stdout, "localhost")
    assert info.python == ".".join(map(str, sys.version_info[:3]))
    assert info.pynq is None and info.arch
    assert info.mem_available_mib is None or info.mem_available_mib > 0
    with pytest.raises(BoardError, match="no PYNQ in localhost's Python: zcu104 needs a "
                                         r"PYNQ 4.0.x, 3.1.x image"):
        check_board(BOARDS["zcu104"], BoardInfo(None, info.python, None, "aarch64", 1024),
                    "localhost")
    with pytest.raises(BoardError, match="printed no result"):
        parse_probe("Welcome to PYNQ\n", "b")


def _info(pynq="3.1.2", python="3.10.12", board="Pynq-Z1", arch="armv7l", mem=300):
    return BoardInfo(pynq, python, board, arch, mem)


def test_check_board_accepts_what_the_table_says():
    line = check_board(BOARDS["pynq-z1"], _info(), "pynq",
                       target=BitstreamTarget("pynq-z1", "7z020", "3.1", "build.json"))
    assert line == "pynq: Pynq-Z1, PYNQ 3.1.2 (line 3.1), Python 3.10.12, 300 MiB available"
    assert check_board(BOARDS["kv260"], _info("4.0.0", "3.12.3", "KV260", "aarch64", 2000),
                       "kria").startswith("kria: KV260, PYNQ 4.0.0 (line 4.0)")
    # A ZCU104 still on a PYNQ 3.1 image is fine for a bitstream built for 3.1
    check_board(BOARDS["zcu104"], _info("3.1.2", "3.10.12", "ZCU104", "aarch64", 1500), "z",
                target=BitstreamTarget("zcu104", "xczu7ev", "3.1", "build.json"))


@pytest.mark.parametrize("board, info, target, need, message", [
    # a bitstream for another board
    ("pynq-z1", _info(), BitstreamTarget("zcu104", None, None, "b/build.json"), 128,
     r"the bitstream was built for zcu104 \(b/build.json\), not pynq-z1: build one with "
     r"`vta board build --board pynq-z1`"),
    ("kv260", _info("4.0.0", "3.12.3", "KV260", "aarch64"),
     BitstreamTarget(None, "xczu7ev", None, "x.hwh"), 128,
     r"the bitstream is for a xczu7ev \(x.hwh\), not kv260's xck26"),
    # the board is another board
    ("pynq-z1", _info(board="ZCU104", arch="aarch64"), None, 128,
     "pynq says it is a ZCU104, not a pynq-z1: deploy with --board zcu104"),
    ("pynq-z2", _info(board=None, arch="aarch64"), None, 128,
     "pynq has a aarch64 CPU, but pynq-z2 is a Zynq-7000 board"),
    # PYNQ too old, too new, or of a line the board has no image of
    ("pynq-z1", _info(pynq="2.7.0"), None, 128,
     r"pynq runs PYNQ 2.7.0, older than the PYNQ lines the kit runs on pynq-z1 \(3.1.x\): "
     r"flash a PYNQ 3.1 image"),
    ("kv260", _info("3.0.1", "3.10.12", "KV260", "aarch64"), None, 128,
     r"runs PYNQ 3.0.1, older than .* \(4.0.x, 3.1.x\): flash a PYNQ 4.0 image"),
    ("zcu104", _info("5.0.0", "3.13.1", "ZCU104", "aarch64"), None, 128,
     "runs PYNQ 5.0.0, newer than the PYNQ lines"),
    ("pynq-z1", _info(pynq="4.0.0", board=None, arch="x86_64"), None, 128,
     r"runs PYNQ 4.0.0, not one of the PYNQ lines the kit runs on pynq-z1 \(3.1.x\)"),
    # the bitstream's PYNQ line is not the board's
    ("zcu104", _info("3.1.2", "3.10.12", "ZCU104", "aarch64"),
     BitstreamTarget("zcu104", None, "4.0", "build.json"), 128,
     r"the bitstream was built for PYNQ 4.0, Vivado 2025.2 but pynq runs PYNQ 3.1.2: "
     r"rebuild with `vta board build --board zcu104 --pynq 3.1`"),
    # the kit's needs
    ("pynq-z1", _info(python="3.8.10"), None, 128,
     r"pynq has Python 3.8.10; the kit needs 3.10 or newer"),
    ("pynq-z1", _info(mem=90), None, 128,
     "pynq has 90 MiB of memory available; this needs 128 MiB"),
])
def test_every_mismatch_is_one_line(board, info, target, need, message):
    with pytest.raises(BoardError, match=message) as e:
        check_board(BOARDS[board], info, "pynq", target=target, need_mib=need)
    assert "\n" not in str(e.value)


def test_kit_python_floor_is_the_packages():
    assert kit_python_floor() == (3, 10)


def test_bitstream_target_from_build_json_or_hwh(built, tmp_path):
    t = bitstream_target(built / "vta_x.bit")
    assert (t.board, t.device, t.pynq_line) == ("pynq-z2", "7z020", "3.1")
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.bit").write_bytes(b"bit")
    b = BOARDS["kv260"]
    (loose / "a.hwh").write_text(hwh_xml(b, b.default_config()))
    t = bitstream_target(loose / "a.bit")
    assert (t.board, t.device, t.pynq_line) == (None, "xck26", "4.0")


def test_deploy_refuses_a_bitstream_of_another_part(tmp_path, capsys):
    b = BOARDS["zcu104"]
    (tmp_path / "z.bit").write_bytes(b"bit")
    (tmp_path / "z.hwh").write_text(hwh_xml(b, b.default_config()))
    status = vta_main(["board", "deploy", "--board", "kv260", "--host", "kria",
                       "--bit", str(tmp_path / "z.bit"), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "the bitstream is for a xczu7ev" in err[0] and "not kv260's xck26" in err[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_host_that_refuses_fails_at_once():
    port = _free_port()                              # nothing listens there
    with pytest.raises(BoardError, match=r"ssh to xilinx@127.0.0.1 failed: .*refused"):
        run_probe(Remote("127.0.0.1", port=port, connect_timeout=3), timeout=20)


@pytest.mark.parametrize("connect_timeout, timeout, bound", [
    (1, 20, 1),          # ssh's own ConnectTimeout (it covers the banner exchange)
    (30, 2, 2),          # the probe's overall timeout
])
def test_a_host_that_does_not_answer_fails_within_the_timeout(connect_timeout, timeout,
                                                              bound):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    conns: list[socket.socket] = []

    def accept_and_stay_silent():
        try:
            conns.append(server.accept()[0])         # no SSH banner, ever
        except OSError:
            pass

    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(BoardError, match=rf"xilinx@127.0.0.1 did not answer within "
                                             rf"{bound} s: is the board on"):
            run_probe(Remote("127.0.0.1", port=server.getsockname()[1],
                             connect_timeout=connect_timeout), timeout=timeout)
    finally:
        for c in conns:
            c.close()
        server.close()
    assert time.monotonic() - t0 < bound + 8


def test_errors(built, tmp_path, capsys):
    with pytest.raises(BoardError, match="must be a host name"):
        Remote("-oProxyCommand=x")
    with pytest.raises(BoardError, match="--connect-timeout must be 1..600 seconds, not 0"):
        Remote("b", connect_timeout=0)
    (built / "vta_x.hwh").unlink()
    with pytest.raises(BoardError, match="vta_x.hwh does not exist"):
        deploy_commands(Remote("b"), built / "vta_x.bit")
    assert vta_main(["board", "deploy", "--board", "zcu104", "--host", "b",
                     "--build-dir", str(built), "--dry-run"]) == 2
    assert "was built for pynq-z2, not zcu104" in capsys.readouterr().err
    assert vta_main(["board", "deploy", "--board", "de10", "--host", "b",
                     "--build-dir", str(built), "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith("vta: error: unknown board 'de10'")
    with pytest.raises(BoardError, match="definitely-not-a-tool is not installed"):
        execute([["definitely-not-a-tool"]], echo=lambda s: None)
