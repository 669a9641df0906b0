// Pooling over the planes of NCHW input: x (planes, H, W) -> y (planes, OH, OW), planes = N*C.
// Output (oh, ow) of a fixed window covers rows oh*sh - ph + [0, kh) and columns
// ow*sw - pw + [0, kw) of the unpadded plane; taps outside it are padding. A dilated max-pool
// window reads rows oh*sh - ph + dh*[0, kh) and columns ow*sw - pw + dw*[0, kw).
#include "common.cuh"

// ---- max -----------------------------------------------------------------------------------

// argmax is the flat index h*W + w of the winner inside its (unpadded) plane.
template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, long long* __restrict__ argmax,
                                   long long planes, long long H, long long W, long long kh, long long kw,
                                   long long sh, long long sw, long long ph, long long pw,
                                   long long dh, long long dw, long long OH, long long OW)
{
    const long long L = OH * OW;
    for (long long idx = thread_index(); idx < planes * L; idx += grid_stride()) {
        const long long plane = idx / L;
        const int l = (int)(idx - plane * L);
        const int oh = l / (int)OW, ow = l - oh * (int)OW;
        const T* xp = x + plane * H * W;
        const long long h0 = oh * sh - ph, w0 = ow * sw - pw;
        T best = negative_infinity<T>();
        long long best_at = -1;  // stays -1 only for a window without a real tap
        for (long long h = h0; h < h0 + dh * (kh - 1) + 1; h += dh) {
            if (h < 0 || h >= H)
                continue;
            for (long long w = w0; w < w0 + dw * (kw - 1) + 1; w += dw) {
                if (w < 0 || w >= W)
                    continue;
                const T v = xp[h * W + w];
                // Taps come in row-major order and only a strictly greater value replaces the
                // best: the first maximum wins. A NaN always replaces it (and nothing replaces a
                // NaN but a NaN): the last NaN wins. The first real tap always gets in, so a
                // window of -inf points at it, never at padding.
                if (best_at < 0 || v > best || v != v) {
                    best = v;
                    best_at = h * W + w;
                }
            }
        }
        if (best_at < 0) {
            // A dilated window may have no real tap: PyTorch reports the first tap past the
            // leading padding, even outside the plane (the backward kernel drops such indices).
            const long long hf = h0 < 0 ? h0 + (-h0 + dh - 1) / dh * dh : h0;
            const long long wf = w0 < 0 ? w0 + (-w0 + dw - 1) / dw * dw : w0;
            best_at = hf * W + wf;
        }
        y[idx] = best;
        argmax[idx] = best_at;
    }
}

enum : unsigned { FULL_WARP = 0xffffffffu };

// gx[plane, argmax[plane, o]] += gy[plane, o] for every output o; gx arrives zeroed.
// The contract hands over no window geometry, so a gather over input pixels is impossible;
// instead one warp owns each plane and walks its outputs 32 at a time, in order. Lanes whose
// outputs share a winner (overlapping windows) are combined inside the warp, in lane order, and
// one of them writes: every gx element is a sum in a fixed order, without atomics, so the
// result is deterministic. blockDim.x must be a multiple of 32.
template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ gy, const long long* __restrict__ argmax,
                                    T* __restrict__ gx, long long planes, long long HW, long long L)
{
    const int lane = threadIdx.x % 32;
    const long long warp = thread_index() / 32, warps = grid_stride() / 32;
    for (long long plane = warp; plane < planes; plane += warps) {  // the same for the whole warp
        const T* g = gy + plane * L;
        const long long* at = argmax + plane * L;
        T* out = gx + plane * HW;
        for (long long o0 = 0; o0 < L; o0 += 32) {
            const long long o = o0 + lane;
            const bool active = o < L;
            const long long target = active ? at[o] : -1 - lane;  // idle lanes: unique, never written
            const T value = active ? g[o] : T(0);
            const unsigned peers = __match_any_sync(FULL_WARP, target);
            T sum = value;
            if (__any_sync(FULL_WARP, peers != (1u << lane))) {  // some lanes share a target
                sum = T(0);
                for (int k = 0; k < 32; ++k) {
                    const T v = __shfl_sync(FULL_WARP, value, k);
                    if (peers & (1u << k))
                        sum += v;
                }
            }
            const bool leader = lane == __ffs(peers) - 1;
            if (active && leader && target >= 0 && target < HW)
                out[target] += sum;
            __syncwarp();  // this chunk's writes are seen by the next chunk's lanes
        }
    }
}

// ---- average (zero padding, divisor kh*kw) ---------------------------------------------------

