"""File modes, for tests: what bert_tf writes is as readable as `open()` makes it."""

import os
import stat


def wrong_modes(root, umask):
    """Paths under `root` (itself included) whose mode differs from the umask's.

    Returns:
        A list of `(path, octal mode, expected octal mode)`; empty when every
        folder is `0o777 & ~umask` and every file `0o666 & ~umask`.
    """
    root = os.fspath(root)
    paths = [root]
    if os.path.isdir(root):
        for dirpath, dirnames, filenames in os.walk(root):
            paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    wrong = []
    for path in paths:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        want = (0o777 if os.path.isdir(path) else 0o666) & ~umask
        # Executable bits are the writer's choice; read/write must match.
        if mode & 0o666 != want & 0o666 or (os.path.isdir(path) and mode != want):
            wrong.append((path, oct(mode), oct(want)))
    return wrong
