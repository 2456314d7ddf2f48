"""Synthetic stimulation recordings with ground-truth spikes (numpy only).

Used by the tests and by ``bench/stim``. The module imports nothing but numpy and the
standard library, so the benchmark can load it by file path into another environment
(the peer ``spikelab`` 0.1.2 venv) and feed both implementations identical data.

Artifact model, per pulse and channel: a mono- or biphasic square pulse whose amplitude
falls off with distance from the stimulating electrode, clipped at the amplifier rails
(flat runs); channels driven past the rails stay pinned for a while (amplifier recovery)
and then decay exponentially (``tail_tau_ms``) plus a slower, smaller component.
Spikes are raw extracellular waveforms (sharp trough, slower positive rebound), each on
one channel, evoked after pulses and spontaneous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SyntheticStim", "make_stim_recording", "spike_waveform", "score_cleaning"]


@dataclass
class SyntheticStim:
    """A synthetic stim recording and its ground truth (all times in ms)."""

    traces: np.ndarray  # (channels, samples) float32, artifact + noise + spikes (+ offset)
    clean: np.ndarray | None  # (channels, samples) float32, noise + spikes (+ offset), no artifact
    fs_Hz: float
    stim_times_ms: np.ndarray  # true artifact onsets (pulse start)
    logged_stim_times_ms: np.ndarray  # what the hardware logged (jittered)
    pulse_end_ms: np.ndarray  # end of each pulse's last phase
    spike_times_ms: np.ndarray  # trough times of ground-truth spikes
    spike_channels: np.ndarray
    spike_amplitudes: np.ndarray  # trough depth in uV (positive numbers)
    spike_evoked: np.ndarray  # bool, spike placed in a post-pulse window
    noise_uV: float
    params: dict = field(default_factory=dict)


def spike_waveform(fs_Hz: float, amplitude: float = 1.0):
    """Raw extracellular spike template (trough = -amplitude at index ``center``).

    Returns
    -------
    wave : np.ndarray
    center : int
    """
    t = np.arange(-0.6, 1.6, 1000.0 / fs_Hz)
    wave = -np.exp(-(t**2) / (2 * 0.12**2)) + 0.3 * np.exp(-((t - 0.45) ** 2) / (2 * 0.25**2))
    wave -= wave[0]
    wave /= -wave.min()
    return (amplitude * wave).astype(np.float32), int(np.argmin(wave))


def _pulse_onsets(rng, duration_ms, n_events, protocol, pair_interval_ms, train_n, train_interval_ms):
    """Onsets (ms) of every pulse for ``n_events`` protocol repetitions spread over the recording."""
    per_event = {"single": [0.0], "paired": [0.0, pair_interval_ms],
                 "train": list(np.arange(train_n) * train_interval_ms)}[protocol]
    span = per_event[-1] + 40.0
    slots = np.linspace(60.0, duration_ms - span - 60.0, n_events)
    starts = slots + rng.uniform(-0.2, 0.2, n_events) * (slots[1] - slots[0] if n_events > 1 else 0.0)
    return np.sort((starts[:, None] + np.asarray(per_event)[None, :]).ravel())


def make_stim_recording(
    n_channels=16,
    duration_s=2.0,
    fs_Hz=20000.0,
    n_events=20,
    *,
    protocol="single",
    pair_interval_ms=20.0,
    train_n=5,
    train_interval_ms=10.0,
    train_gain=1.0,
    pulse="biphasic",
    polarity=1.0,
    phase_ms=0.2,
    amplitude_uV=20000.0,
    space_constant_um=150.0,
    rail_uV=3000.0,
    tail_fraction=0.25,
    tail_tau_ms=1.0,
    slow_fraction=0.03,
    slow_tau_ms=6.0,
    recovery_ms_per_decade=0.8,
    noise_uV=8.0,
    dc_offset_uV=0.0,
    jitter_ms=0.0,
    spike_amplitude_uV=(60.0, 150.0),
    evoked_probability=0.5,
    evoked_latency_ms=(2.0, 9.0),
    spontaneous_rate_hz=2.0,
    seed=0,
    chunk_s=5.0,
    keep_clean=True,
):
    """Build a synthetic stim recording; see the module docstring for the model.

    Parameters
    ----------
    protocol : "single" | "paired" | "train", default: "single"
        One pulse per event, a pair ``pair_interval_ms`` apart, or ``train_n`` pulses
        ``train_interval_ms`` apart.
    train_gain : float, default: 1.0
        Pulse ``j`` of a paired pulse or train has amplitude ``amplitude_uV * train_gain**j``.
    pulse : "biphasic" | "monophasic", default: "biphasic"
    polarity : float, default: 1.0
        +1 for anodic-first (positive first phase), -1 for cathodic-first.
    keep_clean : bool, default: True
        Keep the artifact-free traces (``clean``); False halves the memory for timing runs.
    jitter_ms : float, default: 0.0
        Logged times differ from the true onsets by a uniform offset in [-jitter, jitter].
    evoked_latency_ms : (float, float), default: (2.0, 9.0)
        Evoked spikes land this long after the end of the pulse.

    Returns
    -------
    SyntheticStim
    """
    rng = np.random.default_rng(seed)
    fs = float(fs_Hz)
    n_samples = int(round(duration_s * fs))
    duration_ms = n_samples / fs * 1000.0
    ms = fs / 1000.0
    onsets = _pulse_onsets(rng, duration_ms, n_events, protocol, pair_interval_ms, train_n, train_interval_ms)
    onsets = np.round(onsets * ms) / ms

    side = int(np.ceil(np.sqrt(n_channels)))
    xy = np.stack([np.arange(n_channels) % side, np.arange(n_channels) // side], axis=1) * 17.5
    stim_xy = xy[n_channels // 2]
    dist = np.hypot(*(xy - stim_xy).T)
    sign = np.where(rng.random(n_channels) < 0.8, 1.0, -1.0) * polarity
    sign[n_channels // 2] = polarity  # the stimulating electrode sees the pulse as delivered
    amp = amplitude_uV * np.exp(-dist / space_constant_um) * sign
    offsets = rng.uniform(-dc_offset_uV, dc_offset_uV, n_channels) if dc_offset_uV else np.zeros(n_channels)

    clean = np.empty((n_channels, n_samples), dtype=np.float32)
    step = max(1, int(chunk_s * fs))
    for a in range(0, n_samples, step):
        b = min(n_samples, a + step)
        clean[:, a:b] = rng.standard_normal((n_channels, b - a), dtype=np.float32) * noise_uV
    clean += offsets[:, None].astype(np.float32)

    # Spikes.
    wave, center = spike_waveform(fs)
    n_ph = max(1, int(round(phase_ms * ms)))
    pulse_len = n_ph * (2 if pulse == "biphasic" else 1)
    pulse_end = onsets + pulse_len / ms
    unit_channels = rng.choice(n_channels, size=max(1, n_channels // 2), replace=False)
    times, chans, evoked = [], [], []
    for end in pulse_end[np.r_[True, np.diff(onsets) > 30.0]] if protocol != "single" else pulse_end:
        hit = rng.random(unit_channels.size) < evoked_probability
        times.append(end + rng.uniform(*evoked_latency_ms, hit.sum()))
        chans.append(unit_channels[hit])
        evoked.append(np.ones(hit.sum(), dtype=bool))
    n_spont = rng.poisson(spontaneous_rate_hz * duration_s * unit_channels.size)
    times.append(rng.uniform(5.0, duration_ms - 5.0, n_spont))
    chans.append(rng.choice(unit_channels, n_spont))
    evoked.append(np.zeros(n_spont, dtype=bool))
    times, chans, evoked = np.concatenate(times), np.concatenate(chans), np.concatenate(evoked)
    order = np.argsort(times)
    times, chans, evoked = times[order], chans[order], evoked[order]
    keep = _refractory(times, chans, 3.0)
    times, chans, evoked = times[keep], chans[keep], evoked[keep]
    amps = rng.uniform(*spike_amplitude_uV, times.size).astype(np.float32)
    trough = np.round(times * ms).astype(np.int64)
    times = trough / ms
    for t, c, a in zip(trough, chans, amps):
        lo = t - center
        seg = slice(max(0, lo), min(n_samples, lo + wave.size))
        clean[c, seg] += a * wave[seg.start - lo : seg.stop - lo]

    traces = clean.copy() if keep_clean else clean
    index_in_event = _index_in_event(onsets, protocol, train_n)
    _add_artifacts(
        traces,
        onsets,
        train_gain**index_in_event,
        amp,
        fs,
        pulse,
        n_ph,
        rail_uV,
        tail_fraction,
        tail_tau_ms,
        slow_fraction,
        slow_tau_ms,
        recovery_ms_per_decade,
        offsets,
    )
    logged = onsets + (rng.uniform(-jitter_ms, jitter_ms, onsets.size) if jitter_ms else 0.0)
    logged = np.clip(logged, 0.0, duration_ms - 1.0)
    return SyntheticStim(
        traces=traces,
        clean=clean if keep_clean else None,
        fs_Hz=fs,
        stim_times_ms=onsets,
        logged_stim_times_ms=np.sort(logged),
        pulse_end_ms=pulse_end,
        spike_times_ms=times,
        spike_channels=chans,
        spike_amplitudes=amps,
        spike_evoked=evoked,
        noise_uV=float(noise_uV),
        params=dict(
            n_channels=n_channels,
            duration_s=duration_s,
            fs_Hz=fs,
            n_events=n_events,
            protocol=protocol,
            pulse=pulse,
            polarity=polarity,
            rail_uV=rail_uV,
            seed=seed,
        ),
    )


def _refractory(times, chans, min_gap_ms):
    keep = np.ones(times.size, dtype=bool)
    last = {}
    for i, (t, c) in enumerate(zip(times, chans)):
        if c in last and t - last[c] < min_gap_ms:
            keep[i] = False
        else:
            last[c] = t
    return keep


def _index_in_event(onsets, protocol, train_n):
    per_event = {"single": 1, "paired": 2, "train": train_n}[protocol]
    return np.arange(onsets.size) % per_event


def _add_artifacts(traces, onsets, gains, amp, fs, pulse, n_ph, rail, tail_fraction, tau, slow_fraction, slow_tau,
                   recovery_per_decade, offsets):
    """Add pulse + recovery + tail for every onset, then clip at the rails (around each channel's offset)."""
    ms = fs / 1000.0
    n_samples = traces.shape[1]
    tail_len = int(round(10 * slow_tau * ms))
    drive = np.abs(amp) / rail
    hold = np.where(drive > 1, recovery_per_decade * np.log10(np.maximum(drive, 1.0)), 0.0)
    hold_n = np.round(hold * ms).astype(np.int64)
    last_sign = -np.sign(amp) if pulse == "biphasic" else np.sign(amp)
    tail_amp = np.minimum(np.abs(amp) * tail_fraction, 0.9 * rail) * last_sign
    t = np.arange(tail_len) / ms
    for on, gain in zip(np.round(onsets * ms).astype(np.int64), gains):
        art = np.zeros((traces.shape[0], 2 * n_ph + hold_n.max() + tail_len), dtype=np.float32)
        art[:, :n_ph] = amp[:, None]
        pos = n_ph
        if pulse == "biphasic":
            art[:, n_ph : 2 * n_ph] = -amp[:, None]
            pos = 2 * n_ph
        for c in np.flatnonzero(hold_n):
            art[c, pos : pos + hold_n[c]] = 2 * rail * last_sign[c]
        for c in range(traces.shape[0]):
            p0 = pos + hold_n[c]
            art[c, p0 : p0 + tail_len] += tail_amp[c] * np.exp(-t / tau) + slow_fraction * amp[c] * np.exp(
                -t / slow_tau
            )
        end = min(n_samples, on + art.shape[1])
        traces[:, on:end] += gain * art[:, : end - on]
    lo = (offsets - rail)[:, None].astype(np.float32)
    hi = (offsets + rail)[:, None].astype(np.float32)
    np.clip(traces, lo, hi, out=traces)


def score_cleaning(data: SyntheticStim, cleaned, blanked, *, from_offset_ms=2.0, window_ms=10.0):
    """Spike recovery, amplitude error and residual artifact of a cleaned recording.

    Ground-truth spikes with troughs from ``from_offset_ms`` after a pulse's end up to
    ``window_ms`` later are scored. A spike is *recovered* when none of its samples are
    blanked and its trough depth in the cleaned trace (relative to the median of the 2 ms
    around it) is within 50 % of the depth in the artifact-free trace; the amplitude error
    is the mean relative depth difference over recovered spikes. The residual is the RMS
    of ``cleaned - clean`` over the same post-pulse windows, excluding blanked samples.

    Returns
    -------
    dict
    """
    fs = data.fs_Hz
    ms = fs / 1000.0
    n = data.traces.shape[1]
    cleaned = np.asarray(cleaned, dtype=np.float32)
    starts = np.round((data.pulse_end_ms + from_offset_ms) * ms).astype(np.int64)
    ends = np.round((data.pulse_end_ms + window_ms) * ms).astype(np.int64)
    nxt = np.append(np.round(data.stim_times_ms[1:] * ms).astype(np.int64) - int(0.5 * ms), n)
    ends = np.minimum(ends, nxt)
    trough = np.round(data.spike_times_ms * ms).astype(np.int64)
    which = np.searchsorted(starts, trough, side="right") - 1
    scored = (which >= 0) & (trough < ends[np.maximum(which, 0)]) & (trough >= starts[np.maximum(which, 0)])
    half, ctx = int(round(0.25 * ms)), int(round(1.0 * ms))
    recovered, errors = [], []
    for t, c in zip(trough[scored], data.spike_channels[scored]):
        lo, hi = max(0, t - ctx), min(n, t + ctx)
        if blanked[c, t - half : t + half + 1].any():
            recovered.append(False)
            continue
        truth = np.median(data.clean[c, lo:hi]) - data.clean[c, t - half : t + half + 1].min()
        got = np.median(cleaned[c, lo:hi]) - cleaned[c, t - half : t + half + 1].min()
        ok = abs(got - truth) <= 0.5 * truth
        recovered.append(bool(ok))
        if ok:
            errors.append(abs(got - truth) / truth)
    sq, count = 0.0, 0
    for a, b in zip(starts, ends):
        if b <= a:
            continue
        diff = (cleaned[:, a:b] - data.clean[:, a:b])[~blanked[:, a:b]]
        sq += float(np.sum(diff.astype(np.float64) ** 2))
        count += diff.size
    residual = float(np.sqrt(sq / count)) if count else float("nan")
    noise = data.noise_uV
    n_scored = int(scored.sum())
    return {
        "n_spikes_scored": n_scored,
        "recovered_fraction": float(np.mean(recovered)) if recovered else float("nan"),
        "amplitude_error": float(np.mean(errors)) if errors else float("nan"),
        "residual_rms_uV": residual,
        "noise_rms_uV": noise,
        "residual_to_noise": residual / noise if noise else float("nan"),
        "blanked_fraction": float(np.mean(blanked)),
    }
