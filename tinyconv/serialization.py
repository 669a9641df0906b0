"""Checkpoints: save and load nested dicts of arrays, numbers and strings, safely.

The file is an ordinary `.npz` (zip of `.npy` arrays, readable by `np.load`): each array is a
member named by its key path joined with "/" (e.g. "model/conv1.weight"), and one extra member,
`__tinyconv__`, holds a JSON manifest: the format version, the structure of the object (dict
keys, lists, Python scalars and strings stored inline) and, per array, its shape, dtype and
SHA-256. `load` checks all of it, so a truncated or corrupted file raises instead of returning
partial or wrong data. Nothing is pickled: `np.load(allow_pickle=False)` reads the file.

`save` writes a temporary file beside `path` and renames it over `path` only once it is
complete (os.replace is atomic), so a crash never leaves a half-written checkpoint and never
damages the previous one.

`load` returns NumPy arrays (Tensors are saved as their data); `Module.load_state_dict` and the
optimizers accept them, and `tinyconv.tensor(a)` makes a Tensor when needed.
"""
from __future__ import annotations

import hashlib
import json
import numbers
import os
import secrets
import zipfile

import numpy as np

from .autograd import Tensor

FORMAT = "tinyconv-checkpoint"
VERSION = 1
MANIFEST = "__tinyconv__"
_SCALARS = (bool, int, float, str, type(None))


def _digest(a: np.ndarray) -> str:
    flat = np.ascontiguousarray(a).reshape(-1)
    return hashlib.sha256(flat.view(np.uint8)).hexdigest()


