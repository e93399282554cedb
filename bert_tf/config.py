"""BERT configuration: the fields of Google's `bert_config.json`.

`BertConfig` reads Google's `bert_config.json` and Hugging Face's
`config.json`, validates the values and rejects unknown keys (naming them and
the file). Named presets cover the 24 smaller BERTs of "Well-Read Students
Learn Better" (L in {2,4,6,8,10,12} x H in {128,256,512,768}, A = H/64,
intermediate 4H), BERT-Base and BERT-Large.

Example:

>>> cfg = BertConfig.from_preset("bert_uncased_L-2_H-128_A-2")
>>> (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads)
(2, 128, 2)
>>> cfg.intermediate_size
512
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["BertConfig", "PRESETS", "ACTIVATIONS"]

# `hidden_act` values understood by bert_tf. "gelu" is BERT's exact erf GELU;
# "gelu_new", "gelu_pytorch_tanh" and "gelu_fast" are Hugging Face's names for
# the tanh approximation.
ACTIVATIONS = (
    "gelu",
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "relu",
    "tanh",
    "swish",
    "silu",
)

# Keys of Hugging Face `config.json` files that carry no model-shape
# information for a BERT encoder and are accepted and ignored.
_HF_IGNORED_KEYS = frozenset(
    {
        "_name_or_path",
        "architectures",
        "model_type",
        "transformers_version",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "use_cache",
        "classifier_dropout",
        "gradient_checkpointing",
        "torch_dtype",
        "dtype",
        "output_past",
        "is_decoder",
        "add_cross_attention",
        "chunk_size_feed_forward",
        "tie_word_embeddings",
        "id2label",
        "label2id",
        "finetuning_task",
        "problem_type",
        "tokenizer_class",
        "directionality",
    }
)
# Keys of Google's multilingual / Chinese `bert_config.json` files that
# describe an unused pooler variant and are accepted and ignored.
_GOOGLE_IGNORED_KEYS = frozenset(
    {
        "directionality",
        "pooler_fc_size",
        "pooler_num_attention_heads",
        "pooler_num_fc_layers",
        "pooler_size_per_head",
        "pooler_type",
    }
)


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The hyperparameters of a BERT encoder.

    Field names and meanings are those of Google's `bert_config.json`, plus
    `layer_norm_eps` (1e-12 in every released BERT).

    Args:
        vocab_size: int. Number of WordPiece ids.
        hidden_size: int. Width H of every layer.
        num_hidden_layers: int. Number L of transformer blocks.
        num_attention_heads: int. Number A of heads; must divide hidden_size.
        intermediate_size: int. Width of the feed-forward inner layer.
        hidden_act: str. Feed-forward activation, one of `ACTIVATIONS`.
        hidden_dropout_prob: float. Dropout after embeddings and sublayers.
        attention_probs_dropout_prob: float. Dropout on attention
            probabilities.
        max_position_embeddings: int. Longest sequence the model accepts.
        type_vocab_size: int. Number of segment (token type) ids.
        initializer_range: float. Stddev of the truncated-normal initializer.
        layer_norm_eps: float. LayerNorm epsilon.

    Example:

    >>> BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2,
    ...            num_attention_heads=2, intermediate_size=32).hidden_size
    16
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        self.validate()

    # -- validation -------------------------------------------------------
    def validate(self, source: str = "BertConfig") -> None:
        """Raises ValueError naming `source` and the field on a bad value."""
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"{source}: field '{name}' must be a positive integer, got {value!r}."
                )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"{source}: hidden_size={self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}."
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"{source}: field 'hidden_act' is {self.hidden_act!r}; "
                f"expected one of {', '.join(ACTIVATIONS)}."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{source}: field '{name}' must be in [0, 1), got {value!r}.")
        for name in ("initializer_range", "layer_norm_eps"):
            if float(getattr(self, name)) <= 0:
                raise ValueError(
                    f"{source}: field '{name}' must be positive, got {getattr(self, name)!r}."
                )

    # -- construction -----------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config dict") -> BertConfig:
        """Builds a config from a Google or Hugging Face style mapping.

        Args:
            values: the parsed JSON object.
            source: a name for error messages, e.g. the file path.

        Returns:
            The validated `BertConfig`.

        Raises:
            ValueError: on unknown keys (all named), missing `vocab_size` or
                an invalid value.

        Example:

        >>> BertConfig.from_dict({"vocab_size": 99}).vocab_size
        99
        """
        values = dict(values)
        is_hf = "model_type" in values or "architectures" in values
        if is_hf:
            if values.get("model_type", "bert") != "bert":
                raise ValueError(
                    f"{source}: model_type is {values['model_type']!r}, only 'bert' is supported."
                )
            pe_type = values.pop("position_embedding_type", "absolute")
            if pe_type != "absolute":
                raise ValueError(
                    f"{source}: position_embedding_type={pe_type!r} is not "
                    "supported (only 'absolute')."
                )
            ignored = _HF_IGNORED_KEYS
        else:
            ignored = _GOOGLE_IGNORED_KEYS
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k not in fields and k not in ignored)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys are {', '.join(sorted(fields))}."
            )
        if "vocab_size" not in values:
            raise ValueError(f"{source}: missing required key 'vocab_size'.")
        kwargs = {k: v for k, v in values.items() if k in fields}
        config = cls.__new__(cls)
        # Validate with the source named before freezing the instance.
        for f in dataclasses.fields(cls):
            object.__setattr__(config, f.name, kwargs.get(f.name, f.default))
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, path: str, **overrides: Any) -> BertConfig:
        """Reads Google's `bert_config.json` or Hugging Face's `config.json`.

        Args:
            path: the JSON file.
            **overrides: fields that replace the file's (or stand in for
                missing ones, e.g. `vocab_size` taken from a vocab.txt).

        Returns:
            The validated `BertConfig`.
        """
        with open(path, encoding="utf-8") as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e}).") from e
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object.")
        return cls.from_dict({**values, **overrides}, source=path)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> BertConfig:
        """Returns a named preset, e.g. "bert_base" or "bert_uncased_L-4_H-256_A-4".

        Args:
            name: a key of `PRESETS`.
            **overrides: fields to replace (e.g. `vocab_size`).
        """
        if name not in PRESETS:
            raise ValueError(
                f"Unknown BERT preset {name!r}; known presets: {', '.join(sorted(PRESETS))}."
            )
        return dataclasses.replace(PRESETS[name], **overrides)

    # -- output -----------------------------------------------------------
    def to_dict(self) -> dict:
        """Returns the fields as a plain dict (Google key names)."""
        return dataclasses.asdict(self)

    def to_json_file(self, path: str) -> None:
        """Writes a Google-style `bert_config.json`."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")

    def to_hf_dict(self, architecture: str = "BertModel") -> dict:
        """Returns a Hugging Face `config.json` mapping."""
        d = self.to_dict()
        d.update(
            architectures=[architecture],
            model_type="bert",
            position_embedding_type="absolute",
            pad_token_id=0,
        )
        return d

    @property
    def head_size(self) -> int:
        """Per-head width D = hidden_size / num_attention_heads."""
        return self.hidden_size // self.num_attention_heads


def _make_presets() -> dict:
    presets = {}
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            heads = hidden // 64
            presets[f"bert_uncased_L-{layers}_H-{hidden}_A-{heads}"] = BertConfig(
                hidden_size=hidden,
                num_hidden_layers=layers,
                num_attention_heads=heads,
                intermediate_size=4 * hidden,
            )
    presets["bert_base"] = BertConfig()
    presets["bert_large"] = BertConfig(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
    )
    return presets


PRESETS: Mapping[str, BertConfig] = _make_presets()
"""Named configurations (vocabulary of the uncased English BERTs, 30522)."""
