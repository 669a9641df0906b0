// Elementwise activations and the bias add over flat arrays of n elements. Each expression is
// written as the reference writes it, so NaN and infinities come out the same.
#include "common.cuh"

template <typename T>
__global__ void relu_forward(const T* __restrict__ x, T* __restrict__ y, long long n)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        y[i] = x[i] < T(0) ? T(0) : x[i];  // NaN < 0 is false: NaN passes, like numpy.maximum
}

template <typename T>
__global__ void relu_backward(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx, long long n)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        gx[i] = y[i] > T(0) ? gy[i] : T(0);
}

template <typename T>
__global__ void leaky_relu_forward(const T* __restrict__ x, T* __restrict__ y, long long n, T negative_slope)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        y[i] = x[i] > T(0) ? x[i] : x[i] * negative_slope;
}

template <typename T>
__global__ void leaky_relu_backward(const T* __restrict__ gy, const T* __restrict__ x, T* __restrict__ gx,
                                    long long n, T negative_slope)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        gx[i] = x[i] > T(0) ? gy[i] : gy[i] * negative_slope;
}

template <typename T>
__global__ void tanh_forward(const T* __restrict__ x, T* __restrict__ y, long long n)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        y[i] = tanh(x[i]);
}

template <typename T>
__global__ void tanh_backward(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx, long long n)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        gx[i] = gy[i] * (T(1) - y[i] * y[i]);
}

template <typename T>
__global__ void sigmoid_forward(const T* __restrict__ x, T* __restrict__ y, long long n)
{
    for (long long i = thread_index(); i < n; i += grid_stride()) {
        const T e = exp(-fabs(x[i]));  // exp of a non-positive number: never overflows
        y[i] = x[i] >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    }
}

template <typename T>
__global__ void sigmoid_backward(const T* __restrict__ gy, const T* __restrict__ y, T* __restrict__ gx, long long n)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        gx[i] = gy[i] * y[i] * (T(1) - y[i]);
}

// y[:, o, ...] += b[o] in place; y has n elements, channels on axis 1, `inner` elements per
// (sample, channel) (the product of the axes after 1; 1 for a 2-D y).
template <typename T>
__global__ void bias_add(T* __restrict__ y, const T* __restrict__ b, long long n, long long channels, long long inner)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        y[i] += b[(i / inner) % channels];
}
