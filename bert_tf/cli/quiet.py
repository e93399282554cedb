"""A quiet TensorFlow start for the `bert_tf` command.

On a machine without a GPU, importing TensorFlow prints C++ log lines that
are only noise to the user: "Could not find cuda drivers", "failed call to
cuInit" (logged as an *error*), CPU-feature notes. TF 2.20 logs them through
its own logger, which `TF_CPP_MIN_LOG_LEVEL` silences; TF 2.21 logs some
through Abseil before Abseil is initialized, which writes everything to
stderr whatever the level ("WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR").

So the command starts TensorFlow (import and device discovery, where these
lines come from) with the process's stderr (file descriptor 2) captured,
then writes back every captured line that is not one of TF's C++ log lines:
Python warnings and errors still show. After the start, stderr is the
terminal again, and `TF_CPP_MIN_LOG_LEVEL=3` keeps TF's own logger quiet.
`--tf_logs`, or the user's own `TF_CPP_MIN_LOG_LEVEL`, turns all of it off.
"""

import os
import re
import sys
import tempfile

TF_LOGS_FLAG = "tf_logs"
# C++ log lines: TF's logger ("2026-12-05 00:44:05.697248: I file.cc:31] ..."),
# Abseil's before initialization ("I0000 00:00:1796434438.597753  22899
# file.cc:31] ..."), its notice, and the continuation of the CPU-feature note.
TF_CPP_LOG_LINE = re.compile(
    rb"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
    rb"|[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+\.(?:cc|h|cpp):\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .* rebuild TensorFlow)"
)


def wants_tf_logs(args: list[str]) -> bool:
    """Whether the command line asks for TF's C++ logs (`--tf_logs`)."""
    return any(
        a in (f"--{TF_LOGS_FLAG}", f"--{TF_LOGS_FLAG}=true", f"--{TF_LOGS_FLAG}=1") for a in args
    )


def quiet_tensorflow(args: list[str]) -> bool:
    """Sets TF_CPP_MIN_LOG_LEVEL=3 unless `--tf_logs` or the user's own setting.

    Must run before TensorFlow is imported: the C++ side reads the level
    once, at load. 3 is fatal only: the cuInit "error" of a CPU machine is
    logged at ERROR level; real failures reach the user as Python exceptions.

    Returns:
        Whether the start should be quiet (then call `start_tensorflow`).
    """
    if wants_tf_logs(args) or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return True


def start_tensorflow() -> None:
    """Imports TF and discovers its devices with TF's C++ start-up lines dropped."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf  # noqa: PLC0415  (the point: start TF here)

            tf.config.list_physical_devices()  # Where CUDA is probed.
        finally:
            # Also when the import fails: what it printed is shown, less TF's lines.
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured:
                if not TF_CPP_LOG_LINE.match(line):
                    os.write(2, line)
