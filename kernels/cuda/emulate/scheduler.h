// The fiber scheduler behind cuda_emulate.h: runs one grid, block by block, each CUDA thread a
// fiber. Included once per compiled kernel library (header-only, inline variables).
#pragma once

namespace tce {

// ---- contexts: a hand-written switch on x86-64 (no system call), ucontext elsewhere ----------
#if defined(__x86_64__)
struct Context {
    void* sp = nullptr;
};
// Saves the callee-saved registers, the SSE and x87 control words and the stack pointer of the
// running context in *from, then restores those of `to` and returns into it (System V ABI).
extern "C" void tce_switch(void** from, void* to);
asm(R"(
    .text
    .p2align 4
    .type tce_switch, @function
tce_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size tce_switch, .-tce_switch
)");

inline void switch_context(Context* from, Context* to) { tce_switch(&from->sp, to->sp); }

// A fresh context that starts in entry() (which must never return) on [stack, stack + size).
inline void make_context(Context* c, char* stack, size_t size, void (*entry)())
{
    uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;         // keeps entry()'s frame aligned as after a call
    *--sp = (void*)entry;    // tce_switch's `ret` lands here
    for (int i = 0; i < 6; ++i)
        *--sp = nullptr;     // rbp, rbx, r12-r15
    --sp;
    uint32_t control[2];
    asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(control[0]), "=m"(control[1]));
    memcpy(sp, control, sizeof control);
    c->sp = sp;
}
#else
struct Context {
    ucontext_t uc;
};
inline void switch_context(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
inline void make_context(Context* c, char* stack, size_t size, void (*entry)())
{
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = nullptr;
    makecontext(&c->uc, entry, 0);
}
#endif

enum State { RUNNABLE, AT_BARRIER, AT_WARP, DONE };
enum Order { ORDER_FORWARD = 0, ORDER_REVERSE = 1, ORDER_SHUFFLE = 2 };

struct Thread {
    Context context;
    uint3 idx;
    int linear = 0;
    State state = DONE;
    const char* file = nullptr;  // barrier it waits at
    int line = 0;
    int warp_op = 0;  // the warp exchange it waits in
    unsigned warp_mask = 0;
    uint64_t warp_value = 0;
    int warp_arg = 0;
    int warp_width = 32;
    uint64_t warp_result = 0;
    char* stack = nullptr;
    void* fake_stack = nullptr;  // AddressSanitizer's bookkeeping across switches
};

struct Launch {
    std::function<void()> body;  // one CUDA thread's work: the kernel called with its arguments
    std::vector<Thread> threads;
    Context scheduler;
    const void* scheduler_stack_bottom = nullptr;
    size_t scheduler_stack_size = 0;
    std::string error;
};

inline Launch* launch_state = nullptr;
// ASan instruments frames more heavily; a guard page below each stack turns overflow into a fault
constexpr size_t STACK_BYTES = TCE_ASAN ? (512u << 10) : (128u << 10);
constexpr size_t GUARD_BYTES = 4096;
constexpr int MAX_THREADS = 1024;

inline const uint3& thread_idx() { return current->idx; }

// ---- switching -----------------------------------------------------------------------------
inline void switch_to_scheduler(Thread* t, bool finished)
{
    Launch* L = launch_state;
#if TCE_ASAN
    __sanitizer_start_switch_fiber(finished ? nullptr : &t->fake_stack, L->scheduler_stack_bottom,
                                   L->scheduler_stack_size);
#else
    (void)finished;
#endif
    switch_context(&t->context, &L->scheduler);
#if TCE_ASAN
    __sanitizer_finish_switch_fiber(t->fake_stack, &L->scheduler_stack_bottom, &L->scheduler_stack_size);
#endif
}

inline void switch_to_thread(Thread* t)
{
    Launch* L = launch_state;
    current = t;
#if TCE_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, t->stack + GUARD_BYTES, STACK_BYTES);
    switch_context(&L->scheduler, &t->context);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    switch_context(&L->scheduler, &t->context);
#endif
    current = nullptr;
}

inline void fiber_entry()
{
    Launch* L = launch_state;
#if TCE_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &L->scheduler_stack_bottom, &L->scheduler_stack_size);
#endif
    L->body();
    current->state = DONE;
    switch_to_scheduler(current, true);  // never resumed
}

// ---- what a thread calls -------------------------------------------------------------------
inline void syncthreads(const char* file, int line)
{
    Thread* t = current;
    t->state = AT_BARRIER;
    t->file = file;
    t->line = line;
    switch_to_scheduler(t, false);
}

inline uint64_t warp_exchange(int op, unsigned mask, uint64_t value, int arg, int width)
{
    Thread* t = current;
    t->warp_width = width;
    t->state = AT_WARP;
    t->warp_op = op;
    t->warp_mask = mask;
    t->warp_value = value;
    t->warp_arg = arg;
    switch_to_scheduler(t, false);
    return t->warp_result;
}

// ---- the scheduler -----------------------------------------------------------------------------
inline std::string describe(const Thread& t)
{
    char buf[96];
    snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", t.idx.x, t.idx.y, t.idx.z,
             block_idx.x, block_idx.y, block_idx.z);
    return buf;
}

