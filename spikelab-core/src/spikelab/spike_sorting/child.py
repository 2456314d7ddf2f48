"""Run a backend's ``run(job)`` in a child process that watchdogs can stop.

The child is a fresh interpreter (``python -m spikelab.spike_sorting.child``), not a
multiprocessing spawn, so the user's own script is never re-imported: the guide's examples work
without an ``if __name__ == "__main__"`` guard.

The child's stdout and stderr (file descriptors, so C extensions and MATLAB too) are appended
to the job's log. A failure in the child comes back as a :class:`SorterProcessError` carrying
the child's traceback text and exit code, chained from the original exception when it can be
unpickled; a tripped watchdog kills the whole process tree and raises its classified error.

The child leads its own session, so stopping it also reaches helpers that escaped the process
tree by double-forking; whatever is left of the session after the child exits is stopped too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import structlog

from spikelab.atomic import write_bytes
from spikelab.spike_sorting._exceptions import SorterProcessError

if TYPE_CHECKING:
    from spikelab.spike_sorting.backend import SortJob
    from spikelab.spike_sorting.guards.base import Watchdog

log = structlog.get_logger("spikelab.sort")

_RESULT_NAME = ".spikelab_child_outcome.pkl"


#: Sent by the kernel to the child when its parent dies (Linux ``PR_SET_PDEATHSIG``).
PARENT_DEATH_SIGNAL = signal.SIGUSR1 if hasattr(signal, "SIGUSR1") else None


def _on_parent_death(signum, frame) -> None:
    """The process that started this sort died (a killed Dask worker, the OOM killer, a scheduler
    ending the job): stop this child's helpers (MATLAB, worker pools: the rest of its session),
    then deliver SIGTERM to itself, so a backend's own handler still runs (the Docker runners
    stop their container) before the child ends. Nothing orphaned keeps writing into a folder
    a retry may be using, or holds the GPU."""
    _terminate(session_processes(os.getpid()), 2.0)
    with contextlib.suppress(Exception):
        sys.stderr.write("spikelab: the process that started this sort died; stopping it\n")
        sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGTERM)


def _die_with_parent() -> None:
    """Have Linux signal this child if its parent dies (see :func:`_on_parent_death`).

    The watchdogs' own stop path uses plain SIGTERM, whose default action ends the child at
    once (a Python-level handler would wait for the sorter's current C call to return).
    """
    if PARENT_DEATH_SIGNAL is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(PARENT_DEATH_SIGNAL, _on_parent_death)
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, PARENT_DEATH_SIGNAL)
    expected = os.environ.get("SPIKELAB_PARENT_PID")
    if expected and os.getppid() != int(expected):  # the parent died before prctl took effect
        _on_parent_death(PARENT_DEATH_SIGNAL, None)


def _child_main(job_file: str) -> int:
    """Entry of the child process: ``python -m spikelab.spike_sorting.child JOB.pkl``."""
    _die_with_parent()
    with open(job_file, "rb") as handle:
        run, job, outcome_path = pickle.load(handle)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        force=True,
    )
    try:
        run(job)
    except BaseException as exc:  # the parent needs every failure, KeyboardInterrupt included
        text = traceback.format_exc()
        sys.stderr.write(text)
        sys.stderr.flush()
        try:
            payload = pickle.dumps((exc, text))
            pickle.loads(payload)
        except Exception:
            payload = pickle.dumps((None, text))
        write_bytes(outcome_path, payload)
        return 1
    return 0


def session_processes(sid: int) -> list[psutil.Process]:
    """Live processes of session ``sid`` (the child runs in its own session, so this finds
    descendants that escaped the tree by double-forking)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if (
                proc.pid != os.getpid()
                and os.getsid(proc.pid) == sid
                and proc.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_process_tree(pid: int, grace_s: float = 3.0, *, session: bool = False) -> list[int]:
    """Terminate ``pid`` and all its descendants, killing what survives ``grace_s``.

    Parameters
    ----------
    pid : int
        The root of the tree.
    grace_s : float, default: 3.0
        Seconds between SIGTERM and SIGKILL.
    session : bool, default: False
        Also stop every process of the session ``pid`` leads (``start_new_session=True``),
        which catches daemonised grandchildren whose parent already exited.

    Returns
    -------
    list of int
        The pids that were signalled.
    """
    procs: list[psutil.Process] = []
    try:
        root = psutil.Process(pid)
        procs = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        pass
    if session:
        known = {proc.pid for proc in procs}
        procs += [proc for proc in session_processes(pid) if proc.pid not in known]
    return _terminate(procs, grace_s)


def _terminate(procs: list[psutil.Process], grace_s: float) -> list[int]:
    if not procs:
        return []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return [proc.pid for proc in procs]


def _stop_child(process: subprocess.Popen, grace_s: float = 3.0) -> list[int]:
    """Stop the child's tree and session; once it is reaped only its session is searched
    (its pid may already belong to an unrelated process)."""
    if process.poll() is None:
        killed = kill_process_tree(process.pid, grace_s, session=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s + 2)
        return killed
    return _terminate(session_processes(process.pid), grace_s)


def _tail(path: Path, n_bytes: int = 4000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - n_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_in_child(
    run: Callable[[SortJob], None],
    job: SortJob,
    *,
    sorter: str,
    watchdogs: Sequence[Watchdog] = (),
    poll_interval_s: float = 0.2,
    kill_grace_s: float = 3.0,
) -> None:
    """Run ``run(job)`` in a spawned child process, guarded by ``watchdogs``.

    Parameters
    ----------
    run : callable
        The backend's runner, a module-level function (pickled by reference).
    job : SortJob
        The sort to run; the child's output is appended to ``job.log_path``.
    sorter : str
        The backend's name (evidence on errors).
    watchdogs : sequence of Watchdog
        Started once the child runs, polled every ``poll_interval_s``, stopped in every case.
    poll_interval_s : float, default: 0.2
        How often tripped watchdogs and the child's exit are checked.
    kill_grace_s : float, default: 3.0
        Time between SIGTERM and SIGKILL when the child's tree is stopped (a Docker runner
        needs long enough to stop its container).

    Raises
    ------
    SpikeSortingClassifiedError
        The first tripped watchdog's error (the child's process tree is killed first).
    SorterProcessError
        When the child fails or dies; its traceback and the log tail are attached.
    """
    job.sorter_folder.mkdir(parents=True, exist_ok=True)
    job.log_path.parent.mkdir(parents=True, exist_ok=True)
    outcome_path = job.sorter_folder / _RESULT_NAME
    outcome_path.unlink(missing_ok=True)
    job_file = job.sorter_folder / ".spikelab_child_job.pkl"
    job_file.write_bytes(pickle.dumps((run, job, str(outcome_path))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    env["PYTHONUNBUFFERED"] = "1"
    env["SPIKELAB_PARENT_PID"] = str(os.getpid())
    log_handle = open(job.log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "spikelab.spike_sorting.child", str(job_file)],
        stdin=subprocess.DEVNULL,
        stdout=log_handle,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log_handle.close()
    log.debug("sorter_child_started", sorter=sorter, pid=process.pid)
    started = []
    try:
        for watchdog in watchdogs:
            try:
                watchdog.start(process.pid)
            except Exception as exc:  # a broken guard must not stop the sort it guards
                log.warning(
                    "watchdog_start_failed",
                    watchdog=getattr(watchdog, "name", repr(watchdog)),
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            started.append(watchdog)
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(poll_interval_s)
            for watchdog in started:
                error = watchdog.tripped()
                if error is not None:
                    killed = _stop_child(process, kill_grace_s)
                    log.warning(
                        "sorter_stopped_by_watchdog",
                        sorter=sorter,
                        watchdog=watchdog.name,
                        status=error.status,
                        killed_pids=killed,
                    )
                    raise error
            if process.returncode is not None:
                break
    except BaseException:
        _stop_child(process, kill_grace_s)
        raise
    finally:
        for watchdog in started:
            with contextlib.suppress(Exception):
                watchdog.stop()
    job_file.unlink(missing_ok=True)
    leftovers = _stop_child(process, kill_grace_s)
    if leftovers:
        log.warning("sorter_leftover_processes_stopped", sorter=sorter, pids=leftovers)
    if process.returncode == 0:
        return
    original, text = None, None
    if outcome_path.is_file():
        with contextlib.suppress(Exception):
            original, text = pickle.loads(outcome_path.read_bytes())
        outcome_path.unlink(missing_ok=True)
    if text is None:
        code = process.returncode
        reason = (
            f"killed by signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
        )
        if code == -signal.SIGKILL:
            reason += "; an unexplained SIGKILL is usually the kernel's out-of-memory killer"
        text = _tail(job.log_path)
        message = f"{sorter} died ({reason}). Last log lines:\n{text[-1500:]}"
    else:
        message = f"{sorter} failed: {type(original).__name__ if original else 'error'}: {original}"
    error = SorterProcessError(
        message, sorter=sorter, exit_code=process.returncode, log_path=str(job.log_path), traceback_text=text
    )
    if original is not None:
        raise error from original
    raise error


def run_inline(run: Callable[[SortJob], None], job: SortJob) -> None:
    """Run ``run(job)`` in this process with its Python-level output appended to the log."""
    job.sorter_folder.mkdir(parents=True, exist_ok=True)
    with (
        open(job.log_path, "a", buffering=1) as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
    ):
        start = time.monotonic()
        run(job)
        handle.write(f"# finished in {time.monotonic() - start:.1f} s\n")


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
