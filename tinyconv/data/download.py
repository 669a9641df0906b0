"""Fetch the four MNIST IDX files, trusting a file only once its SHA-256 matches.

Each file streams into a temporary file in the destination directory and is renamed into place
(`os.replace`, atomic on one file system) only after its digest checks out, so an interrupted or
corrupted download never leaves a file that looks complete.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import urllib.request
from pathlib import Path

# The mirror torchvision reads first; yann.lecun.com, the original host, often refuses scripts.
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"

# SHA-256 of the standard files (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes). These are the
# digests several independent public projects check when they download MNIST (a Ruby port of
# torchvision, a Haskell MNIST example, dataset-fetch scripts); they agree with each other.
# Pass `files=` to use another table (a different mirror, a re-packed copy).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# A response larger than this is cut off and discarded (a wrong URL or a hostile server must not
# fill the disk); the standard files are 10 MB at most.
MAX_BYTES = 64 << 20

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def default_root() -> Path:
    """Where datasets live: $TINYCONV_DATA, else ~/.cache/tinyconv."""
    env = os.environ.get("TINYCONV_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tinyconv"


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_table(files) -> dict:
    table = dict(files)
    if not table:
        raise ValueError("download_mnist: files is empty; expected a mapping file name -> SHA-256")
    for name, digest in table.items():
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"download_mnist: file name {name!r} must be a bare file name "
                             "(no directories), so nothing lands outside root")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
            raise ValueError(f"download_mnist: SHA-256 for {name!r} must be 64 hex digits, got {digest!r}")
        table[name] = digest.lower()
    return table


def _fetch(url: str, dest: Path, expected: str, timeout: float, max_bytes: int = MAX_BYTES) -> None:
    """Stream url into a temp file beside dest; rename it to dest only if the digest matches.
    More than max_bytes (announced or received) aborts the download."""
    # a fresh name ("x": never reuse one), created with the umask's permissions, unlike mkstemp's 0600
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
    out = open(tmp, "xb")
    try:
        digest = hashlib.sha256()
        with out, urllib.request.urlopen(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) > max_bytes:
                raise ValueError(f"{dest.name}: {url} announces {int(announced)} bytes, more than "
                                 f"the {max_bytes}-byte limit; nothing was kept")
            received = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                received += len(chunk)
                if received > max_bytes:
                    raise ValueError(f"{dest.name}: {url} sent more than the {max_bytes}-byte "
                                     "limit; the download was discarded")
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected:
            raise ValueError(f"{dest.name}: SHA-256 mismatch for {url}: expected {expected}, "
                             f"got {actual}; the download was discarded")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def download_mnist(root=None, mirror: str = MNIST_MIRROR, files=None, timeout: float = 60.0,
                   max_bytes: int = MAX_BYTES) -> dict:
    """Download the MNIST IDX files into `root` (default: `default_root()/mnist`).

    `files` maps file name -> expected SHA-256 (default: the four standard files, MNIST_SHA256).
    A file already present with the right digest is kept; one with a wrong digest is deleted
    and fetched again. A response over max_bytes is discarded. Every file is tried; files whose
    digest does not match are deleted and reported together in one ValueError at the end, after
    the good ones are in place. Network errors propagate (urllib.error.URLError, an OSError).
    Returns {file name: path}.
    """
    table = _check_table(MNIST_SHA256 if files is None else files)
    root = Path(root).expanduser() if root is not None else default_root() / "mnist"
    root.mkdir(parents=True, exist_ok=True)
    base = mirror if mirror.endswith("/") else mirror + "/"
    paths, mismatches = {}, []
    for name, expected in table.items():
        dest = root / name
        if not (dest.is_file() and sha256_file(dest) == expected):
            if dest.exists():
                dest.unlink()  # never leave a file that fails its check where a loader finds it
            try:
                _fetch(base + name, dest, expected, timeout, max_bytes)
            except ValueError as e:
                mismatches.append(str(e))
                continue
        paths[name] = dest
    if mismatches:
        raise ValueError(f"download_mnist: {len(mismatches)} of {len(table)} files failed "
                         "verification:\n  " + "\n  ".join(mismatches))
    return paths
