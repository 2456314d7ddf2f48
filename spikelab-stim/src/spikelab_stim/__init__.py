"""Stimulation-artifact handling for SpikeLab."""
from spikelab_stim.artifact_removal import remove_stim_artifacts
from spikelab_stim.recentering import recenter_stim_times
