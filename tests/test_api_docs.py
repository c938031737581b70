"""Every example of docs/api.md runs, as pasted, on a tiny teacher and toy files named as
the examples name them; so the documentation cannot rot."""

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_sentences, save_tiny_teacher

DOC = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.split("## Examples")[1], re.S)
TINY = {"seed": 0, "data": {"text_column": "review", "label_column": "label", "max_length": 32},
        "teacher": {"finetune": False}, "student": {"layers": [0, 2]},
        "train": {"epochs": 1, "batch_size": 16, "lr": 5e-4},
        "augment": {"strategy": "sage", "space": "student", "umap_epochs": 30, "k": 5,
                    "umap_n_neighbors": 8, "plots": False}}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    root = tmp_path_factory.mktemp("api-docs")
    save_tiny_teacher(root / "my-finetuned-teacher")
    (root / "distill.yaml").write_text(yaml.safe_dump(TINY))
    for name, n, seed in (("train", 120, 1), ("dev", 40, 2)):
        texts, labels = make_sentences(n, seed=seed)
        pd.DataFrame({"review": texts, "label": labels}).to_csv(root / f"reviews_{name}.csv",
                                                                index=False)
    pd.DataFrame({"review": make_sentences(100, seed=3)[0]}).to_csv(
        root / "reviews_unlabelled.csv", index=False)
    features = datasets.Features({"review": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    splits = {}
    for split, n, seed in (("train", 100, 4), ("validation", 30, 5)):
        texts, labels = make_sentences(n, seed=seed)
        splits[split] = datasets.Dataset.from_dict({"review": texts, "label": labels},
                                                   features=features)
    datasets.DatasetDict(splits).save_to_disk(str(root / "reviews_dataset"))
    return root


def test_the_examples_are_found():
    assert len(EXAMPLES) == 7


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_documented_example_runs(index, workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    exec(compile(EXAMPLES[index], f"docs/api.md example {index + 1}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip(), "every example prints what it made"
    if "id2label" in EXAMPLES[index]:
        assert "negative" in out and "positive" in out
    if "err.problems" in EXAMPLES[index]:
        assert "did you mean 'train.epochs'" in out
