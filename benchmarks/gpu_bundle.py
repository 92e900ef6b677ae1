"""Carry what `benchmarks/gpu_check.sh` needs to a GPU machine that cannot reach any index.

Such a machine (a CUDA image with PyTorch, transformers, accelerate and peft, no network)
lacks lm-eval, datasets and medlc itself, and the default model cannot travel: Gemma 3
270M is 245 MiB as a GGUF, 1 GiB as the float checkpoint, where a transfer may be capped
(64 MiB here). So the bundle holds

* `wheels/`: medlc's wheel, built from this checkout, and a wheel of every package medlc
  needs (its requirement closure in *this* environment, at the versions installed here)
  that the image does not already hold (`--have`, default: the list below);
* `gemma3-270m-shape/`: the default model's config, generation config and tokenizer, from
  its GGUF, without weights. `standin` gives it random weights there (seeded), so the
  scorer runs Gemma 3 270M's exact architecture, vocabulary and prompt lengths. Time and
  memory do not depend on the weights' values; agreement with stock `hf` is then
  agreement on those random weights (the real weights' agreement is the CPU benchmark's);
* `MANIFEST.json`: every file's size and sha256, the versions and where each came from.

    python benchmarks/gpu_bundle.py pack                      # here: writes .gpu/
    python benchmarks/gpu_bundle.py install .gpu /tmp/site    # there: pip --no-index
    python benchmarks/gpu_bundle.py standin .gpu/gemma3-270m-shape /tmp/gemma3-270m-random

`gpu_check.sh` runs the last two itself when it finds `.gpu/`.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import importlib.metadata as metadata
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# What the device image holds already, by name (its package list as read on 2026-11-17).
# `--have FILE` replaces it: names, or `pip list --format freeze` lines; `#` starts a comment.
IMAGE_PACKAGES = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py
hf-xet httpcore httpx humanize hypothesis idna imageio iniconfig interface-meta jax
jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib
mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime
onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil
pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning
pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy
seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision
tqdm transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop
wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp huggingface-hub
"""
# Never carried: the CUDA build of torch and its kernels belong to the machine.
NEVER = {"torch", "triton", "medlc"}
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
]
SHAPE_FILES = ("config.json", "generation_config.json", "tokenizer_config.json")


def closure(root: str) -> dict[str, str]:
    """Every distribution `root` needs in this environment (markers evaluated here), with
    the version installed here; extras a requirement names are followed too."""
    found: dict[str, str] = {}

    def visit(name: str, extras: frozenset[str]) -> None:
        key = canonicalize_name(name)
        if key in found:
            return
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as err:
            raise SystemExit(f"{name} is required (by the closure of {root}) but not installed here") from err
        found[key] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in {""} | extras):
                continue
            visit(requirement.name, frozenset(requirement.extras))

    visit(root, frozenset())
    return found


def have_names(path: str | None) -> set[str]:
    text = Path(path).read_text(encoding="utf-8") if path else IMAGE_PACKAGES
    words = [word for line in text.splitlines() for word in line.split("#")[0].split()]
    return {canonicalize_name(word.split("==")[0]) for word in words}


def fetch(name: str, version: str, folder: Path, python: str) -> Path:
    """A wheel of name==version for the target Python: a binary from the index, or for a
    package published only as source a wheel built here, which must be pure Python."""
    before = set(folder.iterdir())
    pip = [sys.executable, "-m", "pip", "-q"]
    platforms = [flag for p in PLATFORMS for flag in ("--platform", p)]
    download = pip + ["download", "--no-deps", "--only-binary=:all:", "--python-version", python]
    download += ["--implementation", "cp", *platforms, "-d", str(folder), f"{name}=={version}"]
    if subprocess.run(download, capture_output=True, text=True).returncode != 0:
        build = pip + ["wheel", "--no-deps", "--no-binary", name, "-w", str(folder), f"{name}=={version}"]
        subprocess.run(build, check=True)
    new = sorted(set(folder.iterdir()) - before)
    if len(new) != 1 or new[0].suffix != ".whl":
        raise SystemExit(f"{name}=={version}: expected one wheel, got {[p.name for p in new]}")
    wheel = new[0]
    platform = wheel.stem.split("-")[-1]
    if platform == "any" or ("manylinux" in platform and platform.endswith("x86_64")):
        return wheel
    raise SystemExit(f"{wheel.name}: built for this machine, not for CPython {python} on x86-64 Linux")


