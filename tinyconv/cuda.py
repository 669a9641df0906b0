"""CUDA devices through CuPy: availability and host <-> device copies."""
from __future__ import annotations


def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def is_available() -> bool:
    """True when CuPy imports and sees at least one usable CUDA device."""
    cupy = _cupy()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, insufficient driver, no device: all mean "not usable"
        return False


def to_device(array):
    """Copy a NumPy array to the current CUDA device."""
    if not is_available():
        raise RuntimeError("a CUDA device was requested but none is usable "
                           "(install tinyconv[cuda] and check `nvidia-smi`)")
    return _cupy().asarray(array)


def device_count() -> int:
    return _cupy().cuda.runtime.getDeviceCount() if is_available() else 0
