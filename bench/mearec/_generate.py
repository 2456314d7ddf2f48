"""Generate one MEArec recording; runs inside the MEArec virtualenv (see ``make.py``).

    <mearec venv>/bin/python bench/mearec/_generate.py SPEC.json OUT_FOLDER

``SPEC.json`` holds ``probe`` (a MEAutility probe definition), ``templates`` and ``recordings``
(overrides of MEArec's default parameters) and ``data_dir``. Templates are cached under
``<data_dir>/templates-<hash of probe + template parameters>.h5``; the recording is exported to
``OUT_FOLDER`` as plain arrays that the main environment reads without MEArec:
``traces.npy`` (samples x channels, float32 µV), ``positions.npy`` (channels x 2, µm),
``spikes.npz`` (one array of spike times in s per unit) and ``info.json``.

Only the MEArec venv's packages are used here (MEArec, MEAutility, NEURON, LFPy, numpy, h5py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

# The BBP models' two synapse mechanisms do not compile with NEURON 9; templates need no synapses.
SKIPPED_MECHANISMS = ("ProbAMPANMDA_EMS.mod", "ProbGABAAB_EMS.mod")
# MEArec still loads each model's synapses.hoc, which names those mechanisms: an empty template
# of the same name takes its place (the cells are built with synapses disabled).
_STUB = (
    "begintemplate {name}\npublic load_synapses\nproc init() {{ }}\nproc load_synapses() {{ }}\nendtemplate {name}\n"
)


def _cell_models(data_dir: Path) -> Path:
    """A copy of MEArec's BBP cell models without the synapse mechanisms (made once)."""
    import MEArec as mr

    target = data_dir / "cell_models"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(mr.get_default_cell_models_folder(), target)
    for name in SKIPPED_MECHANISMS:
        for mod in target.glob(f"*/mechanisms/{name}"):
            mod.unlink()
    for hoc in target.glob("*/synapses/synapses.hoc"):
        name = re.search(r"^begintemplate\s+(\S+)", hoc.read_text(errors="replace"), re.M).group(1)
        hoc.write_text(_STUB.format(name=name))
    (target / ".complete").write_text("")
    return target


def _templates(spec: dict, data_dir: Path) -> Path:
    import MEArec as mr
    import MEAutility as mu

    probe = spec["probe"]
    digest = hashlib.sha1(json.dumps([probe, spec["templates"]], sort_keys=True).encode()).hexdigest()[:10]
    path = data_dir / f"templates-{probe['electrode_name']}-{digest}.h5"
    if path.exists():
        return path
    probe_file = data_dir / f"{probe['electrode_name']}.yaml"
    probe_file.write_text(json.dumps(probe))  # JSON is YAML
    mu.add_mea(str(probe_file))
    params = mr.get_default_templates_params()
    params.update(spec["templates"], probe=probe["electrode_name"])
    # Bin folder on PATH: MEArec compiles the cell mechanisms with nrnivmodl.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    cells = _cell_models(data_dir)
    start = time.perf_counter()
    # n_jobs >= 2: each cell model needs its own NEURON process ("template cannot be redefined").
    tempgen = mr.gen_templates(cells, params=params, templates_tmp_folder=data_dir / "tmp-templates",
                               n_jobs=2, verbose=False)
    tmp = path.with_suffix(".tmp.h5")
    mr.save_template_generator(tempgen, tmp)
    tmp.replace(path)
    print(
        f"[mearec] templates {path.name}: {len(tempgen.templates)} in {time.perf_counter() - start:.0f} s", flush=True
    )
    return path


def main(spec_path: str, out: str) -> int:
    import MEArec as mr
    import numpy as np

    spec = json.loads(Path(spec_path).read_text())
    data_dir = Path(spec["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    templates = _templates(spec, data_dir)
    params = mr.get_default_recordings_params()
    for section, values in spec["recordings"].items():
        params[section].update(values)
    start = time.perf_counter()
    recgen = mr.gen_recordings(templates=str(templates), params=params, n_jobs=1, verbose=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "traces.npy", np.asarray(recgen.recordings, dtype="float32"))
    positions = np.asarray(recgen.channel_positions)[:, 1:3]  # the probe plane is yz
    np.save(out / "positions.npy", positions)
    np.savez(out / "spikes.npz", *[np.asarray(st.times.rescale("s").magnitude) for st in recgen.spiketrains])
    info = {"fs": float(recgen.info["recordings"]["fs"]), "templates": templates.name,
            "generate_s": round(time.perf_counter() - start, 1),
            "unit_types": [str(st.annotations.get("cell_type", "")) for st in recgen.spiketrains]}
    (out / "info.json").write_text(json.dumps(info, indent=1))
    print(f"[mearec] recording {out}: {positions.shape[0]} ch, {len(recgen.spiketrains)} units, "
          f"{info['generate_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
