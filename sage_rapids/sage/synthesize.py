"""Stage 3.4: synthetic recipes from anchors and their map neighbours.

A recipe is k source indices and k weights summing to 1 (column 0 is the anchor).
The vectors are never built here: they are materialised per batch from token ids
as the token-wise weighted mix of the sources' `E_T[x]` (see `table`). Recipes are
drawn where the anchors live (NumPy, or CuPy on the device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .regions import Anchors, Neighbours, as_draws


@dataclass(frozen=True)
class Recipes:
    sources: Any  # (m, k) int32 real-example indices, column 0 the anchor
    weights: Any  # (m, k) float32, rows sum to 1


def synthesize_recipes(anchors: Anchors, neighbours: Neighbours, m: int, lam_max: float,
                       synthesis: str, draws, partner: str = "any",
                       classes: Any = None, margin: float | None = None) -> Recipes:
    """Draw `m` synthetic recipes.

    `pair`: anchor a (drawn by `anchors.probability`), one of its neighbours b
    uniformly, lam ~ U(0, lam_max); weights (1 - lam, lam). The 2-D map picked
    *where*; the source vectors give the high-dimensional point. With `partner`
    `other_class` (`same_class`) b is drawn among the neighbours the teacher puts in
    another class than a's (in a's class); an anchor with no such neighbour falls
    back to all of them. For a regression teacher `classes` are its scores and "another
    class" means scores at least `margin` apart.
    `barycentric`: the anchor keeps 1 - lam and its k neighbours share lam with
    inverse-distance weights from the map.

    Args:
        anchors: anchor indices and draw probabilities.
        neighbours: (a, k) neighbours of each anchor, aligned with `anchors.index`.
        m: number of recipes.
        lam_max: upper end of the mixing weight.
        synthesis: `pair` or `barycentric`.
        draws: the round's random draws (`Backend.draws`) or a NumPy generator.
        partner: `any`, `other_class` or `same_class` (`pair` only).
        classes: (n,) the teacher's class of every real example (for `partner`), or
            its score for a regression teacher.
        margin: None for classes; for scores, how far apart "another class" is.

    Returns:
        `Recipes` with (m, 2) or (m, k + 1) arrays.
    """
    draws = as_draws(draws)
    xp = draws.xp
    pick = draws.weighted(anchors.probability, m)  # (m,)
    lam = draws.uniform(lam_max, m).astype(xp.float32)  # (m,)
    anchor = anchors.index[pick]  # (m,)
    if synthesis == "pair":
        if partner == "any":
            col = draws.integers(neighbours.index.shape[1], m)
        else:
            col = draw_column(partner_mask(anchors, neighbours, partner, classes, margin)[pick], draws)
        sources = xp.stack([anchor, neighbours.index[pick, col]], axis=1)  # (m, 2)
        weights = xp.stack([1.0 - lam, lam], axis=1)  # (m, 2)
    elif synthesis == "barycentric":
        inv = 1.0 / xp.maximum(neighbours.distance[pick], 1e-6)  # (m, k)
        inv /= inv.sum(1, keepdims=True)
        sources = xp.concatenate([anchor[:, None], neighbours.index[pick]], axis=1)  # (m, k+1)
        weights = xp.concatenate([1.0 - lam[:, None], lam[:, None] * inv], axis=1)
    else:
        raise ValueError(f"augment.synthesis: must be pair or barycentric, got {synthesis!r}")
    return Recipes(sources.astype(xp.int32), weights.astype(xp.float32))


def partner_mask(anchors: Anchors, neighbours: Neighbours, partner: str, classes: Any,
                 margin: float | None = None) -> Any:
    """(a, k) bool: which neighbours of each anchor may be its mixing partner."""
    if partner not in ("other_class", "same_class"):
        raise ValueError(f"augment.partner: must be any, other_class or same_class, "
                         f"got {partner!r}")
    differ = different(classes[neighbours.index], classes[anchors.index][:, None],
                       margin)  # (a, k)
    mask = differ if partner == "other_class" else ~differ
    mask |= ~mask.any(1, keepdims=True)  # no such neighbour: any of them
    return mask


def different(a: Any, b: Any, margin: float | None) -> Any:
    """Elementwise: another class (`margin` None), or scores at least `margin` apart."""
    return a != b if margin is None else abs(a - b) >= margin


def draw_column(eligible: Any, draws) -> Any:
    """(m,) one column per row, uniform among the row's True entries."""
    draws = as_draws(draws)
    xp = draws.xp
    counts = eligible.sum(1)  # (m,) >= 1
    nth = xp.minimum((draws.random(len(eligible)) * counts).astype(xp.int64), counts - 1)
    return (eligible.cumsum(1) > nth[:, None]).argmax(1)


def recipe_coords(coords: Any, recipes: Recipes) -> Any:
    """Where each recipe sits on the 2-D map: the same mix of its sources' points.

    Args:
        coords: (n, 2) map of real examples.

    Returns:
        (m, 2) positions.
    """
    return (recipes.weights[:, :, None] * coords[recipes.sources]).sum(1)
