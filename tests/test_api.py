"""The Python entry point, `sage_rapids.distill`: in-memory teachers and data, the same
student as the command line, and a process left as it was found."""

import json
import random
import signal

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import make_sentences, tiny_bert, tiny_tokenizer
from safetensors.numpy import load_file
from test_cli import cli

import sage_rapids

SETTINGS = {"device": "cpu", "data.text_column": "sentence", "data.label_column": "label",
            "data.max_length": 32, "teacher.finetune": False, "student.layers": [0, 2],
            "train.epochs": 2, "train.batch_size": 16, "train.lr": 5e-4,
            "augment.strategy": "sage", "augment.space": "student",
            "augment.umap_epochs": 30, "augment.k": 5,
            "augment.umap_n_neighbors": 8, "augment.plots": False}


def frame(n, seed):
    texts, labels = make_sentences(n, seed=seed)
    return pd.DataFrame({"sentence": texts, "label": labels})


def weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow
def test_a_dataframe_and_a_dataset_give_the_cli_s_student_and_leave_no_trace(tmp_path):
    teacher, tokenizer = tiny_bert(), tiny_tokenizer()
    train, dev = frame(160, 3), frame(48, 4)
    torch.manual_seed(123)
    np.random.seed(7)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate(),
              torch.get_num_threads(), signal.getsignal(signal.SIGINT))
    datasets = pytest.importorskip("datasets")
    as_datasets = [datasets.Dataset.from_pandas(d, preserve_index=False) for d in (train, dev)]
    runs = [sage_rapids.distill(*inputs, teacher=teacher, tokenizer=tokenizer,
                                overrides=SETTINGS, quiet=True)
            for inputs in ((train, dev), as_datasets)]  # the same rows, two containers
    after = (torch.get_rng_state(), np.random.get_state()[1], random.getstate(),
             torch.get_num_threads(), signal.getsignal(signal.SIGINT))
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    first, second = runs
    assert first.run_dir is None and first.summary["task"] == "local"
    assert [m["epoch"] for m in first.metrics] == [1, 2] and first.metrics[1]["n_synthetic"] > 0
    assert_same(weights(first.student), weights(second.student))
    batch = first.tokenizer(["the film was good"], return_tensors="pt")
    assert first.student(**batch).logits.shape == (1, 2)
    # the command line, the same settings and data from files: the same student
    teacher.save_pretrained(tmp_path / "teacher", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "teacher")
    train.to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    dev.to_json(tmp_path / "dev.jsonl", orient="records", lines=True)
    cli_overrides = {**SETTINGS, "data.name": "local", "data.train_file": str(tmp_path /
                     "train.jsonl"), "data.dev_file": str(tmp_path / "dev.jsonl"),
                     "teacher.model": str(tmp_path / "teacher")}
    cli("run", "--out", tmp_path / "cli", "--quiet",
        *[arg for k, v in cli_overrides.items() for arg in ("-o", f"{k}={json.dumps(v)}")])
    exported = load_file(str(tmp_path / "cli" / "student" / "model.safetensors"))
    assert_same({k: torch.from_numpy(v) for k, v in exported.items()},
                {k: v for k, v in weights(first.student).items() if k in exported})


@pytest.mark.slow
def test_a_dataset_with_class_labels_and_a_list_of_dicts(tmp_path, capsys):
    from transformers.utils import logging as hf_logging

    datasets = pytest.importorskip("datasets")
    texts, labels = make_sentences(120, seed=5)
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    ds = datasets.Dataset.from_dict({"sentence": texts, "label": labels}, features=features)
    teacher, tokenizer = tiny_bert(), tiny_tokenizer()
    result = sage_rapids.distill(ds.select(range(90)), ds.select(range(90, 120)),
                                 teacher=teacher, tokenizer=tokenizer, out=tmp_path / "run",
                                 overrides={**SETTINGS, "train.epochs": 1}, quiet=True)
    assert result.student.config.id2label == {0: "neg", 1: "pos"}
    assert (tmp_path / "run" / "summary.json").is_file() and result.run_dir == tmp_path / "run"
    assert (tmp_path / "run" / "inputs" / "teacher" / "config.json").is_file()  # resumable
    rows = [{"sentence": t, "label": y} for t, y in zip(texts, labels)]
    rows[2] = rows[5] = {"sentence": "", "label": labels[2]}  # no text: skipped, and said
    with pytest.warns(UserWarning) as caught:
        listed = sage_rapids.distill(rows[:90], rows[90:], teacher=tmp_path / "run" /
                                     "inputs" / "teacher", quiet=True, overrides={
                                         **SETTINGS, "train.epochs": 1,
                                         "data.bad_rows": "skip"})
    assert 0.0 <= listed.summary["student_dev_accuracy"] <= 1.0
    # the warning names what was passed and its rows, not the temporary file written
    assert [str(w.message) for w in caught if "bad rows" in str(w.message)] == [
        "train= (list of dicts): skipped 2 bad rows (data.bad_rows: skip), rows 2, 5"], \
        [str(w.message) for w in caught]
    # quiet: not even transformers' own bars (loading weights, writing the export's
    # shards), and they are on again for the caller's later work
    err = capsys.readouterr().err
    assert "Loading weights" not in err and "Writing model shards" not in err, err
    assert hf_logging.is_progress_bar_enabled()


