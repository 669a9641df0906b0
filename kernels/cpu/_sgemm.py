"""A float32 GEMM written for this library: a register-blocked micro-kernel in LLVM IR plus the
loops around it in Numba.

Why our own: the BLAS beside NumPy picks its kernels when it loads, and a process may have told
it to use narrower ones than the CPU has (OPENBLAS_CORETYPE, a build without the CPU's kernels).
PyTorch's convolutions use the widest vectors the CPU offers whatever NumPy does; so do these.
LLVM compiles the micro-kernel for the host CPU like every Numba kernel, with vectors as wide as
the CPU's registers: 16 floats with AVX-512 (8 x 32 tiles), else 8 (6 x 16 tiles).

The micro-kernel computes an MR x NR tile of C:  C[r, :] (+)= sum_p A[r, p] * B[p, :]
keeping all MR x 2 vector accumulators in registers across the whole p loop; each step loads
two vectors of one row of B and broadcasts one element of A per row. A is read in place
through a row and a column stride (so op(A) = A or A^T costs nothing); B must have its NR
columns contiguous: B itself when not transposed, else an NR-column panel packed once and used
for every row of C. Columns that do not fill a tile go through a zero-padded panel and tile.
A B^T with few rows of A (the weight gradients: gy times columns^T) takes a second kernel that
needs no packing: a 4 x 4 tile of dot products, each a vector accumulator along k.
`sgemm_tree` (a linear layer's weight gradient) adds its k rows in the batch-sum tree order of
kernels/reference/_tree.py, through the same micro-kernel.
"""
from __future__ import annotations

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import config
from numba.extending import intrinsic

from . import _vec
from ._tree import leaf_rows

NO_TRANS, TRANS = 111, 112


def _vector_width():
    """Floats per register of the CPU Numba compiles for (16: AVX-512, else 8)."""
    if config.CPU_NAME:  # a portable build chosen by the user (NUMBA_CPU_NAME)
        return 16 if "+avx512f" in (config.CPU_FEATURES or "") else 8
    return 16 if llvm.get_host_cpu_features().get("avx512f", False) else 8


W = _vector_width()
MR = 8 if W == 16 else 6  # 2*MR accumulators + 2 of B + 1 broadcast fit the 32 (or 16) registers
NR = 2 * W                # columns of C per micro-kernel call (two vectors)
KC = 256                  # depth of one pass: a KC x NR panel of B stays in L1 across MC rows
MC = 24 * MR              # rows of A per pass: MC x KC floats (192 KiB) stay in L2 across panels

_F32 = ir.FloatType()
_I64 = ir.IntType(64)
_VEC = ir.VectorType(_F32, W)


def _function(module, name, nargs):
    """(the internal function `name` of `module` taking nargs int64, llvm.fma on vectors); the
    function has no body yet if it is new."""
    fma_name = f"llvm.fma.v{W}f32"
    fma = module.globals.get(fma_name) or ir.Function(
        module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]), name=fma_name)
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_I64] * nargs), name=name)
        fn.linkage = "internal"
    return fn, fma


def _close_loop(b, p, step, count, accs, new, entry, loop, exit_block):
    """p += step; back to `loop` while p < count. The loop's phis (p, accumulators) start at 0."""
    p1 = b.add(p, step)
    b.cbranch(b.icmp_signed("<", p1, count), loop, exit_block)
    p.add_incoming(ir.Constant(_I64, 0), entry)
    p.add_incoming(p1, loop)
    for acc, nxt in zip(accs, new):
        acc.add_incoming(ir.Constant(_VEC, None), entry)
        acc.add_incoming(nxt, loop)


