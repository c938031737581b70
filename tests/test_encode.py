"""`sage-rapids encode` through the real CLI: dask workers, one of them killed, agree
with one worker; an interrupted encode resumes without redoing finished partitions; `run`
on the shards equals `run` on the raw files; unlabelled corpora, bad rows and mismatched
teachers."""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import glue_sst2_dir, make_sentences
from safetensors.numpy import load_file
from test_checkpoint import launched_ranks
from test_cli import BIN, cli, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return glue_sst2_dir(tmp_path_factory.mktemp("encode-data"), 600, 60, seed=21)


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_teacher_dir) -> Path:
    return tiny_config(tmp_path_factory.mktemp("encode-config"), tiny_teacher_dir,
                       train={"epochs": 2, "batch_size": 16},
                       augment={"space": "input", "umap_fit_max": 300})


def env(data_dir: Path) -> dict:
    return {"SAGE_DATA_DIR": str(data_dir)}


def shard_arrays(folder: Path) -> dict:
    """Every shard's columns, concatenated in manifest order."""
    manifest = json.loads((folder / "manifest.json").read_text())
    tables = [pq.read_table(folder / s["shard"]) for s in manifest["shards"]]
    out = {}
    for name in tables[0].column_names:
        values = [v for t in tables for v in t.column(name).to_pylist()]
        out[name] = values if name == "ids" else np.asarray(values)
    return out


def train_file(data_dir: Path) -> Path:
    return data_dir / "glue" / "sst2" / "train.tsv"


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, config, data_dir) -> Path:
    out = tmp_path_factory.mktemp("encode") / "one"
    cli("encode", "--config", config, train_file(data_dir), "--out", out, "--workers", "1",
        "--rows-per-part", "150", "--quiet", env_extra=env(data_dir))
    return out


