// Pieces shared by every kernel family. The launchers paste this file in place of its
// #include line before compiling (kernels/cuda/_cuda.py), so CuPy's compile cache, which keys
// on the source text, sees a change here as a change of every family.
//
// Conventions of all kernels:
//  - templated on the element type T (float or double) and instantiated by name from Python;
//  - every integer parameter is a `long long` (the launchers pass numpy.int64), so totals such
//    as N*C*H*W never overflow; coordinates inside one plane or window use `int`, which keeps
//    the divisions that split a flat index into coordinates 32-bit (and cheap);
//  - grid-stride loops or explicit bounds checks everywhere: any grid size is correct.
// First index of this thread and the step of a grid-stride loop, in 64 bits.
__device__ __forceinline__ long long thread_index()
{
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ long long grid_stride()
{
    return (long long)gridDim.x * blockDim.x;
}

// Infinities and NaN by bit pattern: no header needed under NVRTC.
template <typename T> __device__ __forceinline__ T negative_infinity();
template <> __device__ __forceinline__ float negative_infinity<float>() { return -__int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double negative_infinity<double>()
{
    return -__longlong_as_double(0x7ff0000000000000LL);
}

template <typename T> __device__ __forceinline__ T quiet_nan();
template <> __device__ __forceinline__ float quiet_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double quiet_nan<double>()
{
    return __longlong_as_double(0x7ff8000000000000LL);
}

struct SumOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

// A max that lets NaN win, as numpy.max does (fmax would drop it).
struct MaxOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const
    {
        return (a > b || a != a) ? a : b;
    }
};

// Threads per block of every kernel that ends in block_reduce (REDUCE_THREADS in _cuda.py).
// Constants are enumerators, not constexpr variables: nvcc's host pass would call those unused.
enum { REDUCE_THREADS = 256 };

// Reduce one value per thread over the whole block; every thread gets the result.
// `buf` holds blockDim.x elements and blockDim.x must be a power of two. The tree has a fixed
// shape, so the result does not depend on timing: reductions here are deterministic.
template <typename T, typename Op>
__device__ T block_reduce(T value, T* buf, Op op)
{
    const unsigned tid = threadIdx.x;
    buf[tid] = value;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half)
            buf[tid] = op(buf[tid], buf[tid + half]);
        __syncthreads();
    }
    const T result = buf[0];
    __syncthreads();  // buf may be reused right after
    return result;
}
