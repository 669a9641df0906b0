"""kernels/cpu/_cache.py: Numba's cache files go when any source of the folder changes."""
from tinyconv.kernels.cpu._cache import STAMP, refresh


def _cached(folder):
    cache = folder / "__pycache__"
    cache.mkdir(exist_ok=True)
    for name in ("conv.f-1.py311.nbi", "conv.f-1.py311.1.nbc", "conv.cpython-311.pyc"):
        (cache / name).write_text("x")
    return cache


def test_cache_dropped_when_a_helper_changes_and_kept_otherwise(tmp_path):
    (tmp_path / "conv.py").write_text("def f(): pass\n")
    (tmp_path / "_helper.py").write_text("A = 1\n")
    cache = _cached(tmp_path)
    assert refresh(tmp_path)  # no stamp yet: whatever is there was compiled from unknown sources
    assert sorted(p.name for p in cache.iterdir()) == ["conv.cpython-311.pyc", STAMP]
    _cached(tmp_path)
    assert not refresh(tmp_path)  # nothing changed: the compiled kernels stay
    assert len(list(cache.glob("*.nb?"))) == 2
    (tmp_path / "_helper.py").write_text("A = 2\n")  # only the helper, not conv.py itself
    assert refresh(tmp_path)
    assert not list(cache.glob("*.nb?")) and (cache / "conv.cpython-311.pyc").exists()
    assert not refresh(tmp_path)


def test_read_only_folder_is_left_alone(tmp_path):
    (tmp_path / "conv.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").write_text("not a folder")  # mkdir fails like a read-only install
    assert not refresh(tmp_path)
