"""Regression pieces one by one: the loss against hand-computed values, the metrics
against scipy, partners a margin apart, score-stratified subsets, float labels from
files and from a Hugging Face dataset, and several dev sets from one config."""

import numpy as np
import pytest
import torch

from sage_rapids.config import load_config
from sage_rapids.data.rows import read_rows
from sage_rapids.data.tasks import dataset_from_rows, load_task, stratified_subset
from sage_rapids.distillation.evaluate import agreement, regression_metrics, teacher_learnt_nothing
from sage_rapids.distillation.losses import per_sample_loss, per_sample_squared_error
from sage_rapids.sage.regions import Anchors, Neighbours
from sage_rapids.sage.synthesize import partner_mask


def test_regression_loss_matches_hand_computed_values_and_skips_missing_scores():
    student = torch.tensor([[1.0], [3.0], [2.0]])  # (B, 1)
    teacher = torch.tensor([[2.0], [3.5], [0.0]])
    gold = torch.tensor([4.0, 2.0, float("nan")])  # the last one is synthetic
    losses = per_sample_loss(student, teacher, gold, temperature=5.0, alpha=0.25)
    assert losses.kd.tolist() == pytest.approx([0.25 * 1.0, 0.25 * 0.25, 0.25 * 4.0])
    assert losses.ce.tolist() == pytest.approx([0.75 * 9.0, 0.75 * 1.0, 0.0])
    assert losses.total.tolist() == pytest.approx([7.0, 0.8125, 1.0])
    # temperature does not enter a regression loss
    again = per_sample_loss(student, teacher, gold, temperature=1.0, alpha=0.25)
    assert torch.equal(again.total, losses.total)
    assert per_sample_squared_error(student, gold).tolist() == pytest.approx([9.0, 1.0, 0.0])


def test_regression_metrics_match_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    gold = np.round(rng.uniform(0, 5, 200), 1).astype(np.float32)  # many ties
    pred = (gold + rng.normal(0, 1.0, 200)).astype(np.float32)
    got = regression_metrics(pred, gold)
    assert got["pearson"] == pytest.approx(stats.pearsonr(pred, gold)[0], abs=1e-6)
    assert got["spearman"] == pytest.approx(stats.spearmanr(pred, gold)[0], abs=1e-6)
    assert got["mse"] == pytest.approx(float(np.mean((pred - gold) ** 2)), rel=1e-6)
    assert regression_metrics(np.full(200, 2.5, np.float32), gold)["pearson"] == 0.0
    assert agreement(pred, pred) == pytest.approx(1.0)


def test_a_regression_teacher_no_better_than_the_mean_is_flagged():
    rng = np.random.default_rng(1)
    gold = rng.uniform(0, 5, 300).astype(np.float32)
    good = (gold + rng.normal(0, 0.5, 300)).astype(np.float32)
    assert teacher_learnt_nothing(good, gold) is None
    flat = np.full(300, gold.mean(), dtype=np.float32) + rng.normal(0, 0.01, 300)
    message = teacher_learnt_nothing(flat.astype(np.float32), gold)
    assert "always predicting the mean score" in message and "teacher.finetune_epochs" in message


def test_partners_of_a_score_are_a_margin_apart_where_possible():
    scores = np.array([0.0, 0.1, 0.2, 2.0, 0.05, 0.15])  # in standard deviations
    anchors = Anchors(np.array([0, 4]), np.array([0.5, 0.5]))
    neighbours = Neighbours(np.array([[1, 2, 3], [1, 2, 5]]), np.ones((2, 3)))
    mask = partner_mask(anchors, neighbours, "other_class", scores, margin=0.5)
    # anchor 0 has one neighbour (3) a margin away; anchor 4 has none, so it takes any
    assert mask.tolist() == [[False, False, True], [True, True, True]]
    same = partner_mask(anchors, neighbours, "same_class", scores, margin=0.5)
    assert same.tolist() == [[True, True, False], [True, True, True]]


