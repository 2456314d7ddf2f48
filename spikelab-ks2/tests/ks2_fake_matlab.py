"""The fake ``matlab`` executable (installed on PATH by the ``fake_matlab`` fixture).

It accepts the two command lines spikelab-ks2 uses (``-batch "run('main.m')"`` and
``-nodisplay -nosplash -r "try, run('main.m'); ..."``), reads the generated main script and
``kilosort2_config.m`` as MATLAB would (the ``ops.<field> = <value>;`` assignments, the paths),
checks the Kilosort2 folder it is told to add, and replays a Kilosort2 run through
:mod:`ks2_fake_engine`. Like the generated script, a failure prints 40 dashes and MATLAB's error
report, then exits with status 1. Each invocation's arguments are appended to
``$SPIKELAB_FAKE_MATLAB_CALLS`` when that is set.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import ks2_fake_engine

_STRING = r"'((?:[^']|'')*)'"


def parse_value(text: str):
    """A MATLAB literal (char array, number, Inf, row vector) as Python."""
    text = text.strip()
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.startswith("["):
        return [parse_value(part) for part in text[1:-1].split()]
    return float(text.replace("Inf", "inf"))


def parse_config(path: Path) -> dict:
    ops = {}
    for line in path.read_text().splitlines():
        found = re.match(r"\s*ops\.(\w+)\s*=\s*(.+);\s*$", line)
        if found:
            ops[found.group(1)] = parse_value(found.group(2))
    return ops


def _script_variable(text: str, name: str) -> str | None:
    found = re.search(rf"^{name} = {_STRING};", text, re.M)
    return found.group(1).replace("''", "'") if found else None


def main(argv: list[str]) -> int:
    if os.environ.get("SPIKELAB_FAKE_MATLAB_CALLS"):
        with open(os.environ["SPIKELAB_FAKE_MATLAB_CALLS"], "a") as handle:
            handle.write(json.dumps({"argv": argv, "pid": os.getpid()}) + "\n")
    if len(argv) == 2 and argv[0] == "-batch":
        statement = argv[1]
    elif argv[:3] == ["-nodisplay", "-nosplash", "-r"] and len(argv) == 4:
        statement = argv[3]
    else:
        print(f"fake matlab: unsupported command line {argv}", file=sys.stderr)
        return 2
    found = re.search(rf"run\({_STRING}\)", statement)
    script = Path(found.group(1).replace("''", "'"))
    text = script.read_text()
    output = Path(_script_variable(text, "spikelabOutput"))
    kilosort = _script_variable(text, "spikelabKilosort")
    ops = parse_config(output / "kilosort2_config.m")

    def say(line: str) -> None:
        print(line, flush=True)

    say(f"Kilosort2 from {kilosort}")
    say(f"Recording has {int(ops['NchanTOT'])} channels")
    try:
        if not (Path(kilosort) / "main_kilosort.m").is_file():
            raise ks2_fake_engine.FakeKilosortError("Unrecognized function or variable 'preprocessDataSub'.")
        ks2_fake_engine.run(ops, output, Path(ops["fbinary"]), Path(ops["chanMap"]), say, kilosort)
    except ks2_fake_engine.FakeKilosortError as exc:
        say(ks2_fake_engine.DASHES)
        say(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