def _encode(obj, path: tuple, arrays: dict):
    """The manifest node of `obj`; arrays go into `arrays` under their flattened names."""
    where = "/".join(map(str, path)) or "<root>"
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: keys must be str or int, got {type(key).__name__} {key!r} at {where}")
            if isinstance(key, str) and "/" in key:
                raise ValueError(f"save: key {key!r} at {where} contains '/', the separator of "
                                 "flattened names")
            items.append([key, _encode(value, path + (key,), arrays)])
        return {"type": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        return {"type": type(obj).__name__,
                "items": [_encode(v, path + (i,), arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, Tensor):
        obj = obj.numpy()
    elif type(obj).__module__.startswith("cupy"):
        obj = obj.get()
    # NumPy scalars before Python ones: np.float64 is a float, but should come back as np.float64
    if isinstance(obj, (np.ndarray, np.generic)):
        array = np.asarray(obj)
        if array.dtype.hasobject or array.dtype.names is not None:
            raise TypeError(f"save: {where} has dtype {array.dtype}; only numeric, bool and "
                            "string arrays can be saved without pickle")
        name = "/".join(map(str, path))
        if not path or name == MANIFEST or name in arrays:
            raise ValueError(f"save: the array at {where} has a flattened name {name!r} that is "
                             "empty, reserved or already used (an int and a str key that print alike?)")
        arrays[name] = array
        return {"type": "scalar" if isinstance(obj, np.generic) else "array", "name": name,
                "shape": list(array.shape), "dtype": array.dtype.str, "sha256": _digest(array)}
    if isinstance(obj, _SCALARS):
        return {"type": "value", "value": obj}
    raise TypeError(f"save: cannot store {type(obj).__name__} at {where}; expected dicts, lists, "
                    "arrays, Tensors, numbers, strings or None")


def _write_npz(f, members: dict) -> None:
    """What np.savez does, without its keyword arguments clashing with keys like "file"."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, array in members.items():
            with z.open(name + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)


def save(obj, path) -> None:
    """Write `obj` (a state_dict, or nested dicts/lists of arrays, Tensors, numbers, strings)
    to `path` as a checked `.npz` file. The name is used as given (no suffix is added)."""
    path = os.fspath(path)
    arrays = {}
    manifest = {"format": FORMAT, "version": VERSION, "tree": _encode(obj, (), arrays)}
    try:
        text = json.dumps(manifest, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save: the object cannot be described in the manifest ({e})") from None
    members = dict(arrays)
    members[MANIFEST] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: directory {directory} does not exist (saving {path})")
    # a fresh name beside the target ("x": never reuse one), created with the umask's permissions
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    f = open(tmp, "xb")
    try:
        with f:
            _write_npz(f, members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _decode(node, npz, path: str, where: str, seen: set):
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "dict":
        return {key: _decode(child, npz, path, f"{where}/{key}", seen) for key, child in node["items"]}
    if kind in ("list", "tuple"):
        items = [_decode(child, npz, path, f"{where}/{i}", seen) for i, child in enumerate(node["items"])]
        return items if kind == "list" else tuple(items)
    if kind == "value":
        return node["value"]
    if kind in ("array", "scalar"):
        name = node["name"]
        seen.add(name)
        if name not in npz.files:
            raise ValueError(f"{path}: array {name!r} listed in the manifest is missing")
        array = npz[name]
        if list(array.shape) != node["shape"] or array.dtype.str != node["dtype"]:
            raise ValueError(f"{path}: array {name!r} is {array.dtype.str} {array.shape}, the "
                             f"manifest says {node['dtype']} {tuple(node['shape'])}")
        if _digest(array) != node["sha256"]:
            raise ValueError(f"{path}: array {name!r} fails its SHA-256 check (corrupted file)")
        return array[()] if kind == "scalar" else array
    raise ValueError(f"{path}: malformed manifest entry at {where or '<root>'}")


_MANIFEST_LIMIT = 64 << 20  # bytes; a manifest is a few KB per thousand arrays


def _stored_members(path, zf):
    """{name: ZipInfo}, after checking what the zip directory claims against the file itself:
    `save` stores members uncompressed, so a member can never be larger than the file, and a
    compressed one (a decompression bomb, or not our file) is refused before it is inflated."""
    size = os.path.getsize(path)
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate member names in the zip directory")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{path}: member {info.filename!r} is compressed (method "
                             f"{info.compress_type}); checkpoints written by save() never are")
        if info.file_size != info.compress_size or info.file_size > size:
            raise ValueError(f"{path}: member {info.filename!r} claims {info.file_size} bytes in a "
                             f"{size}-byte file")
    return {i.filename: i for i in infos}


def _check_npy_header(path, zf, info, node):
    """The member's .npy header must agree with the manifest and with the member's size, so
    that reading it allocates exactly what the file holds."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read(f, max_header_size=10000)
        header_len = f.tell()
    name = node["name"]
    if list(shape) != node["shape"] or dtype.str != node["dtype"]:
        raise ValueError(f"{path}: array {name!r} is {dtype.str} {shape} in its header, the "
                         f"manifest says {node['dtype']} {tuple(node['shape'])}")
    if dtype.hasobject or header_len + int(np.prod(shape, dtype=object)) * dtype.itemsize != info.file_size:
        raise ValueError(f"{path}: array {name!r} header ({dtype.str} {shape}) does not match "
                         f"its {info.file_size}-byte member")


def _array_nodes(node):
    kind = node.get("type") if isinstance(node, dict) else None
    if kind in ("dict", "list", "tuple"):
        children = node.get("items")
        if not isinstance(children, list):
            raise ValueError("malformed manifest entry")
        for child in children:
            yield from _array_nodes(child[1] if kind == "dict" else child)
    elif kind in ("array", "scalar"):
        if not (isinstance(node.get("name"), str) and isinstance(node.get("shape"), list)
                and isinstance(node.get("dtype"), str)):
            raise ValueError("malformed manifest entry")
        yield node


def _preflight(path):
    """Everything checkable from the zip directory, the manifest and the .npy headers, before
    any array is read."""
    with zipfile.ZipFile(path) as zf:
        members = _stored_members(path, zf)
        info = members.get(MANIFEST + ".npy")
        if info is None:
            raise ValueError(f"{path}: no {MANIFEST} manifest; not a tinyconv checkpoint")
        if info.file_size > _MANIFEST_LIMIT:
            raise ValueError(f"{path}: manifest of {info.file_size} bytes is implausibly large")
        manifest = json.loads(np.lib.format.read_array(zf.open(info), allow_pickle=False)
                              .tobytes().decode("utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"{path}: manifest is not a {FORMAT} manifest")
        for node in _array_nodes(manifest.get("tree")):
            member = members.get(node["name"] + ".npy")
            if member is None:
                raise ValueError(f"{path}: array {node['name']!r} listed in the manifest is missing")
            _check_npy_header(path, zf, member, node)


def load(path):
    """Read a checkpoint written by `save`; arrays come back as NumPy arrays.

    Raises FileNotFoundError for a missing file and ValueError, naming the path and the problem,
    for anything else wrong: not an npz, truncated, corrupted, or another format version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        if zipfile.is_zipfile(path):
            _preflight(path)
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: a bare .npy array, not a tinyconv checkpoint (.npz)")
        with npz:
            if MANIFEST not in npz.files:
                raise ValueError(f"{path}: no {MANIFEST} manifest; not a tinyconv checkpoint")
            manifest = json.loads(npz[MANIFEST].tobytes().decode("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValueError(f"{path}: manifest is not a {FORMAT} manifest")
            if manifest.get("version") != VERSION:
                raise ValueError(f"{path}: checkpoint format version {manifest.get('version')!r} "
                                 f"is not supported (this tinyconv reads version {VERSION})")
            seen = set()
            tree = _decode(manifest.get("tree"), npz, path, "", seen)
            extra = sorted(set(npz.files) - seen - {MANIFEST})
            if extra:
                raise ValueError(f"{path}: arrays {extra} are not in the manifest")
            return tree
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: unreadable checkpoint ({e})") from None
    except Exception as e:
        # A damaged zip or .npy header surfaces as almost anything (BadZipFile, EOFError, KeyError,
        # NotImplementedError for a mangled compression field, MemoryError for an absurd shape):
        # all of it means the same thing here, and none of it may escape as partial data.
        raise ValueError(f"{path}: truncated or corrupted checkpoint ({type(e).__name__}: {e})") from None


def from_torch(state_dict) -> dict:
    """A PyTorch state_dict (or optimizer state) with every tensor turned into a NumPy array.

    torch is never imported: anything with `.detach().cpu().numpy()` counts as a tensor. Every
    entry is kept, including integer buffers such as BatchNorm's num_batches_tracked (a 0-d
    int64 array). Nested dicts and lists are converted recursively; numbers and strings pass
    through. The arrays are copies, independent of the torch tensors.
    """
    if not isinstance(state_dict, dict):
        raise TypeError(f"from_torch: expects a dict (a state_dict), got {type(state_dict).__name__}")
    return _from_torch(state_dict, "")


def _from_torch(value, where: str):
    if isinstance(value, dict):
        return {k: _from_torch(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_torch(v, f"{where}[{i}]") for i, v in enumerate(value))
    if all(hasattr(value, a) for a in ("detach", "cpu", "numpy")):
        try:
            return np.array(value.detach().cpu().numpy(), copy=True)
        except TypeError as e:  # e.g. bfloat16, which NumPy has no dtype for
            raise TypeError(f"from_torch: {where} ({getattr(value, 'dtype', '?')}) has no NumPy "
                            f"equivalent ({e}); convert it first, e.g. with .float()") from None
    if isinstance(value, (np.ndarray, np.generic, numbers.Number, str, type(None))):
        return value
    raise TypeError(f"from_torch: {where} is a {type(value).__name__}, neither a tensor, a "
                    "container, a number nor a string")
