"""The static student: no transformer layer at all.

Its tokens are the teacher's word vectors (optionally reduced by a PCA fitted on the
training text), mean-pooled over the mask, then a small head: what static-embedding
classifiers (model2vec's) do, distilled from the teacher like any other student. It is a
`transformers` model of its own type (`sage-static`), registered when this module is
imported, so `load_classifier`, `evaluate`, `export` and the efficiency report treat it as
they treat the others; `export` writes an ONNX file that needs nothing of this package.

`student.layers: []` asks for it, `student.static_dim` sets its width (`ladder
--layers 0` is its rung).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import (AutoConfig, AutoModelForSequenceClassification, PretrainedConfig,
                          PreTrainedModel)
from transformers.modeling_outputs import SequenceClassifierOutput

MODEL_TYPE = "sage-static"


class StaticConfig(PretrainedConfig):
    """Vocabulary, width (`hidden_size`: the pooled vector's and the head's), dropout."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size: int = 30522, hidden_size: int = 256,
                 hidden_dropout_prob: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.num_hidden_layers = 0


class StaticEmbeddings(nn.Module):
    def __init__(self, config: StaticConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)


class StaticForSequenceClassification(PreTrainedModel):
    """Token vectors, masked mean, LayerNorm, one hidden layer (GELU), the output layer."""

    config_class = StaticConfig
    base_model_prefix = "static"

    def __init__(self, config: StaticConfig):
        super().__init__(config)
        self.embeddings = StaticEmbeddings(config)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        if isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                inputs_embeds=None, labels=None, output_hidden_states=None,
                return_dict=None, **kwargs) -> SequenceClassifierOutput:
        """`input_ids` or `inputs_embeds` (B, L, H); segment ids are read by nobody."""
        states = self.embeddings.word_embeddings(input_ids) if inputs_embeds is None \
            else inputs_embeds  # (B, L, H)
        if attention_mask is None:
            attention_mask = torch.ones(states.shape[:2], dtype=torch.long,
                                        device=states.device)
        weights = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, L, 1)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # (B, H)
        hidden = nn.functional.gelu(self.dense(self.dropout(self.norm(pooled))))
        logits = self.classifier(self.dropout(hidden))  # (B, C)
        loss = None
        if labels is not None:
            loss = nn.functional.mse_loss(logits.squeeze(-1), labels.float()) \
                if self.config.num_labels == 1 else \
                nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits,
                                        hidden_states=(states,) if output_hidden_states
                                        else None)


AutoConfig.register(MODEL_TYPE, StaticConfig, exist_ok=True)
AutoModelForSequenceClassification.register(StaticConfig, StaticForSequenceClassification,
                                            exist_ok=True)


def static_student(teacher: nn.Module, width: int, num_labels: int) -> nn.Module:
    """A static student for `teacher`'s vocabulary, `width` wide (its PCA, fitted later
    by `fit_reduction`, maps the teacher's word vectors to it)."""
    config = StaticConfig(vocab_size=teacher.get_input_embeddings().weight.shape[0],
                          hidden_size=width, num_labels=num_labels,
                          pad_token_id=getattr(teacher.config, "pad_token_id", None))
    return StaticForSequenceClassification(config)


def is_static(model: nn.Module) -> bool:
    return getattr(model.config, "model_type", None) == MODEL_TYPE


@torch.no_grad()
def fit_reduction(projection: nn.Linear, table: torch.Tensor, ids: np.ndarray) -> None:
    """Set `projection` (H_T -> d) to the PCA of the word vectors of the training text,
    each token weighted by how often it occurs there: centred, onto the top d
    components. Deterministic: no sampling.

    Args:
        projection: the student's input projection, d <= H_T outputs.
        table: (V, H_T) teacher word vectors.
        ids: (T,) every token id of the training examples, end to end.
    """
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=table.shape[0])
    used = np.flatnonzero(counts)
    vectors = table[torch.as_tensor(used, device=table.device)].double().cpu()  # (U, H)
    w = torch.as_tensor(counts[used], dtype=torch.float64)[:, None] / counts.sum()  # (U, 1)
    mean = (w * vectors).sum(0)  # (H,)
    centred = vectors - mean
    covariance = centred.T @ (w * centred)  # (H, H)
    values, vectors_ = torch.linalg.eigh(covariance)  # ascending
    top = vectors_[:, values.argsort(descending=True)[:projection.out_features]]  # (H, d)
    top = top * torch.sign(top[top.abs().argmax(0), torch.arange(top.shape[1])])  # fixed sign
    projection.weight.copy_(top.T.to(projection.weight))
    projection.bias.copy_((-(mean @ top)).to(projection.bias))
