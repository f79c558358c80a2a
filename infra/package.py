"""`make package`: a deployable template and artifacts under build/ (git-ignored).

1. Copy the app into build/src with functions/ under vendor/ (what `chalice package` ships)
   and a requirements.txt without the native wheels, which go to the layer instead.
2. `chalice package --stage dev` -> build/chalice/sam.json + deployment.zip.
3. layers/build.py -> build/layer.zip for the Lambda runtime (python3.12, x86_64).
4. infra/template.py completes the template from infra/resources.json -> build/template.json.

Deploy it with the AWS SAM CLI or aws cloudformation package/deploy (see README).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
sys.path.insert(0, str(ROOT))

from functions.settings import Settings  # noqa: E402
from infra.resources import DESCRIPTION, load  # noqa: E402
from infra.template import build_template  # noqa: E402
from layers.build import build_layer  # noqa: E402


def _package_names(requirements: Path):
    names = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(line.split("==")[0].split(">=")[0].split("[")[0].strip().lower())
    return names


def function_requirements() -> str:
    """requirements.txt minus what the layer carries."""
    in_layer = _package_names(ROOT / "layers" / "requirements.txt")
    kept = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("#", 1)[0].strip().split("==")[0].lower()
        if name and name not in in_layer:
            kept.append(line.strip())
    return "\n".join(kept) + "\n"


def stage_source(target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    (target / "vendor").mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", target / "app.py")
    shutil.copytree(ROOT / ".chalice", target / ".chalice",
                    ignore=shutil.ignore_patterns("deployments", "deployed"))
    # The embedded stack, the local runner and the command-line client never run on Lambda.
    shutil.copytree(ROOT / "functions", target / "vendor" / "functions",
                    ignore=shutil.ignore_patterns("__pycache__", "local", "cli"))
    (target / "requirements.txt").write_text(function_requirements())
    return target


def package(python: str = "3.12", arch: str = "x86_64") -> Path:
    source = stage_source(BUILD / "src")
    chalice_out = BUILD / "chalice"
    shutil.rmtree(chalice_out, ignore_errors=True)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = str(Path(sys.executable).with_name("chalice"))
    subprocess.run([chalice, "package", "--stage", "dev", "--template-format", "json",
                    str(chalice_out)], cwd=source, env=env, check=True)
    layer_zip = build_layer(python, arch, BUILD / "layer")
    layer = json.loads((BUILD / "layer" / "layer.json").read_text())
    sam = json.loads((chalice_out / "sam.json").read_text())
    raw = json.loads(DESCRIPTION.read_text())
    functions = {name: spec for name, spec in raw["functions"].items() if not name.startswith("_")}
    template = build_template(sam, load(Settings.from_env({})), functions, layer,
                              layer_uri=os.path.relpath(layer_zip, BUILD))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = os.path.relpath(chalice_out / "deployment.zip", BUILD)
    out = BUILD / "template.json"
    out.write_text(json.dumps(template, indent=2))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="Lambda Python version the layer is built for")
    parser.add_argument("--arch", default="x86_64", choices=["x86_64", "arm64"])
    args = parser.parse_args()
    out = package(args.python, args.arch)
    print(f"template: {out}\nfunction code: {BUILD / 'chalice' / 'deployment.zip'}\nlayer: {BUILD / 'layer.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
