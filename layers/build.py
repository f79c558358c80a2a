"""Build the Lambda layer with pixelflow's native wheels for a given Lambda runtime and architecture.

    python layers/build.py [--python 3.12] [--arch x86_64|arm64] [--out build/layer]

pip resolves manylinux wheels for the target (never the build machine), so the layer is
right for Lambda whatever this machine runs. Output: ``<out>/python/...`` and ``<out>.zip``,
plus ``<out>/layer.json`` naming the runtime it was built for (the template reads it).
"""

import argparse
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# pip takes --platform literally: name the older manylinux tags too (cffi, for one, ships manylinux2014 wheels).
TAGS = ("manylinux_2_28_{machine}", "manylinux_2_17_{machine}", "manylinux2014_{machine}")


def build_layer(python: str = "3.12", arch: str = "x86_64", out: Path = ROOT / "build" / "layer") -> Path:
    """Install layers/requirements.txt for python ``python`` on Lambda ``arch`` into ``out``; return the zip."""
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    target = out / "python"
    target.mkdir(parents=True)
    platforms = [tag.format(machine=MACHINES[arch]) for tag in TAGS]
    subprocess.run([
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-conflicts",
        "--target", str(target), *(arg for tag in platforms for arg in ("--platform", tag)), "--implementation", "cp",
        "--python-version", python, "--only-binary=:all:", "--no-compile",
        "-r", str(HERE / "requirements.txt"),
    ], check=True)
    (out / "layer.json").write_text(json.dumps({
        "runtime": f"python{python}", "architecture": arch, "platforms": platforms,
        "requirements": (HERE / "requirements.txt").read_text().split("\n"),
    }, indent=2))
    archive = out.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(target.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                bundle.write(path, path.relative_to(out))
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12")
    parser.add_argument("--arch", default="x86_64", choices=sorted(MACHINES))
    parser.add_argument("--out", default=str(ROOT / "build" / "layer"))
    args = parser.parse_args()
    archive = build_layer(args.python, args.arch, Path(args.out))
    print(f"layer for python{args.python} {args.arch}: {archive} ({archive.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
