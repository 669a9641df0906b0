// Inverted dropout with the counter-based RNG of kernels/README.md: element i of a call seeded
// (seed, offset) is a function of seed and the counter offset + i + 1 alone, so the GPU draws
// exactly the numbers of the CPU flavours, whatever the grid. All arithmetic on the draw is in
// unsigned 64 bits, which wraps modulo 2**64 as the formula asks.
#include "common.cuh"

// splitmix64's finaliser of seed*golden + counter*step, as a double in [0, 1) with 53 bits.
__device__ __forceinline__ double uniform_draw(unsigned long long seed, unsigned long long counter)
{
    unsigned long long z = seed * 0x9E3779B97F4A7C15ULL + counter * 0xD1B54A32D192ED03ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);  // * 2**-53: exact
}

__global__ void dropout_uniform(double* __restrict__ u, long long n,
                                unsigned long long seed, unsigned long long offset)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        u[i] = uniform_draw(seed, offset + (unsigned long long)i + 1ULL);
}

// Element i is kept iff its draw >= p (p in double, as the draw); y = x * mask * scale with
// scale = 1/(1-p) rounded to T on the host. A multiply, not a select, so a dropped inf or NaN
// gives NaN as in the reference.
template <typename T>
__global__ void dropout_forward(const T* __restrict__ x, T* __restrict__ y, unsigned char* __restrict__ mask,
                                long long n, unsigned long long seed, unsigned long long offset,
                                double p, T scale)
{
    for (long long i = thread_index(); i < n; i += grid_stride()) {
        const unsigned char keep = uniform_draw(seed, offset + (unsigned long long)i + 1ULL) >= p;
        mask[i] = keep;
        y[i] = x[i] * T(keep) * scale;
    }
}

template <typename T>
__global__ void dropout_backward(const T* __restrict__ gy, const unsigned char* __restrict__ mask,
                                 T* __restrict__ gx, long long n, T scale)
{
    for (long long i = thread_index(); i < n; i += grid_stride())
        gx[i] = gy[i] * T(mask[i]) * scale;
}
