"""Chunked, memory-bounded detection inference over a recording.

The network is run fully convolutionally over long chunks: because it has no padding, a chunk of
``chunk_frames + receptive_field - 1`` input frames gives exactly ``chunk_frames`` output logits that
equal what window-by-window inference would produce. ``batch_size`` (the number of channel-chunks per
forward pass) bounds the device memory of one pass to about
``batch_size * (chunk_frames + receptive_field) * hidden * 8`` bytes (chunk_frames = 2000); halving it halves the peak.
"""

from __future__ import annotations

import numpy as np
import structlog
import torch
from tqdm.auto import tqdm

from .model import DetectionModel

log = structlog.get_logger(__name__)

#: Logit written where the network has no output (recording edges).
NO_OUTPUT = -30.0


def sample_pieces(recording, max_seconds: float = 2.0) -> tuple[np.ndarray, int]:
    """Starts and length (frames) of 0.1 s pieces, up to ``max_seconds`` in all, spread evenly
    over ``recording``: where its scale and noise are estimated."""
    n_frames = recording.get_num_frames()
    piece = min(int(0.1 * recording.get_sampling_frequency()), n_frames)
    n_pieces = max(1, min(int(max_seconds / 0.1), n_frames // max(piece, 1)))
    return np.linspace(0, n_frames - piece, n_pieces).astype(int), piece


def read_microvolts(recording, start_frame: int | None = None, end_frame: int | None = None) -> np.ndarray:
    """Traces in µV (float32, frames x channels): scaled by the recording's gains when it has
    them (a Maxwell or Intan file stores ADC counts), as they are otherwise.

    Every path (gain estimation, detection, offline sorting) reads through here, so a sorter's
    input gain is calibrated in µV, the unit :meth:`RTSort.process` takes when streaming.
    """
    scaled = bool(recording.has_scaleable_traces())
    return np.asarray(recording.get_traces(start_frame=start_frame, end_frame=end_frame,
                                           return_in_uV=scaled), dtype=np.float32)


def read_sample(recording, max_seconds: float = 2.0) -> np.ndarray:
    """µV traces (frames x channels) of the :func:`sample_pieces` of ``recording``, concatenated."""
    starts, piece = sample_pieces(recording, max_seconds)
    return np.concatenate([read_microvolts(recording, s, s + piece) for s in starts])


def estimate_input_gain(model: DetectionModel, recording, max_seconds: float = 2.0) -> float:
    """Input gain from the median channel IQR of up to ``max_seconds`` spread over the recording."""
    return model.input_gain(read_sample(recording, max_seconds))


def prefilter_chunk_frames(sampling_frequency: float) -> int:
    """Channel-chunk length (5 ms) used with the pre-filter: short chunks skip more."""
    return max(1, int(round(0.005 * sampling_frequency)))


def scale_traces(traces: np.ndarray, gain: float) -> np.ndarray:
    """Median-subtract every channel of ``traces`` (frames x channels) and multiply by ``gain``.

    The median of a long piece is taken over every 16th frame (at least 1,000 frames): the exact
    median of a 10 s block of 1,020 channels cost 0.35 CPU-s per second of recording.
    """
    traces = np.asarray(traces, dtype=np.float32)
    step = max(1, min(16, traces.shape[0] // 1000))
    return (traces - np.median(traces[::step], axis=0, keepdims=True)) * np.float32(gain)


def channel_median(traces: np.ndarray) -> np.ndarray:
    """Median of every channel of ``traces`` (frames x channels), shape (1, channels).

    Equal to ``np.median(traces, axis=0, keepdims=True)`` for finite data, by a sort: NumPy's
    vectorised sort of a 5 ms chunk of 1,020 channels takes about a fifth of the time of the
    partition ``np.median`` uses (0.25 against 1.3 ms).
    """
    ordered = np.sort(traces, axis=0)
    half = traces.shape[0] // 2
    if traces.shape[0] % 2:
        return ordered[half:half + 1]
    return (ordered[half - 1:half] + ordered[half:half + 1]) * np.asarray(0.5, ordered.dtype)


def infer_window(model: DetectionModel, window: np.ndarray, prefilter_sd: float | None = None,
                 noise: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
    """Logits of every frame of ``window`` that has its whole receptive field in it.

    The streaming counterpart of :func:`infer_logits` for one short window (a chunk and its
    context): the channels to run are gathered into one contiguous batch and run in as few
    forward passes as ``batch_size`` allows, since each pass has a fixed cost that a 5 ms
    chunk does not amortise (one pass of 300 channels cost 1.9 CPU-ms, five of 64 cost 3.3).

    Parameters
    ----------
    model : DetectionModel
        The detection model (or its int8 copy).
    window : np.ndarray
        Scaled traces, shape (frames, channels), at least ``receptive_field`` frames.
    prefilter_sd : float or None, default: None
        Run only the channels whose scored frames reach below ``-prefilter_sd`` times their
        ``noise`` (the others keep :data:`NO_OUTPUT`), as :func:`infer_logits` does per chunk.
    noise : np.ndarray or None, default: None
        Per-channel noise (scaled units); needed with ``prefilter_sd``.
    batch_size : int, default: 1024
        Most channels per forward pass.

    Returns
    -------
    logits : np.ndarray
        float32 (frames - receptive_field + 1, channels); row ``i`` scores a trough at window
        frame ``i + buffer_front``.
    """
    n_frames, n_channels = window.shape
    n_out = n_frames - model.receptive_field + 1
    if prefilter_sd is None:
        channels = np.arange(n_channels)
        logits = np.empty((n_out, n_channels), dtype=np.float32)
    else:
        scored = window[model.buffer_front:model.buffer_front + n_out]
        channels = np.flatnonzero(scored.min(axis=0) < -prefilter_sd * np.asarray(noise))
        logits = np.full((n_out, n_channels), NO_OUTPUT, dtype=np.float32)
    if channels.size == 0 or n_out <= 0:
        return logits
    inputs = np.ascontiguousarray(window[:, channels].T, dtype=np.float32)[:, None, :]
    with torch.inference_mode():
        for first in range(0, channels.size, batch_size):
            out = model.net(torch.from_numpy(inputs[first:first + batch_size]).to(model.device))
            logits[:, channels[first:first + batch_size]] = out.float().cpu().numpy().T
    return logits


def infer_logits(model: DetectionModel, scaled: np.ndarray, batch_size: int = 64,
                 chunk_frames: int = 2000, prefilter_sd: float | None = None,
                 noise: np.ndarray | None = None) -> np.ndarray:
    """Per-frame spike logits of already-scaled traces.

    Parameters
    ----------
    model : DetectionModel
        The detection model.
    scaled : np.ndarray
        Scaled traces, shape (frames, channels).
    batch_size : int, default: 64
        Channel-chunks per forward pass (the memory knob).
    chunk_frames : int, default: 2000
        Output frames per channel-chunk (short chunks keep activations in cache; with the
        pre-filter, short chunks skip more).
    prefilter_sd : float or None, default: None
        When set, a channel-chunk is run through the network only if its traces reach below
        ``-prefilter_sd`` times the channel's noise somewhere in the frames it scores; the others
        keep :data:`NO_OUTPUT` (no detection there).
    noise : np.ndarray or None, default: None
        Per-channel noise of the pre-filter (scaled units); median(|x|) / 0.6745 of ``scaled``
        when None.

    Returns
    -------
    logits : np.ndarray
        float32 array (frames, channels); frame ``t`` scores a trough at ``t``. Frames without
        enough context at the edges hold :data:`NO_OUTPUT`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    n_frames, n_channels = scaled.shape
    rf, front = model.receptive_field, model.buffer_front
    n_out = n_frames - rf + 1
    if n_out <= 0:
        return np.full((n_frames, n_channels), NO_OUTPUT, dtype=np.float32)
    chunk = min(chunk_frames, n_out)
    starts = np.arange(0, n_out, chunk)
    width = chunk + rf - 1
    padded_frames = int(starts[-1]) + width
    if padded_frames > n_frames:  # the last chunk reads zeros past the end; its outputs are cut
        padded = np.zeros((padded_frames, n_channels), dtype=np.float32)
        padded[:n_frames] = scaled
    else:
        padded = np.asarray(scaled, dtype=np.float32)
    logits = np.full((padded_frames, n_channels), NO_OUTPUT, dtype=np.float32)
    if prefilter_sd is None:
        chunk_index, channel = np.divmod(np.arange(starts.size * n_channels), n_channels)
    else:
        if noise is None:
            noise = np.median(np.abs(scaled), axis=0) / 0.6745
        scored = padded[front:front + starts.size * chunk].reshape(starts.size, chunk, n_channels)
        chunk_index, channel = np.nonzero(scored.min(axis=1) < -prefilter_sd * np.asarray(noise))
    offsets_in, offsets_out = np.arange(width), np.arange(chunk)
    net, device = model.net, model.device
    with torch.inference_mode():
        for first in range(0, chunk_index.size, batch_size):
            s = starts[chunk_index[first:first + batch_size]][:, None]
            c = channel[first:first + batch_size][:, None]
            inputs = torch.from_numpy(padded[s + offsets_in, c][:, None, :])
            out = net(inputs.to(device)).float().cpu().numpy()
            logits[front + s + offsets_out, c] = out
    logits[front + n_out:] = NO_OUTPUT
    return logits[:n_frames]


class StreamingInference:
    """The network run on a live stream, each new frame computed once per layer.

    Every padding-free ``Conv1d`` keeps the last ``(kernel_size - 1) * dilation`` frames of its
    input; a chunk of ``n`` new frames then costs ``n`` outputs per layer instead of the
    ``n + receptive_field - 1``-frame window a stateless call recomputes. Outputs equal
    :func:`infer_logits` on the concatenated stream (up to float rounding).

    Parameters
    ----------
    model : DetectionModel
        The detection model; its network must be a sequence of ``Conv1d`` and element-wise layers.
    """

    def __init__(self, model: DetectionModel):
        self.model = model
        self.layers = list(model.net.conv)
        self.contexts = [(m.kernel_size[0] - 1) * m.dilation[0] if isinstance(m, torch.nn.Conv1d)
                         else 0 for m in self.layers]
        self.reset()

    def reset(self) -> None:
        """Forget the stream (call after a gap in the data)."""
        self._tails: list[torch.Tensor | None] = [None] * len(self.layers)

    def push(self, scaled: np.ndarray) -> np.ndarray:
        """Logits of the newest frames whose receptive field is now complete.

        Parameters
        ----------
        scaled : np.ndarray
            New scaled frames, shape (frames, channels).

        Returns
        -------
        logits : np.ndarray
            (m, channels) float32; row ``-1`` scores a trough ``buffer_end`` frames before the
            newest frame. ``m`` equals the number of new frames once the stream is longer than the
            receptive field, fewer before.
        """
        x = torch.from_numpy(np.ascontiguousarray(np.asarray(scaled, np.float32).T[:, None, :]))
        x = x.to(self.model.device)
        with torch.inference_mode():
            for k, (layer, context) in enumerate(zip(self.layers, self.contexts)):
                if context:
                    tail = self._tails[k]
                    if tail is not None:
                        x = torch.cat([tail, x], dim=2)
                    self._tails[k] = x[:, :, x.shape[2] - context:] if x.shape[2] > context else x
                    if x.shape[2] <= context:
                        return np.zeros((0, scaled.shape[1]), dtype=np.float32)
                x = layer(x)
        return x[:, 0, :].float().cpu().numpy().T


def detect_recording(model: DetectionModel, recording, batch_size: int = 64,
                     chunk_duration_s: float = 1.0, gain: float | None = None,
                     progress_bar: bool = False, prefilter_sd: float | None = None,
                     chunk_frames: int = 2000, dtype=np.float32):
    """Run the detection network over a whole (single-segment) recording.

    Parameters
    ----------
    model : DetectionModel
        The detection model.
    recording : BaseRecording
        Recording in uV, shape read with ``get_traces(return_in_uV=...)`` semantics of float data.
    batch_size : int, default: 64
        Channel-chunks per forward pass; bounds device memory.
    chunk_duration_s : float, default: 1.0
        Duration of one channel-chunk.
    gain : float or None, default: None
        Input gain; estimated from the recording when None.
    progress_bar : bool, default: False
        Show a tqdm bar.
    prefilter_sd, chunk_frames
        Passed to :func:`infer_logits`.
    dtype : numpy dtype, default: float32
        What the logits and scaled traces are held as: float16 halves the memory of a long
        window (the network still computes in float32).

    Returns
    -------
    logits : np.ndarray
        (frames, channels) logits, as ``dtype``.
    scaled : np.ndarray
        (frames, channels) scaled, median-subtracted traces (the network's input units), as
        ``dtype``.
    gain : float
        Input gain used.
    """
    fs = recording.get_sampling_frequency()
    expected = model.sampling_frequency
    if expected is not None and abs(expected - fs) > 1e-3 * expected:
        log.warning("rtsort.sampling_rate_mismatch", model_hz=expected, recording_hz=fs)
    if gain is None:
        gain = estimate_input_gain(model, recording)
    n_frames, n_channels = recording.get_num_frames(), recording.get_num_channels()
    chunk = int(chunk_duration_s * fs)
    rf = model.receptive_field
    finite_max = None if np.dtype(dtype).itemsize >= 4 else float(np.finfo(dtype).max)
    scaled = np.empty((n_frames, n_channels), dtype=dtype)
    logits = np.full((n_frames, n_channels), NO_OUTPUT, dtype=dtype)
    steps = range(0, n_frames, chunk)
    for start in tqdm(steps, desc="rtsort detection", disable=not progress_bar):
        stop = min(n_frames, start + chunk)
        ctx_start = max(0, start - model.buffer_front)
        ctx_stop = min(n_frames, stop + model.buffer_end)
        raw = read_microvolts(recording, ctx_start, ctx_stop)
        piece = scale_traces(raw, gain)
        kept = piece[start - ctx_start:start - ctx_start + stop - start]
        if finite_max is not None:  # (a saturated artifact stays finite in float16)
            kept = np.clip(kept, -finite_max, finite_max)
        scaled[start:stop] = kept
        if piece.shape[0] < rf:
            continue
        out = infer_logits(model, piece, batch_size=batch_size, prefilter_sd=prefilter_sd,
                           chunk_frames=chunk_frames)
        lo = max(start, ctx_start + model.buffer_front)
        hi = min(stop, ctx_stop - model.buffer_end)
        out = out[lo - ctx_start:hi - ctx_start]
        logits[lo:hi] = out if finite_max is None else np.clip(out, -finite_max, finite_max)
    log.info("rtsort.detection_done", frames=n_frames, channels=n_channels, gain=gain)
    return logits, scaled, gain


#: Frames handled at once by :func:`find_peaks` (its boolean temporaries stay a few MB at 1,020
#: channels instead of five times the window's frames x channels).
PEAK_BLOCK_FRAMES = 8192


def find_peaks(logits: np.ndarray, threshold_logit: float,
               columns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames and column indices where ``logits[:, columns]`` (all columns when None) is a local
    maximum at or above ``threshold_logit``, in frame then column order.

    A plateau counts once (at its first frame). The comparison is made in float32 (float64 for
    float64 logits) whatever the logits are stored as, and frame blocks of
    :data:`PEAK_BLOCK_FRAMES` are taken one at a time.
    """
    n_frames = logits.shape[0]
    work = np.result_type(logits.dtype, np.float32)
    threshold = work.type(threshold_logit)
    found_f, found_c = [], []
    for start in range(0, max(n_frames, 1), PEAK_BLOCK_FRAMES):
        stop = min(n_frames, start + PEAK_BLOCK_FRAMES)
        first, last = max(0, start - 1), min(n_frames, stop + 1)
        part = logits[first:last] if columns is None else logits[first:last][:, columns]
        part = part.astype(work, copy=False)
        mid = part[start - first:start - first + stop - start]
        left = np.zeros(mid.shape, dtype=bool)
        right = np.zeros(mid.shape, dtype=bool)
        if start > 0:
            left[:] = mid > part[:stop - start]
        else:
            left[1:] = mid[1:] > mid[:-1]
        if stop < n_frames:
            right[:] = mid >= part[start - first + 1:start - first + 1 + stop - start]
        else:
            right[:-1] = mid[:-1] >= mid[1:]
        frames, cols = np.nonzero((mid >= threshold) & left & right)
        found_f.append(frames + start)
        found_c.append(cols)
    return np.concatenate(found_f), np.concatenate(found_c)
