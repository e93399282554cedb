"""Writing files for others: atomic, and with the modes the user's umask gives.

Everything bert_tf writes for another program to read (SavedModel versions,
`models.config`, `.tflite` files, `task.json`) is built under a temporary name
and renamed into place, so a reader sees the old file or the new one, never
half of one. Python's `tempfile` creates those temporary files 0600 and
folders 0700 (private on purpose); renamed into place unchanged, they would
lock out a model server running as another user (Docker `--user`, Kubernetes
`runAsNonRoot`). So each one is given, before the rename, the mode that a
plain `open()` or `mkdir()` would have given it: 0644 / 0755 under umask 022,
0640 / 0750 under 027.

Example:

>>> import os, stat, tempfile
>>> folder = tempfile.mkdtemp()
>>> path = atomic_write(os.path.join(folder, "models.config"), "model_config_list {}\\n")
>>> stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~current_umask()
True
"""

import os
import shutil
import tempfile


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    # No /proc (macOS): os.umask only sets, so set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_mode(is_dir: bool) -> int:
    """The mode `mkdir()` (is_dir) or `open(..., "w")` gives under the umask."""
    return (0o777 if is_dir else 0o666) & ~current_umask()


def make_temp_dir(parent: str, prefix: str) -> str:
    """A new hidden folder in `parent` with an ordinary folder's mode.

    Made with `tempfile.mkdtemp` (a unique name, no race), then opened to the
    mode `mkdir()` would give, so it can be renamed into place as it is.
    """
    os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(path, ordinary_mode(is_dir=True))
    return path


def atomic_write(path: str, data: str | bytes) -> str:
    """Writes `data` to `path` through a temporary file in the same folder.

    The rename is atomic (same file system), so readers see the old file or
    the new one, and a failure leaves the old file as it was. The file gets
    the mode of an ordinary `open()` under the umask.

    Args:
        path: the file to (re)write; its folder is created if missing.
        data: text (written as UTF-8) or bytes.

    Returns:
        `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.fchmod(f.fileno(), ordinary_mode(is_dir=False))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def replace_dir(staged: str, target: str) -> None:
    """Renames the finished folder `staged` to `target`, atomically.

    An existing `target` is first moved aside and deleted only once the new
    folder is in place, so any failure leaves the old one as it was.

    Raises:
        FileExistsError: `target` appeared while the rename was attempted
            (another writer took the name).
    """
    parent = os.path.dirname(os.path.abspath(target))
    old: str | None = None
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-", dir=parent)
        os.rmdir(old)
        os.rename(target, old)
    try:
        os.rename(staged, target)
    except OSError as e:
        if old is not None and not os.path.exists(target):
            os.rename(old, target)
            old = None
        if os.path.exists(target):
            raise FileExistsError(f"{target} appeared during the write") from e
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def refuse_existing(path: str, overwrite: bool) -> None:
    """Raises unless `path` is free or `overwrite` says it may be replaced."""
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
