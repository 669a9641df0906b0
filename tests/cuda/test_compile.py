"""The CUDA flavour without a GPU: every .cu compiles with every instantiation its launcher asks
for, and every launcher passes its kernels exactly the C parameter types they declare.

Compilation goes through nvcc (to PTX) and/or NVRTC through CuPy's low-level binding (the
route CuPy takes at run time), whichever is installed; neither needs a device. The launchers
run with NumPy standing in for CuPy and a checking stub in place of the kernel launch: their
shapes, dtypes and argument lists are checked, not their values (tests/cuda/test_cuda_kernels.py
does that on a GPU).
"""
from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import pytest

from tinyconv.kernels.cuda import _cuda

FAMILIES = sorted(p.stem for p in _cuda.HERE.glob("*.cu"))
COMPILERS = _cuda.compilers()
ARCH = {"nvcc": 80, "nvrtc": 75}  # nvrtc also proves the oldest architecture CUDA 13 targets


def launcher(family):
    return importlib.import_module(f"tinyconv.kernels.cuda.{family}")


def reference(family):
    return importlib.import_module(f"tinyconv.kernels.reference.{family}")


def test_every_family_has_cuda_sources():
    assert FAMILIES == ["activation", "conv", "dropout", "lrn", "pool", "softmax"]


# --- compilation ----------------------------------------------------------------------------------
def _compiler_params():
    if not COMPILERS:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="neither nvcc on PATH nor CuPy's NVRTC binding with the NVRTC library "
                   "(pip install cupy-cuda13x 'nvidia-cuda-nvrtc==13.*')"))]
    return COMPILERS


@pytest.mark.parametrize("compiler", _compiler_params())
@pytest.mark.parametrize("family", FAMILIES)
def test_cu_compiles_with_every_instantiation(family, compiler):
    expressions = launcher(family).NAME_EXPRESSIONS
    try:
        ptx = _cuda.compile_ptx(_cuda.read_source(family), expressions, compiler, ARCH[compiler])
    except _cuda.CompileError as err:
        pytest.fail(f"{family}.cu does not compile with {compiler}:\n{err}")
    # one entry point per instantiation, and nothing the launcher does not know about
    assert len(re.findall(r"\.entry\s+\w+\s*\(", ptx)) == len(expressions)


BROKEN = {
    "syntax": "__global__ void k(float* a) { a[0] = 1.0f }\n",
    # only instantiating k<float> reveals this one: proves the instantiations are really compiled
    "template": "template <typename T> __global__ void k(T* a) { a[0] = T::missing; }\n",
}


@pytest.mark.parametrize("compiler", _compiler_params())
@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_source_fails_to_compile(kind, compiler):
    expressions = ["k<float>"] if kind == "template" else []
    with pytest.raises(_cuda.CompileError) as err:
        _cuda.compile_ptx(BROKEN[kind], expressions, compiler, ARCH[compiler])
    assert "error" in str(err.value).lower()  # the compiler's log travels with the exception


@pytest.mark.parametrize("compiler", _compiler_params())
def test_template_compiles_only_when_instantiated(compiler):
    # the same broken template without an instantiation compiles: that is why the launchers'
    # name expressions go with every compile above
    _cuda.compile_ptx(BROKEN["template"], [], compiler, ARCH[compiler])


# --- source structure -----------------------------------------------------------------------------
_SIGNATURE = re.compile(r"(template\s*<\s*typename\s+T\s*>\s*)?__global__\s+void\s+(\w+)\s*\(([^)]*)\)")


def _param_type(param: str) -> str:
    """'const T* __restrict__ x' -> 'T*'; 'unsigned long long seed' -> 'unsigned long long'."""
    words = param.replace("*", " * ").replace("const", " ").replace("__restrict__", " ").split()
    return " ".join(words[:-1]).replace(" *", "*")


