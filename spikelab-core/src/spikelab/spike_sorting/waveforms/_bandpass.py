"""A zero-phase Butterworth band-pass applied in the frequency domain, read by read.

The waveforms stage of a sorter that filters internally (Kilosort4, RT-Sort, the fake sorter)
band-passes nearly every sample of the recording: on a 1,020-electrode array that filter was
87 % of the pipeline's own cost (bench/results/scale/findings.md). A forward-backward IIR
filter (``sosfiltfilt``) multiplies each frequency by ``|H(f)|^2``, so the same response is one
real FFT, a product and an inverse FFT per read, which vectorises across channels where the
recursive filter cannot (measured: 2.92 against 5.16 CPU-s for 10 s of 1,020 channels read through
the recording API, 1.8x).

Each read takes a margin on both sides (as SpikeInterface's ``bandpass_filter`` does: five
periods of the high-pass cut-off, then reflected at the recording's ends) and has the straight
line through its first and last samples removed before the FFT. The line makes the read
periodic, so the FFT's wrap-around does not ring into the margins; a band-pass of order two or
more removes a straight line anyway, so the interior is unchanged by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
import scipy.signal
from spikeinterface.core import BaseRecording
from spikeinterface.core.recording_tools import get_chunk_with_margin
from spikeinterface.preprocessing.basepreprocessor import BasePreprocessor, BasePreprocessorSegment

#: Margin read on each side, in periods of the high-pass cut-off (SpikeInterface's "auto" margin).
MARGIN_PERIODS = 5.0
#: Channels transformed together: small enough for the transposes to stay in cache (measured
#: 0.33 ms of CPU per channel-second in groups of 16 to 128, 0.44 ms for 1,020 at once).
CHANNEL_GROUP = 64


class ZeroPhaseBandpassRecording(BasePreprocessor):
    """A lazily band-passed recording: ``sosfiltfilt``'s response, computed with FFTs.

    Parameters
    ----------
    recording : BaseRecording
        The recording to filter (any dtype; traces come out as float32).
    freq_min, freq_max : float
        Band edges (Hz), ``0 < freq_min < freq_max < fs / 2``.
    filter_order : int, default: 5
        Butterworth order of the band-pass (SpikeInterface's default).
    """

    def __init__(self, recording: BaseRecording, freq_min: float, freq_max: float, filter_order: int = 5) -> None:
        fs = float(recording.get_sampling_frequency())
        if not 0 < freq_min < freq_max < fs / 2:
            raise ValueError(f"band ({freq_min}, {freq_max}) Hz must satisfy 0 < low < high < fs/2 = {fs / 2} Hz.")
        BasePreprocessor.__init__(self, recording, dtype="float32")
        self.annotate(is_filtered=True)
        if "offset_to_uV" in self.get_property_keys():
            self.set_channel_offsets(0)  # the band-pass removes the DC the offsets describe
        sos = scipy.signal.butter(filter_order, [freq_min, freq_max], btype="bandpass", fs=fs, output="sos")
        margin = int(np.ceil(MARGIN_PERIODS * fs / freq_min))
        for parent in recording.segments:
            self.add_recording_segment(_Segment(parent, sos, fs, margin))
        self._kwargs = dict(recording=recording, freq_min=float(freq_min), freq_max=float(freq_max),
                            filter_order=int(filter_order))


class _Segment(BasePreprocessorSegment):
    def __init__(self, parent: Any, sos: np.ndarray, fs: float, margin: int) -> None:
        BasePreprocessorSegment.__init__(self, parent)
        self.sos, self.fs, self.margin = sos, fs, margin
        self._gains: dict[int, np.ndarray] = {}

    def _gain(self, n_fft: int) -> np.ndarray:
        """``|H(f)|^2`` on the rfft bins of length ``n_fft`` (float32, cached per length)."""
        gain = self._gains.get(n_fft)
        if gain is None:
            _, response = scipy.signal.sosfreqz(self.sos, worN=np.fft.rfftfreq(n_fft, 1.0 / self.fs), fs=self.fs)
            gain = (np.abs(response) ** 2).astype(np.float32)
            if len(self._gains) > 8:
                self._gains.clear()
            self._gains[n_fft] = gain
        return gain

    def get_traces(self, start_frame: int | None, end_frame: int | None, channel_indices: Any) -> np.ndarray:
        start = 0 if start_frame is None else int(start_frame)
        end = self.get_num_samples() if end_frame is None else int(end_frame)
        chunk, left, right = get_chunk_with_margin(
            self.parent_recording_segment, start, end, channel_indices, self.margin, add_reflect_padding=True
        )
        chunk = np.asarray(chunk)
        n, n_channels = chunk.shape
        out = np.empty((n - left - right, n_channels), dtype=np.float32)
        if n == 0 or out.size == 0:
            return out
        n_fft = scipy.fft.next_fast_len(n, real=True)
        gain = self._gain(n_fft)
        steps = np.arange(n, dtype=np.float32)
        block = np.zeros((min(CHANNEL_GROUP, n_channels), n_fft), dtype=np.float32)
        for lo in range(0, n_channels, CHANNEL_GROUP):
            part = chunk[:, lo : lo + CHANNEL_GROUP]
            k = part.shape[1]
            first = part[0].astype(np.float32)
            slope = (part[-1].astype(np.float32) - first) / max(n - 1, 1)
            # channels by samples (each FFT over contiguous memory), less the line through the ends
            np.subtract(part.T, first[:, None] + slope[:, None] * steps, out=block[:k, :n], casting="unsafe")
            spectrum = scipy.fft.rfft(block[:k], axis=1)
            spectrum *= gain
            out[:, lo : lo + k] = scipy.fft.irfft(spectrum, n=n_fft, axis=1)[:, left : n - right].T
        return out


def zero_phase_bandpass(recording: BaseRecording, freq_min: float, freq_max: float,
                        filter_order: int = 5) -> ZeroPhaseBandpassRecording:
    """Band-pass ``recording`` lazily with :class:`ZeroPhaseBandpassRecording`."""
    return ZeroPhaseBandpassRecording(recording, freq_min, freq_max, filter_order)
