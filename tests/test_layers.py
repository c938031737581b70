"""Layer transfer: each loss against a hand-computed value, the default mapping, the
checks, the teacher's states cached with its logits, and a run through the CLI."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import make_sentences, tiny_bert, tiny_tokenizer
from safetensors.numpy import load_file
from test_cli import cli, tiny_config

from sage_rapids.backend import resolve_backend
from sage_rapids.config import ConfigError, load_config
from sage_rapids.context import Context
from sage_rapids.data.tasks import TextDataset
from sage_rapids.distillation.losses import (per_sample_attention_loss, per_sample_layer_loss,
                                             per_sample_loss)
from sage_rapids.distillation.models import (ModelError, build_student, input_embeddings,
                                             layer_pairs, mapped_teacher_layers)
from sage_rapids.distillation.table import Examples, empty_pool, encode_dataset, real_batch
from sage_rapids.distillation.targets import label_synthetic, teacher_targets
from sage_rapids.distillation.train import Training, make_optimizer, train_epoch

CPU = resolve_backend("cpu")


def test_pkd_loss_is_the_squared_distance_of_unit_vectors_averaged_over_layers():
    s = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])  # (B=1, J=2, H=2)
    t = torch.tensor([[[4.0, 3.0], [0.0, 2.0]]])
    # layer 1: (0.6, 0.8) - (0.8, 0.6) -> 0.04 + 0.04 = 0.08; layer 2: (1, 0) - (0, 1) -> 2
    assert per_sample_layer_loss(s, t, "pkd").item() == pytest.approx((0.08 + 2.0) / 2)


def test_mse_layer_loss_is_the_mean_over_the_width():
    s = torch.tensor([[[1.0, 2.0, 3.0]]])
    t = torch.tensor([[[1.0, 0.0, 0.0]]])
    assert per_sample_layer_loss(s, t, "mse").item() == pytest.approx((0 + 4 + 9) / 3)


def test_cosine_layer_loss_is_one_minus_the_cosine():
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])  # B=2, J=1
    t = torch.tensor([[[0.0, 1.0]], [[2.0, 2.0]]])
    np.testing.assert_allclose(per_sample_layer_loss(s, t, "cosine").numpy(), [1.0, 0.0],
                               atol=1e-6)


def test_per_token_loss_averages_over_the_real_tokens_only():
    s = torch.tensor([[[[1.0, 0.0], [2.0, 0.0], [9.0, 9.0]]]])  # (B=1, J=1, L=3, H=2)
    t = torch.tensor([[[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]]])
    mask = torch.tensor([[1, 1, 0]])  # the third token is padding
    # mse per token: 0, (4 + 0) / 2 = 2; the padded token's 81 is left out
    assert per_sample_layer_loss(s, t, "mse", mask).item() == pytest.approx((0 + 2) / 2)
    # pkd per token: 0 for the first; (1, 0) against the zero vector: |(1, 0) - 0|^2 = 1
    assert per_sample_layer_loss(s, t, "pkd", mask).item() == pytest.approx((0 + 1) / 2)


def test_attention_loss_is_the_kl_of_each_real_query_row():
    t = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]])  # (L=3, L)
    s = torch.tensor([[0.25, 0.75, 0.0], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    mask = torch.tensor([[1, 1, 0]])  # query 3 is padding
    kl1 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    kl2 = 1.0 * math.log(1.0 / 0.5)
    got = per_sample_attention_loss(s[None, None, None], t[None, None, None], mask)
    assert got.item() == pytest.approx((kl1 + kl2) / 2, rel=1e-5)
    # two heads of the student against one of the teacher: head-averaged maps compared
    two = torch.stack([s, s])[None, None]  # (1, 1, 2, L, L)
    assert per_sample_attention_loss(two, t[None, None, None], mask).item() == \
        pytest.approx((kl1 + kl2) / 2, rel=1e-5)
    assert per_sample_attention_loss(t[None, None, None], t[None, None, None],
                                     mask).item() == pytest.approx(0.0, abs=1e-6)


def test_the_layer_term_is_weighted_and_added_per_sample():
    logits = torch.zeros(2, 2)
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])
    t = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])
    losses = per_sample_loss(logits, logits, torch.tensor([0, 1]), 2.0, 1.0,
                             layer_weight=0.5, student_layers=s, teacher_layers=t)
    np.testing.assert_allclose(losses.layers.numpy(), [0.5 * 2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(losses.total.numpy(), losses.kd.numpy() + [1.0, 0.0], atol=1e-6)
    assert per_sample_loss(logits, logits, torch.tensor([0, 1]), 2.0, 1.0).layers is None


@pytest.mark.parametrize("student, teacher, pairs", [
    (3, 6, [(1, 2), (2, 4), (3, 6)]),  # TinyBERT's uniform map, PKD-skip
    (1, 6, [(1, 6)]),
    (2, 4, [(1, 2), (2, 4)]),
    (4, 6, [(1, 2), (2, 3), (3, 5), (4, 6)]),
])
def test_each_student_layer_maps_to_the_teachers_at_the_same_relative_depth(student, teacher,
                                                                            pairs):
    assert layer_pairs(None, student, teacher) == pairs


def test_a_map_beyond_either_model_names_both_depths():
    with pytest.raises(ModelError, match=r"\[\[2, 7\]\] beyond the models' layers: the student "
                                         r"has 3 .outputs 0..3., the teacher 6 .outputs 0..6."):
        layer_pairs([[1, 2], [2, 7]], 3, 6)


def test_layer_keys_are_checked_with_did_you_mean():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["loss.layer_mp=[[1, 2]]", "loss.layer_loss=kl",
                           "loss.layer_pool=max", "loss.layers=-1",
                           "loss.layer_cache_gb=0", "loss.attenton=1"])
    problems = [p.rsplit(" (overrides ", 1)[0] for p in err.value.problems]  # less origins
    assert "loss.layer_mp: unknown key (did you mean 'loss.layer_map'?)" in problems
    assert "loss.layer_loss: must be one of [cosine, mse, pkd], got kl" in problems
    assert "loss.layer_pool: must be one of [cls, mean, tokens], got max" in problems
    assert "loss.layers: must be in [0.0, inf), got -1.0" in problems
    assert "loss.layer_cache_gb: must be in (0.0, inf), got 0.0" in problems
    assert "loss.attenton: unknown key (did you mean 'loss.attention'?)" in problems
    with pytest.raises(ConfigError, match="a student layer is mapped twice"):
        load_config(None, ["loss.layer_map=[[1, 2], [1, 3]]"])


def _toy(n=48):
    texts, labels = make_sentences(n)
    ds = TextDataset(texts, None, np.array(labels), ["0", "1"], "toy")
    return encode_dataset(ds, tiny_tokenizer(), 32, CPU)[0]


def test_teacher_states_come_from_the_same_forward_as_the_logits_and_synthetic_points_too():
    teacher, table = tiny_bert(layers=4).eval(), _toy()
    E = input_embeddings(teacher)
    plain = teacher_targets(teacher, table, E, CPU, 16)
    both = teacher_targets(teacher, table, E, CPU, 16, layers=(2, 4), layer_pool="mean")
    np.testing.assert_array_equal(plain.logits, both.logits)
    assert both.layers.shape == (len(table), 2, 32) and both.layers.dtype == np.float16
    ids = torch.as_tensor(np.arange(3))  # example 0..2 alone, by hand: mean of layer 4
    with torch.no_grad():
        out = teacher(**{"input_ids": torch.as_tensor(np.stack([
            np.pad(table.ids[table.offsets[i]:table.offsets[i + 1]],
                   (0, 32 - table.host_lengths[i])) for i in ids])).long(),
            "attention_mask": torch.as_tensor(np.stack([
                np.arange(32) < table.host_lengths[i] for i in ids])).long()},
            output_hidden_states=True)
    mask = torch.as_tensor(np.stack([np.arange(32) < table.host_lengths[i] for i in ids]))
    mean = (out.hidden_states[4] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    np.testing.assert_allclose(both.layers[:3, 1].astype(np.float32), mean.numpy(), atol=2e-3)
    first = teacher_targets(teacher, table, E, CPU, 16, layers=(2, 4), layer_pool="cls")
    np.testing.assert_allclose(first.layers[:3, 1].astype(np.float32),
                               out.hidden_states[4][:, 0].numpy(), atol=2e-3)
    sources = np.array([[0, 1], [2, 3]], dtype=np.int32)
    weights = np.array([[0.7, 0.3], [0.5, 0.5]], dtype=np.float32)
    pool = label_synthetic(teacher, table.with_targets(both.logits), sources, weights, E, CPU,
                           2, layers=(2, 4))
    assert pool.layers.shape == (2, 2, 32)
    assert pool.nbytes_per_example() == 2 * 4 + 2 * 4 + 2 * 4 + 2 * 32 * 2  # recipe, logits, states


def test_a_narrower_student_learns_through_maps_that_stay_out_of_the_export():
    teacher, table = tiny_bert(layers=4).eval(), _toy()
    config = load_config(None, ["loss.layers=1", "student.layers=null",
                                "student.config={hidden_size: 16, intermediate_size: 32, "
                                "num_hidden_layers: 2, num_attention_heads: 2}"])
    layers = mapped_teacher_layers(config.student, config.loss,
                                   teacher.config.num_hidden_layers)
    assert layers == (2, 4)
    E = input_embeddings(teacher)
    targets = teacher_targets(teacher, table, E, CPU, 16, layers=layers)
    table = table.with_targets(targets.logits, None, targets.layers)
    student = build_student(teacher, config.student, 2, loss=config.loss)
    assert [(m.in_features, m.out_features) for m in student.transfer.maps] == [(16, 32)] * 2
    opt, sched = make_optimizer(student, config.train, 10)
    before = student.transfer.maps[0].weight.detach().clone()
    t = Training(student, student, opt, sched, {"batches": np.random.default_rng(0)})
    result = train_epoch(t, Examples(table, empty_pool(CPU), E), config.loss, config.train,
                         Context(CPU))
    assert np.isfinite(result.train_loss)
    assert not torch.equal(before, student.transfer.maps[0].weight)  # the maps learn
    from sage_rapids.distillation.export import exportable_student

    exported = exportable_student(student, E)
    assert not [k for k in exported.state_dict() if "transfer" in k or "maps" in k]


@pytest.mark.parametrize("overrides, seen", [
    (["loss.layers=1", "loss.layer_pool=tokens", "loss.layer_loss=mse"], "layers"),
    (["loss.attention=1"], "attentions"),
])
def test_per_token_and_attention_transfer_run_the_teacher_in_the_loop(overrides, seen):
    teacher, table = tiny_bert(layers=4).eval(), _toy()
    config = load_config(None, overrides)
    assert mapped_teacher_layers(config.student, config.loss, 4) == ()  # nothing cached
    E = input_embeddings(teacher)
    table = table.with_targets(teacher_targets(teacher, table, E, CPU, 16).logits)
    student = build_student(teacher, load_config(None, ["student.layers=[0, 2]"]).student, 2,
                            loss=config.loss)
    assert student.transfer.teacher_in_loop and student.transfer.cached_teacher_layers == ()
    from sage_rapids.profiling import Profiler

    opt, sched = make_optimizer(student, config.train, 10)
    t = Training(student, student, opt, sched, {"batches": np.random.default_rng(0)})
    profiler = Profiler()
    result = train_epoch(t, Examples(table, empty_pool(CPU), E, teacher), config.loss,
                         config.train, Context(CPU, profiler))
    assert np.isfinite(result.train_loss)
    seconds = profiler.totals()
    assert 0 < seconds["teacher_in_loop"] < seconds.get("train", float("inf"))
    batch = real_batch(table, E, np.arange(4), CPU)
    out = student(batch.vectors, batch.mask, batch.type_ids, layers=True)
    assert getattr(out, seen).shape[:2] == (4, 2)
    # the attention switch lasts one forward: the models keep their own implementation
    assert teacher.config._attn_implementation == student.model.config._attn_implementation


@pytest.mark.slow
def test_a_run_with_layer_transfer_through_the_cli(tmp_path, tiny_teacher_dir, sst_like_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "run"
    config = tiny_config(tmp_path, tiny_teacher_dir, loss={"layers": 1.0, "layer_pool": "mean"},
                         augment={"space": "input"}, train={"epochs": 2})  # one SAGE round
    proc = cli("run", "--config", config, "--out", out, env_extra={
        "SAGE_DATA_DIR": str(sst_like_dir)})
    assert "layer transfer: teacher layers [2, 4] pooled (mean), 128 bytes per example" \
        in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["student_dev_accuracy"] >= 0.8
    pool = load_file(str(out / "checkpoint" / "rank0.safetensors"))
    assert pool["pool.layers"].shape == (pool["pool.sources"].shape[0], 2, 32)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    # a pair's recipe (2 int32 + 2 float32), 2 float32 logits, 2 x 32 fp16 layer states
    assert rows[0]["pool_bytes_per_example"] == 8 + 8 + 8 + 2 * 32 * 2
    model = AutoModelForSequenceClassification.from_pretrained(out / "student")
    tok = AutoTokenizer.from_pretrained(out / "student")
    assert model(**tok(["a fine film"], return_tensors="pt")).logits.shape == (1, 2)


@pytest.mark.slow
def test_per_token_and_attention_transfer_through_the_cli(tmp_path, tiny_teacher_dir,
                                                          sst_like_dir):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "run"
    config = tiny_config(tmp_path, tiny_teacher_dir, augment={"space": "input"}, loss={
        "layers": 1.0, "layer_pool": "tokens", "layer_loss": "mse", "attention": 1.0})
    proc = cli("run", "--config", config, "--out", out, env_extra={
        "SAGE_DATA_DIR": str(sst_like_dir)})
    assert "the teacher's per-token states and attention maps come from one teacher " \
        "forward per training batch" in proc.stderr
    profile = json.loads((out / "profile.json").read_text())
    assert 0 < profile["teacher_in_loop_share"] < 1
    assert profile["total"]["teacher_in_loop"] < profile["total"]["train"]
    pool = load_file(str(out / "checkpoint" / "rank0.safetensors"))
    assert "pool.layers" not in pool  # synthetic points keep no states: none are cached
    assert "eager" not in (out / "student" / "config.json").read_text()  # not pinned
    model = AutoModelForSequenceClassification.from_pretrained(out / "student")
    assert model.config._attn_implementation == "sdpa"
