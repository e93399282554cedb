"""`python -m bert_tf [command]`: the same as the `bert_tf` command."""

from bert_tf.cli import run

if __name__ == "__main__":
    run()
