"""One run per directory: a lock file that works on the shared filesystems clusters use (fwilab's one lock
mechanism: the data generator's lock, which waits instead of refusing, is the same file lock).

``flock``/``fcntl`` locks are not reliable on NFS or Lustre, so the lock is a file created with
``O_CREAT | O_EXCL`` (atomic there too) that names its holder: host, pid, the pid's start time
(so a reused pid is not mistaken for the holder), SLURM job and restart count, and since when.
A thread refreshes its modification time every ``HEARTBEAT_S`` seconds while the run lives.

A holder found dead is taken over, so a ``kill -9`` needs no clean-up: on the same host its pid is
gone (or belongs to a younger process); on another host its heartbeat is older than ``STALE_S``,
or it is an earlier attempt of this very SLURM job (SLURM requeues a job only once its old copy
has ended). A live holder's lock is not: the second process gets a ``RunDirectoryInUse`` error.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fwilab.errors import FwilabError

log = logging.getLogger(__name__)
LOCK_NAME = ".fwilab.lock"
HEARTBEAT_S = 15.0
STALE_S = 120.0  # a holder on another host whose heartbeat is older than this is dead


class RunDirectoryInUse(FwilabError):
    """Another live process holds the run directory's lock."""


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, Linux ``/proc``); None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])  # field 22 of stat(5); fields[0] is field 3


def _pid_alive(pid: int, start_ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    current = process_start_ticks(pid)
    return start_ticks is None or current is None or current == start_ticks


def _identity() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_start_ticks": process_start_ticks(pid),
        "since": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "slurm_restart": os.environ.get("SLURM_RESTART_COUNT", "0"),
        "token": uuid.uuid4().hex,
    }


def holder_is_dead(holder: dict[str, Any], heartbeat_age_s: float) -> bool:
    """Whether the process named in a lock file can no longer be running (see the module's rules)."""
    me = _identity()
    if holder.get("host") == me["host"]:
        return not _pid_alive(int(holder["pid"]), holder.get("pid_start_ticks"))
    if holder.get("slurm_job") and holder["slurm_job"] == me["slurm_job"]:
        return holder.get("slurm_restart") != me["slurm_restart"]
    return heartbeat_age_s > STALE_S


class RunLock:
    """``with RunLock(directory):`` holds ``directory/.fwilab.lock`` (the directory is created if missing), or the
    lock file ``name`` there."""

    def __init__(self, directory: str | os.PathLike, name: str = LOCK_NAME):
        self.path = Path(directory) / name
        self.identity = _identity()
        self.taken_over: dict[str, Any] | None = None  # the dead holder this lock replaced
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> RunLock:
        """Take the lock, taking over a dead holder's; raise ``RunDirectoryInUse`` naming a live one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a takeover can race another newcomer; the loser sees a live holder next time
            try:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_dead()
                continue
            with os.fdopen(descriptor, "w") as handle:
                handle.write(json.dumps(self.identity) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self._heartbeat = threading.Thread(target=self._beat, name="fwilab-run-lock", daemon=True)
            self._heartbeat.start()
            atexit.register(self.release)
            return self
        raise RunDirectoryInUse(f"run directory {self.path.parent} is being claimed by other processes; try again")

    def acquire_waiting(self, poll_s: float = 1.0) -> RunLock:
        """Take the lock, waiting while a live holder has it (a dead holder's is taken over): for work that one
        process does for all that ask at once, such as generating the data set several runs want."""
        waiting = False
        while True:
            try:
                return self.acquire()
            except RunDirectoryInUse:
                if not waiting:
                    log.info("waiting for %s: another process holds it", self.path)
                    waiting = True
                time.sleep(poll_s)

    def _take_over_if_dead(self) -> None:
        try:
            age = time.time() - self.path.stat().st_mtime
            holder = _read_json(self.path)  # {}: half written, a holder that is starting
        except FileNotFoundError:
            return  # released meanwhile
        alive = not holder_is_dead(holder, age) if holder else age <= STALE_S
        if alive:
            raise RunDirectoryInUse(_describe(self.path, holder, age))
        aside = self.path.with_name(f"{LOCK_NAME}.dead-{uuid.uuid4().hex}")
        try:
            os.rename(self.path, aside)  # atomic: of two newcomers, one moves it
        except FileNotFoundError:
            return
        if _read_json(aside).get("token") != holder.get("token"):  # another newcomer's fresh lock: put it back
            os.rename(aside, self.path)
            return
        aside.unlink()
        self.taken_over = holder

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Remove the lock file if it is still this process's."""
        if self._heartbeat is None:
            return
        self._stop.set()
        self._heartbeat = None
        try:
            if _read_json(self.path).get("token") == self.identity["token"]:
                self.path.unlink()
        except OSError:
            pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def _describe(path: Path, holder: dict[str, Any], age: float) -> str:
    if not holder:
        return f"run directory {path.parent} is being claimed by another process right now ({path})"
    where = f"pid {holder['pid']} on {holder['host']}"
    if holder.get("host") != socket.gethostname():
        where += f" (last heartbeat {age:.0f} s ago)"
    return (
        f"run directory {path.parent} is in use by {where} since {holder.get('since')} (lock file {path.name}); "
        "wait for it to end or choose another hydra.run.dir"
    )
