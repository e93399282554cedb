"""Sentence embeddings of raw strings.

`EmbedderServing` is a `TaskServingModule` (see `serving_base`) around a
`BertEmbedder` (a bare `BertEncoder` is wrapped in one, mean pooling):
`serving_default` takes `text` [B] and returns `pooled_output`,
`mean_pooled` and `embeddings` from one encoder pass over the packed inputs,
trimmed to the batch's longest row (`trim_to_longest`).

Dimension legend: B = batch, S = sequence, H = hidden.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_tf.encoder import BertEncoder
from bert_tf.export.serving_base import TaskServingModule, strings_spec, trim_to_longest
from bert_tf.graph_ops import vector
from bert_tf.heads import BertEmbedder
from bert_tf.layers.pooling import MaskedMeanPooling
from bert_tf.text.tokenizer import BertTokenizer

__all__ = ["EmbedderServing"]


class EmbedderServing(TaskServingModule):
    """Sentence embeddings of raw strings.

    `serving_default` takes `text` [B] and returns float32 [B, H]:

    - `pooled_output`: BERT's tanh pooler on `[CLS]`;
    - `mean_pooled`: the mean of the last layer over the real tokens
      (`[CLS]` and `[SEP]` included, padding excluded), as
      sentence-transformers pools (`MaskedMeanPooling`);
    - `embeddings`: the `BertEmbedder`'s own output (its pooling and L2
      normalization); for a bare encoder, the same as `mean_pooled`.

    The `token_ids` signature runs the `BertEmbedder` (an encoder is wrapped
    in `BertEmbedder(encoder, pooling="mean")`).

    Args:
      model: a `BertEmbedder` or a `BertEncoder`.
      tokenizer: its `BertTokenizer`.
      seq_length: packed length S.
      **kwargs: `TaskServingModule` arguments (`truncator`, `vocab_path`).
    """

    task = "embed"

    def __init__(
        self,
        model: keras.Model,
        tokenizer: BertTokenizer,
        seq_length: int,
        **kwargs,
    ):
        if isinstance(model, BertEncoder):
            model = BertEmbedder(model, pooling="mean")
        if not isinstance(model, BertEmbedder):
            raise TypeError(
                f"model must be a bert_tf BertEmbedder or BertEncoder, got {type(model).__name__}"
            )
        super().__init__(model, tokenizer, seq_length, **kwargs)
        self.encoder = model.encoder
        self._mean = MaskedMeanPooling(name="serving_mean_pooling")
        self.serve = tf.function(self._serve, input_signature=[strings_spec("text")])

    def _serve(self, text):
        inputs = trim_to_longest(self.pack(vector(text)))
        # One encoder pass; the embedder's own pooling is picked from it.
        outputs = self.encoder(inputs, training=False)
        pooled = tf.cast(outputs["pooled_output"], tf.float32)  # [B, H]
        mean = self._mean(outputs["sequence_output"], inputs["input_mask"])  # [B, H]
        if self.model.pooling == "mean":
            embeddings = mean
        elif self.model.pooling == "cls":
            embeddings = tf.cast(outputs["sequence_output"][:, 0], tf.float32)
        else:
            embeddings = pooled
        if self.model.normalize:  # As keras.layers.UnitNormalization.
            embeddings = keras.ops.normalize(embeddings, axis=-1, order=2, epsilon=1e-12)
        return {
            "pooled_output": pooled,
            "mean_pooled": mean,
            "embeddings": embeddings,  # [B, H]
        }

    @classmethod
    def from_encoder(
        cls,
        encoder: keras.Model,
        vocab_file: str,
        lower_case: bool,
        seq_length: int = 128,
    ):
        """From an encoder (or embedder) and its `vocab.txt` (also the asset)."""
        tokenizer = BertTokenizer(vocab_file, lower_case=lower_case)
        return cls(encoder, tokenizer, seq_length, vocab_path=vocab_file)
