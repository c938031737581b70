import json

import numpy as np
import pytest

from sage_rapids.config import DataConfig
from sage_rapids.data.rows import DataError, read_rows
from sage_rapids.data.tasks import load_split, load_task, stratified_subset


def local(path, **kw):
    kw.setdefault("text_column", "sentence")
    return DataConfig(name="local", train_file=str(path), dev_file=str(path), **kw)


def test_tsv_with_quotes_and_trailing_space(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text('sentence\tlabel\nsays "hi" there \t1\nno \t0\n', encoding="utf-8")
    ds = load_split(local(path), "train")
    assert ds.texts == ['says "hi" there', "no"]
    assert ds.labels.tolist() == [1, 0]


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_other_formats_with_pairs_and_label_names(tmp_path, kind):
    rows = [{"q": "who", "s": "the city", "y": "yes"}, {"q": "why", "s": "a river", "y": "no"}]
    path = tmp_path / f"d.{kind}"
    if kind == "csv":
        path.write_text("q,s,y\n" + "".join(f'{r["q"]},"{r["s"]}",{r["y"]}\n' for r in rows))
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    ds = load_split(local(path, text_column="q", text_pair_column="s", label_column="y",
                          label_names=["no", "yes"]), "train")
    assert ds.pairs == ["the city", "a river"]
    assert ds.labels.tolist() == [1, 0]
    assert ds.label_names == ["no", "yes"]


def test_wrong_field_count_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("sentence\tlabel\nok\t1\nbroken row\n")
    with pytest.raises(DataError, match=r"bad.tsv:3: expected 2 fields"):
        load_split(local(path), "train")


def test_missing_column_lists_columns_found(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\nok\t1\n")
    with pytest.raises(DataError, match="no text column 'sentence'; columns found: text, label"):
        load_split(local(path), "train")


def test_unknown_label_lists_known_ones(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("sentence\tlabel\nok\t1\nmeh\t7\n")
    with pytest.raises(DataError, match=r"t.tsv:3: unknown label '7'; known labels: 0, 1"):
        load_split(local(path, label_names=["0", "1"]), "train")


def test_non_utf8_and_missing_file(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(b"sentence\tlabel\nok\t1\ncaf\xe9\t0\n")
    with pytest.raises(DataError, match=r"t.tsv:3: not valid UTF-8"):
        read_rows(path)
    with pytest.raises(DataError, match="file not found"):
        read_rows(tmp_path / "missing.tsv")


def test_stratified_subset_keeps_shares_and_is_seeded():
    labels = np.array([0] * 300 + [1] * 100)
    a = stratified_subset(labels, 40, seed=3)
    assert len(a) == 40 and (labels[a] == 1).sum() == 10
    assert np.array_equal(a, stratified_subset(labels, 40, seed=3))
    assert not np.array_equal(a, stratified_subset(labels, 40, seed=4))


def test_glue_task_from_data_dir_with_limits(sst_like_dir, monkeypatch):
    monkeypatch.setenv("SAGE_DATA_DIR", str(sst_like_dir))
    task = load_task(DataConfig(name="glue/sst2", train_limit=100), seed=0)
    assert len(task.train) == 100 and len(task.dev) == 60
    assert task.metrics == ["accuracy"] and task.notes == []


def test_train_from_dev_split_is_stratified_disjoint_and_noted(tmp_path, monkeypatch):
    folder = tmp_path / "glue" / "qnli"
    folder.mkdir(parents=True)
    lines = ["index\tquestion\tsentence\tlabel"] + [
        f"{i}\tq {i}?\ts \"{i}\"\t{'entailment' if i % 2 else 'not_entailment'}"
        for i in range(50)]
    (folder / "dev.tsv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SAGE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="train_from_dev_split"):
        load_task(DataConfig(name="glue/qnli"), seed=0)
    task = load_task(DataConfig(name="glue/qnli", train_from_dev_split=0.6), seed=0)
    assert len(task.train) == 30 and len(task.dev) == 20
    assert set(task.train.texts).isdisjoint(task.dev.texts)
    assert task.train.pairs[0].startswith('s "')
    assert "split of dev" in task.notes[0]


def test_teacher_cache_key_follows_the_examples_not_the_file_path(tmp_path):
    from sage_rapids.config import TeacherConfig
    from sage_rapids.distillation.teacher import teacher_cache_key

    text = "sentence\tlabel\ngood film\t1\nbad film\t0\n"
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_text(text)
    b.write_text(text)
    cfg, data = TeacherConfig(model="some-model"), local(a)
    key_a = teacher_cache_key(cfg, data, load_split(local(a), "train"), 0)
    assert key_a == teacher_cache_key(cfg, data, load_split(local(b), "train"), 0)
    b.write_text(text.replace("good film\t1", "good film\t0"))
    assert key_a != teacher_cache_key(cfg, data, load_split(local(b), "train"), 0)
    assert key_a != teacher_cache_key(cfg, data, load_split(local(a), "train"), 1)


def test_teacher_may_fine_tune_on_more_examples_than_the_student(tmp_path, tiny_teacher_dir,
                                                                  sst_like_dir, monkeypatch):
    import json as _json

    from sage_rapids.backend import resolve_backend
    from sage_rapids.config import load_config
    from sage_rapids.context import Context
    from sage_rapids.run.preparation import load_teacher

    monkeypatch.setenv("SAGE_DATA_DIR", str(sst_like_dir))  # 240 train examples
    config = load_config(None, ["data.train_limit=40", "data.max_length=32",
                                f"teacher.model={tiny_teacher_dir}", "teacher.finetune=true",
                                "teacher.finetune_limit=150", "teacher.finetune_epochs=0.2",
                                f"teacher.cache_dir={tmp_path}"])
    task = load_task(config.data, 0)
    assert len(task.train) == 40 and len(task.full_train) == 240
    load_teacher(config, task, Context(resolve_backend("cpu")), lambda m: None)
    (meta,) = tmp_path.glob("teachers/*/meta.json")
    assert _json.loads(meta.read_text())["examples"] == 150
