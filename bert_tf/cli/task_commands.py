"""What `finetune`, `evaluate` and `predict` do for each task, behind one interface.

Each task (classify, ner, squad) reads its own file format and calls its own
library functions (`bert_tf.tasks.classification`, `.ner`, `.squad`); a
`TaskCommands` object maps the commands' flags onto them, so the commands
look the task up in `TASK_COMMANDS` instead of branching on its name.
"""

import abc
from typing import Any

from absl import flags

from bert_tf.tasks import classification, common, ner, squad

FLAGS = flags.FLAGS


def text_columns(default=("text",)) -> list[str]:
    """`--text_columns` as a list, else `default`."""
    if FLAGS.text_columns:
        return [c.strip() for c in FLAGS.text_columns.split(",") if c.strip()]
    return list(default)


def decode_overrides() -> dict[str, Any]:
    """The SQuAD decoding flags the user set (None: the model's setting)."""
    return {
        k: getattr(FLAGS, k)
        for k in ("n_best_size", "max_answer_length", "null_score_diff_threshold")
    }


class TaskCommands(abc.ABC):
    """One task's reading, fine-tuning, evaluation and prediction, from flags."""

    @abc.abstractmethod
    def read_train(self) -> tuple[Any, Any]:
        """(`--train_file`, `--eval_file` or None) in the library's data types."""

    @abc.abstractmethod
    def finetune(self, train, dev, encoder, tokenizer, vocab_file, output_dir, settings) -> dict:
        """Fine-tunes and writes the model folder; the library's result dict."""

    @abc.abstractmethod
    def predict_dev(self, model_dir: str, dev, output_file: str) -> list:
        """Predictions on the `--eval_file` data read by `read_train`."""

    @abc.abstractmethod
    def evaluate(self, model_dir: str, info: dict, path: str) -> dict:
        """Metrics of a model folder on labelled data at `path`."""

    @abc.abstractmethod
    def predict(self, model_dir: str, info: dict, path: str, output_file: str) -> list:
        """Predictions of a model folder on (possibly unlabelled) data at `path`."""


class ClassifyCommands(TaskCommands):
    """`--task=classify`: CSV/TSV/JSON lines, one or two text columns."""

    def _read(self, path, columns, regression, require_labels=True):
        return classification.read_classification_file(
            path,
            columns,
            FLAGS.label_column,
            regression=regression,
            file_format=FLAGS.file_format,
            require_labels=require_labels,
        )

    def read_train(self):
        columns = text_columns()
        train = self._read(FLAGS.train_file, columns, FLAGS.regression)
        dev = self._read(FLAGS.eval_file, columns, FLAGS.regression) if FLAGS.eval_file else None
        return train, dev

    def finetune(self, train, dev, encoder, tokenizer, vocab_file, output_dir, settings):
        return classification.finetune_classifier(
            train,
            encoder,
            tokenizer,
            vocab_file,
            output_dir,
            eval_data=dev,
            regression=FLAGS.regression,
            text_columns=text_columns(),
            settings=settings,
        )

    def predict_dev(self, model_dir, dev, output_file):
        return classification.predict_classifier(model_dir, dev, output_file, FLAGS.eval_batch_size)

    def evaluate(self, model_dir, info, path):
        data = self._read(path, text_columns(info["text_columns"]), info["regression"])
        return classification.evaluate_classifier(model_dir, data, FLAGS.eval_batch_size)

    def predict(self, model_dir, info, path, output_file):
        data = self._read(
            path, text_columns(info["text_columns"]), info["regression"], require_labels=False
        )
        return classification.predict_classifier(
            model_dir, data, output_file, FLAGS.eval_batch_size
        )


class NerCommands(TaskCommands):
    """`--task=ner`: CoNLL files."""

    def read_train(self):
        dev = ner.read_conll(FLAGS.eval_file) if FLAGS.eval_file else None
        return ner.read_conll(FLAGS.train_file), dev

    def finetune(self, train, dev, encoder, tokenizer, vocab_file, output_dir, settings):
        return ner.finetune_ner(
            train, encoder, tokenizer, vocab_file, output_dir, eval_data=dev, settings=settings
        )

    def predict_dev(self, model_dir, dev, output_file):
        return ner.predict_ner(model_dir, dev, output_file, FLAGS.eval_batch_size)

    def evaluate(self, model_dir, info, path):
        return ner.evaluate_ner(model_dir, ner.read_conll(path), FLAGS.eval_batch_size)

    def predict(self, model_dir, info, path, output_file):
        data = ner.read_conll(path, require_tags=False)
        return ner.predict_ner(model_dir, data, output_file, FLAGS.eval_batch_size)


class SquadCommands(TaskCommands):
    """`--task=squad`: SQuAD v1.1 / v2.0 JSON."""

    def read_train(self):
        v2 = FLAGS.version_2_with_negative
        train, _ = squad.read_squad(FLAGS.train_file, v2, is_training=True)
        # The evaluation keeps the parsed JSON too, for the official scorer.
        dev = squad.read_squad(FLAGS.eval_file, v2) if FLAGS.eval_file else None
        return train, dev

    def finetune(self, train, dev, encoder, tokenizer, vocab_file, output_dir, settings):
        options = squad.DecodeOptions(
            version_2_with_negative=FLAGS.version_2_with_negative,
            **{k: v for k, v in decode_overrides().items() if v is not None},
        )
        eval_examples, eval_data = dev if dev is not None else (None, None)
        return squad.finetune_squad(
            train,
            encoder,
            tokenizer,
            vocab_file,
            output_dir,
            eval_examples=eval_examples,
            eval_data=eval_data,
            doc_stride=FLAGS.doc_stride,
            max_query_length=FLAGS.max_query_length,
            options=options,
            settings=settings,
        )

    def predict_dev(self, model_dir, dev, output_file):
        return squad.predict_squad(model_dir, FLAGS.eval_file, output_file, FLAGS.eval_batch_size)

    def evaluate(self, model_dir, info, path):
        return squad.evaluate_squad(model_dir, path, FLAGS.eval_batch_size, **decode_overrides())

    def predict(self, model_dir, info, path, output_file):
        return squad.predict_squad(
            model_dir, path, output_file, FLAGS.eval_batch_size, **decode_overrides()
        )


TASK_COMMANDS: dict[str, TaskCommands] = {
    "classify": ClassifyCommands(),
    "ner": NerCommands(),
    "squad": SquadCommands(),
}


def for_model_dir(model_dir: str) -> tuple[TaskCommands, dict]:
    """The commands of a fine-tuned folder's task, and its `task.json`."""
    info = common.load_task_info(model_dir, TASK_COMMANDS, "evaluate/predict commands")
    return TASK_COMMANDS[info["task"]], info
