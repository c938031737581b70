import numpy as np
import pytest

from sage_rapids.backend import resolve_backend
from sage_rapids.config import AugmentConfig
from sage_rapids.distillation.table import SyntheticPool
from sage_rapids.sage.augment import expected_synthetic, merge_pools, synthetic_budget
from sage_rapids.sage.reduce import UmapReducer, place_by_neighbours
from sage_rapids.sage.regions import nearest_neighbours, select_anchors
from sage_rapids.sage.synthesize import recipe_coords, synthesize_recipes

CPU = resolve_backend("cpu")


def toy_round(strategy="sage", synthesis="pair", n=400, q=0.9, k=5, m=80, seed=0):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    loss = rng.gamma(1.0, size=n)
    anchors = select_anchors(loss, q, strategy, rng)
    neighbours = nearest_neighbours(coords, anchors.index, k, CPU)
    recipes = synthesize_recipes(anchors, neighbours, m, 0.5, synthesis, rng)
    return coords, loss, anchors, neighbours, recipes


def test_anchors_have_higher_mean_loss_than_the_rest():
    _, loss, anchors, _, _ = toy_round()
    assert len(anchors.index) == 40
    assert loss[anchors.index].mean() > loss.mean()
    assert loss[anchors.index].min() >= np.quantile(loss, 0.9) - 1e-9
    assert anchors.probability.sum() == pytest.approx(1.0)
    top = anchors.index[np.argmax(anchors.probability)]
    assert loss[top] == loss.max()  # drawn in proportion to loss


def test_soft_weighting_keeps_every_example_and_sharpens_with_power():
    loss = np.random.default_rng(1).gamma(1.0, size=500)
    rng = np.random.default_rng(0)
    uniform = select_anchors(loss, 0.0, "sage", rng, power=0.0)
    linear = select_anchors(loss, 0.0, "sage", rng, power=1.0)
    square = select_anchors(loss, 0.0, "sage", rng, power=2.0)
    assert len(uniform.index) == len(linear.index) == len(square.index) == 500
    np.testing.assert_allclose(uniform.probability, 1 / 500)
    np.testing.assert_allclose(linear.probability, loss / loss.sum())
    np.testing.assert_allclose(square.probability, loss**2 / (loss**2).sum())
    hardest = np.argmax(loss)  # index == position: q = 0 keeps all, sorted
    assert uniform.probability[hardest] < linear.probability[hardest] < square.probability[hardest]
    # expected loss of a drawn anchor rises with the power
    means = [(a.probability * loss).sum() for a in (uniform, linear, square)]
    assert means[0] < means[1] < means[2]


def test_neighbours_exclude_self_and_are_nearest():
    coords, _, anchors, neighbours, _ = toy_round()
    assert neighbours.index.shape == (len(anchors.index), 5)
    assert not (neighbours.index == anchors.index[:, None]).any()
    d = np.linalg.norm(coords[anchors.index[0]] - coords, axis=1)
    d[anchors.index[0]] = np.inf
    assert set(neighbours.index[0]) == set(np.argsort(d)[:5])


@pytest.mark.parametrize("synthesis,width", [("pair", 2), ("barycentric", 6)])
def test_recipes_refer_to_real_examples_and_weights_sum_to_one(synthesis, width):
    coords, _, anchors, neighbours, recipes = toy_round(synthesis=synthesis)
    assert recipes.sources.shape == (80, width)
    assert recipes.sources.min() >= 0 and recipes.sources.max() < 400
    assert np.isin(recipes.sources[:, 0], anchors.index).all()
    np.testing.assert_allclose(recipes.weights.sum(1), 1.0, rtol=1e-6)
    assert (recipes.weights[:, 0] >= 0.5 - 1e-6).all()  # lam <= lam_max = 0.5
    assert recipe_coords(coords, recipes).shape == (80, 2)


def test_random_and_sage_use_the_same_budget():
    cfg = AugmentConfig(ratio=0.2, q=0.9)
    _, _, a_sage, _, r_sage = toy_round("sage", m=synthetic_budget(cfg, 400))
    _, loss, a_rand, _, r_rand = toy_round("random", m=synthetic_budget(cfg, 400))
    assert len(a_sage.index) == len(a_rand.index) == 40
    assert len(r_sage.sources) == len(r_rand.sources) == 80
    assert np.allclose(a_rand.probability, 1 / 40)


def pool_of(m, start=0):
    return SyntheticPool(np.arange(start, start + 2 * m, dtype=np.int32).reshape(m, 2),
                         np.full((m, 2), 0.5, np.float32), np.zeros((m, 2), np.float32))


def test_pool_policies_hold_their_caps():
    replace = AugmentConfig(pool="replace")
    assert len(merge_pools(pool_of(30), pool_of(20), replace, CPU)) == 20
    acc = AugmentConfig(pool="accumulate", pool_max=45)
    merged = merge_pools(pool_of(30), pool_of(20, start=1000), acc, CPU)
    assert len(merged) == 45
    assert merged.sources[-1, 0] == 1038  # the newest are kept
    accumulate = AugmentConfig(strategy="sage", pool="accumulate", pool_max=45, ratio=0.2)
    assert expected_synthetic(accumulate, 100, 4) == [0, 20, 40, 45]
    assert expected_synthetic(AugmentConfig(strategy="none"), 100, 3) == [0, 0, 0]


def blobs(n_per=60, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(4, dim))
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(4), n_per)


def test_umap_keeps_neighbourhoods_on_toy_data():
    from sklearn.manifold import trustworthiness

    x, _ = blobs()
    cfg = AugmentConfig(umap_metric="euclidean", umap_epochs=100)
    reducer = UmapReducer(cfg, CPU, seed=0).fit(x)
    assert reducer.coords_.shape == (240, 2)
    assert trustworthiness(x, reducer.coords_, n_neighbors=10) > 0.9


def test_fit_on_subsample_places_the_rest_near_their_cluster():
    x, label = blobs()
    cfg = AugmentConfig(umap_metric="euclidean", umap_epochs=100, umap_fit_max=120)
    reducer = UmapReducer(cfg, CPU, seed=0).fit(x)
    assert len(reducer.fit_index_) == 120
    coords = reducer.coords_
    centres = np.stack([coords[reducer.fit_index_][label[reducer.fit_index_] == c].mean(0)
                        for c in range(4)])
    rest = np.setdiff1d(np.arange(240), reducer.fit_index_)
    nearest = np.argmin(((coords[rest, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == label[rest]).mean() > 0.95


def test_place_by_neighbours_reproduces_fitted_points():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 8)).astype(np.float32)
    coords = rng.normal(size=(50, 2)).astype(np.float32)
    placed = place_by_neighbours(pts, coords, pts[:5], 3, "euclidean", CPU)
    np.testing.assert_allclose(placed, coords[:5], atol=1e-2)  # distance ~0 dominates
