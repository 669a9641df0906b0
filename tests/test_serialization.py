"""Checkpoints: exact round trips, every kind of damage detected, atomic writes, from_torch."""
import os
import struct
import zipfile

import numpy as np
import pytest

import tinyconv
from tinyconv import serialization
from tinyconv.serialization import from_torch, load, save


@pytest.fixture
def checkpoint(rng):
    return {
        "model": {
            "conv1.weight": rng.standard_normal((6, 1, 5, 5)).astype(np.float32),
            "conv1.bias": tinyconv.tensor(rng.standard_normal(6).astype(np.float32)),
            "fc.weight": rng.standard_normal((3, 4)),  # float64
            "bn.num_batches_tracked": np.array(12, dtype=np.int64),
            "mask": rng.random((2, 2)) > 0.5,
        },
        "optimizer": {
            "state": {0: {"momentum_buffer": rng.standard_normal(4).astype(np.float32), "step": 7}},
            "param_groups": [{"lr": 0.01, "momentum": 0.9, "params": [0, 1], "nesterov": False}],
        },
        "epoch": 3,
        "best": float("inf"),
        "note": None,
        "meta": {"arch": "lenet5", "shape": (1, 28, 28), "seed": np.int64(42), "loss": np.float32(0.25),
                 "classes": np.array(["zero", "one"]), "empty": {}},
        "fortran": np.asfortranarray(rng.standard_normal((3, 5))),
    }


def assert_same(a, b):
    if isinstance(a, tinyconv.Tensor):
        a = a.numpy()
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert type(b) is type(a) and b.dtype == a.dtype and np.shape(b) == np.shape(a)
        np.testing.assert_array_equal(b, a)
    else:
        assert type(b) is type(a) and b == a


def test_round_trip_is_exact(tmp_path, checkpoint):
    path = tmp_path / "ckpt.npz"
    save(checkpoint, path)
    back = load(path)
    assert_same(checkpoint, back)
    assert back["optimizer"]["state"][0]["step"] == 7  # int keys stay ints
    assert isinstance(back["model"]["conv1.bias"], np.ndarray)  # Tensors come back as arrays


def test_file_is_a_plain_npz_with_readable_names(tmp_path, checkpoint):
    path = tmp_path / "ckpt"
    save(checkpoint, path)
    assert os.listdir(tmp_path) == ["ckpt"]  # the name as given, no suffix, no temp file left
    (tmp_path / "reference").touch()
    assert path.stat().st_mode == (tmp_path / "reference").stat().st_mode  # the umask's, not 0600
    with np.load(path, allow_pickle=False) as npz:
        assert "model/conv1.weight" in npz.files and "optimizer/state/0/momentum_buffer" in npz.files
        np.testing.assert_array_equal(npz["model/conv1.weight"], checkpoint["model"]["conv1.weight"])


def test_keys_that_clash_with_np_savez_arguments(tmp_path):
    obj = {"file": np.ones(2), "allow_pickle": np.zeros(1), "args": 1}
    save(obj, tmp_path / "c")
    assert_same(obj, load(tmp_path / "c"))


def test_truncated_file(tmp_path, checkpoint):
    path = tmp_path / "c.npz"
    save(checkpoint, path)
    raw = path.read_bytes()
    for keep in (len(raw) - 1, len(raw) // 2, 10, 0):
        path.write_bytes(raw[:keep])
        with pytest.raises(ValueError) as info:
            load(path)
        assert str(path) in str(info.value)


def test_every_flipped_payload_byte_is_caught(tmp_path, rng):
    path = tmp_path / "c.npz"
    save({"w": rng.standard_normal(64).astype(np.float32)}, path)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("w.npy")
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len  # the member's .npy bytes
    for offset in range(start, start + info.compress_size, 7):
        damaged = bytearray(raw)
        damaged[offset] ^= 0x10
        path.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match=str(path)):
            load(path)


def test_a_flipped_byte_anywhere_never_yields_wrong_data(tmp_path, rng):
    """Bytes of zip bookkeeping that no reader uses (timestamps, the local copies of sizes) may
    flip harmlessly; anything else must raise, and nothing may load with different values."""
    path = tmp_path / "c.npz"
    obj = {"w": rng.standard_normal(16).astype(np.float32), "epoch": 3, "name": "lenet"}
    save(obj, path)
    raw = path.read_bytes()
    caught = 0
    for offset in range(0, len(raw), 3):
        damaged = bytearray(raw)
        damaged[offset] ^= 0x04
        path.write_bytes(bytes(damaged))
        try:
            back = load(path)
        except ValueError:
            caught += 1
            continue
        assert_same(obj, back)
    assert caught > len(raw) // 3 * 0.6


def test_checksum_catches_damage_the_zip_does_not_see(tmp_path, rng):
    """Rewrite a member with a valid zip CRC but different values: only the SHA-256 notices."""
    path = tmp_path / "c.npz"
    save({"w": rng.standard_normal(8)}, path)
    with np.load(path) as npz:
        members = {name: npz[name] for name in npz.files}
    members["w"] = members["w"] + 1.0
    with open(path, "wb") as f:
        serialization._write_npz(f, members)
    with pytest.raises(ValueError, match="'w' fails its SHA-256"):
        load(path)


def test_garbage_missing_and_foreign_files(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match="garbage.npz"):
        load(garbage)
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load(tmp_path / "absent.npz")
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    with pytest.raises(ValueError, match="not a tinyconv checkpoint"):
        load(plain)
    bare = tmp_path / "bare.npy"
    np.save(bare, np.ones(3))
    with pytest.raises(ValueError, match="bare .npy"):
        load(bare)


