"""The round's stages on every backend (the CPU always; CUDA, marked `gpu`, where a
GPU is present): the same results from the same inputs, and a round that stays on
the device, bringing a constant number of arrays to the host whatever N is."""

import numpy as np
import pytest
import torch
from conftest import make_sentences, tiny_bert, tiny_tokenizer

from sage_rapids.backend import Backend, resolve_backend
from sage_rapids.config import AugmentConfig
from sage_rapids.context import Context
from sage_rapids.data.tasks import TextDataset
from sage_rapids.distillation.models import input_embeddings
from sage_rapids.distillation.table import Examples, empty_pool, encode_dataset
from sage_rapids.distillation.targets import teacher_targets
from sage_rapids.distillation.train import ErrorProfile
from sage_rapids.draws import ArrayDraws, HostDraws
from sage_rapids.profiling import Profiler
from sage_rapids.sage.augment import augment_round
from sage_rapids.sage.reduce import UmapReducer, place_by_neighbours
from sage_rapids.sage.regions import nearest_neighbours, region_scores, select_anchors
from sage_rapids.sage.synthesize import synthesize_recipes

CPU = resolve_backend("cpu")


def test_neighbours_match_brute_force(backend):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(500, 2)).astype(np.float32)
    queries = np.arange(0, 500, 7)
    got = nearest_neighbours(backend.asarray(coords), backend.asarray(queries), 6, backend)
    index = backend.to_host(got.index)
    d = np.linalg.norm(coords[queries][:, None] - coords[None], axis=2)
    d[np.arange(len(queries)), queries] = np.inf
    expected = np.argsort(d, axis=1)[:, :6]
    assert (np.sort(index, 1) == np.sort(expected, 1)).mean() > 0.99
    assert not (index == queries[:, None]).any()


def test_region_scores_and_anchors_agree_with_the_cpu(backend):
    rng = np.random.default_rng(1)
    coords, loss = rng.normal(size=(300, 2)).astype(np.float32), rng.gamma(1.0, size=300)
    score = region_scores(backend.asarray(loss), backend.asarray(coords), 5, backend)
    reference = region_scores(loss, coords, 5, CPU)
    np.testing.assert_allclose(backend.to_host(score), reference, rtol=1e-6)
    anchors = select_anchors(score, 0.9, "sage", backend.draws(np.random.default_rng(0)))
    np.testing.assert_array_equal(backend.to_host(anchors.index),
                                  np.sort(np.argsort(-reference, kind="stable")[:30]))


def test_placement_matches_the_cpu(backend):
    rng = np.random.default_rng(2)
    pts, coords = rng.normal(size=(300, 16)).astype(np.float32), rng.normal(size=(200, 2))
    a = place_by_neighbours(pts[:200], coords.astype(np.float32), pts[200:], 5, "cosine", CPU)
    b = place_by_neighbours(backend.asarray(pts[:200]), backend.asarray(coords, np.float32),
                            backend.asarray(pts[200:]), 5, "cosine", backend)
    np.testing.assert_allclose(backend.to_host(b), a, atol=1e-4)


@pytest.mark.parametrize("draws", ["host", "array"])
def test_both_kinds_of_draws_make_valid_recipes(draws):
    """`ArrayDraws` (CuPy's on CUDA) exercised here through NumPy: weighted picks follow
    the probabilities, subsets are distinct, partners come from the neighbour lists."""
    make = {"host": lambda s: HostDraws(np.random.default_rng(s)),
            "array": lambda s: ArrayDraws(np.random.default_rng(s), np)}[draws]
    p = np.array([0.5, 0.3, 0.2, 0.0])
    picks = make(0).weighted(p, 20000)
    np.testing.assert_allclose(np.bincount(picks, minlength=4) / 20000, p, atol=0.015)
    subset = make(1).subset(100, 30)
    assert len(np.unique(subset)) == 30 and (np.diff(subset) > 0).all()
    ints = make(2).integers(7, 5000)
    assert ints.min() == 0 and ints.max() == 6
    rng = np.random.default_rng(3)
    coords = rng.normal(size=(200, 2)).astype(np.float32)
    anchors = select_anchors(rng.gamma(1.0, size=200), 0.8, "random", make(4))
    neighbours = nearest_neighbours(coords, anchors.index, 5, CPU)
    r = synthesize_recipes(anchors, neighbours, 300, 0.5, "pair", make(5))
    row = {int(a): i for i, a in enumerate(anchors.index)}
    assert all(b in neighbours.index[row[int(a)]] for a, b in r.sources)
    np.testing.assert_allclose(r.weights.sum(1), 1.0, rtol=1e-6)
    assert r.weights[:, 1].min() >= 0 and r.weights[:, 1].max() <= 0.5


