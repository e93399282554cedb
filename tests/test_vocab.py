"""Vocabulary learning: BERT's reserved-token layout, real text, the CLI."""

import gzip
import subprocess
import sys

import pytest

from bert_tf.text import BertTokenizer, learn_vocabulary, load_vocabulary
from bert_tf.text import vocab as vocab_lib


def test_reserved_tokens_sit_where_bert_puts_them(stdlib_lines):
    vocab = learn_vocabulary(stdlib_lines[:3000], vocab_size=1500, lower_case=True)
    assert vocab[0] == "[PAD]"
    assert vocab[1:100] == [f"[unused{i}]" for i in range(99)]
    assert vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 1000 < len(vocab) <= 1500
    assert len(set(vocab)) == len(vocab)
    # Uncased: no upper-case pieces; the tokenizer accepts it and covers the
    # text it was learned from with almost no [UNK].
    tokenizer = BertTokenizer(vocab, lower_case=True)
    ids = tokenizer(stdlib_lines[:3000]).flat_values.numpy()
    assert (ids == 100).mean() < 0.001


def test_cased_vocab_keeps_case(cased_vocab_path, stdlib_lines):
    vocab = load_vocabulary(cased_vocab_path)
    assert any(t.isupper() for t in vocab if not t.startswith("["))
    tokenizer = BertTokenizer(vocab, lower_case=False)
    ids = tokenizer(["Return None if the Path exists."]).to_list()[0]
    assert "Return" in [tokenizer.id_to_token(i) for i in ids]


def test_from_gzip_and_glob_files(tmp_path, stdlib_lines):
    (tmp_path / "a.txt").write_text("\n".join(stdlib_lines[:800]))
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write("\n".join(stdlib_lines[800:1600]))
    out = tmp_path / "vocab.txt"
    vocab = vocab_lib.learn_vocabulary_from_files(
        f"{tmp_path}/*.txt,{tmp_path}/*.gz",
        str(out),
        vocab_size=600,
        lower_case=True,
        num_unused_tokens=0,
    )
    assert load_vocabulary(str(out)) == vocab
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        vocab_lib.expand_input_files(str(tmp_path / "missing*.txt"))
    with pytest.raises(ValueError, match="no room"):
        learn_vocabulary(["text"], vocab_size=50, lower_case=True)
    with pytest.raises(ValueError, match="no text"):
        learn_vocabulary([], vocab_size=500, lower_case=True)


def test_cli(tmp_path, stdlib_lines):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(stdlib_lines[:1000]))
    out = tmp_path / "vocab.txt"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_tf",
            "vocab",
            f"--input_file={corpus}",
            f"--output_file={out}",
            "--vocab_size=700",
            "--do_lower_case",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_vocabulary(str(out))[100] == "[UNK]"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_tf",
            "vocab",
            "--input_file=/nonexistent",
            f"--output_file={out}",
            "--do_lower_case",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "error: no input file matches '/nonexistent'" in result.stderr
    assert "Traceback" not in result.stderr
