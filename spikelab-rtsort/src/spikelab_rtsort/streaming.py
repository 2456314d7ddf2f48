"""The detection side of streaming: the newest frames of a live stream, scaled, and their logits.

:class:`DetectorStream` is what :meth:`RTSort.process` keeps between calls. Each chunk is
median-subtracted and scaled, appended to a buffer that keeps only the context the network and
the co-detection window need, and the logits of every frame whose receptive field is now complete
are computed once:

* with the float network and no pre-filter, each ``Conv1d`` keeps its own input tail
  (:class:`~spikelab_rtsort.inference.StreamingInference`), so no frame is computed twice;
* otherwise (the CPU defaults: pre-filter, int8) the new frames and their context are run
  through :func:`~spikelab_rtsort.inference.infer_window`, active channels only.

Why the pre-filtered path keeps no per-channel network state: a channel's layer tails exist only
if it ran in the previous chunk, and of the channels the pre-filter lets through in a 5 ms chunk
only 29 % also ran in the one before (1,020-channel bench recording, 292 of 1,020 channels per
chunk). Keeping state would save their 80 context frames (about 10 % of the network's work)
at the price of a second, differently shaped forward pass per chunk, which costs more than that.
"""

from __future__ import annotations

import numpy as np

from .inference import NO_OUTPUT, StreamingInference, channel_median, infer_window
from .model import DetectionModel


class DetectorStream:
    """Scaled traces and logits of the newest frames of a live stream.

    Parameters
    ----------
    model : DetectionModel
        The float detection model (its geometry; its network when ``detector`` is it).
    detector : DetectionModel
        The network to run (``model`` or its int8 copy).
    gain : float
        Input gain (µV to the network's units).
    noise : np.ndarray
        Per-channel noise of the scaled traces (the pre-filter's unit).
    prefilter_sd : float or None
        Pre-filter threshold in noise SD; None runs every channel.
    keep : int
        Frames kept from one chunk to the next (at least the receptive field).
    """

    def __init__(self, model: DetectionModel, detector: DetectionModel, gain: float,
                 noise: np.ndarray, prefilter_sd: float | None, keep: int):
        if keep < model.receptive_field:
            raise ValueError(f"keep ({keep}) must cover the receptive field ({model.receptive_field}).")
        self.model, self.detector = model, detector
        self.gain = np.float32(gain)
        self.noise = np.asarray(noise, dtype=np.float32)
        self.prefilter_sd = prefilter_sd
        self.keep = int(keep)
        stateful = detector is model and prefilter_sd is None
        self._layers = StreamingInference(model) if stateful else None
        self.reset()

    def reset(self) -> None:
        """Forget the stream (call after a gap in the data)."""
        self._traces: np.ndarray | None = None
        self._logits: np.ndarray | None = None
        self.size = 0  # rows of the buffers in use
        self.start = 0  # stream frame of row 0
        self.received = 0  # frames received since the reset
        self._computed = 0  # stream frame up to which logits exist
        if self._layers is not None:
            self._layers.reset()

    @property
    def traces(self) -> np.ndarray:
        """Scaled traces of the kept frames, (frames, channels); row 0 is stream frame :attr:`start`."""
        return self._traces[:self.size]

    @property
    def logits(self) -> np.ndarray:
        """Logits of the kept frames (:data:`~spikelab_rtsort.inference.NO_OUTPUT` where there are none yet)."""
        return self._logits[:self.size]

    def push(self, chunk: np.ndarray) -> None:
        """Scale ``chunk`` (µV, frames x channels), append it and compute the logits it completes."""
        chunk = np.asarray(chunk, dtype=np.float32)
        n = chunk.shape[0]
        self._make_room(n, chunk.shape[1])
        rows = slice(self.size, self.size + n)
        np.multiply(chunk - channel_median(chunk), self.gain, out=self._traces[rows])
        self._logits[rows] = NO_OUTPUT
        self.size += n
        self.received += n
        front, back = self.model.buffer_front, self.model.buffer_end
        if self._layers is not None:
            out = self._layers.push(self._traces[rows])
            end = self.size - back
            self._logits[end - out.shape[0]:end] = out
            return
        lo = max(self._computed, self.start + front) - self.start
        hi = self.size - back
        if hi > lo:
            self._logits[lo:hi] = infer_window(self.detector, self._traces[lo - front:hi + back],
                                               self.prefilter_sd, self.noise)
            self._computed = hi + self.start

    def _make_room(self, n: int, n_channels: int) -> None:
        """Drop all but the last :attr:`keep` frames and make room for ``n`` more."""
        if self._traces is not None and self.size > self.keep:
            drop = self.size - self.keep
            self._traces[:self.keep] = self._traces[drop:self.size]
            self._logits[:self.keep] = self._logits[drop:self.size]
            self.start += drop
            self.size = self.keep
        if self._traces is None or self._traces.shape[0] < self.size + n:
            capacity = self.keep + max(n, 2 * (self._traces.shape[0] - self.keep)
                                       if self._traces is not None else n)
            traces = np.empty((capacity, n_channels), dtype=np.float32)
            logits = np.empty((capacity, n_channels), dtype=np.float32)
            if self._traces is not None:
                traces[:self.size] = self._traces[:self.size]
                logits[:self.size] = self._logits[:self.size]
            self._traces, self._logits = traces, logits