def test_other_format_version_and_extra_arrays(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    monkeypatch.setattr(serialization, "VERSION", 99)
    save({"w": np.ones(2)}, path)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="version 99 is not supported"):
        load(path)
    save({"w": np.ones(2)}, path)
    with np.load(path) as npz:
        members = {name: npz[name] for name in npz.files}
    members["smuggled"] = np.zeros(1)
    with open(path, "wb") as f:
        serialization._write_npz(f, members)
    with pytest.raises(ValueError, match="smuggled"):
        load(path)


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1, "w": np.ones(3)}, path)
    before = path.read_bytes()
    calls, real_write = [], np.lib.format.write_array

    def write_array_then_fail(out, array, **kwargs):
        calls.append(array.shape)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(out, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_array_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save({"epoch": 2, "w": np.zeros(3), "v": np.zeros(4)}, path)
    assert len(calls) == 2  # it did fail midway, after writing one array
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    monkeypatch.undo()
    assert load(path)["epoch"] == 1


def test_unsupported_objects_are_refused_before_writing(tmp_path):
    path = tmp_path / "c.npz"
    for obj, error, match in [
        ({"a/b": np.ones(1)}, ValueError, "separator"),
        ({1.5: np.ones(1)}, TypeError, "keys must be str or int"),
        ({"f": lambda: 0}, TypeError, "cannot store function at f"),
        ({"o": np.array([{}, 1], dtype=object)}, TypeError, "pickle"),
        ({0: np.ones(1), "0": np.ones(1)}, ValueError, "already used"),
        (np.ones(3), ValueError, "empty"),
    ]:
        with pytest.raises(error, match=match):
            save(obj, path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        save({"w": np.ones(1)}, tmp_path / "no_such_dir" / "c.npz")


def test_from_torch_keeps_every_entry():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(2 * 4 * 4, 3))
    net(torch.randn(2, 1, 6, 6))  # a training step: BatchNorm counts it
    sd = net.state_dict()
    arrays = from_torch(sd)
    assert list(arrays) == list(sd)  # nothing skipped, order kept
    for name, t in sd.items():
        a = arrays[name]
        assert isinstance(a, np.ndarray) and a.shape == tuple(t.shape)
        np.testing.assert_array_equal(a, t.numpy())
    tracked = arrays["1.num_batches_tracked"]
    assert tracked.dtype == np.int64 and tracked.shape == () and tracked == 1
    np.testing.assert_array_equal(arrays["1.running_var"], sd["1.running_var"].numpy())
    assert arrays["0.weight"].dtype == np.float32
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert not np.array_equal(arrays["0.weight"], net[0].weight.detach().numpy())  # a copy, not a view


def test_from_torch_optimizer_state_round_trips(tmp_path):
    torch = pytest.importorskip("torch")
    # the layout of torch.optim.SGD(momentum=0.9).state_dict() after one step (built by hand:
    # constructing a torch optimizer costs ~2 s of imports)
    torch_state = {"state": {0: {"momentum_buffer": torch.ones(3)}},
                   "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0, "params": [0]}]}
    state = from_torch(torch_state)
    np.testing.assert_allclose(state["state"][0]["momentum_buffer"], np.ones(3, np.float32))
    assert state["param_groups"][0]["lr"] == 0.1 and state["param_groups"][0]["params"] == [0]
    save(state, tmp_path / "opt.npz")
    back = load(tmp_path / "opt.npz")
    np.testing.assert_array_equal(back["state"][0]["momentum_buffer"], state["state"][0]["momentum_buffer"])
    assert back["param_groups"][0]["momentum"] == 0.9


def test_from_torch_errors():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="expects a dict"):
        from_torch([torch.ones(1)])
    with pytest.raises(TypeError, match=r"w \(torch.bfloat16\).*\.float\(\)"):
        from_torch({"w": torch.ones(2, dtype=torch.bfloat16)})
    with pytest.raises(TypeError, match="s is a set"):
        from_torch({"s": {1, 2}})


def _bomb(path, member_bytes, compress=True, claimed_shape=None):
    """A checkpoint whose one array member is either deflated (member_bytes of zeros, a few KB on
    disk) or stored with a header claiming `claimed_shape` while holding 8 bytes."""
    import io
    import json
    import zipfile
    shape = claimed_shape or (member_bytes // 4,)
    manifest = {"format": "tinyconv-checkpoint", "version": 1,
                "tree": {"type": "dict", "items": [["w", {"type": "array", "name": "w",
                         "shape": list(shape), "dtype": "<f4", "sha256": "0" * 64}]]}}
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False, "shape": shape})
    text = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    # the big member is streamed in chunks, so the test itself stays small
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__tinyconv__.npy", "w") as out:
            np.lib.format.write_array(out, text)
        info = zipfile.ZipInfo("w.npy")
        info.compress_type = method
        with z.open(info, "w", force_zip64=True) as out:
            out.write(head.getvalue())
            if compress:
                chunk = bytes(1 << 20)
                for _ in range(member_bytes >> 20):
                    out.write(chunk)
            else:
                out.write(bytes(8))


def test_decompression_bomb_is_refused_before_inflating(tmp_path):
    import tracemalloc
    path = tmp_path / "bomb.npz"
    _bomb(path, 400 << 20)
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="is compressed"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20


def test_header_claiming_more_than_the_member_holds_is_refused(tmp_path):
    import tracemalloc
    path = tmp_path / "liar.npz"
    _bomb(path, 0, compress=False, claimed_shape=(100_000_000,))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="does not match its"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20
