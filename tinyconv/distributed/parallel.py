"""DistributedDataParallel: one model replica per rank, gradients averaged over ranks in buckets.

    model = DistributedDataParallel(lenet5())           # checks the definition, copies rank 0's weights
    loss = F.cross_entropy(model(x_shard), y_shard)
    optimizer.zero_grad(); loss.backward()
    model.finish_gradient_sync()                          # `fit` calls it for you
    optimizer.step()

Parameters are packed, in reverse registration order (the order backward produces their
gradients), into buckets of at most `bucket_cap_mb`. Where tensors have `register_hook`, a
bucket's reduction starts the moment its last gradient arrives, so communication overlaps the
backward of the earlier layers; `finish_gradient_sync()` starts whatever is left, waits, and
writes the averaged gradients back. (MPICH moves a non-blocking collective forward only inside MPI
calls, which the hooks make; MPIR_CVAR_ASYNC_PROGRESS=1 adds a progress thread.)

Against one process training the whole batch: each rank's forward is that process's, sample for
sample, and the kernels sum every parameter gradient over a batch as a fixed tree whose top split
is even rows + odd rows (kernels/reference/_tree.py), which is how DistributedSampler deals a
batch to 2 ranks. So with 2 ranks the averaged gradient is bitwise the single process's (float32
on the numba backend, float32 and float64 on numpy; numba's float64 GEMMs are BLAS's, which
round by matrix size, so there ~1e-16), and so are the weights after any number of steps, as long
as each rank holds more than LEAF/2 = 8 samples of a batch.

deterministic=True gathers every rank's bucket and adds the parts in that same tree order on
every rank ((r0 + r2) + (r1 + r3) for 4 ranks), instead of trusting the MPI library's reduction
order: then 4, 8, ... ranks reproduce one process bitwise too (while a rank holds more than 8
samples of a batch), and any world size gives the same bits on every rank in every run. It
moves `size` times the bytes of an allreduce.
"""
from __future__ import annotations

import hashlib

from ..autograd import Tensor
from ..kernels.reference._tree import tree_sum
from ..backend import array_module
from ..nn import Module
from .group import DistributedError


def model_signature(module) -> list:
    """(name, shape, dtype) of every parameter and buffer: what ranks must agree on."""
    items = [("param", n, tuple(p.shape), str(p.dtype)) for n, p in module.named_parameters()]
    items += [("buffer", n, tuple(b.shape), str(b.dtype)) for n, b in module.named_buffers()]
    return items


def check_same_model(module, group) -> str:
    """Raise DistributedError on every rank unless all ranks hold the same model definition."""
    sig = model_signature(module)
    digest = hashlib.sha256(repr(sig).encode()).hexdigest()[:16]
    everyone = group.allgather_object((digest, sig))
    if all(d == digest for d, _ in everyone):
        return digest
    ref_digest, ref = everyone[0]
    lines = []
    for r, (d, other) in enumerate(everyone):
        if d == ref_digest:
            continue
        n_ref, n_other = sum(_numel(s[2]) for s in ref), sum(_numel(s[2]) for s in other)
        diff = next((f"{a} vs {b}" for a, b in zip(ref, other) if a != b),
                    f"{len(ref)} vs {len(other)} tensors")
        lines.append(f"rank {r} has {len(other)} tensors / {n_other} values (hash {d}) against "
                     f"rank 0's {len(ref)} / {n_ref} (hash {ref_digest}); first difference: {diff}")
    raise DistributedError("DistributedDataParallel: the model definitions differ across ranks: "
                           + "; ".join(lines))


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


class _Bucket:
    def __init__(self, params, xp, dtype):
        self.params, self.xp = params, xp
        self.offsets, total = [], 0
        for p in params:
            self.offsets.append((total, total + p.numel()))
            total += p.numel()
        self.flat = xp.zeros(total, dtype=dtype)
        self.reset()

    def reset(self):
        self.ready, self.work, self.prior = set(), None, {}


