"""PyTorch's own test inputs: every sample of PyTorch's OpInfo database (`op_db`) for the ops
tinyconv shares with it, at float64 with requires_grad=True. Each sample either runs and equals
PyTorch's output and every input gradient (1e-8 relative): none may be wrong, and none may be
refused (a ValueError / TypeError / NotImplementedError is counted as a refusal and fails).
Samples PyTorch itself rejects are skipped. Needs torch and expecttest (the test extra)."""
import collections

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

OURS = {
    "nn.functional.conv1d": F.conv1d, "nn.functional.conv2d": F.conv2d,
    "nn.functional.max_pool1d": F.max_pool1d, "nn.functional.max_pool2d": F.max_pool2d,
    "nn.functional.avg_pool1d": F.avg_pool1d, "nn.functional.avg_pool2d": F.avg_pool2d,
    "nn.functional.adaptive_avg_pool2d": F.adaptive_avg_pool2d,
    "nn.functional.local_response_norm": F.local_response_norm,
    "nn.functional.relu": F.relu, "nn.functional.leaky_relu": F.leaky_relu,
    "nn.functional.linear": F.linear, "softmax": F.softmax, "log_softmax": F.log_softmax,
    "nn.functional.cross_entropy": F.cross_entropy, "nn.functional.nll_loss": F.nll_loss,
    "nn.functional.batch_norm": F.batch_norm,
}
REFUSALS = (ValueError, TypeError, NotImplementedError)


def _ours(value, leaves):
    """torch tensors -> tinyconv tensors (copies, same dtype and requires_grad), recursively."""
    if isinstance(value, torch.Tensor):
        t = tc.tensor(value.detach().numpy().copy(), requires_grad=value.requires_grad)
        if value.requires_grad:
            leaves.append(t)
        return t
    if isinstance(value, (list, tuple)):
        return type(value)(_ours(v, leaves) for v in value)
    if isinstance(value, dict):
        return {k: _ours(v, leaves) for k, v in value.items()}
    return value


def _torch_leaves(sample):
    found = []

    def walk(v):
        if isinstance(v, torch.Tensor) and v.requires_grad:
            found.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
    walk([sample.input, sample.args, sample.kwargs])
    return found


def _close(a, b, what, sample):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.nanmax(np.abs(b)))) if b.size else 1.0
    if a.shape != b.shape or not np.allclose(a, b, rtol=1e-8, atol=1e-10 * scale, equal_nan=True):
        # the sample's repr is costly: built only for a failure
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * scale, err_msg=f"{what} ({sample})")


def _run(op, ours, sample, rng):
    """'refused', 'match', or 'torch rejects'; raises AssertionError when tinyconv is wrong."""
    leaves = []
    args = _ours([sample.input, *sample.args], leaves)
    kwargs = _ours(dict(sample.kwargs), leaves)
    try:
        expect = op.op(sample.input, *sample.args, **sample.kwargs)
    except Exception:
        return "torch rejects"
    try:
        got = ours(*args, **kwargs)
    except REFUSALS as e:
        assert str(e), f"{op.name}: refused without a message"
        return "refused"
    expect_t = expect if isinstance(expect, tuple) else (expect,)
    got_t = got if isinstance(got, tuple) else (got,)
    assert len(got_t) == len(expect_t), f"{op.name}: {len(got_t)} outputs vs {len(expect_t)}"
    for i, (g, e) in enumerate(zip(got_t, expect_t)):
        _close(g.numpy(), e.detach().numpy(), f"{op.name} output {i}", sample)
    out, out_t = got_t[0], expect_t[0]
    torch_leaves = _torch_leaves(sample)
    if out_t.requires_grad and torch_leaves:
        v = rng.standard_normal(out_t.shape)
        grads = torch.autograd.grad(out_t, torch_leaves, torch.from_numpy(v), allow_unused=True)
        out.backward(v)
        for k, (mine, theirs) in enumerate(zip(leaves, grads)):
            want = np.zeros(mine.shape) if theirs is None else theirs.numpy()
            have = np.zeros(mine.shape) if mine.grad is None else mine.grad.numpy()
            _close(have, want, f"{op.name} gradient of input {k}", sample)
    return "match"


def test_every_opinfo_sample_runs_and_matches():
    rng = np.random.default_rng(0)
    counts = collections.Counter()
    for op in op_db:
        ours = OURS.get(op.name)
        if ours is None or op.variant_test_name not in ("", "without_cudnn"):
            continue
        for sample in op.sample_inputs("cpu", torch.float64, requires_grad=True):
            counts[(op.name, _run(op, ours, sample, rng))] += 1
    matched = sum(n for (_, r), n in counts.items() if r == "match")
    refused = sum(n for (_, r), n in counts.items() if r == "refused")
    print(f"\nOpInfo: {matched} samples match PyTorch, {refused} refused with a clear error")
    for name in sorted(OURS):
        row = {r: counts[(name, r)] for r in ("match", "refused", "torch rejects")}
        print(f"  {name}: {row}")
    # every op family runs; nothing above was wrong; and no sample PyTorch accepts is refused
    assert all(counts[(name, "match")] > 0 for name in OURS), sorted(counts.items())
    assert refused == 0, sorted((k, n) for k, n in counts.items() if k[1] == "refused")
