"""Exports are readable by a model server that runs as another user.

Every file and folder bert_tf writes for others (fine-tuned folders,
SavedModel versions, `models.config`, warm-up records, `.tflite` files, the
preprocessing export, pre-training exports) gets the mode that a plain
`open()` / `mkdir()` gives under the umask, though each is written under a
private temporary name and renamed into place. Checked under two umasks, then
for real: the SavedModel through TF Serving's TF1 loader and the TFLite file
in LiteRT, in a process running as the unprivileged user `nobody`.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

import modes_testing
import pytest
import tasks_testing as tt

from bert_tf import checkpoints, files
from bert_tf.export import preprocessing, serving, task_serving, tflite

SEQ_LENGTH = 16


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def export_everything(directory):
    """A fine-tuned folder, its SavedModel version, TFLite file, preprocessing."""
    model_dir = tt.make_classifier(directory, seq_length=SEQ_LENGTH, rows=8)
    base = os.path.join(directory, "savedmodels")
    result = serving.export_for_serving(model_dir, base, name="sst")
    module = task_serving.build_serving_module(model_dir)
    tflite_path = tflite.write_tflite(
        os.path.join(directory, "sst.tflite"), tflite.convert_task(module, "float32")
    )
    pre = os.path.join(directory, "preprocess")
    preprocessing.export_preprocessing(pre, tt.tokenizer(directory), seq_length=8)
    return {
        "model_dir": model_dir,
        "base": base,
        "version": result.path,
        "models_config": result.models_config,
        "tflite": tflite_path,
        "preprocess": pre,
    }


def test_atomic_write_and_temp_dirs_follow_the_umask(tmp_path, umask):
    path = files.atomic_write(str(tmp_path / "a" / "task.json"), "{}\n")
    folder = files.make_temp_dir(str(tmp_path / "a"), prefix=".staging-")
    assert modes_testing.wrong_modes(path, umask) == []
    assert modes_testing.wrong_modes(folder, umask) == []
    # Rewriting keeps the contract and the contents.
    files.atomic_write(path, b"[]\n")
    assert open(path).read() == "[]\n"
    assert modes_testing.wrong_modes(path, umask) == []


def test_checkpoint_exports_have_ordinary_modes(tmp_path, umask):
    # safetensors creates its file 0600 by itself; the writers open it up.
    encoder = tt.tiny_encoder()
    vocab = tt.write_vocab(str(tmp_path))
    checkpoints.save_hf_checkpoint(encoder, str(tmp_path / "hf"), vocab)
    checkpoints.save_google_checkpoint(encoder, str(tmp_path / "google"), vocab)
    for folder in ("hf", "google"):
        assert modes_testing.wrong_modes(tmp_path / folder, umask) == [], folder


def test_every_export_has_ordinary_modes(tmp_path, umask):
    written = export_everything(str(tmp_path))
    for key in ("model_dir", "version", "models_config", "tflite", "preprocess"):
        assert modes_testing.wrong_modes(written[key], umask) == [], key
    warmup = os.path.join(written["version"], "assets.extra", "tf_serving_warmup_requests")
    assert os.path.exists(warmup)
    # Nothing temporary is left beside the results.
    leftovers = [
        n
        for d in (written["base"], os.path.join(written["base"], "sst"), str(tmp_path))
        for n in os.listdir(d)
        if n.startswith(".")
    ]
    assert leftovers == []


# ---------------------------------------------------------------------------
# For real: another user loads the exports.

PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text
    from ai_edge_litert import interpreter as litert

    version, tflite_path = sys.argv[1], sys.argv[2]
    graph = tf.compat.v1.Graph()
    with graph.as_default():
        sess = tf.compat.v1.Session(graph=graph)
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], version)
    signature = meta.signature_def["serving_default"]
    saved = sess.run(signature.outputs["label_names"].name,
                     {signature.inputs["text"].name: ["good great film", "bad awful movie"]})
    runner = litert.InterpreterWithCustomOps(
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_path=tflite_path,
    ).get_signature_runner("serving_default")
    lite = runner(text=np.array(["good great film", "bad awful movie"]))["label_names"]
    print(json.dumps({"saved_model": [x.decode() for x in saved],
                      "tflite": [x.decode() for x in lite]}))
""")


def _user_switch():
    """A command prefix that runs as `nobody`, or None with the reason."""
    if os.geteuid() != 0:
        return None, "not root: cannot run a process as another user"
    for tool in (
        ["runuser", "-u", "nobody", "--"],
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"],
    ):
        if shutil.which(tool[0]):
            ok = subprocess.run(tool + ["true"], capture_output=True, check=False)
            if ok.returncode == 0:
                return tool, None
    return None, "neither runuser nor setpriv can switch to user nobody here"


def _probe_interpreter(switch):
    """A Python of this version that `nobody` can execute, or None with why.

    This interpreter often lives under /root (pyenv), which other users
    cannot enter; the system Python of the same minor version, with this
    environment's site-packages on its path, loads the same wheels.
    """
    candidates = [sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"]
    for exe in candidates:
        if not os.path.exists(exe):
            continue
        ok = subprocess.run(
            switch + [exe, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if ok.returncode == 0 and ok.stdout.strip() == str(tuple(sys.version_info[:2])):
            return exe, None
    return None, (
        f"no Python {sys.version_info[0]}.{sys.version_info[1]} that user nobody can "
        f"execute (tried {candidates})"
    )


def test_another_user_serves_the_exports():
    switch, why = _user_switch()
    if switch is None:
        pytest.skip(why)
    exe, why = _probe_interpreter(switch)
    if exe is None:
        pytest.skip(why)
    site_packages = sysconfig.get_paths()["purelib"]
    readable = subprocess.run(
        switch + ["test", "-r", os.path.join(site_packages, "tensorflow", "__init__.py")],
        check=False,
    )
    if readable.returncode != 0:
        pytest.skip(
            f"this environment's packages ({site_packages}) are not readable by user nobody"
        )
    old = os.umask(0o022)
    # The serving root is shared with the server's user, as a deployment would.
    root = tempfile.mkdtemp(prefix="bert_tf_modes_")
    try:
        os.chmod(root, 0o755)
        written = export_everything(root)
        result = subprocess.run(
            # -S: none of the system's own site-packages, only this environment's.
            switch + [exe, "-S", "-c", PROBE, written["version"], written["tflite"]],
            capture_output=True,
            text=True,
            check=False,
            cwd=root,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": site_packages,
                "HOME": root,
                "TF_CPP_MIN_LOG_LEVEL": "2",
            },
            timeout=300,
        )
    finally:
        os.umask(old)
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        got = json.loads(result.stdout.strip().splitlines()[-1])
        assert got["saved_model"] == got["tflite"]
        assert set(got["saved_model"]) <= {"neg", "pos"}
    finally:
        shutil.rmtree(root, ignore_errors=True)
