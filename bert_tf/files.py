"""File writing that never leaves half a file behind."""

import os
import tempfile
from typing import Union


def atomic_write(path: str, data: Union[str, bytes]) -> str:
    """Writes `data` to `path` through a temporary file in the same folder.

    The rename is atomic (same file system), so readers see the old file or
    the new one, and a failure leaves the old file as it was.

    Args:
      path: the file to (re)write; its folder is created if missing.
      data: text (written as UTF-8) or bytes.

    Returns:
      `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
