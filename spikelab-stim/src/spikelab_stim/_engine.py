"""Vectorised artifact-removal engine behind :func:`remove_stim_artifacts`.

Per event and channel the artifact is split into

1. a **blanked** part, from ``pre_blank`` before the event to the end of amplifier
   saturation (flat rail runs, or an amplitude threshold), at least ``min_blank`` after the
   event, extended SALPA-style until the local fit explains the signal again;
2. a **fitted** tail of up to ``artifact_window`` samples, cut short where the next event's
   blanking starts, from which a local polynomial fit (see :mod:`._local_fit`) is subtracted
   so that spikes riding on the decay survive; the subtraction fades out over the last
   millisecond so the cleaned trace joins the untouched one without a step.

Events closer than one artifact extent form a burst: they share the baseline measured
before the first pulse, and a gap between pulses too short to fit is blanked whole.
All work is done on (channels, events-in-batch, samples) windows with array operations;
the only Python loops are over event batches and distinct tail lengths.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import attrs
import numpy as np

from spikelab_stim._local_fit import robust_fit, smoother_matrix
from spikelab_stim._saturation import flat_run_mask, noise_levels_from_windows

_ROBUST_K = 4.0
_ROBUST_ITER = 3
_RESUME_K = 4.0
_LENGTH_QUANTUM = 8
_WINDOW_BUDGET = 1_000_000  # float32 elements per batch window: small blocks stay in cache and reuse heap pages


@attrs.frozen
class EngineParams:
    """Sample-domain settings of the engine (built by ``make_engine_params``)."""

    method: str
    pre: int
    min_blank: int
    tail: int
    baseline: int
    resume_run: int
    half_min: int
    half_max: int
    taper: int
    min_fit: int
    poly_order: int
    min_flat: int
    saturation_threshold: float | None
    resume_threshold: float | None
    fill: str

    @property
    def span(self) -> int:
        """Samples from blank start to the furthest possible end of the fitted tail."""
        return self.pre + 2 * self.tail

    @property
    def extent(self) -> int:
        """Events closer than this (in samples) belong to one burst."""
        return self.baseline + self.span


def make_engine_params(fs, *, method, artifact_window_ms, poly_order, saturation_threshold, baseline_threshold,
                       pre_blank_ms, min_blank_ms, fit_half_width_ms, min_flat_samples, blank_fill) -> EngineParams:
    """Convert millisecond options to samples."""
    def n(ms):
        return int(round(ms * fs / 1000.0))

    order = int(poly_order)
    half_max = max(order + 1, n(fit_half_width_ms))
    return EngineParams(
        method=method,
        pre=n(pre_blank_ms),
        min_blank=n(min_blank_ms),
        tail=max(1, n(artifact_window_ms)),
        baseline=max(4, n(2.0)),
        resume_run=max(2, n(0.2)),
        half_min=min(half_max, max(order + 1, n(0.3))),
        half_max=half_max,
        taper=max(1, n(1.0)),
        min_fit=max(2 * order + 3, n(0.5)),
        poly_order=order,
        min_flat=int(min_flat_samples),
        saturation_threshold=saturation_threshold,
        resume_threshold=baseline_threshold,
        fill=blank_fill,
    )


def group_first(onsets: np.ndarray, p: EngineParams) -> np.ndarray:
    """Index of the first event of the burst each event belongs to."""
    first = np.ones(onsets.size, dtype=bool)
    first[1:] = np.diff(onsets) > p.extent
    return np.maximum.accumulate(np.where(first, np.arange(onsets.size), 0))


def gather(traces: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(channels, events, width) float32 windows of ``traces`` from ``starts`` (clipped at the edges)."""
    idx = starts[:, None] + np.arange(width)
    # np.take returns a C-contiguous (channels, events, width) block; fancy indexing would not.
    return np.take(traces, idx, axis=1, mode="clip").astype(np.float32, copy=False)


