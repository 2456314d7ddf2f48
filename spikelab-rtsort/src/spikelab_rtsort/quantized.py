"""An int8 copy of the detection network for CPU inference.

Torch's dynamic quantization does not cover ``Conv1d`` (it leaves the network unchanged), so the
network is quantized statically: weights per output channel, activations per tensor with ranges
observed on scaled traces of the recording being sorted (the calibration sample), ReLUs fused into
the convolutions. At 1,020 channels on 2 threads it took 1.69 CPU-s per second of recording
against 5.0 for float32, with detection F1 0.9951 against 0.9952 on the RT-Sort bench's held-out
recording (``bench/results/rtsort/realtime.md``).
Only CPUs with a quantized engine (x86 ``fbgemm``/``x86``, ARM ``qnnpack``) can run it; elsewhere
:func:`quantize_int8` returns the model unchanged.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import structlog
import torch
from torch import nn

from .model import DetectionModel

log = structlog.get_logger(__name__)

#: Calibration sample kept with a sorter: channels x frames at most (float16, about 0.5 MB).
CALIBRATION_SHAPE = (64, 4000)


def quantized_engine() -> str | None:
    """The torch quantized engine this CPU can run (None when there is none)."""
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "qnnpack"):
        if name in engines:
            return name
    return None


class _Int8Net(nn.Module):
    """Float in, float out; int8 in between."""

    def __init__(self, conv: nn.Sequential, receptive_field: int):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = copy.deepcopy(conv)
        self.dequant = torch.ao.quantization.DeQuantStub()
        self.receptive_field = receptive_field

    def forward(self, traces: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.conv(self.quant(traces)))[:, 0, :]


def calibration_sample(scaled: np.ndarray) -> np.ndarray:
    """Channels x frames of scaled traces (frames x channels) to calibrate on, float16.

    The channels with the deepest troughs are taken (activations must cover spikes, not only
    noise), with frames spread over the recording.
    """
    n_ch, n_fr = CALIBRATION_SHAPE
    channels = np.sort(np.argsort(scaled.min(axis=0))[:n_ch])
    pieces = max(1, min(10, scaled.shape[0] // 400))
    starts = np.linspace(0, max(0, scaled.shape[0] - n_fr // pieces), pieces).astype(int)
    rows = np.concatenate([np.arange(s, min(s + n_fr // pieces, scaled.shape[0])) for s in starts])
    return np.ascontiguousarray(scaled[np.ix_(rows, channels)].T).astype(np.float16)


def quantize_int8(model: DetectionModel, calibration: np.ndarray) -> DetectionModel:
    """An int8 copy of ``model`` calibrated on ``calibration`` (channels x frames, scaled units).

    Returns ``model`` itself when it runs on a GPU, is not a stack of ``Conv1d``/``ReLU`` layers,
    or the CPU has no quantized engine.
    """
    engine = quantized_engine()
    layers = list(getattr(model.net, "conv", []))
    if engine is None or str(model.device) != "cpu" or not layers:
        return model
    if not all(isinstance(m, (nn.Conv1d, nn.ReLU)) for m in layers):
        return model
    torch.backends.quantized.engine = engine
    net = _Int8Net(model.net.conv, model.receptive_field).eval()
    fuse = [[str(i), str(i + 1)] for i in range(len(layers) - 1)
            if isinstance(layers[i], nn.Conv1d) and isinstance(layers[i + 1], nn.ReLU)]
    with warnings.catch_warnings():  # torch.ao eager quantization warns of its move to torchao
        warnings.simplefilter("ignore")
        net.qconfig = torch.ao.quantization.get_default_qconfig(engine)
        torch.ao.quantization.fuse_modules(net.conv, fuse, inplace=True)
        torch.ao.quantization.prepare(net, inplace=True)
        with torch.inference_mode():
            net(torch.from_numpy(np.asarray(calibration, np.float32)[:, None, :]))
        torch.ao.quantization.convert(net, inplace=True)
    log.debug("rtsort.int8_model", engine=engine, calibration_shape=tuple(calibration.shape))
    return DetectionModel(net, model.init_dict, device="cpu")