def _define(module, mr):
    """The micro-kernel for `mr` rows as an internal function of `module` (once per module)."""
    fn, fma = _function(module, f"tinyconv_sgemm_micro_{mr}x{NR}", 9)
    if fn.blocks:
        return fn
    kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c = fn.args
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    fptr = _F32.as_pointer()
    a0, b0, c0 = (b.inttoptr(x, fptr) for x in (pa, pb, pc))
    zero = ir.Constant(_VEC, None)
    b.cbranch(b.icmp_signed(">", kc, ir.Constant(_I64, 0)), loop, done)

    b.position_at_end(loop)
    p = b.phi(_I64)
    accs = [b.phi(_VEC) for _ in range(mr * 2)]
    arow = b.gep(a0, [b.mul(p, csa)])
    brow = b.gep(b0, [b.mul(p, ldb)])
    bvec = [b.load(b.bitcast(b.gep(brow, [ir.Constant(_I64, W * v)]), _VEC.as_pointer()), align=4)
            for v in range(2)]
    mask = ir.Constant(ir.VectorType(ir.IntType(32), W), [0] * W)
    new = []
    for r in range(mr):
        scalar = b.load(b.gep(arow, [b.mul(rsa, ir.Constant(_I64, r))]), align=4)
        splat = b.shuffle_vector(b.insert_element(ir.Constant(_VEC, ir.Undefined), scalar,
                                                  ir.Constant(ir.IntType(32), 0)),
                                 ir.Constant(_VEC, ir.Undefined), mask)
        for v in range(2):
            new.append(b.call(fma, [splat, bvec[v], accs[2 * r + v]]))
    _close_loop(b, p, ir.Constant(_I64, 1), kc, accs, new, entry, loop, done)

    b.position_at_end(done)
    final = []
    for acc, nxt in zip(accs, new):
        phi = b.phi(_VEC)
        phi.add_incoming(zero, entry)
        phi.add_incoming(nxt, loop)
        final.append(phi)
    keep = b.icmp_signed("!=", add_c, ir.Constant(_I64, 0))
    for r in range(mr):
        crow = b.gep(c0, [b.mul(ldc, ir.Constant(_I64, r))])
        for v in range(2):
            ptr = b.bitcast(b.gep(crow, [ir.Constant(_I64, W * v)]), _VEC.as_pointer())
            # Read C only when asked: a fresh output may hold NaN garbage (0 * NaN = NaN).
            with b.if_then(keep):
                b.store(b.fadd(final[2 * r + v], b.load(ptr, align=4)), ptr, align=4)
            with b.if_then(b.not_(keep)):
                b.store(final[2 * r + v], ptr, align=4)
    b.ret_void()
    return fn


DOT = 4  # A B^T with both operands contiguous along k: a DOT x DOT tile of dot products
DOT_MC = 64  # rows of A per pass of the dot tiles (192 KiB at k = 768: L2)
DOT_MAX_M = 127  # taller A: packing B's panels once pays, the outer-product kernel wins


def _hsum(b, v):
    """The sum of a vector's lanes, pairwise (halves added until one lane is left)."""
    n = v.type.count
    while n > 1:
        n //= 2
        lo = b.shuffle_vector(v, ir.Constant(v.type, ir.Undefined),
                              ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(n))))
        hi = b.shuffle_vector(v, ir.Constant(v.type, ir.Undefined),
                              ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(n, 2 * n))))
        v = b.fadd(lo, hi)
    return b.extract_element(v, ir.Constant(ir.IntType(32), 0))


