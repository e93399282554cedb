"""Raw strings → BERT model inputs: `BertTokenizer` then `BertPacker`."""

import keras
import tensorflow as tf

from bert_tf.text import vocab_io
from bert_tf.text.packer import BertPacker
from bert_tf.text.tokenizer import BertTokenizer, TextLayer, as_string_batch


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPreprocessor(TextLayer):
    """Tokenizes 1..N text segments and packs them to a fixed length.

    Args:
      tokenizer: a `BertTokenizer`.
      seq_length: length of the packed rows (default 128, as TF Hub's BERT
        preprocessors).
      truncator: `"round_robin"` or `"waterfall"` (see `BertPacker`).
      **kwargs: Keras layer arguments.

    Call arguments:
      inputs: a `tf.string` vector [B] (one segment), or a list/tuple of such
        vectors (text pairs, ...), all of the same batch size.

    Returns:
      A dict of int32 [B, seq_length] tensors `input_word_ids`, `input_mask`,
      `input_type_ids`.

    Example:
    >>> tokenizer = BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"],
    ...     lower_case=True)
    >>> pre = BertPreprocessor(tokenizer, seq_length=6)
    >>> pre([["Hello"], ["world"]])["input_word_ids"].numpy().tolist()
    [[2, 5, 3, 6, 3, 0]]
    """

    def __init__(
        self,
        tokenizer: BertTokenizer,
        seq_length: int = 128,
        truncator: str = "round_robin",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer, got {type(tokenizer).__name__}")
        ids = tokenizer.require_special_tokens(
            (vocab_io.CLS, vocab_io.SEP, vocab_io.PAD), "packing"
        )
        self.tokenizer = tokenizer
        self.seq_length = seq_length
        self.truncator = truncator
        self.packer = BertPacker(
            seq_length,
            start_id=ids[vocab_io.CLS],
            end_id=ids[vocab_io.SEP],
            pad_id=ids[vocab_io.PAD],
            truncator=truncator,
        )

    def call(self, inputs) -> dict[str, tf.Tensor]:
        if isinstance(inputs, dict):
            raise TypeError("inputs must be a string vector or a list of them, got a dict")
        if isinstance(inputs, (list, tuple)) and inputs and not isinstance(inputs[0], (str, bytes)):
            segments = [as_string_batch(x, name=f"segment {i}")[0] for i, x in enumerate(inputs)]
        else:
            segments = [as_string_batch(inputs)[0]]
        return self.packer([self.tokenizer.tokenize(s) for s in segments])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "seq_length": self.seq_length,
                "truncator": self.truncator,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)
