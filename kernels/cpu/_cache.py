"""Drop Numba's compiled-kernel cache of this folder when any of its sources changed.

Why: Numba keys each cached function on its own source file only, but the kernels here compile
their helpers into themselves (`_blas.gemm` -> `_sgemm`, `_vec`, `_conv_cols`). Editing a
helper in a source checkout would leave every kernel that uses it running the old code from
`__pycache__`, silently. One digest over all the folder's sources decides instead. An install
never changes its files in place, so only source checkouts ever pay the recompilation.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

STAMP = "tinyconv-sources.sha256"


def sources_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def refresh(folder: Path = Path(__file__).resolve().parent) -> bool:
    """Remove folder/__pycache__'s Numba files (*.nbi, *.nbc) if the sources differ from the
    ones they were compiled from; True if it did. A read-only install is left alone."""
    cache = folder / "__pycache__"
    stamp = cache / STAMP
    digest = sources_digest(folder)
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            f.unlink(missing_ok=True)
        tmp = cache / f"{STAMP}.{os.getpid()}"
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:  # read-only site-packages: Numba caches elsewhere, and the files never change
        return False
    return True
