"""Pooling in vectorised NumPy: the executable specification (see kernels/README.md, "pool").

Every fixed-window pool is a strided view of the padded input: `_windows` gives an array of
shape (N, C, OH, OW, kh, kw) without copying, and a reduction over its last two axes pools.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pad(x, padding, value):
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp, kernel_size, stride, dilation=(1, 1)):
    """(N, C, Hp, Wp) -> view (N, C, OH, OW, kh, kw) of every window the stride visits; a dilated
    window spans d*(k-1)+1 pixels of which it reads every d-th."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    return sliding_window_view(xp, span, axis=(-2, -1))[..., ::sh, ::sw, ::dh, ::dw]


# --- max ----------------------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride, padding, dilation=(1, 1)):
    n, c, h, w = x.shape
    kh, kw = kernel_size
    win = _windows(_pad(x, padding, -np.inf), kernel_size, stride, dilation)
    oh, ow = win.shape[2:4]
    win = win.reshape(n, c, oh, ow, kh * kw)  # taps in row-major window order
    y = win.max(axis=-1)  # NaN propagates, as in PyTorch

    # The winner is the first tap equal to the max. Padded taps are -inf and must never win, even
    # against an input of -inf, so they are masked out. (argmax of booleans: the first True.)
    valid = _windows(_pad(np.ones((1, 1, h, w), bool), padding, False), kernel_size, stride, dilation)
    tap = ((win == y[..., None]) & valid.reshape(oh, ow, kh * kw)).argmax(axis=-1)
    # A window holding NaN points at its last NaN, as PyTorch's CPU and CUDA kernels do.
    nan = np.isnan(win)
    last_nan = kh * kw - 1 - nan[..., ::-1].argmax(axis=-1)
    tap = np.where(nan.any(axis=-1), last_nan, tap)

    # window tap -> row and column in the unpadded plane
    row0 = np.arange(oh)[:, None] * stride[0] - padding[0]
    col0 = np.arange(ow)[None, :] * stride[1] - padding[1]
    index = (row0 + tap // kw * dilation[0]) * w + col0 + tap % kw * dilation[1]
    # A dilated window may have no real tap at all (its taps straddle the input): PyTorch then
    # reports the first tap past the leading padding, which may lie outside the plane.
    first_row = np.where(row0 < 0, row0 + (-row0 + dilation[0] - 1) // dilation[0] * dilation[0], row0)
    first_col = np.where(col0 < 0, col0 + (-col0 + dilation[1] - 1) // dilation[1] * dilation[1], col0)
    index = np.where(valid.any(axis=(-2, -1)), index, first_row * w + first_col)
    return y, index.astype(np.int64)


def max_pool2d_backward(gy, argmax, x_shape):
    n, c, h, w = x_shape
    # each plane's indices shifted to their place in the flattened (N*C*H*W) input; an index
    # outside its plane (a window without real taps) receives nothing, as in PyTorch
    inside = (argmax >= 0) & (argmax < h * w)
    plane = (np.arange(n * c, dtype=np.int64) * (h * w)).reshape(n, c, 1, 1)
    gx = np.bincount((np.where(inside, argmax, 0) + plane).ravel(), weights=np.where(inside, gy, 0).ravel(),
                     minlength=n * c * h * w)
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
