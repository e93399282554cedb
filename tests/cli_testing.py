"""The `bert_tf` command run in this process, as a user runs it.

Running `bert_tf.cli.run` in the test's process spares a TensorFlow start-up
per command; flags are reset before each run, so commands can follow one
another.
"""

import types

from absl import flags

from bert_tf import cli


def run_cli(capsys, *args, ok=True):
    """Runs `bert_tf <args>`; returns `returncode`, `stdout`, `stderr`.

    Args:
        capsys: pytest's `capsys` fixture (what the command printed), or
            None where there is none (a module fixture): then the output is
            not returned.
        *args: the command and its flags.
        ok: assert that it succeeded (True), failed (False), or None: no check.
    """
    flags.FLAGS.unparse_flags()
    code = 0
    try:
        cli.run(["bert_tf", *args])
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr() if capsys else types.SimpleNamespace(out="", err="")
    proc = types.SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)
    if ok:
        assert code == 0, proc.stderr[-3000:]
    elif ok is not None:
        assert code != 0, proc.stdout[-2000:]
    return proc