template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                   long long planes, long long H, long long W, long long kh, long long kw,
                                   long long sh, long long sw, long long ph, long long pw,
                                   long long OH, long long OW)
{
    const long long L = OH * OW;
    for (long long idx = thread_index(); idx < planes * L; idx += grid_stride()) {
        const long long plane = idx / L;
        const int l = (int)(idx - plane * L);
        const int oh = l / (int)OW, ow = l - oh * (int)OW;
        const T* xp = x + plane * H * W;
        T sum = 0;
        for (long long h = oh * sh - ph; h < oh * sh - ph + kh; ++h) {
            if (h < 0 || h >= H)
                continue;
            for (long long w = ow * sw - pw; w < ow * sw - pw + kw; ++w)
                if (w >= 0 && w < W)
                    sum += xp[h * W + w];
        }
        y[idx] = sum / T(kh * kw);
    }
}

// Gather: each input pixel sums the gradients of the windows that hold it. Window oh holds row
// h when oh*sh - ph <= h < oh*sh - ph + kh, i.e. oh in [lo, hi] below (likewise for columns).
template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx,
                                    long long planes, long long H, long long W, long long kh, long long kw,
                                    long long sh, long long sw, long long ph, long long pw,
                                    long long OH, long long OW)
{
    const long long HW = H * W;
    for (long long idx = thread_index(); idx < planes * HW; idx += grid_stride()) {
        const long long plane = idx / HW;
        const int p = (int)(idx - plane * HW);
        const int h = p / (int)W, w = p - h * (int)W;
        const int hp = h + (int)ph, wp = w + (int)pw;  // coordinates in the padded plane
        const int oh_lo = hp < kh ? 0 : (hp - (int)kh) / (int)sh + 1;
        const int ow_lo = wp < kw ? 0 : (wp - (int)kw) / (int)sw + 1;
        const int oh_hi = min(hp / (int)sh, (int)OH - 1);
        const int ow_hi = min(wp / (int)sw, (int)OW - 1);
        const T* g = gy + plane * OH * OW;
        T sum = 0;
        for (int oh = oh_lo; oh <= oh_hi; ++oh)
            for (int ow = ow_lo; ow <= ow_hi; ++ow)
                sum += g[oh * OW + ow];
        gx[idx] = sum / T(kh * kw);
    }
}

// ---- adaptive average ------------------------------------------------------------------------

// PyTorch's windows: output i of n_out averages input [start, end) of n_in.
__device__ __forceinline__ long long window_start(long long i, long long n_in, long long n_out)
{
    return i * n_in / n_out;
}

__device__ __forceinline__ long long window_end(long long i, long long n_in, long long n_out)
{
    return ((i + 1) * n_in + n_out - 1) / n_out;  // ceil((i+1) * n_in / n_out)
}

template <typename T>
__global__ void adaptive_avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                            long long planes, long long H, long long W,
                                            long long OH, long long OW)
{
    const long long L = OH * OW;
    for (long long idx = thread_index(); idx < planes * L; idx += grid_stride()) {
        const long long plane = idx / L;
        const int l = (int)(idx - plane * L);
        const int oh = l / (int)OW, ow = l - oh * (int)OW;
        const long long h0 = window_start(oh, H, OH), h1 = window_end(oh, H, OH);
        const long long w0 = window_start(ow, W, OW), w1 = window_end(ow, W, OW);
        const T* xp = x + plane * H * W;
        T sum = 0;
        for (long long h = h0; h < h1; ++h)
            for (long long w = w0; w < w1; ++w)
                sum += xp[h * W + w];
        y[idx] = sum / T((h1 - h0) * (w1 - w0));
    }
}

// Gather: input row h lies in the windows i = floor(h*OH/H) ... ceil((h+1)*OH/H) - 1 (the window
// bounds are rechecked below, so the range only has to contain them).
template <typename T>
__global__ void adaptive_avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx,
                                             long long planes, long long H, long long W,
                                             long long OH, long long OW)
{
    const long long HW = H * W;
    for (long long idx = thread_index(); idx < planes * HW; idx += grid_stride()) {
        const long long plane = idx / HW;
        const int p = (int)(idx - plane * HW);
        const long long h = p / (int)W, w = p - h * W;
        const long long i_hi = min(((h + 1) * OH + H - 1) / H - 1, OH - 1);
        const long long j_hi = min(((w + 1) * OW + W - 1) / W - 1, OW - 1);
        const T* g = gy + plane * OH * OW;
        T sum = 0;
        for (long long i = h * OH / H; i <= i_hi; ++i) {
            const long long h0 = window_start(i, H, OH), h1 = window_end(i, H, OH);
            if (h < h0 || h >= h1)
                continue;
            for (long long j = w * OW / W; j <= j_hi; ++j) {
                const long long w0 = window_start(j, W, OW), w1 = window_end(j, W, OW);
                if (w >= w0 && w < w1)
                    sum += g[i * OW + j] / T((h1 - h0) * (w1 - w0));
            }
        }
        gx[idx] = sum;
    }
}