def pack(args: argparse.Namespace) -> None:
    from medlc_core.models import resolve_pretrained
    from medlc_core.provenance import sha256_file, versions

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    wheels = out / "wheels"
    wheels.mkdir(parents=True)
    have = have_names(args.have)
    needed = closure("medlc")
    carried = {n: v for n, v in sorted(needed.items()) if n not in have and n not in NEVER}
    for name, version in carried.items():
        print(f"wheel {name}=={version}", flush=True)
        fetch(name, version, wheels, args.python_version)
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True
    )

    source = Path(resolve_pretrained(args.model, None))
    shape = out / f"{args.model}-shape"
    shape.mkdir()
    for name in SHAPE_FILES:
        shutil.copy2(source / name, shape / name)
    with (
        (source / "tokenizer.json").open("rb") as raw,
        gzip.open(shape / "tokenizer.json.gz", "wb", 9) as packed,
    ):
        shutil.copyfileobj(raw, packed)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest = {
        "purpose": "benchmarks/gpu_check.sh on a machine without an index; see benchmarks/gpu_bundle.py",
        "python_version": args.python_version,
        "platforms": PLATFORMS,
        "carried": carried,
        "left_to_the_machine": sorted(n for n in needed if n not in carried),
        "model": {"name": args.model, "converted_from": str(source), "weights": "none (standin draws them)"},
        "built_with": versions(),
        "files": {
            str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files
        },
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {len(carried) + 1} wheels, {total / 2**20:.1f} MiB in all")
    if total > args.limit_mib * 2**20:
        raise SystemExit(f"{out} is {total / 2**20:.1f} MiB, over --limit_mib {args.limit_mib}")


def install(args: argparse.Namespace) -> None:
    """pip --no-index --no-deps --target: the wheels over the machine's own packages, which
    stay where they are; then the requirements of every carried wheel are checked against
    what the machine then has, and each mismatch is printed (not fixed)."""
    # medlc is not installed yet; its ground module (stdlib only) is read from the checkout.
    sys.path.insert(0, str(ROOT))
    from medlc_core.provenance import sha256_file

    bundle, target = Path(args.bundle), Path(args.target)
    manifest = json.loads((bundle / "MANIFEST.json").read_text(encoding="utf-8"))
    for name, entry in manifest["files"].items():
        if sha256_file(bundle / name) != entry["sha256"]:
            raise SystemExit(f"{bundle / name}: sha256 differs from MANIFEST.json (a broken transfer?)")
    wheels = sorted(str(p) for p in (bundle / "wheels").glob("*.whl"))
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
    subprocess.run(command + ["--no-cache-dir", "--upgrade", "--target", str(target), *wheels], check=True)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    problems = []
    for name in [*manifest["carried"], "medlc"]:
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                present = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                problems.append(f"{name} needs {requirement}: not installed")
                continue
            if requirement.specifier and not requirement.specifier.contains(present, prereleases=True):
                problems.append(f"{name} needs {requirement}: {present} installed")
    print(f"installed {len(wheels)} wheels into {target}; requirement mismatches: {len(problems)}")
    for line in problems:
        print("  " + line)


def standin(args: argparse.Namespace) -> None:
    """A from_pretrained folder: the shape's config and tokenizer with seeded random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    shape, out = Path(args.shape), Path(args.out)
    with tempfile.TemporaryDirectory() as folder:
        for name in SHAPE_FILES:
            shutil.copy2(shape / name, Path(folder) / name)
        with (
            gzip.open(shape / "tokenizer.json.gz", "rb") as packed,
            open(Path(folder) / "tokenizer.json", "wb") as raw,
        ):
            shutil.copyfileobj(packed, raw)
        config = AutoConfig.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        torch.manual_seed(args.seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    note = {"standin_of": str(shape), "weights": f"random, transformers' initialiser, torch seed {args.seed}"}
    (out / "medlc_standin.json").write_text(json.dumps(note, indent=2), encoding="utf-8")
    print(
        f"{out}: {type(model).__name__}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="write the bundle (here, with the network to the index)")
    p.add_argument("--out", default=str(ROOT / ".gpu"))
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--python_version", default="3.12", help="the target machine's Python")
    p.add_argument("--have", default=None, help="file of package names the target already has")
    p.add_argument("--limit_mib", type=float, default=56.0, help="fail when the bundle is larger")
    i = commands.add_parser("install", help="install the wheels there, offline")
    i.add_argument("bundle")
    i.add_argument("target")
    s = commands.add_parser("standin", help="random weights on the carried shape")
    s.add_argument("shape")
    s.add_argument("out")
    s.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    {"pack": pack, "install": install, "standin": standin}[args.command](args)


if __name__ == "__main__":
    main()