def setup_round(n: int, backend: Backend):
    """A table of n toy sentences with a tiny teacher's targets and an error profile."""
    texts, labels = make_sentences(n, seed=n)
    ds = TextDataset(texts, None, np.array(labels), ["0", "1"], "toy")
    table, _ = encode_dataset(ds, tiny_tokenizer(), 32, backend)
    teacher = tiny_bert().to(backend.device)
    E = input_embeddings(teacher).detach()
    targets = teacher_targets(teacher, table, E, backend, 64)
    table = table.with_targets(targets.logits)
    rng = np.random.default_rng(0)
    profile = ErrorProfile(backend.asarray(rng.gamma(1.0, size=n).astype(np.float32)),
                           backend.asarray(rng.gamma(1.0, size=n).astype(np.float32)),
                           backend.asarray(rng.normal(size=(n, 32)).astype(np.float16)))
    return teacher, table, profile, E


def copies_in_one_round(n: int, backend: Backend, monkeypatch, **cfg) -> int:
    teacher, table, profile, E = setup_round(n, backend)
    calls = []
    real = Backend.to_host

    def counted(self, array):
        calls.append(getattr(array, "shape", ()))
        return real(self, array)

    monkeypatch.setattr(Backend, "to_host", counted)
    config = AugmentConfig(umap_fit_max=150, umap_epochs=20, ratio=0.5, k=5, plots=False,
                           **cfg)
    result, _ = augment_round(teacher, Examples(table, empty_pool(backend), E), profile, config,
                              Context(backend, Profiler(backend.synchronize)),
                              np.random.default_rng(0))
    monkeypatch.setattr(Backend, "to_host", real)
    assert len(result.pool) == round(0.5 * n)
    return len(calls)


@pytest.mark.parametrize("cfg", [{}, {"space": "input", "anchor_score": "region",
                                      "partner": "other_class"}])
def test_a_round_copies_a_constant_number_of_arrays_to_the_host(backend, monkeypatch, cfg):
    small = copies_in_one_round(200, backend, monkeypatch, **cfg)
    large = copies_in_one_round(500, backend, monkeypatch, **cfg)
    assert small == large  # independent of N: no per-example or per-batch copies
    assert small <= 12  # the round's scalars, the synthetic lengths, umap-learn's input


def test_umap_map_lives_on_the_backend(backend):
    points = np.random.default_rng(0).normal(size=(400, 16)).astype(np.float32)
    cfg = AugmentConfig(umap_fit_max=300, umap_epochs=20, k=5)
    reducer = UmapReducer(cfg, backend, seed=0).fit(backend.asarray(points))
    assert isinstance(reducer.coords_, backend.xp.ndarray)
    coords = backend.to_host(reducer.coords_)
    assert coords.shape == (400, 2) and np.isfinite(coords).all()


@pytest.mark.gpu
def test_cuda_round_draws_on_the_device():
    gpu = resolve_backend("cuda")
    draws = gpu.draws(np.random.default_rng(0))
    assert isinstance(draws, ArrayDraws)
    index = draws.subset(1000, 100)
    assert isinstance(index, gpu.xp.ndarray) and len(gpu.xp.unique(index)) == 100
    assert isinstance(torch.as_tensor(gpu.to_torch(index)), torch.Tensor)
