"""Stimulation-artifact recentering, removal and stim-recording sorting for SpikeLab.

The guide's import paths (``spikelab.spike_sorting.stim_sorting.*``) re-export these.
"""

from spikelab_stim.artifact_removal import remove_stim_artifacts
from spikelab_stim.params import StimParams
from spikelab_stim.preprocess import StimArtifactRemovedRecording, preprocess_stim_artifacts
from spikelab_stim.recentering import RecenteringReport, recenter_stim_times
from spikelab_stim.slices import SpikeSliceStack
from spikelab_stim.sorting import OfflineSorter, sort_stim_recording

__version__ = "0.1.0"

__all__ = [
    "OfflineSorter",
    "RecenteringReport",
    "SpikeSliceStack",
    "StimParams",
    "StimArtifactRemovedRecording",
    "preprocess_stim_artifacts",
    "recenter_stim_times",
    "remove_stim_artifacts",
    "sort_stim_recording",
]
