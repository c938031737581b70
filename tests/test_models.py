from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_bert, tiny_tokenizer

from sage_rapids.config import StudentConfig
from sage_rapids.distillation.export import export_student
from sage_rapids.distillation.models import (
    ModelError,
    build_student,
    input_embeddings,
    lookup,
    vector_forward,
)


def encode(texts, pairs=None):
    return tiny_tokenizer()(texts, pairs, padding=True, return_tensors="pt")


def test_teacher_logits_through_inputs_embeds_equal_token_ids():
    teacher = tiny_bert()
    enc = encode(["the movie is good", "boring"], ["a city", "the river and a film"])
    direct = teacher(**enc).logits
    vectors = lookup(input_embeddings(teacher), enc["input_ids"])  # (B, L, H)
    via = vector_forward(teacher, vectors, enc["attention_mask"], enc["token_type_ids"])
    torch.testing.assert_close(via.logits, direct)


def test_student_from_even_layers_copies_teacher_weights():
    teacher = tiny_bert(layers=4)
    student = build_student(teacher, StudentConfig(layers=[0, 2]), 2)
    t_layers, s_layers = teacher.bert.encoder.layer, student.model.bert.encoder.layer
    assert len(s_layers) == 2
    for s_i, t_i in [(0, 0), (1, 2)]:
        for a, b in zip(s_layers[s_i].parameters(), t_layers[t_i].parameters()):
            assert torch.equal(a, b)
    assert student.projection is None
    assert not student.model.get_input_embeddings().weight.requires_grad


def test_layer_beyond_teacher_depth_is_a_clear_error():
    with pytest.raises(ModelError, match=r"student.layers: \[9\] beyond"):
        build_student(tiny_bert(layers=4), StudentConfig(layers=[0, 9]), 2)


def test_narrower_student_gets_a_projection():
    teacher = tiny_bert(hidden=32)
    student = build_student(teacher, StudentConfig(layers=None, config={
        "hidden_size": 16, "num_hidden_layers": 1, "intermediate_size": 32}), 2)
    assert student.projection.in_features == 32 and student.projection.out_features == 16
    enc = encode(["good film"])
    out = student(lookup(input_embeddings(teacher), enc["input_ids"]), enc["attention_mask"],
                  pooled=True)
    assert out.logits.shape == (1, 2) and out.pooled.shape == (1, 16)


@pytest.mark.parametrize("config", [None, {"hidden_size": 16, "num_hidden_layers": 1,
                                           "intermediate_size": 32}])
def test_export_round_trip_predicts_like_the_in_memory_student(tmp_path, config):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    teacher = tiny_bert()
    cfg = StudentConfig(layers=None if config else [1, 3], config=config)
    student = build_student(teacher, cfg, 2).eval()
    with torch.no_grad():  # move the student away from its initialisation
        for p in student.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    texts = ["the movie is good", "boring and dull plot", "a wonderful film", "flat"]
    enc = encode(texts)
    memory = student(lookup(input_embeddings(teacher), enc["input_ids"]),
                     enc["attention_mask"]).logits
    out = export_student(student, input_embeddings(teacher), tiny_tokenizer(), tmp_path / "s",
                         ["neg", "pos"])
    loaded = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        plain = loaded(**tok(texts, padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(plain, memory, atol=1e-5, rtol=1e-4)
    assert np.array_equal(plain.argmax(-1).numpy(), memory.argmax(-1).numpy())
    assert loaded.config.id2label[1] == "pos"
    assert not list(tmp_path.glob(".s.*"))  # no temporary folder left behind


def test_an_export_over_an_earlier_one_replaces_it_whole_or_not_at_all(tmp_path, monkeypatch):
    import os

    from safetensors.numpy import load_file

    from sage_rapids.distillation import export

    teacher = tiny_bert()
    student = build_student(teacher, StudentConfig(layers=[0]), 2)
    out = export_student(student, input_embeddings(teacher), tiny_tokenizer(), tmp_path / "s")
    first = load_file(str(out / "model.safetensors"))
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    real = os.replace

    def fails_into_out(src, dst):  # the new folder cannot be renamed in
        if Path(dst) == out and Path(src).name != out.name:  # not the earlier one's return
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(export.os, "replace", fails_into_out)
    with pytest.raises(PermissionError):
        export_student(student, input_embeddings(teacher), tiny_tokenizer(), out)
    kept = load_file(str(out / "model.safetensors"))  # the earlier export, back in place
    assert all(np.array_equal(kept[k], first[k]) for k in first)
    monkeypatch.setattr(export.os, "replace", real)
    export_student(student, input_embeddings(teacher), tiny_tokenizer(), out)
    second = load_file(str(out / "model.safetensors"))
    assert not all(np.array_equal(second[k], first[k]) for k in first)
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # nothing set aside is left