// Complete the exchange of the lanes waiting with `mask` in warp `warp`, if all of them are there.
// Returns true when it released them; sets L->error on a misuse that hardware leaves undefined.
inline bool resolve_warp(Launch* L, int first, int lanes, unsigned mask)
{
    Thread* w = &L->threads[first];
    int op = -1;
    for (int lane = 0; lane < 32; ++lane) {
        if (!(mask & (1u << lane)))
            continue;
        if (lane >= lanes) {
            L->error = describe(w[0]) + ": warp mask names a lane the block does not have";
            return false;
        }
        const Thread& t = w[lane];
        if (t.state == DONE) {
            L->error = describe(t) + " has exited but is named in a warp intrinsic's mask";
            return false;
        }
        if (t.state != AT_WARP)
            return false;  // not there yet
        if (t.warp_mask != mask)
            return false;  // waits in another group
        if (op < 0)
            op = t.warp_op;
        else if (t.warp_op != op) {
            L->error = describe(t) + " meets its warp in a different intrinsic";
            return false;
        }
    }
    if (op < 0)
        return false;
    for (int lane = 0; lane < 32; ++lane) {
        if (!(mask & (1u << lane)))
            continue;
        Thread& t = w[lane];
        const int width = t.warp_width, arg = t.warp_arg;
        if (width < 1 || width > 32 || (width & (width - 1))) {
            L->error = describe(t) + ": shuffle width must be a power of two up to 32";
            return false;
        }
        const int base = lane & ~(width - 1);
        int src = lane;
        uint64_t result = 0;
        switch (op) {
        case WARP_SYNC:
            break;
        case WARP_SHFL: src = base + (arg & (width - 1)); break;
        case WARP_SHFL_XOR: src = lane ^ arg; if (src >= base + width) src = lane; break;
        case WARP_SHFL_UP: src = lane - arg < base ? lane : lane - arg; break;
        case WARP_SHFL_DOWN: src = lane + arg >= base + width ? lane : lane + arg; break;
        case WARP_ANY: case WARP_ALL: case WARP_BALLOT: {
            unsigned ballot = 0;
            for (int k = 0; k < 32; ++k)
                if ((mask & (1u << k)) && w[k].warp_value)
                    ballot |= 1u << k;
            result = op == WARP_BALLOT ? ballot : op == WARP_ANY ? ballot != 0 : ballot == mask;
            break;
        }
        case WARP_MATCH_ANY: {
            unsigned peers = 0;
            for (int k = 0; k < 32; ++k)
                if ((mask & (1u << k)) && w[k].warp_value == t.warp_value)
                    peers |= 1u << k;
            result = peers;
            break;
        }
        }
        if (op == WARP_SHFL || op == WARP_SHFL_XOR || op == WARP_SHFL_UP || op == WARP_SHFL_DOWN) {
            if (src < 0 || src >= lanes || !(mask & (1u << src))) {
                L->error = describe(t) + " shuffles from a lane outside the mask";
                return false;
            }
            result = w[src].warp_value;
        }
        t.warp_result = result;
    }
    for (int lane = 0; lane < 32; ++lane)
        if (mask & (1u << lane))
            w[lane].state = RUNNABLE;
    return true;
}

// One round of releases after every thread has run as far as it can. Returns false when the block
// can make no progress (finished, or an error / deadlock recorded in L->error).
inline bool release(Launch* L, int n)
{
    bool progress = false;
    for (int first = 0; first < n; first += 32) {
        const int lanes = n - first < 32 ? n - first : 32;
        for (int lane = 0; lane < lanes; ++lane) {
            const Thread& t = L->threads[first + lane];
            if (t.state == AT_WARP && resolve_warp(L, first, lanes, t.warp_mask))
                progress = true;
            if (!L->error.empty())
                return false;
        }
    }
    if (progress)
        return true;
    int done = 0, waiting = 0;
    const Thread* at = nullptr;
    for (int i = 0; i < n; ++i) {
        const Thread& t = L->threads[i];
        if (t.state == DONE) {
            ++done;
        } else if (t.state == AT_BARRIER) {
            ++waiting;
            if (!at) {
                at = &t;
            } else if (t.line != at->line || strcmp(t.file, at->file) != 0) {
                L->error = describe(t) + " waits at __syncthreads() on line " + std::to_string(t.line)
                           + ", " + describe(*at) + " at line " + std::to_string(at->line);
                return false;
            }
        }
    }
    if (done == n)
        return false;
    if (waiting == n) {
        for (int i = 0; i < n; ++i)
            L->threads[i].state = RUNNABLE;
        return true;
    }
    for (int i = 0; i < n; ++i) {
        const Thread& t = L->threads[i];
        if (t.state == AT_BARRIER && done) {
            L->error = describe(t) + " waits at __syncthreads() (line " + std::to_string(t.line)
                       + ") that some threads of its block never reach: they have exited";
            return false;
        }
        if (t.state == AT_WARP) {
            L->error = describe(t) + " waits in a warp intrinsic that its lanes never reach";
            return false;
        }
    }
    L->error = "deadlock: no thread of block can proceed";
    return false;
}

