"""Quantization (PyTorch's `torch.ao.quantization` names): quantized tensors, observers, and
post-training static quantization to an integer-only inference path.

- `quantize_per_tensor`, `quantize_per_channel`, `dequantize`, dtypes `quint8`, `qint8`, `qint32`:
  PyTorch's affine quantization, bitwise (qtensor.py).
"""
from .qtensor import (PER_CHANNEL_AFFINE, PER_TENSOR_AFFINE, QDtype, QuantizedTensor, dequantize,  # noqa: F401
                      qint8, qint32, quantize_per_channel, quantize_per_tensor, quint8)
