"""download_mnist against a local HTTP server: verified files land, corrupt ones leave no trace."""
import functools
import hashlib
import http.server
import os
import threading
import urllib.error

import numpy as np
import pytest

import tinyconv.data.mnist as mnist_module
from tinyconv.data import MNIST, MNIST_SHA256, download_mnist, write_idx

NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture
def served(tmp_path):
    """(url, served directory, request log) of a quiet HTTP server on an ephemeral port."""
    root = tmp_path / "served"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def make_files(directory, rng):
    """Small MNIST-shaped IDX files (5 train, 3 test); returns their true SHA-256 table."""
    arrays = {
        NAMES[0]: rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        NAMES[1]: np.array([3, 1, 4, 1, 5], dtype=np.uint8),
        NAMES[2]: rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        NAMES[3]: np.array([9, 2, 6], dtype=np.uint8),
    }
    for name, a in arrays.items():
        write_idx(directory / name, a)
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in NAMES}, arrays


def test_corrupt_file_is_rejected_and_the_good_ones_land(served, tmp_path, rng):
    url, root, _ = served
    table, _ = make_files(root, rng)
    corrupt = NAMES[1]
    blob = bytearray((root / corrupt).read_bytes())
    blob[-5] ^= 0x01  # the mirror now serves a damaged copy
    (root / corrupt).write_bytes(bytes(blob))
    dest = tmp_path / "dest"
    with pytest.raises(ValueError) as info:
        download_mnist(dest, mirror=url, files=table)
    message = str(info.value)
    assert corrupt in message and table[corrupt] in message
    assert hashlib.sha256(bytes(blob)).hexdigest() in message
    # only the verified files, byte for byte, and no temporary or partial file
    assert sorted(os.listdir(dest)) == sorted(n for n in NAMES if n != corrupt)
    for name in NAMES:
        if name != corrupt:
            assert (dest / name).read_bytes() == (root / name).read_bytes()


def test_download_then_load_and_skip_verified_files(served, tmp_path, rng):
    url, root, requests = served
    table, arrays = make_files(root, rng)
    dest = tmp_path / "nested" / "dest"  # created on demand
    paths = download_mnist(dest, mirror=url.rstrip("/"), files=table)
    assert {n: p.name for n, p in paths.items()} == {n: n for n in NAMES}
    assert len(requests) == 4
    train = MNIST(dest, source="mnist")
    np.testing.assert_array_equal(train.data, arrays[NAMES[0]])
    np.testing.assert_array_equal(train.targets, [3, 1, 4, 1, 5])
    x, y = train[2]
    np.testing.assert_allclose(x[0], arrays[NAMES[0]][2] / 255.0, rtol=1e-6)
    assert y == 4

    (dest / NAMES[3]).write_bytes(b"stale")  # a damaged local copy is fetched again
    download_mnist(dest, mirror=url, files=table)
    assert requests[4:] == ["/" + NAMES[3]]
    assert (dest / NAMES[3]).read_bytes() == (root / NAMES[3]).read_bytes()


def test_mnist_download_flag_fetches_missing_files(served, tmp_path, rng, monkeypatch):
    url, root, _ = served
    table, arrays = make_files(root, rng)
    monkeypatch.setattr(mnist_module, "download_mnist", functools.partial(download_mnist, mirror=url, files=table))
    test = MNIST(tmp_path / "fresh", train=False, source="mnist", download=True)
    np.testing.assert_array_equal(test.data, arrays[NAMES[2]])
    np.testing.assert_array_equal(test.targets, [9, 2, 6])


def test_http_error_propagates_without_leftovers(served, tmp_path):
    url, _, _ = served
    dest = tmp_path / "dest"
    with pytest.raises(urllib.error.HTTPError):
        download_mnist(dest, mirror=url, files={"missing.gz": "0" * 64})
    assert os.listdir(dest) == []


@pytest.mark.parametrize("files, problem", [
    ({"a.gz": "abc"}, "64 hex"),
    ({"../escape.gz": "0" * 64}, "bare file name"),
    ({}, "empty"),
])
def test_bad_digest_tables(tmp_path, files, problem):
    with pytest.raises(ValueError, match=problem):
        download_mnist(tmp_path, mirror="http://127.0.0.1:9/", files=files)


def test_standard_table_names_the_four_files():
    assert sorted(MNIST_SHA256) == sorted(NAMES)
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in MNIST_SHA256.values())


def test_oversized_response_is_discarded(served, tmp_path, rng):
    url, root, _ = served
    table, _ = make_files(root, rng)
    dest = tmp_path / "capped"
    with pytest.raises(ValueError, match="200-byte limit"):
        download_mnist(dest, mirror=url, files={NAMES[0]: table[NAMES[0]]}, max_bytes=200)
    assert list(dest.iterdir()) == []


def test_existing_file_with_wrong_digest_is_replaced_or_deleted(served, tmp_path, rng):
    url, root, requests = served
    table, arrays = make_files(root, rng)
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / NAMES[1]).write_bytes(b"not mnist")
    paths = download_mnist(dest, mirror=url, files={NAMES[1]: table[NAMES[1]]})
    assert hashlib.sha256(paths[NAMES[1]].read_bytes()).hexdigest() == table[NAMES[1]]
    (dest / NAMES[1]).write_bytes(b"damaged again")
    (root / NAMES[1]).write_bytes(b"the server is wrong too")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        download_mnist(dest, mirror=url, files={NAMES[1]: table[NAMES[1]]})
    assert list(dest.iterdir()) == []  # the damaged file is gone, nothing half-written remains


def test_mnist_download_flag_verifies_existing_files(served, tmp_path, rng, monkeypatch):
    url, root, _ = served
    table, arrays = make_files(root, rng)
    monkeypatch.setattr(mnist_module, "download_mnist", functools.partial(download_mnist, mirror=url, files=table))
    dest = tmp_path / "mnist"
    MNIST(dest, train=False, source="mnist", download=True)
    (dest / NAMES[3]).write_bytes((dest / NAMES[1]).read_bytes())  # a wrong but well-formed file
    test = MNIST(dest, train=False, source="mnist", download=True)
    np.testing.assert_array_equal(test.targets, arrays[NAMES[3]])
