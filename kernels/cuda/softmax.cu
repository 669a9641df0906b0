// Row-wise softmax, log-softmax and fused softmax-cross-entropy over x (N, C).
// One block of REDUCE_THREADS threads per row (blockIdx.x walks the rows): the threads stride
// along the row, then a shared-memory tree combines their partial results. Every exp sees
// x - max(x) <= 0, so rows of any magnitude stay finite: log sum exp(x) = m + log sum exp(x - m).
#include "common.cuh"

// max over the row, then log sum exp(x - max): the two passes every (log-)softmax starts with.
template <typename T>
__device__ void row_max_and_lse(const T* xr, long long C, T* buf, T& m, T& lse)
{
    T part = negative_infinity<T>();
    for (long long c = threadIdx.x; c < C; c += blockDim.x)
        part = MaxOp()(part, xr[c]);
    m = block_reduce(part, buf, MaxOp());
    T sum = 0;
    for (long long c = threadIdx.x; c < C; c += blockDim.x)
        sum += exp(xr[c] - m);
    lse = log(block_reduce(sum, buf, SumOp()));
}

template <typename T>
__global__ void log_softmax_forward(const T* __restrict__ x, T* __restrict__ y, long long N, long long C)
{
    __shared__ T buf[REDUCE_THREADS];
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const T* xr = x + row * C;
        T m, lse;
        row_max_and_lse(xr, C, buf, m, lse);
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            y[row * C + c] = (xr[c] - m) - lse;
    }
}

template <typename T>
__global__ void softmax_forward(const T* __restrict__ x, T* __restrict__ y, long long N, long long C)
{
    __shared__ T buf[REDUCE_THREADS];
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const T* xr = x + row * C;
        T* yr = y + row * C;
        T part = negative_infinity<T>();
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            part = MaxOp()(part, xr[c]);
        const T m = block_reduce(part, buf, MaxOp());
        T sum = 0;
        for (long long c = threadIdx.x; c < C; c += blockDim.x) {
            const T e = exp(xr[c] - m);
            yr[c] = e;  // each thread rescales only the entries it wrote: no sync needed
            sum += e;
        }
        sum = block_reduce(sum, buf, SumOp());
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            yr[c] = yr[c] / sum;
    }
}

// gx = gy - exp(y) * sum(gy), y the log-softmax
template <typename T>
__global__ void log_softmax_backward(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx,
                                     long long N, long long C)
{
    __shared__ T buf[REDUCE_THREADS];
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const long long base = row * C;
        T part = 0;
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            part += gy[base + c];
        const T total = block_reduce(part, buf, SumOp());
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            gx[base + c] = gy[base + c] - exp(y[base + c]) * total;
    }
}

// gx = y * (gy - sum(gy * y)), y the softmax
template <typename T>
__global__ void softmax_backward(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx,
                                 long long N, long long C)
{
    __shared__ T buf[REDUCE_THREADS];
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const long long base = row * C;
        T part = 0;
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            part += gy[base + c] * y[base + c];
        const T total = block_reduce(part, buf, SumOp());
        for (long long c = threadIdx.x; c < C; c += blockDim.x)
            gx[base + c] = y[base + c] * (gy[base + c] - total);
    }
}

// loss[i] = target_coef * logp[i, t_i] - smooth_coef * sum_j logp[i, j], with the coefficients
// -(1 - eps) and eps/C rounded to T on the host; smooth_coef is 0 without label smoothing, and
// then the sum is left out (so a -inf logit elsewhere cannot make 0 * -inf = NaN).
// A target outside [0, C) gives a NaN loss rather than a stray read.
template <typename T>
__global__ void cross_entropy_forward(const T* __restrict__ logits, const long long* __restrict__ target,
                                      T* __restrict__ loss, T* __restrict__ logp,
                                      long long N, long long C, T target_coef, T smooth_coef)
{
    __shared__ T buf[REDUCE_THREADS];
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const T* xr = logits + row * C;
        T m, lse;
        row_max_and_lse(xr, C, buf, m, lse);
        T part = 0;
        for (long long c = threadIdx.x; c < C; c += blockDim.x) {
            const T lp = (xr[c] - m) - lse;
            logp[row * C + c] = lp;
            part += lp;
        }
        const T logp_sum = block_reduce(part, buf, SumOp());
        if (threadIdx.x == 0) {
            const long long t = target[row];
            // recomputed, not read back from logp: the same value, and no other thread's write
            // has to be visible
            T l = (t >= 0 && t < C) ? target_coef * ((xr[t] - m) - lse) : quiet_nan<T>();
            if (smooth_coef != T(0))
                l = l - smooth_coef * logp_sum;
            loss[row] = l;
        }
    }
}

// glogits[i, j] = gloss[i] * (exp(logp[i, j]) - eps/C - (1-eps) [j == t_i]); elementwise.
template <typename T>
__global__ void cross_entropy_backward(const T* __restrict__ gloss, const T* __restrict__ logp,
                                       const long long* __restrict__ target, T* __restrict__ glogits,
                                       long long N, long long C, T one_minus_eps, T eps_over_c)
{
    for (long long i = thread_index(); i < N * C; i += grid_stride()) {
        const long long row = i / C;
        T g = exp(logp[i]) - eps_over_c;
        if (i - row * C == target[row])
            g = g - one_minus_eps;
        glogits[i] = g * gloss[row];
    }
}
