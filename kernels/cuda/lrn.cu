// Local response normalisation across channels, the AlexNet paper's form (alpha not divided by
// size). With before = size/2 and after = (size-1)/2, channel c reads [c - before, c + after]:
//   scale[c] = k + alpha * sum of x[c']^2 over that window (inside [0, C)),  y = x * scale^-beta.
// Channel j is read by the channels c in [j - after, j + before], so backward slides the mirror
// window:
//   gx[j] = gy[j] * scale[j]^-beta - 2 alpha beta x[j] * sum_c gy[c] y[c] / scale[c].
// One thread per (n, pixel) walks the channels; neighbouring threads hold neighbouring pixels, so
// every channel step is a coalesced load. Each channel sums its window afresh, in double: `size`
// loads (5 in AlexNet), mostly from cache. A running sum (one value in, one out per channel)
// would be cheaper, but it drifts (the rounding error of a large square stays after the square
// has left the window), and once a NaN or an infinity has entered it every later channel is NaN.
// A fresh sum gives what the reference gives: non-finite values reach exactly the channels whose
// window holds them.
#include "common.cuh"

template <typename T>
__global__ void lrn_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ scale,
                            long long N, long long C, long long HW, long long size,
                            T alpha, T beta, T k)
{
    const long long before = size / 2, after = (size - 1) / 2;
    for (long long idx = thread_index(); idx < N * HW; idx += grid_stride()) {
        const long long n = idx / HW, base = n * C * HW + (idx - n * HW);
        const T* xs = x + base;  // channel c of this pixel is xs[c * HW]
        for (long long c = 0; c < C; ++c) {
            const long long lo = c - before > 0 ? c - before : 0;
            const long long hi = c + after < C - 1 ? c + after : C - 1;
            double window = 0;
            for (long long j = lo; j <= hi; ++j) {
                const T v = xs[j * HW];
                window += (double)(v * v);  // squared in T, as the reference squares
            }
            const T s = k + alpha * (T)window;
            scale[base + c * HW] = s;
            y[base + c * HW] = xs[c * HW] * pow(s, -beta);
        }
    }
}

// What channel c sends back through the window sum: gy[c] * y[c] / scale[c].
template <typename T>
__device__ __forceinline__ T lrn_spread_term(const T* gy, const T* y, const T* scale, long long at)
{
    return gy[at] * y[at] / scale[at];
}

// two_alpha_beta is 2*alpha*beta, rounded once on the host as the reference rounds it.
template <typename T>
__global__ void lrn_backward(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ y,
                             const T* __restrict__ scale, T* __restrict__ gx,
                             long long N, long long C, long long HW, long long size,
                             T beta, T two_alpha_beta)
{
    const long long before = size / 2, after = (size - 1) / 2;
    for (long long idx = thread_index(); idx < N * HW; idx += grid_stride()) {
        const long long n = idx / HW, base = n * C * HW + (idx - n * HW);
        for (long long j = 0; j < C; ++j) {
            const long long lo = j - after > 0 ? j - after : 0;
            const long long hi = j + before < C - 1 ? j + before : C - 1;
            double window = 0;  // over the mirror window [j - after, j + before]
            for (long long c = lo; c <= hi; ++c)
                window += (double)lrn_spread_term(gy, y, scale, base + c * HW);
            const long long at = base + j * HW;
            gx[at] = gy[at] * pow(scale[at], -beta) - two_alpha_beta * x[at] * (T)window;
        }
    }
}
