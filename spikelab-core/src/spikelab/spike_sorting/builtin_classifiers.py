"""Built-in classifier plugin, consulted last (``trylast``): a backend's own ``classifier`` runs
before the hook chain (see ``SpikeLabPluginManager.classify_failure``), other plugins' hooks next.

Generic signatures are those any backend can hit: a missing HDF5 filter, Docker trouble, CUDA
out of memory, Python's MemoryError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spikelab.plugins import hookimpl
from spikelab.spike_sorting import _exceptions as ex
from spikelab.spike_sorting._classifier import GPU_OOM, exception_chain_text, find_line

_HDF5 = re.compile(
    r"HDF5_PLUGIN_PATH|can't open directory|Can't synchronously read data|libcompression"
    r"|required filter .* is not registered|H5Z_FILTER|filter .* not available",
    re.IGNORECASE,
)
_DOCKER = (
    ("client_missing", re.compile(r"No module named ['\"]docker['\"]")),
    (
        "permission_denied",
        re.compile(r"permission denied while trying to connect to the Docker daemon|Got permission denied", re.I),
    ),
    (
        "daemon_down",
        re.compile(
            r"Cannot connect to the Docker daemon|Is the docker daemon running|Error while fetching server API version",
            re.I,
        ),
    ),
    (
        "image_pull_failed",
        re.compile(
            r"manifest unknown|pull access denied|failed to resolve reference|ImageNotFound|error pulling image", re.I
        ),
    ),
)


def classify_generic(sorter: str, output_folder: Path, exc: BaseException, log_text: str):
    """Signatures shared by every backend; returns None when none matches."""
    if isinstance(exc, ex.SpikeSortingClassifiedError):
        return exc
    chain = exception_chain_text(exc)
    text = chain + "\n" + log_text
    log_path = None
    common = {"sorter": sorter, "log_path": log_path}
    found = find_line(text, _HDF5)
    if found:
        return ex.HDF5PluginMissingError(
            "An HDF5 compression filter needed to read the recording is missing. Install it "
            "(`pip install hdf5plugin` for standard filters; for Maxwell's own filter, download "
            "libcompression.so from Maxwell Biosystems) and set HDF5_PLUGIN_PATH to its folder.",
            matched_line=found[1],
            configured_path=os.environ.get("HDF5_PLUGIN_PATH"),
            **common,
        )
    for reason, pattern in _DOCKER:
        found = find_line(text, pattern)
        if found:
            return ex.DockerEnvironmentError(
                f"Docker is not usable ({reason.replace('_', ' ')}). Start the Docker engine, "
                "check your permissions (docker group) and that the image exists.",
                reason=reason,
                matched_line=found[1],
                **common,
            )
    found = find_line(text, GPU_OOM)
    if found:
        return ex.GPUOutOfMemoryError(
            "The sorter ran out of GPU memory. The pipeline retries with a smaller batch; "
            "otherwise lower the backend's batch parameter or use a GPU with more memory.",
            matched_line=found[1],
            **common,
        )
    if isinstance(exc, MemoryError):
        return ex.HostMemoryError(
            "Python ran out of host memory. Lower n_jobs / total_memory or sort a shorter window.",
            matched_line=f"MemoryError: {exc}",
            **common,
        )
    return None


@hookimpl(trylast=True)
def spikelab_classify_failure(sorter: str, output_folder: Path, exc: BaseException, log_text: str):
    """Generic signatures, consulted after every backend's own classifier declined."""
    return classify_generic(sorter, output_folder, exc, log_text)
