"""One run per directory: the lock file's rules, with real processes as holders (the CLI's two-process and
kill -9 tests are in tests/tasks/train/test_reliability.py)."""

import json
import os
import socket
import subprocess
import sys

import pytest

from fwilab.run_lock import LOCK_NAME, STALE_S, RunDirectoryInUse, RunLock, process_start_ticks

HOST = socket.gethostname()


def _write_holder(directory, **holder):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    path.write_text(json.dumps({"since": "2026-01-02 03:04:05 +0000", "slurm_restart": "0", **holder}))
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_live_holder_on_this_host_is_refused_by_name(tmp_path):
    parent = os.getppid()  # alive for the whole test
    path = _write_holder(tmp_path, host=HOST, pid=parent, pid_start_ticks=process_start_ticks(parent), token="held")
    with pytest.raises(RunDirectoryInUse) as refused:
        RunLock(tmp_path).acquire()
    assert str(refused.value) == (
        f"run directory {tmp_path} is in use by pid {parent} on {HOST} since 2026-01-02 03:04:05 +0000 "
        f"(lock file {LOCK_NAME}); wait for it to end or choose another hydra.run.dir"
    )
    assert json.loads(path.read_text())["token"] == "held"


@pytest.mark.parametrize("reused_pid", [False, True])
def test_a_dead_holder_on_this_host_is_taken_over(tmp_path, reused_pid):
    """Gone: its pid no longer exists, or it now names a process that started at another time (pid reuse)."""
    if reused_pid and process_start_ticks(os.getpid()) is None:
        pytest.skip("no /proc to read process start times from")
    pid, ticks = (os.getppid(), process_start_ticks(os.getppid()) - 1) if reused_pid else (_dead_pid(), None)
    _write_holder(tmp_path, host=HOST, pid=pid, pid_start_ticks=ticks, token="dead")
    with RunLock(tmp_path) as lock:
        assert lock.taken_over["pid"] == pid
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the dead lock is not left aside either


def test_another_hosts_holder_is_live_until_its_heartbeat_is_stale(tmp_path):
    path = _write_holder(tmp_path, host="node042", pid=1234, pid_start_ticks=None, token="remote")
    with pytest.raises(RunDirectoryInUse, match=r"in use by pid 1234 on node042 \(last heartbeat \d+ s ago\)"):
        RunLock(tmp_path).acquire()
    stale = path.stat().st_mtime - STALE_S - 60
    os.utime(path, (stale, stale))
    with RunLock(tmp_path) as lock:
        assert lock.taken_over["host"] == "node042"


def test_an_earlier_attempt_of_the_same_slurm_job_is_taken_over(tmp_path, monkeypatch):
    """SLURM requeues a job only once its old copy has ended, even when that ran on another node a moment ago."""
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    _write_holder(tmp_path, host="node042", pid=1234, pid_start_ticks=None, slurm_job="777", token="attempt0")
    with RunLock(tmp_path) as lock:
        assert lock.taken_over["token"] == "attempt0"


def test_a_half_written_lock_is_a_holder_that_is_starting(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")
    with pytest.raises(RunDirectoryInUse, match="being claimed by another process right now"):
        RunLock(tmp_path).acquire()


def test_release_removes_only_its_own_lock(tmp_path):
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunDirectoryInUse, match=f"in use by pid {os.getpid()} on {HOST}"):
        RunLock(tmp_path).acquire()  # a live holder, even in this very process
    first.release()
    second = RunLock(tmp_path).acquire()
    first.release()  # already released: leaves the second's lock alone
    assert json.loads((tmp_path / LOCK_NAME).read_text())["token"] == second.identity["token"]
    second.release()
    assert not (tmp_path / LOCK_NAME).exists()
