import math

import pytest
import torch

from sage_rapids.distillation.losses import (
    per_sample_ce_loss,
    per_sample_cosine_loss,
    per_sample_kd_loss,
    per_sample_loss,
)


def test_kd_loss_matches_hand_computed_value():
    zs = torch.tensor([[1.0, 0.0]])
    zt = torch.tensor([[0.0, 2.0]])
    t = 2.0
    ps = [math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)]
    pt = [1 / (1 + math.exp(1.0)), math.exp(1.0) / (1 + math.exp(1.0))]
    kl = sum(p * math.log(p / q) for p, q in zip(pt, ps))
    assert per_sample_kd_loss(zs, zt, t).item() == pytest.approx(t * t * kl, rel=1e-5)
    assert per_sample_kd_loss(zt, zt, t).item() == pytest.approx(0.0, abs=1e-7)


def test_ce_loss_per_sample_and_synthetic_rows_are_zero():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [5.0, -5.0]])
    labels = torch.tensor([0, 1, -1])
    expected = [math.log(1 + math.exp(-2.0)), math.log(2.0), 0.0]
    assert per_sample_ce_loss(logits, labels).tolist() == pytest.approx(expected, rel=1e-5)


def test_total_loss_weights_terms_and_returns_one_value_per_sample():
    zs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    zt = torch.tensor([[0.0, 2.0], [0.0, 2.0]])
    labels = torch.tensor([1, -1])
    out = per_sample_loss(zs, zt, labels, temperature=2.0, alpha=0.25)
    assert out.total.shape == (2,)
    kd = per_sample_kd_loss(zs, zt, 2.0)
    ce = per_sample_ce_loss(zs, labels)
    assert out.kd.tolist() == pytest.approx((0.25 * kd).tolist())
    assert out.ce.tolist() == pytest.approx((0.75 * ce).tolist())
    assert out.ce[1].item() == 0.0  # synthetic: KD only


def test_cosine_loss_hand_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[0.0, 3.0], [2.0, 0.0]])
    assert per_sample_cosine_loss(a, b).tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
