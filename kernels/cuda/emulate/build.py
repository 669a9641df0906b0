"""Compile CUDA sources for the host: g++ with cuda_emulate.h in front, one shared library per
(source, instantiations, sanitizer setting), cached on disk under a key hashing everything that
goes into it (sources, shim, flags, compiler version), so a later process loads it in
milliseconds.

The cache lives in $TINYCONV_EMULATE_CACHE, else in _build/ beside this file when that is
writable (ignored by git), else in ~/.cache/tinyconv/cuda-emulate.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM = ("cuda_emulate.h", "scheduler.h", "table.h")
COMMON = ("-std=c++17", "-fPIC", "-shared", "-ffp-contract=off", "-fvisibility=hidden",
          "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-unused-function")
PLAIN = ("-O2",)
# -fno-sanitize-recover: the first finding aborts the process (the test that ran it fails)
SANITIZE = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined,float-cast-overflow",
            "-fno-sanitize-recover=all")


class BuildError(RuntimeError):
    """g++ rejected a source; the message holds its log."""


def compiler() -> str | None:
    """The C++ compiler used: $CXX, else g++, else clang++ (None when there is none)."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def available() -> bool:
    return compiler() is not None


@functools.lru_cache(maxsize=None)
def _compiler_version(cxx: str) -> str:
    run = subprocess.run([cxx, "--version"], capture_output=True, text=True)
    return run.stdout


def cache_dir() -> Path:
    env = os.environ.get("TINYCONV_EMULATE_CACHE")
    if env:
        path = Path(env)
    elif os.access(HERE, os.W_OK):
        path = HERE / "_build"
    else:
        path = Path.home() / ".cache" / "tinyconv" / "cuda-emulate"
    path.mkdir(parents=True, exist_ok=True)
    return path


def wrapper(source_file: Path, expressions) -> str:
    """The translation unit g++ compiles: shim, the unmodified source, the table of instantiations."""
    entries = ",\n".join(f'    tce::kernel("{e}", &{e})' for e in expressions)
    return (f'#include "cuda_emulate.h"\n#include "{source_file}"\n\n'
            f"tce::Kernel tce_table[] = {{\n{entries}\n}};\n"
            f"const int tce_table_size = {len(expressions)};\n")


def library(name: str, source: str, expressions, sanitize: bool = False, source_path: Path | None = None) -> Path:
    """Path of the compiled library for `source` with every name expression instantiated.

    `source_path`: the file `source` was read from, so that compiler messages and sanitizer
    reports name the real file and line (its local #includes are read beside it). Without it the
    text goes to a file in the cache.
    """
    cxx = compiler()
    if cxx is None:
        raise BuildError("no C++ compiler found (set $CXX, or install g++)")
    expressions = list(expressions)
    if not expressions:
        raise ValueError("a kernel library needs at least one name expression")
    flags = COMMON + (SANITIZE if sanitize else PLAIN)
    digest = hashlib.sha256()
    for part in (source, "\0".join(expressions), " ".join(flags), _compiler_version(cxx),
                 str(source_path), *((HERE / h).read_text() for h in SHIM)):
        digest.update(part.encode())
        digest.update(b"\1")
    key = digest.hexdigest()[:20]
    out_dir = cache_dir()
    target = out_dir / f"{name}{'-san' if sanitize else ''}-{key}.so"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        tmp = Path(tmp)
        if source_path is None:
            source_path = tmp / f"{name}.cu"
            source_path.write_text(source)
        unit = tmp / "unit.cpp"
        unit.write_text(wrapper(source_path, expressions))
        built = tmp / "lib.so"
        run = subprocess.run([cxx, *flags, f"-I{HERE}", "-o", str(built), str(unit)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise BuildError(f"{Path(cxx).name} failed on {name} (exit {run.returncode}):\n{run.stderr}")
        os.replace(built, target)  # atomic: a concurrent build of the same key is harmless
    return target
