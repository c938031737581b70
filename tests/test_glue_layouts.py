"""Every GLUE task read by name from files in its official layout (`tests/assets/glue/`:
invented rows, official headers, columns, BOM and line endings), plus the local-file
forms users bring: headerless, BOM'd, with bad rows, a Hugging Face `save_to_disk`
folder, and an unlabelled corpus."""

from pathlib import Path

import numpy as np
import pytest

from sage_rapids.config import ConfigError, DataConfig, LossConfig, load_config
from sage_rapids.data.rows import DataError
from sage_rapids.data.tasks import load_split, load_task

GLUE_ASSETS = Path(__file__).parent / "assets" / "glue"

# task: (pair task, label names, rows in train / dev)
EXPECTED = {
    "sst2": (False, ["negative", "positive"], 24, 12),
    "cola": (False, ["unacceptable", "acceptable"], 24, 12),
    "mrpc": (True, ["not_equivalent", "equivalent"], 24, 12),
    "qnli": (True, ["entailment", "not_entailment"], 24, 12),
    "rte": (True, ["entailment", "not_entailment"], 24, 12),
    "qqp": (True, ["not_duplicate", "duplicate"], 24, 12),
}


@pytest.mark.parametrize("task", EXPECTED)
def test_official_layout_loads_by_name(task):
    pair, names, n_train, n_dev = EXPECTED[task]
    data = load_task(DataConfig(name=f"glue/{task}", path=str(GLUE_ASSETS / task)), seed=0)
    assert (len(data.train), len(data.dev)) == (n_train, n_dev)
    assert data.train.label_names == names
    assert (data.train.pairs is not None) == pair
    assert set(data.train.labels.tolist()) == {0, 1}
    assert all(t and not t.startswith("\ufeff") for t in data.train.texts)


def test_labels_keep_the_files_values_and_the_datasets_names():
    cola = load_split(DataConfig(name="glue/cola", path=str(GLUE_ASSETS / "cola")), "dev")
    raw = (GLUE_ASSETS / "cola" / "dev.tsv").read_text().splitlines()
    assert cola.labels.tolist() == [int(line.split("\t")[1]) for line in raw]
    assert not (GLUE_ASSETS / "cola" / "dev.tsv").read_bytes().endswith(b"\n")
    assert cola.texts[0] == raw[0].split("\t")[3]
    qnli = load_split(DataConfig(name="glue/qnli", path=str(GLUE_ASSETS / "qnli")), "train")
    assert '"' in qnli.texts[0]  # quotes are text in GLUE TSV


def test_primary_metrics_per_task():
    metrics = {t: load_task(DataConfig(name=f"glue/{t}", path=str(GLUE_ASSETS / t)), 0).metrics
               for t in EXPECTED}
    assert metrics["cola"][0] == "mcc"
    assert metrics["mrpc"][0] == metrics["qqp"][0] == "f1"
    assert all(metrics[t][0] == "accuracy" for t in ("sst2", "qnli", "rte"))


def test_a_bom_is_stripped_from_local_tsv_csv_and_jsonl(tmp_path):
    bom = b"\xef\xbb\xbf"
    files = {"a.tsv": b"text\tlabel\ngood\t1\nbad\t0\n", "a.csv": b"text,label\ngood,1\nbad,0\n",
             "a.jsonl": b'{"text": "good", "label": 1}\n{"text": "bad", "label": 0}\n'}
    for name, body in files.items():
        path = tmp_path / name
        path.write_bytes(bom + body)
        ds = load_split(DataConfig(name="local", train_file=str(path), text_column="text"),
                        "train")
        assert ds.texts == ["good", "bad"] and ds.labels.tolist() == [1, 0], name


