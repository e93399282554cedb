"""BertConfig: reading Google / HF files, validation, presets."""

import json

import pytest

from bert_tf.config import PRESETS, BertConfig

GOOGLE_BASE = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


def _write(tmp_path, name, values):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return str(path)


def test_reads_google_bert_config(tmp_path):
    cfg = BertConfig.from_json_file(_write(tmp_path, "bert_config.json", GOOGLE_BASE))
    assert cfg == PRESETS["bert_base"]
    assert cfg.layer_norm_eps == 1e-12


def test_reads_google_multilingual_pooler_keys(tmp_path):
    values = dict(
        GOOGLE_BASE,
        directionality="bidi",
        pooler_type="first_token_transform",
        pooler_fc_size=768,
        pooler_num_attention_heads=12,
        pooler_num_fc_layers=3,
        pooler_size_per_head=128,
        vocab_size=119547,
    )
    assert BertConfig.from_json_file(_write(tmp_path, "c.json", values)).vocab_size == 119547


def test_reads_hf_config(tmp_path):
    values = dict(
        GOOGLE_BASE,
        architectures=["BertModel"],
        model_type="bert",
        layer_norm_eps=1e-12,
        pad_token_id=0,
        position_embedding_type="absolute",
        transformers_version="4.8.2",
        use_cache=True,
        hidden_size=384,
        num_attention_heads=12,
        intermediate_size=1536,
        num_hidden_layers=6,
    )
    cfg = BertConfig.from_json_file(_write(tmp_path, "config.json", values))
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.head_size) == (384, 6, 32)


def test_unknown_key_named_with_file(tmp_path):
    path = _write(tmp_path, "bert_config.json", dict(GOOGLE_BASE, hiden_size=3))
    with pytest.raises(ValueError, match=r"bert_config\.json.*'hiden_size'"):
        BertConfig.from_json_file(path)


def test_hf_relative_positions_rejected(tmp_path):
    values = dict(GOOGLE_BASE, model_type="bert", position_embedding_type="relative_key")
    with pytest.raises(ValueError, match="position_embedding_type"):
        BertConfig.from_json_file(_write(tmp_path, "config.json", values))


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("hidden_size", 100, "not divisible"),
        ("num_hidden_layers", 0, "'num_hidden_layers' must be a positive"),
        ("vocab_size", -5, "'vocab_size' must be a positive"),
        ("hidden_act", "gelu_erf", "'hidden_act'"),
        ("hidden_dropout_prob", 1.5, "'hidden_dropout_prob'"),
        ("intermediate_size", 3.5, "'intermediate_size'"),
    ],
)
def test_validation_names_field_and_file(tmp_path, field, value, message):
    path = _write(tmp_path, "bert_config.json", dict(GOOGLE_BASE, **{field: value}))
    with pytest.raises(ValueError, match=message) as err:
        BertConfig.from_json_file(path)
    assert "bert_config.json" in str(err.value)


def test_missing_vocab_size(tmp_path):
    values = {k: v for k, v in GOOGLE_BASE.items() if k != "vocab_size"}
    with pytest.raises(ValueError, match="vocab_size"):
        BertConfig.from_json_file(_write(tmp_path, "bert_config.json", values))


def test_presets():
    small = [k for k in PRESETS if k.startswith("bert_uncased_L-")]
    assert len(small) == 24
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            cfg = PRESETS[f"bert_uncased_L-{layers}_H-{hidden}_A-{hidden // 64}"]
            assert cfg.num_hidden_layers == layers
            assert cfg.hidden_size == hidden
            assert cfg.num_attention_heads == hidden // 64
            assert cfg.intermediate_size == 4 * hidden
    large = PRESETS["bert_large"]
    assert (
        large.num_hidden_layers,
        large.hidden_size,
        large.num_attention_heads,
        large.intermediate_size,
    ) == (24, 1024, 16, 4096)
    base = PRESETS["bert_base"]
    assert (
        base.num_hidden_layers,
        base.hidden_size,
        base.num_attention_heads,
        base.intermediate_size,
    ) == (12, 768, 12, 3072)
    with pytest.raises(ValueError, match="Unknown BERT preset 'bert_huge'"):
        BertConfig.from_preset("bert_huge")
    assert BertConfig.from_preset("bert_base", vocab_size=99).vocab_size == 99


def test_json_round_trip(tmp_path):
    cfg = BertConfig.from_preset("bert_uncased_L-2_H-128_A-2", hidden_act="relu")
    path = str(tmp_path / "bert_config.json")
    cfg.to_json_file(path)
    assert BertConfig.from_json_file(path) == cfg
    hf = cfg.to_hf_dict()
    assert BertConfig.from_dict(hf, "config.json") == cfg
