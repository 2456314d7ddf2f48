"""The prepared copy is written in chunks whose working set does not grow with the channel count."""

from __future__ import annotations

from spikelab.spike_sorting.config import SortingPipelineConfig
from spikelab.spike_sorting.stages.preprocess import job_kwargs


def test_a_whole_array_copy_is_written_in_shorter_chunks_than_a_small_one():
    config = SortingPipelineConfig()
    whole, small = job_kwargs(config, 1020), job_kwargs(config, 64)
    # a band-passed chunk holds ~20 bytes a channel-frame: 32,896 frames of 1,020 channels ~0.7 GB
    assert whole["chunk_size"] * 1020 <= 2**25 < (whole["chunk_size"] + 1) * 1020
    assert small["chunk_size"] == 2**25 // 64 > 20 * 20000  # over 20 s at 20 kHz: per-chunk cost stays small


def test_a_memory_budget_the_user_set_replaces_the_chunk_rule():
    config = SortingPipelineConfig().override(total_memory="2G")
    kwargs = job_kwargs(config, 1020)
    assert kwargs["total_memory"] == "2G" and "chunk_size" not in kwargs
