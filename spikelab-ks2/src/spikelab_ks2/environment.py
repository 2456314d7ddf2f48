"""What Kilosort2 needs before it can run, checked before any work (preflight and the runners).

Each problem is one sentence that names what is missing and how to fix it.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikelab.spike_sorting import _exceptions as ex
from spikelab_ks2.params import DEFAULT_PARAMS, NAME, kilosort_source_path, param_problems

if TYPE_CHECKING:
    from spikelab.spike_sorting.config import SortingPipelineConfig

KS2_URL = "https://github.com/MouseLand/Kilosort2"
NPY_MATLAB_URL = "https://github.com/kwikteam/npy-matlab"
#: Files that identify a Kilosort2 source tree (v2.0 ships main_kilosort.m; SpikeInterface also
#: accepts master_kilosort.m).
MAIN_FILES = ("main_kilosort.m", "master_kilosort.m")
MEX_SOURCE = Path("CUDA") / "mexGPUall.m"
#: Compiled CUDA MEX files (one per platform).
MEX_SUFFIXES = (".mexa64", ".mexw64", ".mexmaci64")


def merged_params(config: SortingPipelineConfig) -> dict[str, Any]:
    params = dict(DEFAULT_PARAMS)
    params.update(config.sorter.sorter_params)
    return params


def kilosort_tree_problems(path: Path | None, npy_matlab_path: str | None = None) -> list[str]:
    """Problems with the Kilosort2 source folder (and npy-matlab, which ``rezToPhy`` needs)."""
    if path is None:
        return [
            f"kilosort_path is not set: clone {KS2_URL} (tag v2.0), compile its CUDA code in MATLAB "
            "(cd CUDA; mexGPUall), then pass kilosort_path='/path/to/Kilosort2' or set KILOSORT2_PATH "
            "(or use the KILOSORT2_DOCKER preset, which needs no MATLAB)."
        ]
    if not path.is_dir():
        return [f"kilosort_path {str(path)!r} is not a folder: point it at your clone of {KS2_URL}."]
    if not any((path / name).is_file() for name in MAIN_FILES) or not (path / MEX_SOURCE).is_file():
        return [
            f"kilosort_path {str(path)!r} does not look like Kilosort2's sources (expected "
            f"{' or '.join(MAIN_FILES)} and {MEX_SOURCE.as_posix()}): point it at the root of your "
            f"clone of {KS2_URL}."
        ]
    problems = []
    cuda = path / "CUDA"
    if not any(p.suffix in MEX_SUFFIXES for p in cuda.iterdir()):
        problems.append(
            f"Kilosort2's CUDA MEX files are not compiled in {str(cuda)!r}: in MATLAB run "
            f"`cd('{cuda}'); mexGPUall` (needs the Parallel Computing Toolbox, a CUDA toolkit and a "
            "supported C++ compiler)."
        )
    npy_roots = [path] + ([Path(npy_matlab_path)] if npy_matlab_path else [])
    if not any(next(root.rglob("writeNPY.m"), None) for root in npy_roots if root.is_dir()):
        problems.append(
            f"npy-matlab (writeNPY.m), which Kilosort2 uses to write the phy files, was not found in "
            f"kilosort_path: clone {NPY_MATLAB_URL} and pass npy_matlab_path='/path/to/npy-matlab'."
        )
    return problems


def matlab_problems(params: Mapping[str, Any], kilosort_path: Path | None) -> list[str]:
    """Problems with the MATLAB route: the executable, the Kilosort2 sources, npy-matlab."""
    problems = []
    command = str(params.get("matlab_command") or "matlab")
    if shutil.which(command) is None:
        problems.append(
            f"MATLAB executable {command!r} was not found on PATH: install MATLAB (R2019a or later for "
            "-batch, with the Parallel Computing Toolbox) and add its bin folder to PATH, or pass "
            "matlab_command='/path/to/matlab' (matlab_mode='r' for MATLAB older than R2019a), or use "
            "the KILOSORT2_DOCKER preset (use_docker=True)."
        )
    problems += kilosort_tree_problems(kilosort_path, params.get("npy_matlab_path"))
    return problems


def load_callable(dotted: str) -> Callable[..., Any]:
    """Import ``"package.module.attr"`` or ``"package.module:attr"``."""
    module_name, _, attr = dotted.replace(":", ".").rpartition(".")
    if not module_name:
        raise ValueError(f"{dotted!r} is not a dotted path like 'docker.from_env'.")
    return getattr(importlib.import_module(module_name), attr)


def docker_problems(params: Mapping[str, Any]) -> list[str]:
    """Problems with the Docker route: the SDK, and whether the engine answers."""
    factory_path = str(params.get("docker_client_factory") or "docker.from_env")
    try:
        factory = load_callable(factory_path)
    except ModuleNotFoundError as exc:
        if exc.name == "docker":
            return ["The docker Python SDK is not installed: `pip install spikelab-ks2[docker]`."]
        return [f"docker_client_factory {factory_path!r} cannot be imported ({exc})."]
    except (AttributeError, ValueError) as exc:
        return [f"docker_client_factory {factory_path!r} cannot be imported ({exc})."]
    try:
        client = factory()
        client.ping()
    except Exception as exc:  # the SDK raises DockerException subclasses, requests errors, OSError
        return [
            f"The Docker engine is not reachable ({type(exc).__name__}: {exc}): start Docker (and make "
            "sure your user may use it, e.g. the docker group), or run Kilosort2 through MATLAB "
            "(use_docker=False)."
        ]
    return []


def check_environment(config: SortingPipelineConfig) -> list[str]:
    """Everything missing to run Kilosort2 with ``config`` (empty when ready).

    Parameters
    ----------
    config : SortingPipelineConfig
        The pipeline configuration (``use_docker``, ``kilosort_path``, ``sorter_params``).

    Returns
    -------
    list of str
        One actionable sentence per problem.
    """
    params = merged_params(config)
    problems = param_problems(params)
    if config.sorter.use_docker:
        problems += docker_problems(params)
    else:
        problems += matlab_problems(params, kilosort_source_path(config.sorter.sorter_path))
    return problems


def raise_if_not_ready(problems: list[str], *, dependency: str, log_path: str | None = None) -> None:
    """Raise :class:`SorterDependencyError` listing ``problems`` (nothing when empty)."""
    if not problems:
        return
    raise ex.SorterDependencyError(
        "Kilosort2 cannot run: " + " ".join(problems),
        sorter=NAME,
        stage="preflight",
        log_path=log_path,
        dependency=dependency,
        remedy=problems[0],
    )
