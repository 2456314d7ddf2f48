"""Recording input: Maxwell ``.raw.h5`` (every layout), any SpikeInterface format, recording objects.

:func:`open_recording` goes through the ``spikelab_read_recording`` plugins (built-ins in
:mod:`spikelab.spike_sorting.io.builtin_readers`), concatenates a folder of files with per-file
bookkeeping, applies the configured stream, gain and time window, and returns a
:class:`LoadedRecording`.
"""

from __future__ import annotations

from spikelab.spike_sorting.io._load import LoadedRecording, list_streams, open_recording, short_name, stream_name

__all__ = ["LoadedRecording", "list_streams", "open_recording", "short_name", "stream_name"]