def kernel_signatures(source: str) -> dict:
    """{kernel name: (is a template over T, [parameter types])} of every __global__ function."""
    return {m.group(2): (m.group(1) is not None, [_param_type(p) for p in m.group(3).split(",")])
            for m in _SIGNATURE.finditer(source)}


def kernel_body(source: str, name: str) -> str:
    """The text between the braces of kernel `name`."""
    start = source.index("{", re.search(r"__global__\s+void\s+" + name + r"\s*\(", source).end())
    depth = 0
    for i in range(start, len(source)):
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        if depth == 0:
            return source[start:i + 1]
    raise AssertionError(f"unbalanced braces in {name}")


def test_signature_parser_reads_kernels():
    sig = kernel_signatures(_cuda.read_source("dropout"))
    assert sig["dropout_uniform"] == (False, ["double*", "long long", "unsigned long long", "unsigned long long"])
    assert sig["dropout_forward"] == (True, ["T*", "T*", "unsigned char*", "long long", "unsigned long long",
                                             "unsigned long long", "double", "T"])


@pytest.mark.parametrize("family", FAMILIES)
def test_every_kernel_is_instantiated_by_its_launcher(family):
    module = launcher(family)._kernels
    signatures = kernel_signatures(_cuda.read_source(family))
    assert sorted(signatures) == sorted(module.templates + module.plain)
    for name, (templated, _) in signatures.items():
        assert templated == (name in module.templates), name


def test_sources_are_self_contained():
    for family in FAMILIES:
        source = _cuda.read_source(family)
        # local headers pasted in, nothing else included: NVRTC needs no include path
        assert not re.search(r"^\s*#\s*include", source, re.MULTILINE)
        assert source.count("block_reduce(T value") == 1  # common.cuh pasted exactly once


@pytest.mark.parametrize("name, where, python_value", [
    ("REDUCE_THREADS", "common.cuh", _cuda.REDUCE_THREADS),
    ("TILE", "conv.cu", _cuda.TILE),
])
def test_block_constants_match_python(name, where, python_value):
    text = (_cuda.HERE / where).read_text()
    (value,) = re.findall(r"enum\s*\{\s*" + name + r"\s*=\s*(\d+)\s*\}", text)
    assert int(value) == python_value
    assert python_value & (python_value - 1) == 0  # block_reduce needs a power of two


# --- launchers match the contract -----------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_launcher_signatures_match_reference(family):
    ref, cuda = reference(family), launcher(family)
    names = [n for n, f in inspect.getmembers(ref, inspect.isfunction)
             if f.__module__ == ref.__name__ and not n.startswith("_")]
    assert names, f"no public functions in kernels/reference/{family}.py"
    for name in names:
        assert hasattr(cuda, name), f"kernels/cuda/{family}.py lacks {name}"
        expected = inspect.signature(getattr(ref, name)).parameters
        actual = inspect.signature(getattr(cuda, name)).parameters
        assert [(p.name, p.kind, p.default) for p in actual.values()] == \
               [(p.name, p.kind, p.default) for p in expected.values()], name


# --- launchers pass the declared argument types ---------------------------------------------------
SCALAR = {"long long": np.int64, "unsigned long long": np.uint64, "double": np.float64, "float": np.float32}
POINTER = {"long long*": np.int64, "unsigned char*": np.uint8, "double*": np.float64, "float*": np.float32}