// Stacks for `n` fibers, each above a PROT_NONE guard page; mapped once, kept for later launches.
inline char* fiber_stacks(int n)
{
    static char* stacks = nullptr;
    static int count = 0;
    if (n <= count)
        return stacks;
    if (stacks)
        munmap(stacks, (size_t)count * (STACK_BYTES + GUARD_BYTES));
    const size_t bytes = (size_t)n * (STACK_BYTES + GUARD_BYTES);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        stacks = nullptr;
        count = 0;
        return nullptr;
    }
    stacks = (char*)p;
    count = n;
    for (int i = 0; i < n; ++i)
        mprotect(stacks + (size_t)i * (STACK_BYTES + GUARD_BYTES), GUARD_BYTES, PROT_NONE);
    return stacks;
}

#if !TCE_ASAN
static __attribute__((section("tce_shared"), used)) char shared_anchor;  // the section exists
}  // namespace tce
// defined by the linker around the section
extern "C" char __start_tce_shared[] __attribute__((visibility("hidden")));
extern "C" char __stop_tce_shared[] __attribute__((visibility("hidden")));
namespace tce {
#endif

inline void poison_shared()
{
#if !TCE_ASAN
    (void)shared_anchor;
    memset(__start_tce_shared, 0xff, (size_t)(__stop_tce_shared - __start_tce_shared));
#endif
}

inline void run_block(Launch* L, int n, Order order, std::mt19937_64& rng)
{
    poison_shared();
    for (int i = 0; i < n; ++i) {
        Thread& t = L->threads[i];
        t.state = RUNNABLE;
        make_context(&t.context, t.stack + GUARD_BYTES, STACK_BYTES, fiber_entry);
    }
    std::vector<int> sequence(n);
    for (int i = 0; i < n; ++i)
        sequence[i] = order == ORDER_REVERSE ? n - 1 - i : i;
    do {
        if (order == ORDER_SHUFFLE)
            std::shuffle(sequence.begin(), sequence.end(), rng);
        for (int i : sequence)
            if (L->threads[i].state == RUNNABLE)
                switch_to_thread(&L->threads[i]);
    } while (release(L, n));
}

// Run body() for every thread of the grid. Returns 0, or 1 with the reason in `error`.
inline int launch(const std::function<void()>& body, dim3 grid, dim3 block, int order, uint64_t seed,
                  std::string& error)
{
    const unsigned long long n64 = (unsigned long long)block.x * block.y * block.z;
    if (n64 == 0 || n64 > MAX_THREADS) {
        error = "block of " + std::to_string(n64) + " threads; CUDA allows 1 to 1024";
        return 1;
    }
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) {
        error = "empty grid";
        return 1;
    }
    if (launch_state) {
        error = "another launch is running (from a kernel, or from another thread without the lock)";
        return 1;
    }
    const int n = (int)n64;
    Launch L;
    L.body = body;
    L.threads.resize(n);
    char* stacks = fiber_stacks(n);
    if (!stacks) {
        error = "cannot map fiber stacks";
        return 1;
    }
    for (int i = 0; i < n; ++i) {
        Thread& t = L.threads[i];
        t.stack = stacks + (size_t)i * (STACK_BYTES + GUARD_BYTES);
        t.linear = i;
        t.idx = uint3{(unsigned)(i % block.x), (unsigned)(i / block.x % block.y), (unsigned)(i / (block.x * block.y))};
    }
    launch_state = &L;
    grid_dim = grid;
    block_dim = block;
    std::mt19937_64 rng(seed);
    const unsigned long long blocks = (unsigned long long)grid.x * grid.y * grid.z;
    // Blocks may run in any order on hardware: the reverse and shuffled schedules do so too.
    std::vector<unsigned long long> block_order;
    if (order == ORDER_SHUFFLE && blocks <= (1ull << 20)) {
        block_order.resize(blocks);
        for (unsigned long long b = 0; b < blocks; ++b)
            block_order[b] = b;
        std::shuffle(block_order.begin(), block_order.end(), rng);
    }
    for (unsigned long long i = 0; i < blocks && L.error.empty(); ++i) {
        const unsigned long long b = !block_order.empty() ? block_order[i]
                                     : order == ORDER_REVERSE ? blocks - 1 - i : i;
        block_idx = uint3{(unsigned)(b % grid.x), (unsigned)(b / grid.x % grid.y), (unsigned)(b / ((unsigned long long)grid.x * grid.y))};
        run_block(&L, n, (Order)order, rng);
    }
    launch_state = nullptr;
    error = L.error;
    return error.empty() ? 0 : 1;
}

}  // namespace tce
