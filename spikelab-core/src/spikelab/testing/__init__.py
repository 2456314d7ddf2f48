"""SpikeLab's test kit: a tiny ground-truth recording, a fake sorter that fails on demand with
real-looking log lines, a fake NVML, and the conformance suite every backend package runs.

It is also a pytest plugin (auto-loaded through the ``pytest11`` entry point) that registers the
``fake`` sorter into the process-wide plugin manager.
"""

from __future__ import annotations

from spikelab.testing.recordings import tiny_recording

__all__ = ["tiny_recording"]