def _define_dot(module):
    """C[r, q] (+)= sum_p A[r, p] B[q, p] for r < mr, q < nr (both <= DOT): one vector
    accumulator per dot product over kv (a multiple of W) columns, then, if `tail`, one more
    vector step from zero-padded copies of the last k % W columns (row stride W). Rows past mr /
    nr re-read the last valid row (their results are not stored): one kernel for every edge."""
    fn, fma = _function(module, f"tinyconv_sgemm_dot_{DOT}x{DOT}", 13)
    if fn.blocks:
        return fn
    kv, pa, lda, mr, pb, ldb, nr, pc, ldc, add_c, tail, pat, pbt = fn.args
    blocks = [fn.append_basic_block(s) for s in ("entry", "loop", "after", "tail", "done")]
    entry, loop, after, tailb, done = blocks
    b = ir.IRBuilder(entry)
    fptr = _F32.as_pointer()
    c0 = b.inttoptr(pc, fptr)
    one, width = ir.Constant(_I64, 1), ir.Constant(_I64, W)

    def rows(base, ld, count):
        start = b.inttoptr(base, fptr)
        out = []
        for r in range(DOT):
            idx = b.select(b.icmp_signed("<", ir.Constant(_I64, r), count), ir.Constant(_I64, r),
                           b.sub(count, one))
            out.append(b.gep(start, [b.mul(idx, ld)]))
        return out
    arows, brows = rows(pa, lda, mr), rows(pb, ldb, nr)
    atail, btail = rows(pat, width, mr), rows(pbt, width, nr)
    zero = ir.Constant(_VEC, None)
    b.cbranch(b.icmp_signed(">", kv, ir.Constant(_I64, 0)), loop, after)

    def step(at, p):
        load = lambda row: b.load(b.bitcast(b.gep(row, [p]), _VEC.as_pointer()), align=4)
        av, bv = [load(r) for r in at[0]], [load(r) for r in at[1]]
        return [b.call(fma, [av[r], bv[q], accs[r * DOT + q]]) for r in range(DOT) for q in range(DOT)]

    def merge(sources):
        out = []
        for i in range(DOT * DOT):
            phi = b.phi(_VEC)
            for values, block in sources:
                phi.add_incoming(values[i] if values is not None else zero, block)
            out.append(phi)
        return out

    b.position_at_end(loop)
    p = b.phi(_I64)
    accs = [b.phi(_VEC) for _ in range(DOT * DOT)]
    new = step((arows, brows), p)
    _close_loop(b, p, width, kv, accs, new, entry, loop, after)

    b.position_at_end(after)
    accs = merge([(None, entry), (new, loop)])
    b.cbranch(b.icmp_signed("!=", tail, ir.Constant(_I64, 0)), tailb, done)
    b.position_at_end(tailb)
    tailed = step((atail, btail), ir.Constant(_I64, 0))
    b.branch(done)

    b.position_at_end(done)
    final = merge([(accs, after), (tailed, tailb)])
    keep = b.icmp_signed("!=", add_c, ir.Constant(_I64, 0))
    for r in range(DOT):
        for q in range(DOT):
            total = _hsum(b, final[r * DOT + q])
            inside = b.and_(b.icmp_signed("<", ir.Constant(_I64, r), mr),
                            b.icmp_signed("<", ir.Constant(_I64, q), nr))
            with b.if_then(inside):
                ptr = b.gep(c0, [b.add(b.mul(ldc, ir.Constant(_I64, r)), ir.Constant(_I64, q))])
                with b.if_else(keep) as (then, otherwise):
                    with then:
                        b.store(b.fadd(total, b.load(ptr, align=4)), ptr, align=4)
                    with otherwise:
                        b.store(total, ptr, align=4)
    b.ret_void()
    return fn


@intrinsic
def _dot(typingctx, kv, pa, lda, mr, pb, ldb, nr, pc, ldc, add_c, tail, pat, pbt):
    sig = types.void(*([types.int64] * 13))

    def codegen(context, builder, signature, args):
        fn = _define_dot(builder.module)
        builder.call(fn, [builder.sext(x, _I64) if x.type.width < 64 else x for x in args])
    return sig, codegen


@njit(cache=True)
def _sgemm_nt(m, n, k, a, lda, b, ldb, add_c, c, ldc):
    """C (+)= A B^T, both row-major with k contiguous: DOT x DOT tiles of vector dot products.
    No packing (small-M gradient GEMMs would spend more time packing than multiplying); only the
    last k % W columns are copied, zero-padded to one vector per row."""
    kv = k - k % W
    tail = 1 if kv < k else 0
    at, bt = np.zeros((m, W), np.float32), np.zeros((n, W), np.float32)
    if tail:
        av, bv = _view(a, m * lda), _view(b, n * ldb)
        for r in range(m):
            at[r, :k - kv] = av[r * lda + kv:r * lda + k]
        for q in range(n):
            bt[q, :k - kv] = bv[q * ldb + kv:q * ldb + k]
    for i0 in range(0, m, DOT_MC):  # DOT_MC rows of A stay in L2 while all of B streams by
        for j in range(0, n, DOT):
            for i in range(i0, min(i0 + DOT_MC, m), DOT):
                _dot(kv, a + 4 * i * lda, lda, min(DOT, m - i), b + 4 * j * ldb, ldb,
                     min(DOT, n - j), c + 4 * (i * ldc + j), ldc, add_c, tail, at[i:].ctypes.data,
                     bt[j:].ctypes.data)


