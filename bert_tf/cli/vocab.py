"""`bert_tf vocab`: learn a WordPiece `vocab.txt` from text files."""

from absl import flags, logging

from bert_tf.text import vocab as vocab_lib

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("input_file", None, "Text files: comma-separated globs; .gz is gzip.")
    flags.DEFINE_string("output_file", None, "Where to write vocab.txt.")
    flags.DEFINE_integer(
        "vocab_size",
        30522,
        "Requested size, reserved tokens included (an upper bound: the learner may stop below it).",
    )
    flags.DEFINE_boolean(
        "do_lower_case",
        None,
        "Learn an uncased (True) or cased (False) vocabulary.",
    )
    flags.DEFINE_integer(
        "num_unused_tokens",
        99,
        "[unusedN] slots after [PAD]; 99 gives BERT's ids "
        "([UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103).",
    )
    flags.DEFINE_integer("lower_thresh", 2, "Least count of a piece the learner considers.")
    flags.mark_flags_as_required(["input_file", "output_file", "do_lower_case"])


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {argv[1:]}")
    vocab = vocab_lib.learn_vocabulary_from_files(
        FLAGS.input_file,
        FLAGS.output_file,
        vocab_size=FLAGS.vocab_size,
        lower_case=FLAGS.do_lower_case,
        num_unused_tokens=FLAGS.num_unused_tokens,
        lower_thresh=FLAGS.lower_thresh,
    )
    logging.info("wrote %d tokens to %s", len(vocab), FLAGS.output_file)
