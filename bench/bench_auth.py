"""Cost of one login on one core: argon2id hashing and verifying, and access-token issue/verify.

Run: .venv/bin/python bench/bench_auth.py   (prints a table; asserts nothing)
"""

import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from functions.auth import passwords  # noqa: E402
from functions.auth.passwords import burn_verify_time, hash_password, verify_password  # noqa: E402
from functions.auth.tokens import TokenSettings, issue_access_token, verify_access_token  # noqa: E402

PASSWORD = "correct horse battery staple"
HASH_ROUNDS = 20
TOKEN_ROUNDS = 5000


def main():
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core, like a Lambda invocation with ~1 vCPU

    rss_before_kib = _current_rss_kib()
    peak_before_kib = _peak_rss_kib()
    stored = hash_password(PASSWORD)  # first hash: the one whose allocation shows in peak RSS
    peak_growth_kib = _peak_rss_kib() - peak_before_kib
    rss_after_kib = _current_rss_kib()

    hash_seconds = _timings(lambda: hash_password(PASSWORD), HASH_ROUNDS)
    verify_seconds = _timings(lambda: verify_password(stored, PASSWORD), HASH_ROUNDS)
    wrong_seconds = _timings(lambda: verify_password(stored, "wrong password here"), HASH_ROUNDS)
    burn_verify_time(PASSWORD)  # builds the dummy hash once
    burn_seconds = _timings(lambda: burn_verify_time(PASSWORD), HASH_ROUNDS)

    settings = TokenSettings(secret="bench-secret-" + "x" * 40)
    user_id = "5b0c3f9e-8a52-4a4e-9d0e-0f6e2f1c7a11"
    token, _ = issue_access_token(settings, user_id)
    issue_total = sum(_timings(lambda: issue_access_token(settings, user_id), TOKEN_ROUNDS))
    verify_total = sum(_timings(lambda: verify_access_token(settings, token), TOKEN_ROUNDS))

    hasher = passwords._hasher()
    print(f"pixelflow auth bench: Python {platform.python_version()}, {_cpu_name()}, pinned to CPU 0")
    print(f"argon2id parameters: m={hasher.memory_cost} KiB ({hasher.memory_cost / 1024:.0f} MiB), "
          f"t={hasher.time_cost}, p={hasher.parallelism}")
    print()
    rows = [
        (f"hash_password, median of {HASH_ROUNDS}", f"{statistics.median(hash_seconds) * 1000:.1f} ms",
         f"min {min(hash_seconds) * 1000:.1f} / max {max(hash_seconds) * 1000:.1f} ms"),
        ("hash memory: argon2 m parameter", f"{hasher.memory_cost / 1024:.1f} MiB", "per concurrent hash"),
        ("hash memory: peak RSS growth", f"{peak_growth_kib / 1024:.1f} MiB",
         f"current RSS {rss_before_kib / 1024:.1f} -> {rss_after_kib / 1024:.1f} MiB across it"),
        ("verify_password (match)", f"{len(verify_seconds) / sum(verify_seconds):.1f} ops/s",
         f"median {statistics.median(verify_seconds) * 1000:.1f} ms"),
        ("verify_password (mismatch)", f"{len(wrong_seconds) / sum(wrong_seconds):.1f} ops/s",
         f"median {statistics.median(wrong_seconds) * 1000:.1f} ms"),
        ("burn_verify_time (unknown e-mail)", f"{len(burn_seconds) / sum(burn_seconds):.1f} ops/s",
         f"median {statistics.median(burn_seconds) * 1000:.1f} ms"),
        ("issue_access_token", f"{TOKEN_ROUNDS / issue_total:,.0f} ops/s",
         f"{issue_total / TOKEN_ROUNDS * 1e6:.1f} µs each"),
        ("verify_access_token", f"{TOKEN_ROUNDS / verify_total:,.0f} ops/s",
         f"{verify_total / TOKEN_ROUNDS * 1e6:.1f} µs each"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print()
    _burst_table()


BURST = 200


def _burst_table():
    """Peak RSS of a process answering BURST wrong-password checks at once, each in a fresh process."""
    import subprocess

    print(f"peak RSS of a fresh process verifying {BURST} passwords from {BURST} threads at once:")
    for mode, label in (("unbounded", "one thread per sign-in, no bound (before)"),
                        ("gate", f"HashGate({passwords.slots_for_memory(128)}), the default (after)")):
        output = subprocess.run([sys.executable, __file__, "--burst", mode], check=True, capture_output=True,
                                text=True).stdout.split()
        baseline, peak, seconds, most = float(output[0]), float(output[1]), float(output[2]), output[3]
        print(f"  {label}: {baseline:.0f} -> {peak:.0f} MiB peak, {most} hashes at once at most, {seconds:.2f} s")


def _burst(mode):
    import threading

    stored = hash_password(PASSWORD)
    baseline = _peak_rss_kib() / 1024
    gate = passwords.HashGate(passwords.slots_for_memory(128), wait_seconds=600)
    check = gate.verify_password if mode == "gate" else verify_password
    start = threading.Barrier(BURST)

    def one():
        start.wait()
        check(stored, "not the password")

    threads = [threading.Thread(target=one) for _ in range(BURST)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    most = gate.max_in_flight if mode == "gate" else "(unbounded)"
    print(f"{baseline:.1f} {_peak_rss_kib() / 1024:.1f} {seconds:.3f} {most}")


def _timings(call, rounds):
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def _peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _current_rss_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--burst"]:
        _burst(sys.argv[2])
    else:
        main()
