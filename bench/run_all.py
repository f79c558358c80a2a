"""`make bench`: every benchmark in turn, each printing its own figures (nothing is asserted)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_auth.py", "bench_imaging.py", "bench_pipeline.py", "bench_split.py", "bench_runner.py",
           "bench_emulators.py", "bench_cli.py", "bench_validation.py", "bench_cold_import.py",
           "bench_database_pause.py", "bench_live.py", "bench_delivery.py", "bench_analysis.py"]

if __name__ == "__main__":
    failed = []
    for name in BENCHES:
        print(f"\n===== {name}", flush=True)
        if subprocess.call([sys.executable, str(HERE / name)]) != 0:
            failed.append(name)
    if failed:
        sys.exit(f"benchmarks that failed to run: {', '.join(failed)}")