def test_bad_settings_are_one_config_error_before_any_work(tmp_path):
    train, dev = frame(20, 1), frame(10, 2)
    with pytest.raises(sage_rapids.ConfigError) as err:
        sage_rapids.distill(train, dev, overrides={"train.epoch": 2, "augment.q": 1.5})
    text = str(err.value)
    assert "did you mean 'train.epochs'" in text and "augment.q: must be in [0.0, 1.0), got 1.5" in text
    with pytest.raises(sage_rapids.ConfigError, match="dev: labelled dev examples"):
        sage_rapids.distill(train)
    with pytest.raises(sage_rapids.ConfigError, match="needs its tokenizer"):
        sage_rapids.distill(train, dev, teacher=tiny_bert())
    with pytest.raises(sage_rapids.ConfigError, match="train: expected a pandas DataFrame"):
        sage_rapids.distill({"sentence": ["a"]}, dev, overrides=SETTINGS)


def test_a_config_built_in_python_is_checked_like_yaml():
    from dataclasses import replace

    config = sage_rapids.load_config()
    bad = replace(config, train=replace(config.train, epochs=0))
    with pytest.raises(sage_rapids.ConfigError, match=r"train.epochs: must be in \[1, inf\)"):
        sage_rapids.load_config(bad)
    good = sage_rapids.load_config(config, {"train.epochs": 4, "student.layers": [0, 3]})
    assert (good.train.epochs, good.student.layers) == (4, [0, 3])
    assert yaml.safe_dump(sage_rapids.load_config(config, ["train.lr=2e-4"]).train.lr)


def test_a_used_run_directory_is_refused_before_anything_is_written(tmp_path):
    from sage_rapids.artifacts import RunDirError

    run = tmp_path / "run"
    (run / "inputs").mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    (run / "inputs" / "train.jsonl").write_text("kept\n")
    with pytest.raises(RunDirError, match="already holds a run"):
        sage_rapids.distill(frame(20, 1), frame(10, 2), out=run, overrides=SETTINGS)
    assert (run / "inputs" / "train.jsonl").read_text() == "kept\n"


SCRIPT = """
import json, sys
import pandas as pd
import sage_rapids
from conftest import tiny_bert, tiny_tokenizer
train, dev = pd.read_json(sys.argv[1], lines=True), pd.read_json(sys.argv[2], lines=True)
settings = {**json.loads(sys.argv[4]), "train.epochs": 3, "train.batch_size": 8,
            "augment.strategy": "none"}
try:
    sage_rapids.distill(train, dev, teacher=tiny_bert(), tokenizer=tiny_tokenizer(),
                        out=sys.argv[3], overrides=settings, quiet=True)
except sage_rapids.RunInterrupted as err:
    print("interrupted; checkpoint kept in", err.run_dir)
"""


@pytest.mark.slow
def test_ctrl_c_stops_a_call_cleanly_and_keeps_its_checkpoint(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_checkpoint import wait_for_epoch

    frame(800, 8).to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    frame(40, 9).to_json(tmp_path / "dev.jsonl", orient="records", lines=True)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "train.jsonl"),
                             str(tmp_path / "dev.jsonl"), str(run), json.dumps(SETTINGS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent, env={**os.environ})
    wait_for_epoch(proc, run, 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"interrupted; checkpoint kept in {run}" in out
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["epoch"] >= 1
    assert not (run / "summary.json").exists()
    cli("run", "--resume", run, "--quiet")  # the command line finishes what the call began
    assert json.loads((run / "summary.json").read_text())["stopped_epoch"] == 3


PIPED = """
import json, sys
import pandas as pd
import sage_rapids
from transformers.utils import logging
train, dev = pd.read_json(sys.argv[1], lines=True), pd.read_json(sys.argv[2], lines=True)
before = logging.get_verbosity(), logging.is_progress_bar_enabled()
sage_rapids.distill(train, dev, teacher=sys.argv[3], overrides=json.loads(sys.argv[4]))
assert (logging.get_verbosity(), logging.is_progress_bar_enabled()) == before, before
"""


@pytest.mark.slow
def test_a_call_whose_output_is_a_pipe_prints_no_colour_codes(tmp_path):
    """transformers' load report of a classifier given a new head (a teacher saved without
    one) colours its title with ANSI codes even into a pipe; a call not quiet still keeps
    them out, and leaves transformers' verbosity and bars as it found them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from transformers import BertModel

    teacher = tmp_path / "base"
    BertModel(tiny_bert().config).save_pretrained(teacher)  # no classifier head
    tiny_tokenizer().save_pretrained(teacher)
    frame(60, 3).to_json(tmp_path / "train.jsonl", orient="records", lines=True)
    frame(24, 4).to_json(tmp_path / "dev.jsonl", orient="records", lines=True)
    settings = {**SETTINGS, "train.epochs": 1, "augment.strategy": "none",
                "teacher.finetune": True, "teacher.finetune_epochs": 0.5}
    proc = subprocess.run([sys.executable, "-c", PIPED, str(tmp_path / "train.jsonl"),
                           str(tmp_path / "dev.jsonl"), str(teacher), json.dumps(settings)],
                          capture_output=True, text=True, cwd=Path(__file__).parent,
                          env={**os.environ}, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "epoch 1: dev accuracy" in proc.stdout  # not quiet: the per-epoch lines show
    assert "\x1b[" not in output, output
