"""The embedded stack's processes: an emulator started without a keeper ends with the process that started it."""

import os
import subprocess
import sys

from functions.local.stack import process_alive
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
