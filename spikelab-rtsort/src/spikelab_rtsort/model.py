"""The spike detection network: a per-channel 1-D convolutional net with per-frame logits.

Every channel is processed independently: the batch dimension holds channels and the network sees a
single input channel. The net has no padding, so an input of ``n`` frames yields ``n - rf + 1``
output logits, where ``rf`` is the receptive field; output ``i`` scores a spike trough at input frame
``i + buffer_front``. A model folder holds ``init_dict.json`` (geometry, scaling, thresholds,
provenance) and ``state_dict.pt`` (weights), the layout published with RT-Sort, so folders written
by the original tools can be loaded as well (weights saved on a GPU are mapped to the CPU).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikelab.atomic import atomic_open

from ._errors import ModelLoadingError

INIT_DICT = "init_dict.json"
STATE_DICT = "state_dict.pt"
REQUIRED_KEYS = ("sample_size", "buffer_front_sample", "buffer_end_sample")

# Published RT-Sort geometry: architecture id -> kernel size (4 conv layers, no dilation).
_PUBLISHED_KERNELS = {4: 21, -4: 31}
# Published models expect median channel IQR == numerator * input_scale (RT-Sort defaults).
_PUBLISHED_NUMERATOR = {21: 12.6, 31: 15.4}


def _model_error(message: str, model_path, missing: list[str] | None = None) -> Exception:
    return ModelLoadingError(message, sorter="rt_sort", model_path=str(model_path),
                             missing=", ".join(missing) if missing else None)


def logit(prob: float) -> float:
    """Return the logit of a probability in (0, 1)."""
    prob = min(max(float(prob), 1e-6), 1 - 1e-6)
    return math.log(prob / (1 - prob))


class DetectionNet(nn.Module):
    """Stack of padding-free ``Conv1d`` layers mapping one trace to per-frame spike logits.

    Parameters
    ----------
    hidden : int, default: 16
        Number of filters of every hidden layer.
    kernel_size : int, default: 11
        Kernel size of every layer.
    dilations : tuple of int, default: (1, 2, 4, 1)
        Dilation of each layer; its length is the number of layers.
    """

    def __init__(self, hidden: int = 16, kernel_size: int = 11, dilations=(1, 2, 4, 1)):
        super().__init__()
        layers: list[nn.Module] = []
        n_in = 1
        for index, dilation in enumerate(dilations):
            last = index == len(dilations) - 1
            n_out = 1 if last else hidden
            layers.append(nn.Conv1d(n_in, n_out, kernel_size, dilation=int(dilation)))
            if not last:
                layers.append(nn.ReLU())
            n_in = n_out
        self.conv = nn.Sequential(*layers)
        self.receptive_field = 1 + (kernel_size - 1) * int(sum(dilations))

    def forward(self, traces: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, 1, frames)`` traces to ``(batch, frames - receptive_field + 1)`` logits."""
        return self.conv(traces)[:, 0, :]

    def init_weights(self, spike_prob: float = 0.005) -> None:
        """Xavier-normal weights, zero biases, last bias at the logit of the spike prior."""
        for module in self.conv:
            if isinstance(module, nn.Conv1d):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.conv[-1].bias, logit(spike_prob))


