"""Every bad input gets one clear paragraph and its exit code, through the real CLI:
2 for usage or config, 1 for runtime, never a traceback."""

import pytest
from test_cli import cli, tiny_config


def local_config(tmp_path, teacher_dir, body: bytes, suffix=".tsv", **data):
    path = tmp_path / f"train{suffix}"
    path.write_bytes(body)
    return tiny_config(tmp_path, teacher_dir, data={
        "name": "local", "train_file": str(path), "dev_file": str(path),
        "text_column": "sentence", **data}), path


CASES = {
    "wrong field count": (b"sentence\tlabel\ngood\t1\nbad row\n", {}, ":3: expected 2 fields"),
    "non utf-8": (b"sentence\tlabel\ngood\t1\ncaf\xe9\t0\n", {}, ":3: not valid UTF-8"),
    "missing text column": (b"text\tlabel\ngood\t1\n", {},
                            "no text column 'sentence'; columns found: text, label"),
    "unknown label": (b"sentence\tlabel\ngood\t1\nmeh\tmaybe\n", {"label_names": ["0", "1"]},
                      ":3: unknown label 'maybe'; known labels: 0, 1"),
    "empty dataset": (b"sentence\tlabel\n", {}, "no examples"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_data_exits_1_with_a_clear_message(tmp_path, tiny_teacher_dir, case):
    body, data, message = CASES[case]
    config, path = local_config(tmp_path, tiny_teacher_dir, body, **data)
    proc = cli("run", "--config", config, "--out", tmp_path / "r", "--quiet", check=False)
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("override,message", [
    ("augment.stratgy=sage", "augment.stratgy: unknown key (did you mean 'augment.strategy'?)"),
    ("train.epochs=three", "train.epochs: expected an integer, got three (-o train.epochs=three)"),
    ("augment.q=1.5", "augment.q: must be in [0.0, 1.0), got 1.5"),
])
def test_bad_config_exits_2(tmp_path, override, message):
    proc = cli("run", "-o", override, "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_long_texts_are_truncated_counted_and_warned_once(tmp_path, tiny_teacher_dir):
    long = " ".join(["good"] * 60)
    body = ("sentence\tlabel\n" + "".join(f"{long}\t1\nthe plot is dull\t0\n"
                                          for _ in range(20))).encode()
    config, _ = local_config(tmp_path, tiny_teacher_dir, body, max_length=16)
    proc = cli("run", "--config", config, "-o", "train.epochs=1", "--out", tmp_path / "r",
               "--quiet")
    assert proc.stderr.count("20 of 40 examples are longer than data.max_length=16") == 1


def test_cosine_loss_with_different_widths_is_refused(tmp_path, tiny_teacher_dir, sst_like_dir):
    config = tiny_config(tmp_path, tiny_teacher_dir, student={
        "layers": None, "config": {"hidden_size": 16, "intermediate_size": 32}})
    proc = cli("run", "--config", config, "-o", "loss.cosine=0.5", "--out", tmp_path / "r",
               check=False, env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    assert proc.returncode == 1
    assert "loss.cosine: teacher and student widths differ (32 vs 16)" in proc.stderr


def test_non_finite_loss_names_epoch_and_step(tmp_path, sst_like_dir):
    import torch
    from conftest import tiny_bert, tiny_tokenizer

    broken = tmp_path / "broken-teacher"  # a corrupt teacher: its logits are NaN
    model = tiny_bert()
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    model.save_pretrained(broken)
    tiny_tokenizer().save_pretrained(broken)
    config = tiny_config(tmp_path, broken, teacher={"finetune": False})
    proc = cli("run", "--config", config, "--out", tmp_path / "r", check=False,
               env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    assert proc.returncode == 1
    assert "epoch 1, step 0: loss is nan" in proc.stderr
    assert "lower train.lr" in proc.stderr and "Traceback" not in proc.stderr
