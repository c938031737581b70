"""The guidance variants of the round: region anchors, class-aware partners and the
adaptive budget, and the anchor diagnostics written to metrics.jsonl."""

import numpy as np
import pytest

from sage_rapids.backend import resolve_backend
from sage_rapids.config import AugmentConfig, load_config
from sage_rapids.sage.augment import anchor_looks, budget_scale, synthetic_budget
from sage_rapids.sage.regions import Anchors, nearest_neighbours, region_scores, select_anchors
from sage_rapids.sage.synthesize import draw_column, partner_mask, synthesize_recipes

CPU = resolve_backend("cpu")


def two_blobs(n=200, seed=0):
    """Two clusters on the map; the right one has high loss, plus one lone outlier
    of very high loss inside the left one."""
    rng = np.random.default_rng(seed)
    coords = np.concatenate([rng.normal(-5, 1, (n, 2)), rng.normal(5, 1, (n, 2))]).astype(np.float32)
    loss = np.concatenate([rng.uniform(0, 0.2, n), rng.uniform(1, 1.2, n)])
    loss[0] = 3.0  # a lone hard point in the easy cluster
    return coords, loss


def test_region_score_is_the_neighbourhood_mean():
    coords, loss = two_blobs()
    score = region_scores(loss, coords, 5, CPU)
    around = nearest_neighbours(coords, np.arange(len(loss)), 5, CPU).index
    np.testing.assert_allclose(score[7], (loss[7] + loss[around[7]].sum()) / 6)
    # the outlier tops the point ranking but its region is mostly easy points
    point = select_anchors(loss, 0.9, "sage", np.random.default_rng(0))
    region = select_anchors(score, 0.9, "sage", np.random.default_rng(0))
    assert 0 in point.index and 0 not in region.index
    assert (region.index >= 200).all()  # the region's anchors all sit in the hard cluster


def classes_and_neighbours(seed=0, n=300, k=6):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    classes = (coords[:, 0] > 0).astype(np.int64)  # the teacher splits the map at x = 0
    anchors = select_anchors(rng.gamma(1.0, size=n), 0.8, "sage", rng)
    return classes, anchors, nearest_neighbours(coords, anchors.index, k, CPU)


@pytest.mark.parametrize("partner", ["other_class", "same_class"])
def test_partners_follow_the_teacher_classes_where_they_can(partner):
    classes, anchors, neighbours = classes_and_neighbours()
    recipes = synthesize_recipes(anchors, neighbours, 500, 0.5, "pair",
                                 np.random.default_rng(1), partner, classes)
    differ = classes[neighbours.index] != classes[anchors.index][:, None]  # (a, k)
    wanted = differ if partner == "other_class" else ~differ
    has = wanted.any(1)  # anchors with at least one such neighbour
    assert has.any() and (has.all() or partner == "other_class")
    assert not has.all() or partner == "same_class"  # anchors far from x = 0 fall back
    np.testing.assert_array_equal(partner_mask(anchors, neighbours, partner, classes),
                                  np.where(has[:, None], wanted, True))
    row = {int(x): i for i, x in enumerate(anchors.index)}
    for src, other in recipes.sources:
        i = row[int(src)]
        assert other in neighbours.index[i]
        if has[i]:  # drawn among the wanted class; else among all neighbours
            assert (classes[other] != classes[src]) == (partner == "other_class")


def test_other_class_partners_mix_classes_more_than_any():
    classes, anchors, neighbours = classes_and_neighbours(seed=3)
    share = {}
    for partner in ("any", "other_class", "same_class"):
        r = synthesize_recipes(anchors, neighbours, 2000, 0.5, "pair",
                               np.random.default_rng(0), partner, classes)
        share[partner] = np.mean(classes[r.sources[:, 0]] != classes[r.sources[:, 1]])
    assert share["same_class"] < share["any"] < share["other_class"]


def test_draw_column_is_uniform_over_eligible_entries():
    eligible = np.array([[True, False, True, False]] * 20000 + [[False, False, False, True]])
    col = draw_column(eligible, np.random.default_rng(0))
    assert set(col[:-1]) == {0, 2} and col[-1] == 3
    assert abs((col[:-1] == 0).mean() - 0.5) < 0.02


def test_adaptive_budget_follows_the_kd_loss_left():
    fixed, adaptive = AugmentConfig(ratio=0.5), AugmentConfig(ratio=0.5, budget="adaptive")
    assert budget_scale(fixed, [{"mean_kd_loss": 1.0}], 0.25) == 1.0
    assert budget_scale(adaptive, [], 0.8) == 1.0  # the first round sets the reference
    rows = [{"epoch": 1, "mean_kd_loss": 0.8}, {"epoch": 2, "mean_kd_loss": 0.4}]
    assert budget_scale(adaptive, rows, 0.2) == pytest.approx(0.25)
    assert budget_scale(adaptive, rows, 1.6) == 1.0  # never above the fixed budget
    assert synthetic_budget(adaptive, 1000, 0.25) == 125


def test_anchor_looks_counts_teacher_errors_and_clustering():
    classes = np.array([0, 0, 1, 1, 0, 1])
    labels = np.array([0, 1, 1, 0, -1, 1])  # wrong at 1 and 3; 4 unlabelled
    anchors = Anchors(np.array([1, 3, 4]), np.full(3, 1 / 3))

    class Near:
        index = np.array([[3, 0], [1, 2], [5, 1]])

    looks = anchor_looks(anchors, Near, classes, labels, np.array([[1, 3], [3, 2], [4, 5]]), CPU)
    assert looks["anchor_teacher_wrong"] == 1.0  # 2 of the 2 labelled anchors
    assert looks["teacher_wrong"] == pytest.approx(2 / 5)
    assert looks["anchor_neighbour_anchors"] == pytest.approx(3 / 6)
    assert looks["partner_other_class"] == pytest.approx(2 / 3)


def test_boundary_partners_are_the_default_by_the_studys_rule():
    assert load_config(None, []).augment.partner == "other_class"
    cfg = load_config(None, ["augment.anchor_score=region", "augment.budget=adaptive",
                             "augment.partner=any"])
    assert (cfg.augment.anchor_score, cfg.augment.budget, cfg.augment.partner) == (
        "region", "adaptive", "any")