class LaunchChecker:
    """Stands in for Kernels.launch: checks each launch against the kernel's C signature."""

    def __init__(self):
        self.launched = []
        self.signatures = {}

    def __call__(self, kernels, name, dtype, grid, block, args):
        expression = kernels.expression(name, dtype)  # raises for an unknown instantiation
        source = _cuda.read_source(kernels.family)
        templated, params = kernel_signatures(source)[name]
        t = np.dtype(dtype).type if templated else None
        assert len(args) == len(params), f"{expression}: {len(args)} arguments for {len(params)} parameters"
        for i, (param, arg) in enumerate(zip(params, args)):
            where = f"{expression} argument {i} ({param})"
            if param.endswith("*"):
                want = t if param == "T*" else POINTER[param]
                assert isinstance(arg, np.ndarray), f"{where}: got {type(arg).__name__}"
                assert arg.dtype == np.dtype(want), f"{where}: array of {arg.dtype}"
                assert arg.flags.c_contiguous, f"{where}: array not C-contiguous"
            else:
                want = t if param == "T" else SCALAR[param]
                assert type(arg) is want, f"{where}: got {type(arg).__name__}, needs {want.__name__}"
        self._check_sizes(expression, kernel_body(source, name), grid, block)
        self.launched.append(expression)

    @staticmethod
    def _check_sizes(expression, body, grid, block):
        assert 1 <= len(grid) <= 3 and 1 <= len(block) <= 3, expression
        assert all(isinstance(v, int) and v >= 1 for v in grid + block), (expression, grid, block)
        assert grid[0] < 2**31 and all(v <= 65535 for v in grid[1:]), (expression, grid)
        assert int(np.prod(block)) <= 1024, (expression, block)
        if "TILE" in body:  # (TILE, rows): rows a power of two up to TILE (the tile loads step by it)
            assert len(block) == 2 and block[0] == _cuda.TILE, (expression, block)
            assert block[1] <= _cuda.TILE and block[1] & (block[1] - 1) == 0, (expression, block)
        if "REDUCE_THREADS" in body or "row_max_and_lse" in body:
            assert block == (_cuda.REDUCE_THREADS,), (expression, block)
        if "__match_any_sync" in body:
            assert len(block) == 1 and block[0] % 32 == 0, (expression, block)


@pytest.fixture
def checker(monkeypatch):
    """Launchers run on NumPy arrays; every kernel launch is checked instead of run."""
    check = LaunchChecker()
    monkeypatch.setattr(_cuda, "cupy", lambda: np)
    monkeypatch.setattr(_cuda.Kernels, "launch",
                        lambda self, name, dtype, grid, block, args: check(self, name, dtype, grid, block, args))
    return check


def same_layout(actual, expected):
    """The launcher's result has the reference's structure, shapes and dtypes."""
    if expected is None or actual is None:
        assert actual is None and expected is None
        return
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            same_layout(a, e)
        return
    assert actual.shape == expected.shape and actual.dtype == expected.dtype


