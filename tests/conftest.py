"""Shared fixtures: a tiny vocabulary, tiny random BERT teachers, tiny datasets.

Nothing here downloads: models are built from configs, the tokenizer from
`tests/assets/vocab.txt`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ASSETS = Path(__file__).parent / "assets"
# umap-learn's numba kernels, compiled once per machine instead of once per test worker
# (about 25 s each); the CLI runs the tests start inherit it
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "sage-rapids-tests"
                                             / "numba"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers share the machine's cores: one thread each, in the worker and in the runs it
    # starts (more threads than cores makes torch's tiny-model steps several times slower)
    for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
POSITIVE = ["good", "great", "fun", "funny", "charming", "moving", "brilliant", "best", "love",
            "lovely", "wonderful", "delight", "beautiful"]
NEGATIVE = ["bad", "awful", "boring", "dull", "worst", "hate", "terrible", "mess", "tedious",
            "flat", "stupid", "weak"]
FILLER = ["the", "movie", "film", "story", "plot", "acting", "is", "was", "very", "too",
          "really", "quite", "a", "script", "and", "this"]


def make_sentences(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Toy sentiment data: a label-bearing word among filler, lengths 3 to 14."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(2, 14))))
        words.insert(int(rng.integers(len(words) + 1)), rng.choice(POSITIVE if label else NEGATIVE))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def write_tsv(path: Path, texts, labels, header=("sentence", "label")) -> Path:
    lines = ["\t".join(header)] + [f"{t} \t{y}" for t, y in zip(texts, labels)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_tokenizer():
    from transformers import BertTokenizerFast

    words = (ASSETS / "vocab.txt").read_text(encoding="utf-8").split()
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)


def tiny_bert(num_labels: int = 2, layers: int = 4, hidden: int = 32, seed: int = 0,
              dropout: float = 0.0):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len((ASSETS / "vocab.txt").read_text().split()),
                        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64,
                        num_labels=num_labels, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(config).eval()


def save_tiny_teacher(path: Path, **kwargs) -> Path:
    tiny_bert(**kwargs).save_pretrained(path, safe_serialization=True)
    tiny_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A saved tiny random BERT classifier with its tokenizer."""
    return save_tiny_teacher(tmp_path_factory.mktemp("teacher"))


def glue_sst2_dir(root: Path, n_train: int, n_dev: int, seed: int) -> Path:
    """A folder in GLUE layout, root/glue/sst2/{train,dev}.tsv, of toy sentences."""
    folder = root / "glue" / "sst2"
    folder.mkdir(parents=True)
    write_tsv(folder / "train.tsv", *make_sentences(n_train, seed=seed))
    write_tsv(folder / "dev.tsv", *make_sentences(n_dev, seed=seed + 1))
    return root


@pytest.fixture(scope="session")
def sst_like_dir(tmp_path_factory) -> Path:
    return glue_sst2_dir(tmp_path_factory.mktemp("data"), 240, 60, seed=1)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the session, so numba compiles umap once for all tests."""
    return Path(os.environ.get("SAGE_TEST_CACHE") or tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch, cache_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SAGE_CACHE_DIR", str(cache_dir))


def pytest_collection_modifyitems(config, items):
    """`gpu` tests skip cleanly on a machine without CUDA."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def backend(request):
    """Every backend this machine has: the CPU always, CUDA where there is a GPU."""
    from sage_rapids.backend import resolve_backend

    return resolve_backend(request.param)