class DistributedDataParallel(Module):
    """Wrap `module` so that every rank trains the same model on its own shard of each batch.

    group: the process group (default: the world, `distributed.init()`).
    bucket_cap_mb: the largest gradient bucket, in MB (PyTorch's default, 25).
    deterministic: gather and add the ranks' gradients in the kernels' tree order (see the module
        docstring).
    broadcast_buffers: copy rank 0's buffers too at construction.
    """

    def __init__(self, module, group=None, bucket_cap_mb=25.0, deterministic=False,
                 broadcast_buffers=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        if group is None:
            from .world import get_world
            group = get_world()
        self.module = module
        object.__setattr__(self, "group", group)
        self.deterministic = bool(deterministic)
        self.signature = check_same_model(module, group)
        for t in list(module.parameters()) + (list(module.buffers()) if broadcast_buffers else []):
            if not t.data.flags.c_contiguous:
                t.data = array_module(t.data).ascontiguousarray(t.data)
            group.broadcast_(t.data, root=0)
        trainable = [p for p in module.parameters() if p.requires_grad]
        object.__setattr__(self, "_buckets", self._make_buckets(trainable[::-1], bucket_cap_mb))
        object.__setattr__(self, "_where", {id(p): (b, i) for b in self._buckets
                                           for i, p in enumerate(b.params)})
        object.__setattr__(self, "_pending", False)
        object.__setattr__(self, "hooked", all(hasattr(p, "register_hook") for p in trainable))
        if self.hooked:
            for p in trainable:
                p.register_hook(self._make_hook(p))

    @staticmethod
    def _make_buckets(params, cap_mb):
        buckets, current, size = [], [], 0
        cap = cap_mb * 2 ** 20
        for p in params:
            nbytes = p.numel() * p.dtype.itemsize
            if current and (size + nbytes > cap or p.dtype != current[0].dtype
                            or p.device != current[0].device):
                buckets.append(current)
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            buckets.append(current)
        return [_Bucket(ps, array_module(ps[0].data), ps[0].dtype) for ps in buckets]

    @property
    def bucket_sizes(self) -> list:
        """Number of parameters in each bucket, in reduction order."""
        return [len(b.params) for b in self._buckets]

    def forward(self, *args, **kwargs):
        if self._pending:
            raise RuntimeError("DistributedDataParallel: the previous backward's gradients were never "
                               "averaged; call model.finish_gradient_sync() between loss.backward() "
                               "and optimizer.step() (fit() does)")
        return self.module(*args, **kwargs)

    # --- the reduction ------------------------------------------------------------------
    def _make_hook(self, p):
        def hook(g):
            b, i = self._where[id(p)]
            lo, hi = b.offsets[i]
            b.flat[lo:hi] = g.data.reshape(-1) if isinstance(g, Tensor) else g.reshape(-1)
            if p.grad is not None:  # accumulating over several backwards: keep the synced part
                b.prior[i] = p.grad.data.copy()
            b.ready.add(i)
            object.__setattr__(self, "_pending", True)
            if len(b.ready) == len(b.params) and b.work is None:
                self._start(b)
            for other in self._buckets:  # give MPI a chance to move started buckets along
                if other.work is not None:
                    other.work.test()
            return None
        return hook

    def _start(self, b):
        b.work = self.group.iallgather(b.flat) if self.deterministic else self.group.iallreduce_(b.flat)

    def finish_gradient_sync(self):
        """Average every parameter's gradient over the ranks (start what the hooks did not)."""
        for b in self._buckets:
            if b.work is None:
                for i, p in enumerate(b.params):
                    if i in b.ready:
                        continue
                    lo, hi = b.offsets[i]
                    # no hook ran (no hooks, or the parameter was unused this step): send .grad or 0
                    b.flat[lo:hi] = 0 if p.grad is None else p.grad.data.reshape(-1)
                self._start(b)
        for b in self._buckets:
            result = b.work.wait()
            total = self._sum_as_tree(result) if self.deterministic else result
            total = total / self.group.size
            for i, p in enumerate(b.params):
                lo, hi = b.offsets[i]
                avg = total[lo:hi].reshape(p.shape)
                if i in b.prior:
                    avg = b.prior[i] + avg
                if p.grad is None:
                    p.grad = Tensor(avg.copy())
                else:
                    p.grad.data = avg.copy()
            b.reset()
        object.__setattr__(self, "_pending", False)

    @staticmethod
    def _sum_as_tree(parts):
        """The ranks' parts added as the kernels add leaves: part r holds rows r, r+W, ... of
        the global batch, so for W a power of two the parts are the tree's top W leaves; other
        world sizes are added in rank order."""
        W = len(parts)
        if W & (W - 1) == 0:
            return tree_sum(lambda r: parts[r], W)
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        return total

    # --- helpers for training loops -----------------------------------------------------
    def reduce_sums(self, *values):
        """Sum Python numbers over ranks (epoch loss sums, correct counts, sample counts)."""
        rows = self.group.allgather_object(tuple(float(v) for v in values))
        return tuple(sum(r[k] for r in rows) for k in range(len(values)))

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state_dict, strict=True):
        return self.module.load_state_dict(state_dict, strict)

    def extra_repr(self):
        return (f"backend={self.group.backend!r}, world={self.group.size}, buckets={self.bucket_sizes}, "
                f"deterministic={self.deterministic}")