def test_stratified_subset_of_scores_keeps_their_distribution():
    rng = np.random.default_rng(2)
    scores = np.concatenate([rng.uniform(0, 1, 900), rng.uniform(4, 5, 100)]).astype(np.float32)
    pick = stratified_subset(scores, 100, seed=3)
    assert len(pick) == 100 and len(set(pick.tolist())) == 100
    assert (scores[pick] >= 4).sum() == 10  # the rare high scores keep their 10% share
    assert np.array_equal(pick, stratified_subset(scores, 100, seed=3))


def test_sts_b_layout_reads_mixed_precision_scores_and_unbalanced_quotes(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("index\tsentence1\tsentence2\tscore\n"
                    "0\ta \"quoted start\ta b\t3\n"
                    "1\tc d\te f\t3.800\n"
                    "2\tg\th\t1.53333333333333\n")
    ds = dataset_from_rows(path, read_rows(path), "sentence1", "sentence2", "score", None)
    assert ds.regression and ds.labelled and ds.label_names == ["score"]
    assert ds.labels.tolist() == pytest.approx([3.0, 3.8, 1.5333333])
    assert ds.texts[0] == 'a "quoted start'
    # integer-only labels stay classes unless told
    path.write_text("sentence\tlabel\na\t1\nb\t0\n")
    assert not dataset_from_rows(path, read_rows(path), "sentence", None, "label",
                                 None).regression
    told = dataset_from_rows(path, read_rows(path), "sentence", None, "label", None,
                             task_type="regression")
    assert told.regression and told.labels.tolist() == [1.0, 0.0]


def test_hugging_face_float_label_is_regression(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"a": datasets.Value("string"), "b": datasets.Value("string"),
                                  "label": datasets.Value("float32")})
    rows = {"a": ["a good film", "a bad film", "the plot"],
            "b": ["it is good", "it is good", "a story"], "label": [5.0, 1.0, 3.0]}
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(rows, features=features),
        "validation": datasets.Dataset.from_dict(rows, features=features),
    }).save_to_disk(str(tmp_path / "ds"))
    cfg = load_config(None, ["data.name=hf", f"data.path={tmp_path / 'ds'}",
                             "data.text_column=a", "data.text_pair_column=b"]).data
    task = load_task(cfg, 0)
    assert task.regression and task.metrics == ["pearson", "spearman"]
    assert task.train.labels.dtype == np.float32 and task.train.labels.tolist() == [5, 1, 3]


def test_several_dev_files_load_in_order_with_their_prefixes(tmp_path):
    for name, label in (("train", 1), ("near", 0), ("far", 1)):
        (tmp_path / f"{name}.tsv").write_text(f"sentence\tlabel\ngood film\t1\nbad film\t0\n"
                                              f"a {name}\t{label}\n")
    cfg = load_config(None, ["data.name=local", f"data.train_file={tmp_path / 'train.tsv'}",
                             "data.text_column=sentence",
                             f"data.dev_sets={{near: {tmp_path / 'near.tsv'}, "
                             f"far: {tmp_path / 'far.tsv'}}}"]).data
    task = load_task(cfg, 0)
    assert list(task.devs) == ["dev_near", "dev_far"]
    assert task.dev.texts[-1] == "a near" and task.other_devs["dev_far"].texts[-1] == "a far"


@pytest.mark.slow
def test_a_dataframe_with_a_float_label_column_distils_a_score(tmp_path, tiny_teacher_dir):
    """Whole-number scores stored as floats are still scores (as `datasets` reads a float
    column), through `sage_rapids.distill`."""
    import pandas as pd
    from test_tasks_cli import GLUE_ASSETS

    import sage_rapids

    rows = [line.split("\t") for line in
            (GLUE_ASSETS / "stsb" / "train.tsv").read_text().splitlines()[1:]]
    frame = pd.DataFrame({"a": [r[7] for r in rows], "b": [r[8] for r in rows],
                          "label": [float(round(float(r[9]))) for r in rows]})
    result = sage_rapids.distill(frame, frame, teacher=str(tiny_teacher_dir), quiet=True,
                                 overrides={"data.text_column": "a", "data.text_pair_column": "b",
                                            "teacher.finetune": True, "student.layers": [0, 2],
                                            "train.epochs": 1, "augment.strategy": "none",
                                            "data.max_length": 32})
    assert result.summary["task_type"] == "regression"
    assert result.student.config.num_labels == 1
    assert "student_dev_pearson" in result.summary