class DetectionModel:
    """A trained detection network with its geometry, input scaling and thresholds.

    Parameters
    ----------
    net : DetectionNet
        The network.
    init_dict : dict
        Model description as stored in ``init_dict.json``.
    device : str, default: "cpu"
        Torch device on which inference runs.
    """

    def __init__(self, net: DetectionNet, init_dict: dict[str, Any], device: str = "cpu"):
        self.net = net.to(device).eval()
        self.init_dict = dict(init_dict)
        self.device = device

    # geometry -----------------------------------------------------------------------------
    @property
    def sample_size(self) -> int:
        return int(self.init_dict["sample_size"])

    @property
    def buffer_front(self) -> int:
        return int(self.init_dict["buffer_front_sample"])

    @property
    def buffer_end(self) -> int:
        return int(self.init_dict["buffer_end_sample"])

    @property
    def receptive_field(self) -> int:
        return self.net.receptive_field

    @property
    def sampling_frequency(self) -> float | None:
        value = self.init_dict.get("samp_freq_hz")
        return float(value) if value is not None else None

    # thresholds and scaling ---------------------------------------------------------------
    @property
    def stringent_thresh(self) -> float:
        """Stringent probability threshold (F1-optimal on validation data)."""
        return float(self.init_dict.get("loc_prob_thresh", 27.5)) / 100.0

    @property
    def loose_thresh(self) -> float:
        """Loose probability threshold (recall - precision closest to 15 points)."""
        return float(self.init_dict.get("loose_prob_thresh", 10.0)) / 100.0

    @property
    def target_iqr(self) -> float | None:
        """Median-channel inter-quartile range the network expects at its input."""
        if "target_iqr" in self.init_dict:
            return float(self.init_dict["target_iqr"])
        kernel = self.net.conv[0].kernel_size[0]
        numerator = _PUBLISHED_NUMERATOR.get(kernel)
        if numerator is None:
            return None
        return numerator * float(self.init_dict.get("input_scale", 1.0))

    def input_gain(self, traces_uv: np.ndarray) -> float:
        """Gain that maps the median channel IQR of ``traces_uv`` (frames x channels) to target."""
        target = self.target_iqr
        if target is None:
            return float(self.init_dict.get("input_scale", 1.0))
        q75, q25 = np.percentile(traces_uv, [75, 25], axis=0)
        median_iqr = float(np.median(q75 - q25))
        if not np.isfinite(median_iqr) or median_iqr <= 0:
            raise ValueError(
                "Cannot scale the detection input: the median channel inter-quartile range is "
                f"{median_iqr}. Check that the recording is not flat or empty."
            )
        return target / median_iqr

    # save / load -------------------------------------------------------------------------
    def save(self, folder) -> Path:
        """Write ``init_dict.json`` and ``state_dict.pt`` atomically into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {f"model.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()}
        _atomic_write(folder / STATE_DICT, lambda fh: torch.save(state, fh), binary=True)
        text = json.dumps(self.init_dict, indent=2, sort_keys=True)
        _atomic_write(folder / INIT_DICT, lambda fh: fh.write(text + "\n"), binary=False)
        return folder


def _atomic_write(path: Path, writer, binary: bool) -> None:
    with atomic_open(path, "wb" if binary else "w") as fh:
        writer(fh)


def _net_from_init_dict(init_dict: dict[str, Any], folder) -> DetectionNet:
    if "dilations" in init_dict:
        return DetectionNet(int(init_dict["hidden"]), int(init_dict["kernel_size"]),
                            tuple(int(d) for d in init_dict["dilations"]))
    arch = init_dict.get("architecture_params")
    if not isinstance(arch, (list, tuple)) or len(arch) < 2:
        raise _model_error(
            f"Invalid architecture parameter in {Path(folder) / INIT_DICT}: expected "
            f"'architecture_params' like [4, 50, 'relu', ...] or 'dilations', got {arch!r}.", folder)
    arch_id, hidden = arch[0], arch[1]
    if isinstance(arch_id, str) and arch_id.isdigit():
        kernel = int(arch_id) + 1  # sampling rate in kHz + 1 (4 ms receptive field)
    elif arch_id in _PUBLISHED_KERNELS:
        kernel = _PUBLISHED_KERNELS[arch_id]
    else:
        raise _model_error(
            f"Invalid architecture parameter {arch_id!r} in {Path(folder) / INIT_DICT}: only the "
            "4-layer detection networks (ids 4, -4 or a kHz string) are supported.", folder)
    return DetectionNet(int(hidden), kernel, (1, 1, 1, 1))


def load_detection_model(folder, device: str = "cpu") -> DetectionModel:
    """Load a detection model folder (``init_dict.json`` + ``state_dict.pt``).

    Parameters
    ----------
    folder : str or Path
        Model folder, in the layout published with RT-Sort or written by :meth:`DetectionModel.save`.
    device : str, default: "cpu"
        Device to run on. Weights saved on a GPU are mapped to this device.

    Returns
    -------
    model : DetectionModel
        The loaded model, in evaluation mode, in float32.

    Raises
    ------
    ModelLoadingError
        If the folder or one of its files is missing or malformed; the message names what is wrong.
    """
    folder = Path(folder)
    missing = [name for name in (INIT_DICT, STATE_DICT) if not (folder / name).is_file()]
    if missing:
        raise _model_error(
            f"The folder {folder} does not contain init_dict.json and state_dict.pt "
            f"(missing: {', '.join(missing)}). Pass the folder of a trained model, or train one "
            "with `spikelab rtsort train`.", folder, missing)
    try:
        init_dict = json.loads((folder / INIT_DICT).read_text())
    except (OSError, ValueError) as exc:
        raise _model_error(f"Cannot read {folder / INIT_DICT}: {exc}", folder) from exc
    absent = [key for key in REQUIRED_KEYS if key not in init_dict]
    if absent:
        raise _model_error(
            f"{folder / INIT_DICT} lacks the key(s) {', '.join(absent)}.", folder)
    net = _net_from_init_dict(init_dict, folder)
    try:
        state = torch.load(folder / STATE_DICT, map_location="cpu", weights_only=True)
        state = {k.removeprefix("model."): v.float() for k, v in state.items()
                 if not k.removeprefix("model.").startswith("last_layer.")}
        net.load_state_dict(state)
    except Exception as exc:
        raise _model_error(
            f"Error(s) in loading state_dict from {folder / STATE_DICT}: {exc}", folder) from exc
    expected_out = init_dict["sample_size"] - init_dict["buffer_front_sample"] - init_dict[
        "buffer_end_sample"]
    if init_dict["sample_size"] - net.receptive_field + 1 != expected_out:
        raise _model_error(
            f"{folder / INIT_DICT}: sample_size and buffers do not match the network's receptive "
            f"field ({net.receptive_field} frames).", folder)
    return DetectionModel(net.float(), init_dict, device=device)