def burst_layout(onsets: np.ndarray, p: EngineParams):
    """Onset of each event's burst start and the gap to the next event (samples)."""
    group_onsets = onsets[group_first(onsets, p)]
    gaps = np.append(np.diff(onsets), np.iinfo(np.int64).max // 4)
    return group_onsets, gaps


def estimate_noise(gather_fn, n_channels: int, n_samples: int, onsets, p: EngineParams) -> np.ndarray:
    """Per-channel noise SD from the windows just before each burst.

    ``gather_fn(starts, width)`` returns (channels, len(starts), width) windows clipped at
    the recording edges (see :func:`gather`). With too few pre-burst samples, ten windows
    spread over the recording are used instead.
    """
    firsts = np.unique(onsets[group_first(onsets, p)]) if onsets.size else np.zeros(0, dtype=np.int64)
    if firsts.size * p.baseline >= 64:
        return noise_levels_from_windows(gather_fn(firsts - p.pre - p.baseline, p.baseline))
    width = min(n_samples, 2000)
    starts = np.linspace(0, n_samples - width, 10).astype(np.int64)
    return noise_levels_from_windows(gather_fn(starts, width))


def clean(traces, onsets, p: EngineParams, sigma, *, raw=None, out=None, mask=None, progress=None,
          group_onsets=None, gaps=None, n_jobs=1):
    """Clean ``traces`` around ``onsets`` (sample indices) and write into ``out`` / ``mask``.

    ``out`` (float32 or float64, same shape as ``traces``) must already hold a copy of the
    traces; only artifact samples are rewritten. For chunked use pass ``group_onsets`` and
    ``gaps`` from :func:`burst_layout` on the whole event list (shifted to the chunk), so
    each event sees the same burst baseline and next-event gap as in a whole-array run.
    With ``n_jobs > 1`` event batches run in threads (numpy releases the GIL); each event
    writes only its own region, and only samples before the next event's region are read
    for it, so batches never depend on each other's output.
    """
    n_ch, n_samples = traces.shape
    raw = traces if raw is None else raw
    if group_onsets is None or gaps is None:
        group_onsets, gaps = burst_layout(onsets, p)
    base_all = np.median(gather(traces, group_onsets - p.pre - p.baseline, p.baseline), axis=-1)
    raw_base_all = base_all if raw is traces else np.median(
        gather(raw, group_onsets - p.pre - p.baseline, p.baseline), axis=-1)
    batch = max(1, _WINDOW_BUDGET // (n_ch * p.span))
    slices = [slice(b0, min(onsets.size, b0 + batch)) for b0 in range(0, onsets.size, batch)]

    def work(sl):
        _clean_batch(traces, raw, onsets[sl], gaps[sl], base_all[:, sl], raw_base_all[:, sl], sigma, p, out, mask)
        if progress is not None:
            progress.update(sl.stop - sl.start)

    # The fits are many small matrix products: one BLAS thread each is fastest, and keeps
    # threads from oversubscribing the cores.
    with _single_thread_blas():
        if n_jobs > 1 and len(slices) > 1:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                list(pool.map(work, slices))
        else:
            for sl in slices:
                work(sl)


def _single_thread_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _clean_batch(traces, raw, onsets, gaps, base, raw_base, sigma, p: EngineParams, out, mask):
    n_ch, n_samples = traces.shape
    starts = onsets - p.pre  # blank start of each event
    win = gather(traces, starts, p.span)  # (C, E, span), index 0 = blank start
    limit = np.minimum(p.span, gaps)[None, :]  # region may not reach the next event's blank start
    rail = gather(raw, starts, p.pre + p.tail) if raw is not traces else win[..., : p.pre + p.tail]
    sat = flat_run_mask(rail, raw_base, sigma, p.min_flat)
    if p.saturation_threshold is not None:
        sat |= np.abs(rail) >= p.saturation_threshold
    sat &= np.arange(sat.shape[-1]) < limit[..., None]
    last = np.where(sat.any(-1), sat.shape[-1] - np.argmax(sat[..., ::-1], axis=-1), 0)
    blank_end = np.minimum(np.maximum(p.pre + p.min_blank, last), limit)
    region_end = np.minimum(blank_end + p.tail, limit)
    region_end = np.minimum(region_end, n_samples - starts[None, :])
    full_tail = (blank_end + p.tail <= limit) & (blank_end + p.tail <= n_samples - starts[None, :])
    result = np.broadcast_to(base[..., None], win.shape).copy() if p.fill == "baseline" else np.zeros_like(win)
    blanked = np.ones(win.shape, dtype=bool)
    if p.method == "polynomial":
        _fit_tails(win, base, sigma, blank_end, region_end, full_tail, p, result, blanked)
    own = np.arange(p.span) < region_end[..., None]
    for e, a in enumerate(starts):  # regions of consecutive events never overlap
        lo, hi = max(0, -a), min(p.span, n_samples - a)
        if hi <= lo:
            continue
        where = own[:, e, lo:hi]
        np.copyto(out[:, a + lo : a + hi], result[:, e, lo:hi], where=where)
        if mask is not None:
            np.copyto(mask[:, a + lo : a + hi], blanked[:, e, lo:hi], where=where)


def _fit_tails(win, base, sigma, blank_end, region_end, full_tail, p: EngineParams, result, blanked):
    """Fit and subtract each row's tail in place in ``result``; unblank fitted samples."""
    n_ch, n_ev, span = win.shape
    ctx = _RowContext(
        rows=win.reshape(n_ch * n_ev, span),
        out=result.reshape(n_ch * n_ev, span),
        blanked=blanked.reshape(n_ch * n_ev, span),
        sigma=np.repeat(sigma, n_ev).astype(np.float32),
        base=base.reshape(-1).astype(np.float32),
        params=p,
    )
    start = blank_end.reshape(-1).astype(np.int64)
    end = region_end.reshape(-1).astype(np.int64)
    full = full_tail.reshape(-1)
    # Pass 1 fits from the end of saturation. Rows whose fit does not yet explain the signal
    # there (SALPA's resume test) are refitted from where it first does, in pass 2.
    late_rows, late_start = _fit_and_write(ctx, np.arange(start.size), start, end, full, check_resume=True)
    if late_rows.size:
        _fit_and_write(ctx, late_rows, late_start, end[late_rows], full[late_rows], check_resume=False)


@attrs.frozen
class _RowContext:
    rows: np.ndarray  # (rows, span) input windows
    out: np.ndarray  # (rows, span) output windows, pre-filled with the blank value
    blanked: np.ndarray  # (rows, span) True until a sample is fitted
    sigma: np.ndarray  # (rows,) noise SD
    base: np.ndarray  # (rows,) baseline level
    params: EngineParams


def _fit_and_write(ctx: _RowContext, sel, start, end, full, *, check_resume):
    """Robustly fit rows ``sel`` over [start, end) and write ``signal - (fit - baseline)``.

    Lengths of rows cut short by a following event are rounded down to a multiple of
    ``_LENGTH_QUANTUM`` so that rows share a handful of precomputed fit matrices; the few
    samples dropped stay blanked. Returns the rows (and new starts) that failed the
    resume test when ``check_resume`` is True.
    """
    p = ctx.params
    length = np.maximum(end - start, 0)
    length = np.where(full, length, (length // _LENGTH_QUANTUM) * _LENGTH_QUANTUM)
    thr_all = None if p.resume_threshold is None else np.float32(p.resume_threshold)
    retry_rows, retry_start = [], []
    for L in np.unique(length):
        if L < p.min_fit:
            continue
        g = np.flatnonzero(length == L)
        r = sel[g]
        flat_idx = (r * ctx.rows.shape[1] + start[g])[:, None] + np.arange(L)  # rows are C-contiguous
        seg = np.take(ctx.rows, flat_idx)
        fit = robust_fit(seg, ctx.sigma[r], smoother_matrix(int(L), p.poly_order, p.half_min, p.half_max),
                         _ROBUST_K, _ROBUST_ITER)
        keep = slice(None)
        if check_resume:
            thr = _RESUME_K * ctx.sigma[r] if thr_all is None else np.full(r.size, thr_all)
            j = _first_good_run(seg - fit, thr, p.resume_run)
            late = j > 0
            if late.any():
                q = _LENGTH_QUANTUM // 2
                retry_rows.append(r[late])
                retry_start.append(start[g][late] + (-(-j[late] // q)) * q)
            keep = np.flatnonzero(j == 0)
            if keep.size == 0:
                continue
        rk, idxk = r[keep], flat_idx[keep]
        ramp = np.clip((L - np.arange(L)) / p.taper, 0.0, 1.0).astype(np.float32)
        weight = np.where(full[g][keep][:, None], ramp[None, :], np.float32(1.0))
        np.put(ctx.out, idxk, seg[keep] - weight * (fit[keep] - ctx.base[rk][:, None]))
        np.put(ctx.blanked, idxk, False)
    if not retry_rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(retry_rows), np.concatenate(retry_start)


def _first_good_run(resid, thr, run):
    """Index of the first ``run`` consecutive residuals within ``thr`` in each row; -1 if none."""
    good = np.abs(resid) <= thr[:, None]
    csum = np.concatenate([np.zeros((good.shape[0], 1), dtype=np.int32), np.cumsum(good, axis=1, dtype=np.int32)],
                          axis=1)
    run_ok = (csum[:, run:] - csum[:, :-run]) == run  # run_ok[j]: samples j..j+run-1 good
    return np.where(run_ok.any(axis=1), np.argmax(run_ok, axis=1), -1)