def _micro_intrinsic(mr):
    @intrinsic
    def micro(typingctx, kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c):
        sig = types.void(*([types.int64] * 9))

        def codegen(context, builder, signature, args):
            fn = _define(builder.module, mr)
            builder.call(fn, [builder.sext(x, _I64) if x.type.width < 64 else x for x in args])
        return sig, codegen
    return micro


_MICRO = [_micro_intrinsic(r) for r in range(1, 9)]  # _micro below calls up to MR of them
_m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8 = _MICRO


@njit(cache=True, inline="always")
def _micro(mr, kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c):
    if mr == 8:
        _m8(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    elif mr == 7:
        _m7(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    elif mr == 6:
        _m6(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    elif mr == 5:
        _m5(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    elif mr == 4:
        _m4(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    elif mr == 3:
        _m3(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    elif mr == 2:
        _m2(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)
    else:
        _m1(kc, pa, rsa, csa, pb, ldb, pc, ldc, add_c)


@njit(cache=True)
def sgemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """C (m x n) = op(A) op(B) + beta C on row-major float32 addresses (CBLAS's argument order,
    alpha = 1). Runs in the calling thread: the kernels split work across threads themselves."""
    if m <= 0 or n <= 0:
        return
    cv = _view(c, m * ldc)
    if beta != 0.0 and beta != 1.0:
        for i in range(m):
            for j in range(n):
                cv[i * ldc + j] *= beta
    if k <= 0:
        if beta == 0.0:
            for i in range(m):
                cv[i * ldc:i * ldc + n] = 0.0
        return
    if ta == NO_TRANS and tb == TRANS and m <= DOT_MAX_M:
        _sgemm_nt(m, n, k, a, lda, b, ldb, 0 if beta == 0.0 else 1, c, ldc)
        return
    rsa, csa = (lda, 1) if ta == NO_TRANS else (1, lda)
    bv = _view(b, (k * ldb) if tb == NO_TRANS else (n * ldb))
    panel = np.empty(KC * NR, np.float32)
    tile = np.empty(MR * NR, np.float32)
    for p0 in range(0, k, KC):
        kc = min(KC, k - p0)
        add_c = 0 if (beta == 0.0 and p0 == 0) else 1
        for i0 in range(0, m, MC):
            for j0 in range(0, n, NR):
                nr = min(NR, n - j0)
                if nr == NR and tb == NO_TRANS:
                    pb, bld = b + 4 * (p0 * ldb + j0), ldb
                else:
                    _pack(bv, tb, ldb, p0, kc, j0, nr, panel)
                    pb, bld = panel.ctypes.data, NR
                _rows(i0, min(i0 + MC, m), kc, a, rsa, csa, p0, pb, bld, c, ldc, j0, nr, add_c, cv, tile)


@njit(cache=True)
def sgemm_tree(m, n, k, L, a, rsa, csa, b, ldb, c, ldc):
    """C (m x n) = sum over the k rows p of A[:, p] B[p, :], the rows added in the tree order of
    kernels/reference/_tree.py for leaf stride L: leaf l sums rows l, l+L, ... in order, the
    leaves are folded pairwise. A is read through strides (rsa, csa), B row-major (ldb).

    For each MR x NR tile of C the leaves run back to back through the micro-kernel (a leaf's
    rows are A's and B's rows at stride L) and are merged on a small stack in L1, depth first
    (leaves in bit-reversed order), so no leaf's partial C ever leaves the cache."""
    if m <= 0 or n <= 0:
        return
    depth = 1
    while (1 << (depth - 1)) < L:
        depth += 1
    stack = np.empty((depth, MR * NR), np.float32)
    panel = np.empty(max(k, 1) * NR, np.float32)
    bv = _view(b, k * ldb)
    cv = _view(c, m * ldc)
    bits = depth - 1
    leaves = np.empty(L, np.int64)  # bit-reversed jj: the leaves in depth-first order
    rows = np.empty(L, np.int64)
    for jj in range(L):
        leaf = 0
        for q in range(bits):
            leaf |= ((jj >> q) & 1) << (bits - 1 - q)
        leaves[jj], rows[jj] = leaf, leaf_rows(k, L, leaf)
    for i0 in range(0, m, MC):  # MC rows of A stay in L2 while B's strips stream by
        for j0 in range(0, n, NR):
            nr = min(NR, n - j0)
            if nr == NR:
                pb, bld = b + 4 * j0, ldb
            else:  # a ragged strip: all k rows packed once, zero-padded
                _pack(bv, NO_TRANS, ldb, 0, k, j0, nr, panel)
                pb, bld = panel.ctypes.data, NR
            for i in range(i0, min(i0 + MC, m), MR):
                mr = min(MR, m - i)
                top = 0
                for jj in range(L):
                    leaf = leaves[jj]
                    # an odd jj is the right half of a pair of leaves: the micro-kernel adds its
                    # sum onto the left one's (one rounding, as left + right)
                    odd = jj & 1
                    _micro(mr, rows[jj], a + 4 * (i * rsa + leaf * csa), rsa, csa * L,
                           pb + 4 * leaf * bld, bld * L, stack[top - odd].ctypes.data, NR, odd)
                    top += 1 - odd
                    t = jj >> 1
                    while odd and t & 1:  # two finished subtrees of the same size: left + right
                        _vec.add(stack[top - 2], stack[top - 1])
                        top -= 1
                        t >>= 1
                for r in range(mr):
                    row = (i + r) * ldc + j0
                    _vec.copy(cv[row:row + nr], stack[0, r * NR:r * NR + nr])


@njit(cache=True, inline="always")
def _rows(i0, i1, kc, a, rsa, csa, p0, pb, bld, c, ldc, j0, nr, add_c, cv, tile):
    """Rows i0..i1 of one NR-column strip of C, MR at a time."""
    for i in range(i0, i1, MR):
        mr = min(MR, i1 - i)
        pa = a + 4 * (i * rsa + p0 * csa)
        if nr == NR:
            _micro(mr, kc, pa, rsa, csa, pb, bld, c + 4 * (i * ldc + j0), ldc, add_c)
        else:  # a ragged strip: through a full tile, then its valid columns
            _micro(mr, kc, pa, rsa, csa, pb, bld, tile.ctypes.data, NR, 0)
            for r in range(mr):
                row = (i + r) * ldc + j0
                if add_c:
                    cv[row:row + nr] += tile[r * NR:r * NR + nr]
                else:
                    cv[row:row + nr] = tile[r * NR:r * NR + nr]


@njit(cache=True, inline="always")
def _pack(bv, tb, ldb, p0, kc, j0, nr, panel):
    """op(B)[p0:p0+kc, j0:j0+nr] into a kc x NR panel, zero-padded past column nr."""
    if tb == NO_TRANS:
        for p in range(kc):
            panel[p * NR:p * NR + nr] = bv[(p0 + p) * ldb + j0:(p0 + p) * ldb + j0 + nr]
    else:  # read each row of B once, contiguously; the scattered writes stay in L1
        for j in range(nr):
            src = bv[(j0 + j) * ldb + p0:(j0 + j) * ldb + p0 + kc]
            for p in range(kc):
                panel[p * NR + j] = src[p]
    for p in range(kc):
        panel[p * NR + nr:(p + 1) * NR] = 0.0


@intrinsic
def _as_f32_array(typingctx, addr, size):
    """A 1-D float32 array over an address (no copy, no owner): Numba's carray needs a typed
    pointer, and the kernels pass addresses as integers."""
    from numba.core import cgutils
    arrty = types.Array(types.float32, 1, "C")
    sig = arrty(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], context.get_value_type(types.float32).as_pointer())
        ary = context.make_array(arrty)(context, builder)
        itemsize = context.get_constant(types.intp, 4)
        context.populate_array(ary, data=ptr, shape=cgutils.pack_array(builder, [args[1]]),
                               strides=cgutils.pack_array(builder, [itemsize]),
                               itemsize=itemsize, meminfo=None)
        return ary._getvalue()
    return sig, codegen


@njit(cache=True, inline="always")
def _view(addr, size):
    return _as_f32_array(addr, size)
