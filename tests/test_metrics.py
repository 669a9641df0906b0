"""Metrics against hand-computed values, ties included, and against scikit-learn's layout."""
import numpy as np
import pytest

import tinyconv
from tinyconv.metrics import accuracy, confusion_matrix, topk_accuracy

LOGITS = np.array([
    [0.1, 0.7, 0.2, 0.0],   # ranking 1, 2, 0, 3
    [0.9, 0.05, 0.03, 0.02],  # 0, 1, 2, 3
    [0.3, 0.3, 0.4, 0.0],   # 2, then 0 and 1 tied (0 first), 3
    [0.25, 0.25, 0.25, 0.25],  # all tied: 0, 1, 2, 3
], dtype=np.float32)
TARGET = np.array([2, 0, 1, 3])
# target ranks (0-based): row 0: class 2 -> 1; row 1: 0 -> 0; row 2: 1 -> 2 (behind 2 and 0);
# row 3: 3 -> 3 (behind the tied lower indices)


def test_accuracy_from_logits_and_from_predictions():
    assert accuracy(LOGITS, TARGET) == 0.25  # argmax: 1, 0, 2, 0
    assert accuracy(tinyconv.tensor(LOGITS), tinyconv.tensor(TARGET)) == 0.25
    assert accuracy(np.array([1, 0, 1, 3]), TARGET) == 0.75
    assert accuracy([2, 0, 1, 3], TARGET) == 1.0
    assert isinstance(accuracy(LOGITS, TARGET), float)


def test_topk_by_hand_with_ties():
    assert topk_accuracy(LOGITS, TARGET, k=(1, 2, 3, 4)) == (0.25, 0.5, 0.75, 1.0)
    assert topk_accuracy(tinyconv.tensor(LOGITS), TARGET, k=2) == 0.5
    # ties go to the lower index: a target tied with a higher index is ahead of it
    assert topk_accuracy(np.array([[1.0, 1.0, 0.0]]), np.array([0]), k=1) == 1.0
    assert topk_accuracy(np.array([[1.0, 1.0, 0.0]]), np.array([1]), k=1) == 0.0


def test_top1_agrees_with_accuracy(rng):
    logits = rng.integers(0, 3, size=(200, 6)).astype(np.float64)  # many ties on purpose
    target = rng.integers(0, 6, size=200)
    assert topk_accuracy(logits, target, k=1) == accuracy(logits, target)


def test_topk_matches_a_stable_sort(rng):
    logits = np.round(rng.standard_normal((100, 10)), 1)  # ties by rounding
    target = rng.integers(0, 10, size=100)
    order = np.argsort(-logits, axis=1, kind="stable")
    rank = np.argmax(order == target[:, None], axis=1)
    expected = tuple(float(np.mean(rank < k)) for k in (1, 3, 5))
    assert topk_accuracy(logits, target, k=(1, 3, 5)) == expected


def test_confusion_matrix_by_hand():
    preds = np.array([0, 1, 1, 2, 2, 2, 0])
    target = np.array([0, 1, 2, 2, 2, 0, 0])
    cm = confusion_matrix(preds, target, num_classes=4)
    expected = np.array([[2, 0, 1, 0],   # true 0: predicted 0 twice, 2 once
                         [0, 1, 0, 0],
                         [0, 1, 2, 0],
                         [0, 0, 0, 0]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(confusion_matrix(tinyconv.tensor(LOGITS), TARGET, 4).sum(axis=1), [1, 1, 1, 1])
    np.testing.assert_array_equal(np.diag(confusion_matrix(LOGITS, TARGET, 4)), [1, 0, 0, 0])


def test_confusion_matrix_matches_sklearn(rng):
    metrics = pytest.importorskip("sklearn.metrics")
    preds, target = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    np.testing.assert_array_equal(confusion_matrix(preds, target, 5),
                                  metrics.confusion_matrix(target, preds, labels=range(5)))


@pytest.mark.parametrize("call, error, match", [
    (lambda: accuracy(LOGITS, TARGET[:3]), ValueError, r"\(4, 4\).*\(3,\).*batch size"),
    (lambda: accuracy(LOGITS, TARGET.astype(np.float32)), TypeError, "integer class indices"),
    (lambda: accuracy(LOGITS, np.array([0, 1, 2, 4])), ValueError, r"outside \[0, 4\)"),
    (lambda: accuracy(np.array([0.0, 1.0]), np.array([0, 1])), TypeError, "integer"),
    (lambda: accuracy(LOGITS[None], TARGET), ValueError, "logits"),
    (lambda: accuracy(np.zeros((0, 3)), np.zeros(0, np.int64)), ValueError, "empty"),
    (lambda: accuracy(np.array([1, 0]), np.array([-1, 0])), ValueError, "negative"),
    (lambda: accuracy(np.full((2, 2), np.nan), np.array([0, 1])), ValueError, "NaN"),
    (lambda: accuracy("12", TARGET), TypeError, "Tensor or an array"),
    (lambda: topk_accuracy(LOGITS, TARGET, k=5), ValueError, r"\[1, 4\]"),
    (lambda: topk_accuracy(LOGITS, TARGET, k=(1, 0)), ValueError, "k"),
    (lambda: topk_accuracy(LOGITS, TARGET, k=()), ValueError, "empty"),
    (lambda: topk_accuracy(np.array([1, 0]), np.array([1, 0])), ValueError, "2-D"),
    (lambda: confusion_matrix(LOGITS, TARGET, 3), ValueError, "4 classes but num_classes is 3"),
    (lambda: confusion_matrix(np.array([0, 5]), np.array([0, 1]), 3), ValueError, "predictions"),
    (lambda: confusion_matrix(np.array([0, 1]), np.array([0, 1]), 0), ValueError, "num_classes"),
])
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
