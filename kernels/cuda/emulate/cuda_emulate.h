// CUDA on the host: just enough of the CUDA C++ dialect for kernels/cuda/*.cu to compile with
// g++ unchanged, and a scheduler (scheduler.h) that runs each CUDA thread of a block as a fiber,
// so __syncthreads() is a real barrier and warp intrinsics are real warp-wide exchanges.
//
// Blocks run one after another on the calling OS thread; inside a block, the scheduler resumes
// every runnable thread once per round, in an order picked per launch (forward, reverse, or a
// seeded shuffle per round). A thread runs until it reaches a barrier, a warp intrinsic or its
// end. Code between two barriers thus runs with no interleaving, and different orders put a
// missing __syncthreads() or a write race in plain sight: the results differ.
// __shared__ is `static`: one copy per kernel instantiation, which is one per block because
// blocks never overlap. See README.md beside this file.
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define TCE_ASAN 1
#else
#define TCE_ASAN 0
#endif

// ---- the dialect -----------------------------------------------------------------------------
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
// __shared__ variables are statics: one copy per kernel, and blocks never overlap. Outside
// AddressSanitizer builds they are gathered in one section that is filled with 0xff bytes
// (NaN, -1) before every block, as stale or garbage shared memory would be on a GPU, so a read
// before the block's own write shows. ASan builds keep them apart, each between redzones.
#if TCE_ASAN
#define __shared__ static
#else
#define __shared__ static __attribute__((section("tce_shared")))
#endif

namespace tce {
struct Thread;
inline Thread* current = nullptr;  // the fiber running now
inline uint3 block_idx;
inline dim3 block_dim, grid_dim;
inline void syncthreads(const char* file, int line);
inline uint64_t warp_exchange(int op, unsigned mask, uint64_t value, int arg, int width = 32);
inline const uint3& thread_idx();
}  // namespace tce

#define threadIdx (::tce::thread_idx())
#define blockIdx (::tce::block_idx)
#define blockDim (::tce::block_dim)
#define gridDim (::tce::grid_dim)
#define __syncthreads() ::tce::syncthreads(__FILE__, __LINE__)
enum { warpSize = 32 };

// min/max as CUDA declares them for device code
#define TCE_MINMAX(T)                                                \
    inline T min(T a, T b) { return b < a ? b : a; }                \
    inline T max(T a, T b) { return a < b ? b : a; }
TCE_MINMAX(int)
TCE_MINMAX(unsigned)
TCE_MINMAX(long long)
TCE_MINMAX(unsigned long long)
#undef TCE_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// bit casts and intrinsics
template <typename To, typename From>
inline To tce_bit_cast(From v)
{
    static_assert(sizeof(To) == sizeof(From), "bit cast between different sizes");
    To out;
    memcpy(&out, &v, sizeof out);
    return out;
}
inline float __int_as_float(int v) { return tce_bit_cast<float>(v); }
inline int __float_as_int(float v) { return tce_bit_cast<int>(v); }
inline float __uint_as_float(unsigned v) { return tce_bit_cast<float>(v); }
inline unsigned __float_as_uint(float v) { return tce_bit_cast<unsigned>(v); }
inline double __longlong_as_double(long long v) { return tce_bit_cast<double>(v); }
inline long long __double_as_longlong(double v) { return tce_bit_cast<long long>(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __ffsll(long long v) { return __builtin_ffsll(v); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __clz(int v) { return v ? __builtin_clz((unsigned)v) : 32; }
inline float __expf(float v) { return expf(v); }
inline float __logf(float v) { return logf(v); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
inline double rsqrt(double v) { return 1.0 / sqrt(v); }
inline float rsqrt(float v) { return rsqrtf(v); }

// Atomics: fibers never run at the same time, so a plain read-modify-write is atomic here.
template <typename T>
inline T atomicAdd(T* address, T value)
{
    static_assert(std::is_arithmetic<T>::value, "atomicAdd on a non-arithmetic type");
    const T old = *address;
    *address = old + value;
    return old;
}
template <typename T>
inline T atomicSub(T* address, T value)
{
    const T old = *address;
    *address = old - value;
    return old;
}
template <typename T>
inline T atomicMax(T* address, T value)
{
    const T old = *address;
    *address = old < value ? value : old;
    return old;
}
template <typename T>
inline T atomicMin(T* address, T value)
{
    const T old = *address;
    *address = value < old ? value : old;
    return old;
}
template <typename T>
inline T atomicExch(T* address, T value)
{
    const T old = *address;
    *address = value;
    return old;
}
template <typename T>
inline T atomicCAS(T* address, T compare, T value)
{
    const T old = *address;
    if (old == compare)
        *address = value;
    return old;
}

// memory fences order nothing that needs ordering among fibers on one OS thread
inline void __threadfence() {}
inline void __threadfence_block() {}

// Warp intrinsics: every lane named in `mask` must arrive with the same mask; the exchange then
// happens at once, as on hardware. Values travel as their bytes (at most 8).
namespace tce {
enum WarpOp { WARP_SYNC, WARP_SHFL, WARP_SHFL_XOR, WARP_SHFL_UP, WARP_SHFL_DOWN, WARP_ANY, WARP_ALL,
              WARP_BALLOT, WARP_MATCH_ANY };
template <typename T>
inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "warp exchange of a value wider than 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    return bits;
}
template <typename T>
inline T from_bits(uint64_t bits)
{
    T v;
    memcpy(&v, &bits, sizeof v);
    return v;
}
}  // namespace tce

inline void __syncwarp(unsigned mask = 0xffffffffu) { tce::warp_exchange(tce::WARP_SYNC, mask, 0, 0); }
inline int __any_sync(unsigned mask, int pred) { return (int)tce::warp_exchange(tce::WARP_ANY, mask, pred != 0, 0); }
inline int __all_sync(unsigned mask, int pred) { return (int)tce::warp_exchange(tce::WARP_ALL, mask, pred != 0, 0); }
inline unsigned __ballot_sync(unsigned mask, int pred)
{
    return (unsigned)tce::warp_exchange(tce::WARP_BALLOT, mask, pred != 0, 0);
}
template <typename T>
inline unsigned __match_any_sync(unsigned mask, T value)
{
    return (unsigned)tce::warp_exchange(tce::WARP_MATCH_ANY, mask, tce::to_bits(value), (int)sizeof(T));
}
template <typename T>
inline T __shfl_sync(unsigned mask, T value, int src, int width = 32)
{
    return tce::from_bits<T>(tce::warp_exchange(tce::WARP_SHFL, mask, tce::to_bits(value), src, width));
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32)
{
    return tce::from_bits<T>(tce::warp_exchange(tce::WARP_SHFL_XOR, mask, tce::to_bits(value), lane_mask, width));
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32)
{
    return tce::from_bits<T>(tce::warp_exchange(tce::WARP_SHFL_UP, mask, tce::to_bits(value), (int)delta, width));
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32)
{
    return tce::from_bits<T>(tce::warp_exchange(tce::WARP_SHFL_DOWN, mask, tce::to_bits(value), (int)delta, width));
}

#include "scheduler.h"
#include "table.h"