def _cases(rng, dtype):
    """(family, function, args, kernels that must run) covering every contract function."""
    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, w, b = r(2, 4, 9, 8), r(6, 2, 3, 2), r(6)
    conv = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    gy = r(2, 6, 5, 6)
    cases = [
        ("conv", "im2col", (x, (3, 2), (2, 1), (1, 0), (1, 2)), ["im2col"]),
        ("conv", "col2im", (r(2, 24, 30), x.shape, (3, 2), (2, 1), (1, 0), (1, 2)), ["col2im"]),
    ]
    for algo, forward, backward in [("im2col", ["im2col", "bias_add"], ["conv2d_bias_grad", "im2col", "col2im"]),
                                    ("direct", ["conv2d_forward_direct", "bias_add"],
                                     ["conv2d_bias_grad", "conv2d_grad_weight_direct", "conv2d_grad_input_direct"])]:
        cases += [
            ("conv", "conv2d_forward", (x, w, b, *conv.values(), algo), forward),
            ("conv", "conv2d_forward", (x, w, None, *conv.values(), algo), forward[:1]),
            ("conv", "conv2d_backward", (gy, x, w, *conv.values(), algo), backward),
            ("conv", "conv2d_backward", (gy, x, w, *conv.values(), algo, False), backward[:2]),
        ]
    xp, argmax = r(2, 3, 7, 6), rng.integers(0, 42, (2, 3, 4, 3))
    cases += [
        ("pool", "max_pool2d_forward", (xp, (3, 2), (2, 2), (1, 1)), ["max_pool2d_forward"]),
        ("pool", "max_pool2d_forward", (xp, (2, 2), (1, 2), (1, 1), (2, 3)), ["max_pool2d_forward"]),
        ("pool", "max_pool2d_backward", (r(2, 3, 4, 3), argmax, xp.shape), ["max_pool2d_backward"]),
        ("pool", "avg_pool2d_forward", (xp, (3, 2), (2, 2), (1, 1)), ["avg_pool2d_forward"]),
        ("pool", "avg_pool2d_backward", (r(2, 3, 4, 4), xp.shape, (3, 2), (2, 2), (1, 1)),
         ["avg_pool2d_backward"]),
        ("pool", "adaptive_avg_pool2d_forward", (xp, (4, 5)), ["adaptive_avg_pool2d_forward"]),
        ("pool", "adaptive_avg_pool2d_backward", (r(2, 3, 4, 5), xp.shape, (4, 5)),
         ["adaptive_avg_pool2d_backward"]),
        ("lrn", "lrn_forward", (xp, 5, 1e-4, 0.75, 2.0), ["lrn_forward"]),
        ("lrn", "lrn_backward", (xp, xp, xp, np.abs(xp) + 1, 4, 1e-4, 0.75), ["lrn_backward"]),
        ("activation", "bias_add", (r(3, 4, 2, 2), r(4)), ["bias_add"]),
        ("activation", "bias_add", (r(3, 4), r(4)), ["bias_add"]),
        ("activation", "leaky_relu_forward", (xp, 0.1), ["leaky_relu_forward"]),
        ("activation", "leaky_relu_backward", (xp, xp, 0.1), ["leaky_relu_backward"]),
        ("dropout", "uniform", (10, 2**64 - 1, 5), ["dropout_uniform"]),
        ("dropout", "dropout_forward", (xp, 0.3, 2**63 + 5, 17), ["dropout_forward"]),
        ("dropout", "dropout_backward", (xp, (xp > 0).astype(np.uint8), 0.3), ["dropout_backward"]),
        ("softmax", "cross_entropy_forward", (r(5, 7), rng.integers(0, 7, 5), 0.1), ["cross_entropy_forward"]),
        ("softmax", "cross_entropy_forward", (r(5, 7), rng.integers(0, 7, 5), 0.0), ["cross_entropy_forward"]),
        ("softmax", "cross_entropy_backward", (r(5), r(5, 7), rng.integers(0, 7, 5), 0.1),
         ["cross_entropy_backward"]),
    ]
    for name in ("relu", "tanh", "sigmoid"):
        cases += [("activation", f"{name}_forward", (xp,), [f"{name}_forward"]),
                  ("activation", f"{name}_backward", (xp, xp), [f"{name}_backward"])]
    for name in ("softmax", "log_softmax"):
        cases += [("softmax", f"{name}_forward", (r(5, 7),), [f"{name}_forward"]),
                  ("softmax", f"{name}_backward", (r(5, 7), r(5, 7)), [f"{name}_backward"])]
    return cases


def test_cases_cover_the_contract():
    covered = {(family, fn) for family, fn, _, _ in _cases(np.random.default_rng(0), np.float32)}
    for family in FAMILIES:
        ref = reference(family)
        for name, f in inspect.getmembers(ref, inspect.isfunction):
            if f.__module__ == ref.__name__ and not name.startswith("_"):
                assert (family, name) in covered, f"{family}.{name} has no launcher case"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_launchers_pass_declared_types(checker, dtype):
    rng = np.random.default_rng(7)
    for family, fn, args, kernels in _cases(rng, dtype):
        checker.launched.clear()
        ref_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        actual = getattr(launcher(family), fn)(*args)
        expected = getattr(reference(family), fn)(*ref_args)
        same_layout(actual, expected)
        ran = [e.split("<")[0] for e in checker.launched]
        assert ran == kernels, f"{family}.{fn}: launched {ran}"
        suffix = "" if family == "dropout" and fn == "uniform" else f"<{_cuda.ctype(dtype)}>"
        assert all(e.endswith(suffix) for e in checker.launched), checker.launched