def test_two_workers_one_killed_mid_encode_give_the_same_shards_as_one(tmp_path, config,
                                                                        data_dir, one_worker):
    """The cluster replaces a worker killed with SIGKILL and reruns its partition; every
    shard verifies, and the whole equals one worker's."""
    out = tmp_path / "two"
    proc = subprocess.Popen([str(BIN), "encode", "--config", str(config),
                             str(train_file(data_dir)), "--out", str(out), "--workers", "2",
                             "--rows-per-part", "40"], env={**os.environ, **env(data_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and len(list((out / "shards").glob("*.json"))) < 3:
        time.sleep(0.05)
    workers = launched_ranks(proc.pid)  # the cluster's worker processes
    assert len(workers) == 2
    os.kill(workers[-1], signal.SIGKILL)
    done_at_kill = len(list((out / "shards").glob("*.json")))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert done_at_kill < 15, "the encode had finished before the kill"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == 600 and len(manifest["shards"]) == 15
    for shard in manifest["shards"]:
        data = (out / shard["shard"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"], shard["shard"]
    assert not list((out / "shards").glob(".*"))  # no half-written shard left behind
    a, b = shard_arrays(one_worker), shard_arrays(out)
    assert a["ids"] == b["ids"]
    np.testing.assert_array_equal(a["label"], b["label"])
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-5, atol=1e-6)
    texts, labels = make_sentences(600, seed=21)
    np.testing.assert_array_equal(a["label"], labels)  # file order, labels as written


def test_interrupted_encode_resumes_without_redoing_finished_parts(tmp_path, config,
                                                                  data_dir, one_worker):
    out = tmp_path / "killed"
    args = [str(BIN), "encode", "--config", str(config), str(train_file(data_dir)), "--out",
            str(out), "--rows-per-part", "40"]  # 15 partitions, in this process
    proc = subprocess.Popen(args, env={**os.environ, **env(data_dir)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "shards").glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list((out / "shards").glob("*.json")))
    assert 2 <= done < 15, f"{done} partitions finished before the kill"
    assert not (out / "manifest.json").exists()
    # damage one finished shard: it must be encoded again, the others not
    first = sorted((out / "shards").glob("*.parquet"))[0]
    first.write_bytes(first.read_bytes()[:-10])
    again = cli("encode", "--config", config, train_file(data_dir), "--out", out,
                "--rows-per-part", "40", env_extra=env(data_dir))
    assert f"15 partitions, {15 - done + 1} to encode ({done - 1} already done)" in again.stderr
    whole = shard_arrays(out)
    reference = shard_arrays(one_worker)
    assert whole["ids"] == reference["ids"]
    np.testing.assert_allclose(whole["logits"], reference["logits"], rtol=1e-5, atol=1e-6)


def test_run_on_encoded_shards_equals_run_on_raw_files_layer_states_included(
        tmp_path, config, data_dir, one_worker):
    layers = ["-o", "loss.layers=1", "-o", "loss.layer_pool=mean"]
    refused = cli("run", "--config", config, "--out", tmp_path / "x", "--quiet", *layers, "-o",
                  f"data.encoded={one_worker}", env_extra=env(data_dir), check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"{one_worker} keeps no teacher layer states; this run's layer transfer needs " \
           "layers [2, 4] pooled mean: encode the corpus again" in refused.stderr
    enc = tmp_path / "enc"
    cli("encode", "--config", config, train_file(data_dir), "--out", enc, "--quiet", *layers,
        env_extra=env(data_dir))
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["layers"] == [2, 4] and manifest["layer_pool"] == "mean"
    assert shard_arrays(enc)["layers"].shape == (600, 2 * 32)
    # two epochs: the second trains on the round's synthetic points, labelled with states
    cli("run", "--config", config, "--out", tmp_path / "raw", "--quiet", *layers,
        env_extra=env(data_dir))
    cli("run", "--config", config, "--out", tmp_path / "shards", "--quiet", *layers, "-o",
        f"data.encoded={enc}", env_extra=env(data_dir))
    rows = {k: [json.loads(x) for x in (tmp_path / k / "metrics.jsonl").read_text().splitlines()]
            for k in ("raw", "shards")}
    assert [r["dev_accuracy"] for r in rows["raw"]] == [r["dev_accuracy"] for r in rows["shards"]]
    assert [r["n_synthetic"] for r in rows["raw"]] == [r["n_synthetic"] for r in rows["shards"]]
    assert rows["shards"][-1]["n_synthetic"] > 0
    np.testing.assert_allclose([r["train_loss"] for r in rows["raw"]],
                               [r["train_loss"] for r in rows["shards"]], rtol=1e-5)
    summary = json.loads((tmp_path / "shards" / "summary.json").read_text())
    assert any("encoded corpus" in note for note in summary["notes"])
    # the shards were made with max_length 32: another max length is refused, by name
    other = cli("run", "--config", config, "--out", tmp_path / "x", "--quiet", "-o",
                f"data.encoded={one_worker}", "-o", "data.max_length=48",
                env_extra=env(data_dir), check=False)
    assert other.returncode == 1 and "max_length 32" in other.stderr
    assert "data.max_length 48" in other.stderr and "Traceback" not in other.stderr


def test_unlabelled_corpus_encodes_and_trains_with_pure_distillation(tmp_path, config,
                                                                     data_dir):
    corpus = tmp_path / "corpus.jsonl"
    texts, _ = make_sentences(300, seed=5)
    corpus.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in texts))
    enc = tmp_path / "enc"
    cli("encode", "--config", config, corpus, "--out", enc, "--quiet", env_extra=env(data_dir))
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["rows"] == 300 and manifest["labelled_rows"] == 0
    assert (shard_arrays(enc)["label"] == -1).all()
    refused = cli("run", "--config", config, "--out", tmp_path / "r0", "--quiet", "-o",
                  f"data.encoded={enc}", env_extra=env(data_dir), check=False)
    assert refused.returncode == 2 and "loss.alpha" in refused.stderr
    cli("run", "--config", config, "--out", tmp_path / "r1", "--quiet", "-o",
        f"data.encoded={enc}", "-o", "loss.alpha=1.0", env_extra=env(data_dir))
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert summary["train_examples"] == 300 and 0 <= summary["student_dev_accuracy"] <= 1


def test_bad_row_names_its_file_and_line_in_a_later_partition(tmp_path, config, data_dir):
    corpus = tmp_path / "corpus.tsv"
    texts, labels = make_sentences(50, seed=6)
    lines = ["sentence\tlabel"] + [f"{t}\t{y}" for t, y in zip(texts, labels)]
    lines[37] = "a row with three\tfields\t1"  # line 38 of the file
    corpus.write_text("\n".join(lines) + "\n")
    result = cli("encode", "--config", config, corpus, "--out", tmp_path / "enc",
                 "--rows-per-part", "10", "--quiet", env_extra=env(data_dir), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{corpus}:38: expected 2 fields" in result.stderr


def test_another_corpus_in_the_same_out_is_refused(tmp_path, config, data_dir, one_worker):
    result = cli("encode", "--config", config, train_file(data_dir), "--out", one_worker,
                 "--rows-per-part", "100", "--quiet", env_extra=env(data_dir), check=False)
    assert result.returncode == 1 and "holds the encode of another corpus" in result.stderr
    assert "parts" in result.stderr


def test_each_rank_reads_only_its_shards(tmp_path, config, data_dir, one_worker):
    out = tmp_path / "ddp"
    cli("run", "--nproc", "2", "--config", config, "--out", out, "--quiet", "-o",
        f"data.encoded={one_worker}", "-o", "train.epochs=1", env_extra=env(data_dir))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["train_examples"] == 600  # 2 x 2 shards
    assert any("rank r of 2 reads shards r, r + 2" in n for n in summary["notes"])
    index = load_file(out / "teacher_targets.safetensors")["index"]
    assert sorted(index.tolist()) == list(range(600))  # every row once, none twice


def test_a_corpus_labelled_elsewhere_encodes_from_its_file_of_outputs(tmp_path, config,
                                                                      data_dir, tiny_teacher_dir):
    texts, labels = make_sentences(600, seed=21)
    targets = tmp_path / "labelled_elsewhere.jsonl"
    rows = [{"text": t, "probs": [0.8, 0.2] if y == 0 else [0.3, 0.7]}
            for t, y in zip(texts, labels)]
    dev_texts, dev_labels = make_sentences(60, seed=22)  # the dev file's, for the run only
    rows += [{"split": "dev", "text": t, "probs": [0.9, 0.1] if y == 0 else [0.1, 0.9]}
             for t, y in zip(dev_texts, dev_labels)]
    targets.write_text("".join(json.dumps(r) + "\n" for r in rows))
    file_only = ["-o", "teacher.model=null", "-o", "teacher.finetune=false", "-o",
                 f"teacher.targets={targets}", "-o", f"student.model={tiny_teacher_dir}",
                 "-o", "student.layers=null", "-o", "augment.strategy=none"]
    enc = tmp_path / "enc"
    cli("encode", "--config", config, train_file(data_dir), "--out", enc, "--quiet",
        "--rows-per-part", "250", *file_only, env_extra=env(data_dir))
    logits = shard_arrays(enc)["logits"]
    np.testing.assert_allclose(np.exp(logits[:3]), [rows[i]["probs"] for i in range(3)],
                               rtol=1e-5)
    out = tmp_path / "run"
    cli("run", "--config", config, "--out", out, "--quiet", *file_only, "-o",
        f"data.encoded={enc}", "-o", "train.epochs=1", env_extra=env(data_dir))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_examples"] == 600 and summary["teacher_dev_accuracy"] == 1.0
    by_row = tmp_path / "by_row.jsonl"
    by_row.write_text(json.dumps({"row": 0, "probs": [0.5, 0.5]}) + "\n")
    refused = cli("encode", "--config", config, train_file(data_dir), "--out", tmp_path / "x",
                  "--quiet", *file_only, "-o", f"teacher.targets={by_row}",
                  env_extra=env(data_dir), check=False)
    assert refused.returncode == 2 and "matches the teacher's outputs to its rows by text" \
        in refused.stderr