def test_a_missing_column_is_named_without_invisible_characters(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("\u200bsentence\tlabel\ngood\t1\n".encode())
    with pytest.raises(DataError) as err:
        load_split(DataConfig(name="local", train_file=str(path), text_column="sentence"),
                   "train")
    assert "columns found: '\\u200bsentence', label" in str(err.value)


def test_headerless_local_file_with_named_columns(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("1\tgood film\n0\tbad film")
    cfg = DataConfig(name="local", train_file=str(path), header=False,
                     columns=["label", "sentence"], text_column="sentence")
    ds = load_split(cfg, "train")
    assert ds.texts == ["good film", "bad film"] and ds.labels.tolist() == [1, 0]
    with pytest.raises(ConfigError, match="data.columns: required when data.header is false"):
        load_config(None, ["data.name=local", f"data.train_file={path}", "data.header=false",
                           "data.text_column=sentence"])


def test_bad_rows_error_names_the_line_and_skip_counts_them(tmp_path):
    folder = tmp_path / "qqp"
    folder.mkdir()
    good = (GLUE_ASSETS / "qqp" / "train.tsv").read_text().splitlines()
    lines = good[:3] + ["7\t15\t16\twhy is the plot so"] + good[3:]  # a question cut short
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")
    (folder / "dev.tsv").write_bytes((GLUE_ASSETS / "qqp" / "dev.tsv").read_bytes())
    with pytest.raises(DataError, match=r"train.tsv:4: expected 6 fields .* found 4.*bad_rows"):
        load_task(DataConfig(name="glue/qqp", path=str(folder)), 0)
    with pytest.warns(UserWarning, match="skipped 1 bad rows"):
        task = load_task(DataConfig(name="glue/qqp", path=str(folder), bad_rows="skip"), 0)
    assert len(task.train) == 24
    assert any("1 bad rows skipped" in note for note in task.notes)


def test_unknown_glue_task_is_a_config_error():
    with pytest.raises(ConfigError, match="data.name: unknown GLUE task foo;"):
        load_config(None, ["data.name=glue/foo"])


def test_unlabelled_training_file_needs_alpha_one(tmp_path):
    train, dev = tmp_path / "corpus.jsonl", tmp_path / "dev.tsv"
    train.write_text('{"text": "good film"}\n{"text": "dull plot"}\n{"text": "a story"}\n')
    dev.write_text("text\tlabel\ngood\tpos\nbad\tneg\n")
    cfg = DataConfig(name="local", train_file=str(train), dev_file=str(dev), text_column="text")
    task = load_task(cfg, 0, LossConfig(alpha=1.0))
    assert task.train.labels.tolist() == [-1, -1, -1] and not task.train.labelled
    assert task.train.label_names == task.dev.label_names == ["neg", "pos"]
    with pytest.raises(ConfigError, match="loss.alpha: .* no label column 'label'.*1.0"):
        load_task(cfg, 0, LossConfig(alpha=0.5))


def test_hugging_face_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"premise": datasets.Value("string"),
                                  "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["no", "yes"])})
    rows = {"premise": ["a good film", "a bad film", "the plot"],
            "hypothesis": ["it is good", "it is good", "a story"], "label": [1, 0, 1]}
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(rows, features=features),
        "check": datasets.Dataset.from_dict(rows, features=features)})
    dd.save_to_disk(str(tmp_path / "ds"))
    cfg = load_config(None, ["data.name=hf", f"data.path={tmp_path / 'ds'}",
                             "data.text_column=premise", "data.text_pair_column=hypothesis",
                             "data.dev_split=check"]).data
    task = load_task(cfg, 0)
    assert task.train.label_names == ["no", "yes"]  # from the ClassLabel feature
    assert task.train.pairs == rows["hypothesis"]
    np.testing.assert_array_equal(task.dev.labels, [1, 0, 1])
    with pytest.raises(DataError, match="no split 'validation'; splits found: train, check"):
        load_task(load_config(None, ["data.name=hf", f"data.path={tmp_path / 'ds'}",
                                     "data.text_column=premise"]).data, 0)


def test_hub_name_without_network_says_which_local_form_to_use(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):  # what load_dataset raises with no network, without the wait
        raise ConnectionError("Couldn't reach 'someone/some-dataset' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    cfg = load_config(None, ["data.name=hf", "data.hub_name=someone/some-dataset",
                             "data.text_column=text"]).data
    with pytest.raises(DataError, match="save_to_disk.*data.path"):
        load_task(cfg, 0)
