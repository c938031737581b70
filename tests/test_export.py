"""`sage-rapids export`: a tiny student through ONNX and int8, re-scored through
onnxruntime, and the two ways it is refused."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_cli import cli, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_teacher_dir, sst_like_dir):
    out = tmp_path_factory.mktemp("export") / "run"
    config = tiny_config(out.parent, tiny_teacher_dir, train={"epochs": 1},
                         augment={"strategy": "none"})
    cli("run", "--config", config, "--out", out, "--quiet",
        env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    return out


def test_the_student_round_trips_through_onnxruntime_and_int8(run, sst_like_dir):
    import onnxruntime
    from transformers import AutoTokenizer

    proc = cli("export", run / "student", "--quantize", "int8",
               env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    assert "Traceback" not in proc.stderr
    report = json.loads((run / "onnx" / "export.json").read_text())
    rows = {r["format"]: r for r in report["formats"]}
    assert list(rows) == ["pytorch", "onnx", "onnx-int8"]
    assert rows["onnx"]["accuracy"] == rows["pytorch"]["accuracy"]  # within any tolerance
    assert rows["onnx"]["max_abs_logit_diff"] < 1e-4
    assert rows["onnx-int8"]["accuracy"] >= 0.5 and rows["onnx-int8"]["mb"] > 0
    assert all(r["within_tolerance"] == (r["loss_points"] <= 1.0) for r in rows.values())
    # the folder loads as deployed: onnxruntime with the tokenizer beside the model
    tok = AutoTokenizer.from_pretrained(run / "onnx")
    session = onnxruntime.InferenceSession(str(run / "onnx" / "model.onnx"))
    batch = tok(["a fine film", "a dull and flat one"], padding=True, return_tensors="np")
    logits = session.run(None, {i.name: batch[i.name].astype(np.int64)
                                for i in session.get_inputs()})[0]
    assert logits.shape == (2, 2)
    assert "onnx-int8" in proc.stdout and "batch-1 latency" in proc.stdout


def test_a_folder_without_a_student_is_refused_in_one_paragraph(tmp_path):
    proc = cli("export", tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"error: {tmp_path}: no student here (no config.json and "
                                   "model.safetensors); give the student folder of a finished "
                                   "run: RUN_DIR/student")


def test_without_the_export_extra_one_line_says_what_to_install(run):
    script = ("import sys; sys.modules['onnxruntime'] = None\n"
              "from sage_rapids.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", script, "export", str(run / "student")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "needs onnx and onnxruntime: pip install 'sage-rapids[export]'" in proc.stderr
