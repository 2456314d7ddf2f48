"""The :class:`RTSort` object: sequence detection, offline sorting and streaming sorting."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import attrs
import numpy as np
import structlog
from tqdm.auto import tqdm

from spikelab.atomic import atomic_open

from ._errors import InsufficientActivityError, ModelLoadingError
from .assignment import SequenceBank, assign_spikes
from .inference import (
    detect_recording,
    infer_logits,
    prefilter_chunk_frames,
    read_microvolts,
    read_sample,
    scale_traces,
)
from .model import DetectionModel, logit
from .params import RTSortParams
from .propagation import detect_preliminary_sequences
from .quantized import calibration_sample, quantize_int8
from .sequences import DetectionContext, Sequence, compute_stats, merge_sequences, relocate_root, robust_noise
from .streaming import DetectorStream

log = structlog.get_logger(__name__)

#: Written into every pickle by :meth:`RTSort.save`: version 2 is the first with a marker, and
#: its gain and noise levels are calibrated on traces in µV (those before were in whatever unit
#: the recording returned, ADC counts for a Maxwell file).
PICKLE_FORMAT_KEY = "_spikelab_rtsort_format"
PICKLE_FORMAT = {"version": 2, "input_units": "uV"}


@attrs.frozen
class StreamedSpike:
    """A spike assigned by :meth:`RTSort.process`."""

    unit_id: int
    frame: int  # sample index of the trough since :meth:`RTSort.reset`
    time_ms: float
    latency_ms: float  # trough -> assignment: data still to arrive plus compute time


#: Memory one :meth:`RTSort.sort_offline` block may hold: the µV read, its scaled copy, their
#: temporaries and the logits come to about ``SORT_BYTES_PER_CHANNEL_FRAME`` per channel and frame
#: (measured: 4.10 GB added for 10 s of 1,024 channels, 1.03 GB for 2.5 s), so a fixed 10 s block
#: was the peak of a whole-array sort, above sequence detection on a 30 s window.
SORT_BLOCK_BYTES = 1_000_000_000
SORT_BYTES_PER_CHANNEL_FRAME = 20
#: Longest and shortest default block (s): longer blocks gain nothing measurable (2.5 s of 1,024
#: channels cost 15 % less CPU than 10 s in one measurement), shorter ones would spend a growing
#: share on the margins (so above about 2,500 channels at 20 kHz a block holds more than the budget).
SORT_BLOCK_S = (10.0, 1.0)


def sort_block_seconds(n_channels: int, fs: float, budget_bytes: int | None = None) -> float:
    """Default :meth:`RTSort.sort_offline` block (s) whose working set fits ``budget_bytes``
    (``SORT_BLOCK_BYTES`` when None): 10 s up to about 250 channels at 20 kHz, 2.45 s at 1,020."""
    longest, shortest = SORT_BLOCK_S
    budget = SORT_BLOCK_BYTES if budget_bytes is None else budget_bytes
    fits = budget / (SORT_BYTES_PER_CHANNEL_FRAME * max(1, n_channels) * fs)
    return float(min(longest, max(shortest, fits)))


def _min_seq_spikes(params: RTSortParams, seconds: float) -> int:
    return max(params.min_seq_spikes_n, int(np.ceil(params.min_seq_spikes_hz * seconds)))


class RTSort:
    """Propagation-sequence sorter built on a detection model.

    Build one with :meth:`RTSort.detect_sequences` (or :meth:`detect_and_sort`); then sort
    recordings with :meth:`sort_offline` or feed chunks to :meth:`process`. The network is run
    as ``params`` say (``prefilter_sd``, ``int8_inference``): the int8 copy is calibrated on
    ``calibration`` (channels x frames of scaled traces), kept with the sorter.
    """

    def __init__(self, model: DetectionModel, sequences: list[Sequence], locations: np.ndarray,
                 sampling_frequency: float, params: RTSortParams, gain: float, noise: np.ndarray,
                 calibration: np.ndarray | None = None):
        self.model = model
        self.calibration = calibration
        self.sequences = sequences
        self.locations = np.asarray(locations, dtype=float)
        self.sampling_frequency = float(sampling_frequency)
        self.params = params
        self.gain = float(gain)
        self.noise = np.asarray(noise, dtype=np.float32)
        diff = self.locations[:, None, :2] - self.locations[None, :, :2]
        self._distances = np.sqrt((diff**2).sum(axis=-1))
        self.bank = SequenceBank.build(sequences, self._distances, params)
        self._attach_detector()
        self.reset()

    def _attach_detector(self) -> None:
        """The network inference runs (the int8 copy of :attr:`model` when the params ask)."""
        self.detector = self.model
        if self.params.int8_inference and self.calibration is not None:
            self.detector = quantize_int8(self.model, self.calibration)

    def _infer(self, scaled: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Logits of scaled traces as the params say (pre-filter on the sorter's noise)."""
        if self.params.prefilter_sd is None:
            return infer_logits(self.detector, scaled, batch_size=batch_size)
        return infer_logits(self.detector, scaled, batch_size=batch_size,
                            chunk_frames=prefilter_chunk_frames(self.sampling_frequency),
                            prefilter_sd=self.params.prefilter_sd, noise=self.noise)

    # thresholds and frame constants -----------------------------------------------------------
    @property
    def stringent(self) -> float:
        return self.params.stringent_thresh or self.model.stringent_thresh

    @property
    def loose(self) -> float:
        return self.params.loose_thresh or self.model.loose_thresh

    @property
    def half_window(self) -> int:
        return max(1, int(round(self.params.ms_before * self.sampling_frequency / 1000)))

    @property
    def overlap_frames(self) -> int:
        return int(round(self.params.repeated_detection_overlap_time * self.sampling_frequency
                         / 1000))

    @property
    def num_units(self) -> int:
        return len(self.sequences)

    @property
    def root_electrodes(self) -> np.ndarray:
        """Root channel index of every unit."""
        return np.array([s.root for s in self.sequences], dtype=np.int64)

    # detection ----------------------------------------------------------------------------
    @classmethod
    def detect_sequences(cls, recording, model: DetectionModel, params: RTSortParams | None = None,
                         detection_window_s: float | None = None, batch_size: int = 64,
                         progress_bar: bool = False) -> RTSort:
        """Detect propagation sequences on (the start of) ``recording``.

        Parameters
        ----------
        recording : BaseRecording
            Recording in uV with 2-D channel locations in um.
        model : DetectionModel
            Detection model.
        params : RTSortParams or None, default: None
            Parameters (RT-Sort MEA defaults when None).
        detection_window_s : float or None, default: None
            Detect on the first ``detection_window_s`` seconds only (whole recording when None).
        batch_size : int, default: 64
            Inference batch knob (channel-chunks per forward pass).
        progress_bar : bool, default: False
            Show progress bars.

        Returns
        -------
        rt_sort : RTSort
            The sorter with its sequences (units).

        Raises
        ------
        InsufficientActivityError
            When no propagation sequence survives.
        """
        return cls._detect(recording, model, params, detection_window_s, batch_size,
                           progress_bar)[0]

    @classmethod
    def detect_and_sort(cls, recording, model: DetectionModel, params: RTSortParams | None = None,
                        detection_window_s: float | None = None, batch_size: int = 64,
                        progress_bar: bool = False) -> tuple[RTSort, list[np.ndarray]]:
        """Detect sequences and sort ``recording``, running the network once where it can.

        When the detection window is the whole recording, the detection pass's logits are
        assigned directly; otherwise the rest is sorted with :meth:`sort_offline`. Parameters
        are those of :meth:`detect_sequences`.

        Returns
        -------
        rt_sort : RTSort
            The sorter.
        trains : list of np.ndarray
            Spike frames of each unit (ids 0..K-1).
        """
        rts, ctx = cls._detect(recording, model, params, detection_window_s, batch_size,
                               progress_bar)
        if ctx.logits.shape[0] < recording.get_num_frames():
            del ctx  # the window's logits and traces (GBs on a whole array) are not needed to sort the rest
            return rts, rts.sort_offline(recording, batch_size=batch_size,
                                         return_spikeinterface_sorter=False,
                                         progress_bar=progress_bar)
        w = rts.half_window
        frames, units = rts._assign(ctx.logits, ctx.traces, w + 2, ctx.logits.shape[0] - w - 2)
        return rts, [np.sort(frames[units == k]) for k in range(rts.num_units)]

    @classmethod
    def _detect(cls, recording, model, params, detection_window_s, batch_size, progress_bar):
        """:meth:`detect_sequences`, also returning its :class:`DetectionContext`."""
        params = params or RTSortParams()
        fs = recording.get_sampling_frequency()
        if detection_window_s is not None:
            end = min(recording.get_num_frames(), int(detection_window_s * fs))
            recording = recording.frame_slice(0, end)
        sample = read_sample(recording)
        gain = model.input_gain(sample)
        calibration = calibration_sample(scale_traces(sample, gain))
        detector = quantize_int8(model, calibration) if params.int8_inference else model
        prefilter = {} if params.prefilter_sd is None else dict(
            prefilter_sd=params.prefilter_sd, chunk_frames=prefilter_chunk_frames(fs))
        logits, scaled, gain = detect_recording(
            detector, recording, batch_size=batch_size, gain=gain, progress_bar=progress_bar,
            dtype=np.float16 if params.float16_window else np.float32, **prefilter)
        noise = robust_noise(scaled)
        stringent = params.stringent_thresh or model.stringent_thresh
        loose = params.loose_thresh or model.loose_thresh
        ctx = DetectionContext(logits, scaled, noise, recording.get_channel_locations(), fs,
                               params, stringent, loose)
        prelim = detect_preliminary_sequences(ctx, progress_bar=progress_bar)
        if not prelim:
            raise InsufficientActivityError(
                "RT-Sort found 0 preliminary propagation sequences: no electrode had enough "
                "co-detected spikes. Use a longer detection window or check the recording.",
                sorter="rt_sort", units_at_failure=0)
        seqs = [s for s in prelim if compute_stats(s, ctx)]
        seconds = recording.get_num_frames() / fs
        sorter = cls(model, [], ctx.locations, fs, params, gain, noise, calibration)
        # each step logs as it ends: on a whole array they take minutes each
        seqs = sorter._reassign(seqs, ctx, seconds, progress_bar)
        log.info("rtsort.reassigned", sequences=len(seqs))
        seqs = merge_sequences(seqs, ctx, same_root_only=True)
        seqs = [relocate_root(s, ctx) for s in seqs]
        log.info("rtsort.merged_same_root", sequences=len(seqs))
        seqs = merge_sequences(seqs, ctx)
        log.info("rtsort.merged", sequences=len(seqs))
        seqs = sorter._reassign(seqs, ctx, seconds, progress_bar)
        seqs.sort(key=lambda s: (s.root, -len(s.spike_frames)))
        log.info("rtsort.sequences", preliminary=len(prelim), final=len(seqs))
        if not seqs:
            raise InsufficientActivityError(
                f"RT-Sort: 0 sequences remain after filtering {len(prelim)} preliminary "
                "propagation sequences.", sorter="rt_sort", units_at_failure=0)
        return cls(model, seqs, ctx.locations, fs, params, gain, noise, calibration), ctx

    def _reassign(self, seqs: list[Sequence], ctx: DetectionContext, seconds: float,
                  progress_bar: bool = False):
        """Replace each sequence's spikes by what assignment gives it; drop the small ones."""
        if not seqs:
            return []
        bank = SequenceBank.build(seqs, ctx.distances, self.params)
        w = self.half_window
        frames, units = assign_spikes(bank, ctx.logits, ctx.traces, ctx.noise,
                                      (w + 2, ctx.logits.shape[0] - w - 2), self.params,
                                      ctx.stringent_logit, ctx.loose_logit, w,
                                      self.overlap_frames, progress_bar=progress_bar)
        minimum = _min_seq_spikes(self.params, seconds)
        kept = []
        for k, seq in enumerate(tqdm(seqs, desc="rtsort sequence statistics", disable=not progress_bar)):
            new = Sequence(root=seq.root, spike_frames=np.sort(frames[units == k]),
                           split_electrodes=set(seq.split_electrodes), roots=set(seq.roots))
            if new.spike_frames.size >= minimum and compute_stats(new, ctx):
                kept.append(new)
        return kept

    # offline sorting ----------------------------------------------------------------------
    def sort_offline(self, recording, batch_size: int = 64, block_duration_s: float | None = None,
                     return_spikeinterface_sorter: bool = True, progress_bar: bool = False):
        """Sort a whole recording block by block (memory bounded by ``block_duration_s``).

        ``block_duration_s`` defaults to :func:`sort_block_seconds`: blocks of about 1 GB, 10 s of
        a 64-channel recording and 2.45 s of a 1,020-channel array.

        Returns a SpikeInterface ``NumpySorting`` (unit ids 0..K-1), or a list of per-unit spike
        frame arrays when ``return_spikeinterface_sorter`` is False.
        """
        fs = self.sampling_frequency
        n_frames = recording.get_num_frames()
        margin = self.model.receptive_field + self.half_window + 4
        if block_duration_s is None:
            block_duration_s = sort_block_seconds(recording.get_num_channels(), fs)
        if not (np.isfinite(block_duration_s) and block_duration_s * fs >= 1):
            raise ValueError(f"block_duration_s must be a positive number of seconds, got {block_duration_s!r}.")
        block = int(block_duration_s * fs)
        all_f, all_k = [], []
        for start in tqdm(range(0, n_frames, block), desc="rtsort sorting",
                          disable=not progress_bar):
            stop = min(n_frames, start + block)
            c0, c1 = max(0, start - margin), min(n_frames, stop + margin)
            raw = read_microvolts(recording, c0, c1)
            scaled = scale_traces(raw, self.gain)
            logits = self._infer(scaled, batch_size=batch_size)
            lo = max(start, c0 + self.model.buffer_front + self.half_window + 2) - c0
            hi = min(stop, c1 - self.model.buffer_end - self.half_window - 2) - c0
            f, k = self._assign(logits, scaled, lo, hi)
            all_f.append(f + c0)
            all_k.append(k)
        frames = np.concatenate(all_f) if all_f else np.zeros(0, np.int64)
        units = np.concatenate(all_k) if all_k else np.zeros(0, np.int64)
        trains = [np.sort(frames[units == k]) for k in range(self.num_units)]
        if not return_spikeinterface_sorter:
            return trains
        from spikeinterface.core import NumpySorting

        return NumpySorting.from_unit_dict({k: t for k, t in enumerate(trains)}, fs)

    def _assign(self, logits, scaled, lo, hi):
        return assign_spikes(self.bank, logits, scaled, self.noise, (lo, hi), self.params,
                             logit(self.stringent), logit(self.loose), self.half_window,
                             self.overlap_frames)

    # streaming ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget streamed data; call before streaming and after any gap in the data."""
        # Frames kept between calls: the network's and the co-detection window's context. (The
        # noise is the sorter's, fixed at detection.)
        keep = self.model.receptive_field + 2 * self.half_window + 8
        self._stream = DetectorStream(self.model, self.detector, self.gain, self.noise,
                                      self.params.prefilter_sd, keep)
        self._decided = 0  # stream frame up to which candidates were decided

    def process(self, chunk: np.ndarray) -> list[StreamedSpike]:
        """Sort one chunk of a live stream.

        Parameters
        ----------
        chunk : np.ndarray
            New samples in µV, shape (frames, channels): the unit every offline path reads too
            (a recording's gains are applied, so a sorter made from a file in ADC counts is
            calibrated in µV and streams µV).

        Returns
        -------
        spikes : list of StreamedSpike
            Spikes decided with this chunk, with their latency: the time from the trough to the
            end of this call (data that had to arrive after the trough plus compute time).
        """
        began = time.perf_counter()
        stream = self._stream
        stream.push(chunk)
        w = self.half_window
        decidable = stream.start + stream.size - self.model.buffer_end - w - 2
        lo_abs = max(self._decided, stream.start + self.model.buffer_front + w + 2)
        spikes: list[StreamedSpike] = []
        if decidable > lo_abs and self.num_units:
            frames, units = self._assign(stream.logits, stream.traces, lo_abs - stream.start,
                                         decidable - stream.start)
            elapsed_ms = (time.perf_counter() - began) * 1000
            fs = self.sampling_frequency
            for f, k in sorted(zip((frames + stream.start).tolist(), units.tolist())):
                waited = (stream.received - f) / fs * 1000
                spikes.append(StreamedSpike(int(k), int(f), f / fs * 1000, waited + elapsed_ms))
            self._decided = decidable
        return spikes

    # persistence --------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Pickle the sorter without its model (atomic write), with its format marker."""
        path = Path(path)
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("model", "detector", "_stream")}
        state[PICKLE_FORMAT_KEY] = dict(PICKLE_FORMAT)
        with atomic_open(path) as fh:
            pickle.dump(state, fh)
        return path

    @classmethod
    def load(cls, path, model: DetectionModel, *, made_from_microvolts: bool = False) -> RTSort:
        """Load a sorter written by :meth:`save` and attach ``model``.

        Parameters
        ----------
        path : str or Path
            The pickle (``rt_sort.pickle`` in a sort's sorter folder).
        model : DetectionModel
            The detection model it was made with.
        made_from_microvolts : bool, default: False
            Only for a pickle without a format marker (saved before 2026-12-04, when sorters
            made from a file in ADC counts were calibrated in counts): True states that the
            recording it was made from was already in µV (no gains), so its calibration holds.

        Raises
        ------
        ModelLoadingError
            For a pickle without the marker (unless ``made_from_microvolts``), or of a newer
            format: its gain and noise levels would be read against µV traces.
        """
        with open(path, "rb") as fh:
            state = pickle.load(fh)
        marker = state.pop(PICKLE_FORMAT_KEY, None)
        if marker is None and not made_from_microvolts:
            raise ModelLoadingError(
                f"{path} is an RT-Sort pickle without a format marker, saved before sorters were "
                "calibrated in µV: one made from a file in ADC counts (Maxwell, Intan) would now "
                "sort µV traces with a gain set for counts and find the wrong spikes. Sort the "
                "recording again to make a new one, or, if it was made from a recording already "
                "in µV, load it with RTSort.load(path, model, made_from_microvolts=True).",
                sorter="rt_sort", model_path=str(path))
        if marker is not None and (marker.get("version", 0) > PICKLE_FORMAT["version"]
                                   or marker.get("input_units") != PICKLE_FORMAT["input_units"]):
            raise ModelLoadingError(
                f"{path} is an RT-Sort pickle of format {marker}; this spikelab-rtsort reads "
                f"{PICKLE_FORMAT}. Upgrade spikelab-rtsort, or sort the recording again.",
                sorter="rt_sort", model_path=str(path))
        for stale in ("_buffer", "_logits", "_start", "_computed", "_received"):
            state.pop(stale, None)  # streaming buffers a sorter saved mid-stream before 2026-12-05 kept
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        obj.model = model
        # A pickle from before the CPU fast paths has no calibration sample (its sorter runs the
        # float network) and parameters without their fields (the defaults fill them).
        obj.calibration = state.get("calibration")
        obj.params = RTSortParams(**{f.name: getattr(obj.params, f.name)
                                     for f in attrs.fields(RTSortParams) if hasattr(obj.params, f.name)})
        # The bank is derived data: rebuilt, so a pickle from before one of its fields still sorts.
        obj.bank = SequenceBank.build(obj.sequences, obj._distances, obj.params)
        obj._attach_detector()
        obj.reset()
        return obj
