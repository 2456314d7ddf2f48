"""SpikeLab plugin (entry point ``spikelab: rt_sort``): the ``rt_sort`` backend and
``spikelab rtsort`` command.

Importing this module is cheap: torch and the sorter are imported only where they run.
"""

from __future__ import annotations

import importlib.util

from spikelab import hookimpl
from spikelab.plugins import distribution_version
from spikelab.spike_sorting.backend import OomKnob, SorterBackend

from .classifier import classify_rt_sort_failure
from .params import RTSortBackendParams
from .runner import DEFAULT_PARAMS, LOG_NAME, SORTER, prepare_recording, read_sorting, resolve_model_path, run


def check_environment(config) -> list[str]:
    """What is missing to run RT-Sort with ``config`` (empty when ready).

    The parameters themselves (``rt_sort_probe``, unknown names) were checked against
    :class:`~spikelab_rtsort.params.RTSortBackendParams` when ``config`` was built.
    """
    problems = []
    if importlib.util.find_spec("torch") is None:
        problems.append("RT-Sort needs PyTorch: `pip install torch==2.13.0` (CPU build) or a CUDA "
                        "build of your choice.")
    folder = resolve_model_path({**DEFAULT_PARAMS, **config.sorter.sorter_params})
    missing = [n for n in ("init_dict.json", "state_dict.pt") if not (folder / n).is_file()]
    if missing:
        problems.append(
            f"The RT-Sort model folder {folder} lacks {', '.join(missing)}: pass "
            "rt_sort_model_path= a trained model folder (no Neuropixels model is shipped; train "
            "one with `spikelab rtsort train --sampling-frequency 30000 FOLDER`).")
    return problems


def check_recording(recording, config) -> list:
    """Refuse, before any work, a recording at another sampling rate than the detection model's.

    The network's kernels span a fixed number of samples, so a model trained at 20 kHz (the
    shipped MEA model) sees 30 kHz spikes 1.5x too slow; nothing resamples the input.
    """
    import json

    from ._errors import ModelLoadingError

    params = {**DEFAULT_PARAMS, **config.sorter.sorter_params}
    folder = resolve_model_path(params)
    try:
        model_hz = json.loads((folder / "init_dict.json").read_text()).get("samp_freq_hz")
    except (OSError, ValueError):
        return []  # check_environment names a missing or unreadable model
    fs = float(recording.get_sampling_frequency())
    if model_hz is None or abs(float(model_hz) - fs) <= 1e-3 * float(model_hz):
        return []
    shipped = "the shipped MEA model" if not params.get("rt_sort_model_path") else "the model"
    return [ModelLoadingError(
        f"RT-Sort cannot sort this {fs / 1000:g} kHz recording: {shipped} ({folder}) was trained "
        f"at {float(model_hz) / 1000:g} kHz and nothing resamples its input; train one with "
        f"`spikelab rtsort train MODEL_FOLDER --sampling-frequency {fs:g}` and pass "
        f"rt_sort_model_path=MODEL_FOLDER, or sort with sorter=\"auto\".",
        sorter=SORTER, stage="preflight", model_path=str(folder))]


def needs_gpu(config) -> bool:
    """True only when ``rt_sort_device`` asks for CUDA."""
    device = str({**DEFAULT_PARAMS, **config.sorter.sorter_params}["rt_sort_device"])
    return device.lower().startswith("cuda")


def _mea_preset():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter=SORTER)


def _neuropixels_preset():
    from spikelab.spike_sorting.config import SortingPipelineConfig

    return SortingPipelineConfig().override(sorter=SORTER, rt_sort_probe="neuropixels")


BACKEND = SorterBackend(
    name=SORTER,
    distribution="spikelab-rtsort",
    version=distribution_version("spikelab-rtsort"),
    run=run,
    read_sorting=read_sorting,
    params=RTSortBackendParams,
    presets={"RT_SORT": _mea_preset, "RT_SORT_MEA": _mea_preset,
             "RT_SORT_NEUROPIXELS": _neuropixels_preset},
    default_preset="RT_SORT_MEA",
    oom_knob=OomKnob(name="rt_sort_batch_size", default=64, floor=1, factor=0.5),
    classifier=classify_rt_sort_failure,
    classifier_name="classify_rt_sort_failure",
    check_environment=check_environment,
    check_recording=check_recording,
    needs_gpu=needs_gpu,
    device_param="rt_sort_device",
    prepare_recording=prepare_recording,
    # the float16 band-passed copy (1x a uint16 input, 0.5x a float32 one) and the small outputs
    # (measured: the work folder peaked at 2.23x a 1,020 ch Maxwell file with a float32 copy)
    disk_factor=1.2,
    reported_versions=("torch",),
    log_name=LOG_NAME,
    description="RT-Sort (propagation sequences from a 1-D CNN detector); offline and streaming.",
)


@hookimpl
def spikelab_register_sorters(register) -> None:
    register(BACKEND)



def _configure(parser) -> None:
    from .cli import add_train_arguments

    sub = parser.add_subparsers(dest="rtsort_command", metavar="{train}", required=True)
    add_train_arguments(sub.add_parser("train", help="train a detection model on generated "
                                                     "ground truth and/or your sorted recordings "
                                                     "(--sorted) and write its folder"))


def _run(args) -> int:
    import sys

    from .cli import run_train

    return run_train(args, command="spikelab " + " ".join(sys.argv[1:]))


@hookimpl
def spikelab_register_commands(register) -> None:
    from spikelab.cli.commands import Command

    register(Command(name="rtsort", help="RT-Sort tools: `spikelab rtsort train FOLDER` trains a "
                                         "detection model.", configure=_configure, run=_run))
