"""The embedded stack's processes: an emulator started without a keeper ends with the process that started it;
a previous run's keeper never touches a later run's processes."""

import os
import subprocess
import sys

import pytest

from functions.local.keeper import Keeper
from functions.local.stack import EmbeddedStack, StackBusy, StackRecord, process_alive, process_created
from tests.integration.helpers import wait_for
from tests.integration.serve_process import ROOT, answers

STARTER = """
import sys, time
from functions.local.stack import emulator_class
emulator = emulator_class(sys.argv[1])(state_dir=sys.argv[2])
emulator.start()
print(emulator.url, emulator.pid, flush=True)
time.sleep(600)
"""


def test_given_a_process_that_started_an_emulator_when_it_is_killed_then_the_emulator_ends_too(stack, private_dir):
    starter = subprocess.Popen([sys.executable, "-c", STARTER, stack.kind, str(private_dir)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ), text=True)
    try:
        url, pid = starter.stdout.readline().split()
        assert answers(url)
    finally:
        starter.kill()
        starter.wait(10)
    # PR_SET_PDEATHSIG: the kernel sends the emulator SIGTERM when its parent dies, however it died.
    assert wait_for(lambda: not answers(url), timeout=60), f"{stack.kind} (pid {pid}) outlived its parent"
    assert wait_for(lambda: not process_alive(int(pid)), timeout=30)


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL)


def _ended_process():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    created = process_created(process.pid)
    process.wait(30)
    return process.pid, created


def test_given_the_previous_keeper_still_saving_when_a_run_starts_then_it_refuses_with_a_clear_message(private_dir):
    keeper = _sleeper()
    try:
        StackRecord(private_dir).update(keeper_pid=keeper.pid, keeper_created=process_created(keeper.pid))
        stack = EmbeddedStack(private_dir, emulator="moto", keep_state=True)
        with pytest.raises(StackBusy, match="keeper .* is still saving"):
            stack.start(env={"DATABASE_URL": "postgresql://unused", "AWS_ENDPOINT_URL": "http://unused"},
                        wait_for_keeper=0.5)
    finally:
        keeper.kill()
        keeper.wait(10)


def test_given_a_late_keeper_when_a_new_run_has_recorded_its_emulator_then_the_keeper_leaves_them_alone(
        private_dir):
    own, theirs = _sleeper(), _sleeper()
    try:
        serve_pid, serve_created = _ended_process()
        record = StackRecord(private_dir)
        record.update(serve_pid=serve_pid, serve_created=serve_created, emulator="moto", emulator_pid=own.pid,
                      emulator_created=process_created(own.pid), emulator_port=1, restored=False)
        keeper = Keeper(private_dir, serve_pid=serve_pid, bucket="unused", every=0.1, region="us-east-1")
        # A new run starts meanwhile and records its own processes.
        new_run = record.update(serve_pid=os.getpid(), serve_created=process_created(os.getpid()),
                                emulator_pid=theirs.pid, emulator_created=process_created(theirs.pid),
                                emulator_port=2, restored=True)

        assert keeper.run() == 0

        assert wait_for(lambda: own.poll() is not None, timeout=30), "the keeper did not stop its own emulator"
        assert theirs.poll() is None, "the keeper stopped the new run's emulator"
        assert record.read() == new_run
    finally:
        for process in (own, theirs):
            process.kill()
            process.wait(10)
