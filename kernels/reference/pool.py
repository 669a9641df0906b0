"""Pooling in vectorised NumPy: the executable specification (see kernels/README.md, "pool").

Every fixed-window pool is a strided view of the padded input: `_windows` gives an array of
shape (N, C, OH, OW, kh, kw) without copying, and a reduction over its last two axes pools.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad(x, padding, value):
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp, kernel_size, stride):
    """(N, C, Hp, Wp) -> view (N, C, OH, OW, kh, kw) of every window the stride visits."""
    sh, sw = stride
    return sliding_window_view(xp, kernel_size, axis=(-2, -1))[..., ::sh, ::sw, :, :]


# --- max ----------------------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride, padding):
    n, c, h, w = x.shape
    kh, kw = kernel_size
    win = _windows(_pad(x, padding, -np.inf), kernel_size, stride)
    oh, ow = win.shape[2:4]
    win = win.reshape(n, c, oh, ow, kh * kw)  # taps in row-major window order
    y = win.max(axis=-1)  # NaN propagates, as in PyTorch

    # The winner is the first tap equal to the max. Padded taps are -inf and must never win, even
    # against an input of -inf, so they are masked out. (argmax of booleans: the first True.)
    valid = _windows(_pad(np.ones((1, 1, h, w), bool), padding, False), kernel_size, stride)
    tap = ((win == y[..., None]) & valid.reshape(oh, ow, kh * kw)).argmax(axis=-1)
    # A window holding NaN points at its last NaN, as PyTorch's CPU and CUDA kernels do.
    nan = np.isnan(win)
    last_nan = kh * kw - 1 - nan[..., ::-1].argmax(axis=-1)
    tap = np.where(nan.any(axis=-1), last_nan, tap)

    # window tap -> row and column in the unpadded plane
    rows = np.arange(oh)[:, None] * stride[0] - padding[0] + tap // kw
    cols = np.arange(ow)[None, :] * stride[1] - padding[1] + tap % kw
    return y, (rows * w + cols).astype(np.int64)


def max_pool2d_backward(gy, argmax, x_shape):
    n, c, h, w = x_shape
    # each plane's indices shifted to their place in the flattened (N*C*H*W) input
    plane = (np.arange(n * c, dtype=np.int64) * (h * w)).reshape(n, c, 1, 1)
    gx = np.bincount((argmax + plane).ravel(), weights=gy.ravel(), minlength=n * c * h * w)
    return gx.astype(gy.dtype).reshape(x_shape)


# --- average (count_include_pad=True) -----------------------------------------------------------
def avg_pool2d_forward(x, kernel_size, stride, padding):
    kh, kw = kernel_size
    win = _windows(_pad(x, padding, 0), kernel_size, stride)
    return win.sum(axis=(-2, -1)) / x.dtype.type(kh * kw)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    n, c, h, w = x_shape
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    oh, ow = gy.shape[2:]
    share = gy / gy.dtype.type(kh * kw)
    gxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=gy.dtype)
    # The adjoint of the strided window view: each tap (i, j) sends every output's share back to
    # the input pixel it read. Overlapping windows add up, hence += per tap, not one assignment.
    for i in range(kh):
        for j in range(kw):
            gxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += share
    return gxp[:, :, ph:ph + h, pw:pw + w].copy()


# --- adaptive average ---------------------------------------------------------------------------
def _averaging_matrix(n_in, n_out, dtype):
    """(n_out, n_in): row i averages PyTorch's window [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)  # ceil division
    pos = np.arange(n_in)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d_forward(x, output_size):
    # A rectangle's mean is the mean over rows of the mean over columns, so the pool is two small
    # matrix products: Ah @ x @ Aw^T for every plane.
    ah = _averaging_matrix(x.shape[2], output_size[0], x.dtype)
    aw = _averaging_matrix(x.shape[3], output_size[1], x.dtype)
    return np.ascontiguousarray(np.einsum("ih,nchw,jw->ncij", ah, x, aw, optimize=True))


def adaptive_avg_pool2d_backward(gy, x_shape, output_size):
    ah = _averaging_matrix(x_shape[2], output_size[0], gy.dtype)
    aw = _averaging_matrix(x_shape[3], output_size[1], gy.dtype)
    return np.ascontiguousarray(np.einsum("ih,ncij,jw->nchw", ah, gy, aw, optimize=True))