def test_empty_inputs_launch_nothing(checker):
    from tinyconv.kernels.cuda import activation, conv, dropout, softmax
    x = np.zeros((0, 3, 5, 5), np.float32)
    assert conv.im2col(x, (3, 3), (1, 1), (0, 0), (1, 1)).shape == (0, 27, 9)
    assert activation.relu_forward(x).shape == x.shape
    assert dropout.uniform(0, 1, 2).shape == (0,)
    assert softmax.softmax_forward(np.zeros((0, 4), np.float64)).shape == (0, 4)
    assert checker.launched == []


# --- pure launch geometry -------------------------------------------------------------------------
def test_blocks_cover_and_cap():
    assert _cuda.blocks(1) == 1
    assert _cuda.blocks(256) == 1 and _cuda.blocks(257) == 2
    assert _cuda.blocks(10**12) == _cuda.MAX_GRID  # grid-stride loops cover the rest
    assert _cuda.blocks(0) == 1


def test_u64_wraps_python_ints():
    assert _cuda.u64(2**64 - 1) == np.uint64(2**64 - 1)
    assert _cuda.u64(2**64 + 3) == np.uint64(3)
    assert type(_cuda.u64(5)) is np.uint64


def test_ctype_rejects_other_dtypes():
    assert _cuda.ctype(np.float32) == "float" and _cuda.ctype(np.dtype("float64")) == "double"
    with pytest.raises(TypeError, match="float16"):
        _cuda.ctype(np.float16)


