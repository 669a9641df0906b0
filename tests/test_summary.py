"""summary traces the model's own forward() through forward hooks: any control flow works."""
import numpy as np

import tinyconv as tc
from tinyconv import models, nn
from tinyconv.summary import summarize


class Branchy(nn.Module):
    """Not a chain: a ModuleList looped twice, a skip connection and a functional flatten."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()])
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = self.stem(x)
        for _ in range(2):
            y = x
            for b in self.blocks:
                y = b(y)
            x = x + y
        return self.head(tc.flatten(self.pool(x), 1))


def test_summary_follows_forward_and_counts_macs():
    s = summarize(Branchy(), (1, 8, 8))
    names = [r["name"] for r in s["rows"]]
    assert names == ["stem", "blocks.0", "blocks.1", "blocks.0", "blocks.1", "pool", "head"]
    assert [r["output"] for r in s["rows"]][-2:] == [(4, 4, 4), (3,)]
    assert s["rows"][0]["macs"] == 4 * 8 * 8 * 9 and s["rows"][-1]["macs"] == 64 * 3
    assert s["total_params"] == 4 * 9 + 4 + 4 * 4 * 9 + 4 + 64 * 3 + 3  # shared blocks once
    assert s["rows"][-2]["receptive_field"] == 1 + 2 + 2 + 2 + 1 and s["rows"][-2]["jump"] == 2


def test_lenet5_summary_and_no_hooks_left():
    model = models.lenet5()
    s = summarize(model, (1, 32, 32))
    assert s["total_params"] == 61706 and s["total_macs"] == 416520
    assert all(not m.__dict__.get("_forward_hooks") for m in model.modules())
    assert model.training
    assert np.isclose(s["fc_share"], 59134 / 61706)
