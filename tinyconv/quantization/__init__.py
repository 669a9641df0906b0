"""Quantization (PyTorch's `torch.ao.quantization` names where PyTorch has the concept).

- qtensor.py: `quantize_per_tensor`, `quantize_per_channel`, `dequantize`, dtypes `quint8`,
  `qint8`, `qint32`: PyTorch's affine quantization, bitwise.
- observer.py: `MinMaxObserver`, `PerChannelMinMaxObserver`, `PercentileObserver`: ranges -> qparams.
- multiplier.py: `quantize_multiplier`: a real requantization factor as M0 * 2**-s.
- static.py: `quantize_static(model, images)` -> `QuantizedModel`, the integer-only inference
  path (int8 x int8 -> int32 kernels in kernels/*/quantized.py), its exact fake-quant float
  reference, int4 weights (`weight_bits=4`), `load_quantized`.
- noise.py: `snr_per_layer`: the additive-noise model's predicted SNR next to the measured one.
"""
from .multiplier import quantize_multiplier  # noqa: F401
from .noise import snr_per_layer  # noqa: F401
from .observer import MinMaxObserver, PercentileObserver, PerChannelMinMaxObserver  # noqa: F401
from .qtensor import (PER_CHANNEL_AFFINE, PER_TENSOR_AFFINE, QDtype, QuantizedTensor, dequantize,  # noqa: F401
                      qint8, qint32, quantize_per_channel, quantize_per_tensor, quint8)
from .static import (QuantizedModel, load_quantized, pack_int4, quantize_static,  # noqa: F401
                     quantize_weight, unpack_int4)