def test_conv_geometry_matches_reference_shapes():
    from tinyconv.kernels.cuda import conv
    x = np.zeros((2, 3, 11, 7))
    g = conv.geometry(x.shape, (3, 2), (2, 3), (1, 2), (2, 1))
    cols = reference("conv").im2col(x, (3, 2), (2, 3), (1, 2), (2, 1))
    assert cols.shape == (2, 3 * 3 * 2, g.OH * g.OW)
    assert (g.OH, g.OW) == ((11 + 2 - 4 - 1) // 2 + 1, (7 + 4 - 1 - 1) // 3 + 1)
    assert all(type(a) is np.int64 for a in g.args()) and len(g.args()) == 14


@pytest.mark.parametrize("n, hw, o, k, groups", [(1, 1, 6, 25, 1), (128, 27 * 27, 256, 1200, 2),
                                                 (64, 28 * 28, 6, 25, 1), (1, 10**6, 2, 2, 1)])
def test_grad_weight_splits(n, hw, o, k, groups):
    from tinyconv.kernels.cuda import conv
    g = conv.Geometry(n, groups * k, hw, 1, 1, 1, 1, 1, 0, 0, 1, 1, hw, 1)
    splits = conv.grad_weight_splits(g, o, groups)
    steps = n * _cuda.tiles(hw)
    assert 1 <= splits <= max(1, steps) and groups * splits <= _cuda.MAX_GRID
    if steps >= 8 * 1024:  # a long reduction over few output tiles is cut into many pieces
        assert splits > 1


def test_tiled_grid():
    from tinyconv.kernels.cuda import conv
    assert conv.tiled_grid(17, 16, 3) == (2, 1, 3)
    assert [conv.tile_rows(n) for n in (1, 2, 3, 6, 16, 17, 384)] == [1, 2, 4, 8, 16, 16, 16]
    assert conv.tiled_grid(17, 6, 3, conv.tile_rows(6)) == (2, 1, 3)
    assert conv.tiled_grid(17, 20, 3, conv.tile_rows(20)) == (2, 2, 3)
    assert conv.tiled_grid(1, 1, 10**6) == (1, 1, _cuda.MAX_GRID)
    with pytest.raises(ValueError, match="rows"):
        conv.tiled_grid(1, 16 * (_cuda.MAX_GRID + 1), 1)


def test_pool_window_args():
    from tinyconv.kernels.cuda import pool
    args = pool.window_args((2, 3, 7, 6), (3, 2), (2, 2), (1, 1))
    assert [int(a) for a in args] == [6, 7, 6, 3, 2, 2, 2, 1, 1, 4, 4]
    assert all(type(a) is np.int64 for a in args)
    args = pool.max_window_args((2, 3, 7, 6), (3, 2), (2, 1), (1, 1), (2, 3))
    assert [int(a) for a in args] == [6, 7, 6, 3, 2, 2, 1, 1, 1, 2, 3, 3, 5]
    assert all(type(a) is np.int64 for a in args)


@pytest.mark.parametrize("geometry", [
    ((2, 3, 227, 227), (11, 11), (4, 4), (0, 0), (1, 1)),  # AlexNet conv1
    ((1, 2, 13, 9), (3, 5), (2, 3), (1, 2), (2, 1)),
    ((1, 1, 3, 2), (2, 2), (4, 4), (1, 1), (3, 3)),  # more phases than rows: empty phases
])
def test_stride_phase_tables_hold_exactly_the_taps_that_reach_each_pixel(geometry):
    """conv2d_grad_input_direct's reduction per input pixel is its phase's entries: every tap
    (o, i, j) in them reaches the pixel for some output, every other tap cannot, and the phases
    share the taps out: the work is 1/(sh*sw) of a reduction over all of them."""
    from tinyconv.kernels.cuda import conv
    x_shape, kernel, stride, padding, dilation = geometry
    g = conv.geometry(x_shape, kernel, stride, padding, dilation)
    out_per_group, cg = 3, 2
    phases, taps = conv.stride_phase_tables(g, out_per_group, cg)
    assert phases.shape == (g.sh * g.sw, 6) and taps.shape == (out_per_group * g.kh * g.kw, 4)
    seen = []
    for rh in range(g.sh):
        for rw in range(g.sw):
            h0, n_rows, w0, n_cols, first, count = phases[rh * g.sw + rw]
            assert list(range(h0, g.H, g.sh)) == [h for h in range(g.H) if (h + g.ph) % g.sh == rh]
            assert n_rows == len(range(h0, g.H, g.sh)) and n_cols == len(range(w0, g.W, g.sw))
            for w_off, gy_off, di, dj in taps[first:first + count]:
                o, tap = divmod(int(w_off), cg * g.kh * g.kw)
                i, j = divmod(tap, g.kw)
                assert gy_off == o * g.OH * g.OW
                seen.append((o, i, j))
                # pixel (a, b) = input (h0 + a*sh, w0 + b*sw) meets this tap at output (a + di, b + dj)
                assert h0 + g.ph - i * g.dh == di * g.sh and w0 + g.pw - j * g.dw == dj * g.sw
    assert sorted(seen) == [(o, i, j) for o in range(out_per_group) for i in range(g.kh) for j in range(g.kw)]
    longest = phases[:, 5].max()
    if (g.sh, g.sw, g.kh) == (4, 4, 11):  # every pixel reduces over at most 3*3 taps per channel, not 121
        assert longest == out_per_group * 9


def test_direct_kernel_tables():
    from tinyconv.kernels.cuda import conv
    g = conv.geometry((1, 4, 7, 6), (2, 3), (2, 1), (1, 0), (2, 1))
    columns, positions = conv.column_table(g, 2), conv.position_table(g)
    x = np.arange(2 * 7 * 6).reshape(2, 7, 6)
    cols = reference("conv").im2col(x[None].astype(float), (2, 3), (2, 1), (1, 0), (2, 1))[0]
    for k, (off, ih, jw) in enumerate(columns):
        for l, (hb, wb) in enumerate(positions):
            h, w = hb + ih, wb + jw
            expected = x.reshape(-1)[off + hb * g.W + wb] if 0 <= h < g.H and 0 <= w < g.W else 0
            assert cols[k, l] == expected
