"""The pynq backend where PYNQ is not installed (the main venv): clear one-line errors.

The backend itself runs in ``pynq_checks.py`` (a venv with PYNQ, see test_pynq_path.py).
"""

import importlib.util

import pytest
from vta.driver import DeviceError, open_device
from vta.hw.config import VTAConfig


@pytest.mark.skipif(importlib.util.find_spec("pynq") is not None,
                    reason="checks the message for a machine without PYNQ")
def test_missing_pynq_is_one_line():
    with pytest.raises(DeviceError, match=r"needs PYNQ .*pip install 'vta-kit\[pynq\]'"):
        open_device("pynq", "pynq")


def test_bitstream_lookup_errors(tmp_path, monkeypatch):
    from vta.driver.pynq_device import _find_bitstream

    cfg = VTAConfig.preset("pynq")
    monkeypatch.delenv("VTA_PYNQ_BITSTREAM", raising=False)
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(DeviceError, match="no bitstream for config 1x16_i8w8a32"):
        _find_bitstream(cfg, None)
    with pytest.raises(DeviceError, match="does not exist"):
        _find_bitstream(cfg, tmp_path / "x.bit")
    (tmp_path / "x.bit").write_bytes(b"bit")
    with pytest.raises(DeviceError, match="x.hwh is missing"):
        _find_bitstream(cfg, tmp_path / "x.bit")
    (tmp_path / "x.hwh").write_text("<EDKSYSTEM/>")
    monkeypatch.setenv("VTA_PYNQ_BITSTREAM", str(tmp_path / "x.bit"))
    assert _find_bitstream(cfg, None) == tmp_path / "x.bit"
