"""From roster entries to concrete models: expand checkpoint globs, read mixture
manifests, and fingerprint each model without loading it. A `kind: baseline` entry is a
model too: `medlc-baseline` with its rule and seed, scored and stored like any other."""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlc.runner import backends
from medlc.runner import fingerprint as fp
from medlc.runner.config import BASELINE_BACKEND, ConfigError, HarnessConfig, ModelSpec, Settings
from medlc_core.models import (
    ADAPTER_CONFIG,
    DEFAULT_MODEL_NAME,
    named_gguf,
    resolve_pretrained,
    split_adapter,
)
from medlc_core.provenance import package_version, sha256_file

MANIFEST = "mixture_manifest.json"
BUNDLED_NAMES = (DEFAULT_MODEL_NAME, "smollm2-135m-instruct")


@dataclass(frozen=True)
class ResolvedModel:
    """One model to score, with everything the results folder and the report need."""

    name: str
    kind: str
    backend: str  # the lm-eval LM that scores it (medlc.runner.backends)
    pretrained: str | None  # as written: hub id, local dir, bundled name, .gguf path, served name
    gguf_file: str | None
    peft: str | None
    revision: str | None
    model_args: dict[str, Any]
    apply_chat_template: bool
    general_fraction: float | None
    n: int | None
    requires: tuple[str, ...]
    identity: dict[str, Any]
    protocol: dict[str, Any]
    fingerprint: str
    mixture: dict[str, Any] = field(default_factory=dict)  # manifest path, sha, counts, seed
    baseline: dict[str, Any] | None = None  # {method, seed} of a model-free baseline

    def info(self) -> dict[str, Any]:
        """What model.json records about this fingerprint."""
        return {
            "name": self.name,
            "kind": self.kind,
            "backend": self.backend,
            "general_fraction": self.general_fraction,
            "n": self.n,
            "pretrained": self.pretrained,
            "gguf_file": self.gguf_file,
            "peft": self.peft,
            "revision": self.revision,
            "fingerprint": self.fingerprint,
            "baseline": self.baseline,
            "identity": self.identity,
            "protocol": self.protocol,
            "mixture": self.mixture,
        }

    def backend_args(self) -> dict[str, Any]:
        """model_args for the lm-eval backend; converts a GGUF once (cached) if needed."""
        if self.baseline is not None:
            return dict(self.model_args)  # method and seed: nothing to load
        local = backends.backend(self.backend).weights == "local"
        pretrained = resolve_pretrained(self.pretrained, self.gguf_file) if local else self.pretrained
        args = backends.model_args_for(self.backend, pretrained, self.peft, self.model_args)
        if self.revision:
            args["revision"] = self.revision
        return args


def _gguf_path(pretrained: str, gguf_file: str | None) -> Path | None:
    if gguf_file:
        return Path(pretrained) / gguf_file
    if pretrained.endswith(".gguf"):
        return Path(pretrained)
    if pretrained in BUNDLED_NAMES:
        return named_gguf(pretrained).path
    return None


def source_identity(pretrained: str, gguf_file: str | None, revision: str | None) -> dict:
    gguf = _gguf_path(pretrained, gguf_file)
    if gguf is not None:
        if not gguf.is_file():
            raise FileNotFoundError(f"GGUF file {gguf} does not exist")
        return fp.gguf_identity(gguf)
    if Path(pretrained).is_dir():
        return fp.directory_identity(Path(pretrained))
    if pretrained.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model directory {pretrained} does not exist")
    return {"hub_id": pretrained, "revision": revision or "main"}


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from err
    for key, kind in (("general_fraction", (int, float)), ("n", (int,))):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise ConfigError(f"{path}: top-level `{key}` missing or not a number")
    return {
        "manifest": str(path),
        "sha256": sha256_file(path),
        "general_fraction": float(manifest["general_fraction"]),
        "n": manifest["n"],
        "counts": manifest.get("counts"),
        "seed": manifest.get("seed"),
    }


def _resolve_baseline(spec: ModelSpec, settings: Settings) -> ResolvedModel:
    """A model-free baseline: its identity is its rule, seed and the code that applies it."""
    rule = {"method": spec.method, "seed": settings.seed if spec.seed is None else spec.seed}
    identity = {"baseline": {**rule, "medlc": package_version("medlc")}}
    if spec.method == "retrieve":
        identity["baseline"]["bm25s"] = package_version("bm25s")
    scoring = fp.protocol(settings, rule, apply_chat_template=False, backend=BASELINE_BACKEND)
    return ResolvedModel(
        name=spec.name,
        kind=spec.kind,
        pretrained=f"{BASELINE_BACKEND}:{spec.method}",
        gguf_file=None,
        peft=None,
        revision=None,
        model_args=rule,
        apply_chat_template=False,
        general_fraction=None,
        n=None,
        requires=(),
        identity=identity,
        protocol=scoring,
        fingerprint=fp.fingerprint(identity, scoring),
        backend=BASELINE_BACKEND,
        baseline=rule,
    )


def _resolve_one(spec: ModelSpec, settings: Settings, config: HarnessConfig) -> ResolvedModel:
    if spec.kind == "baseline":
        return _resolve_baseline(spec, settings)
    where = f"{config.path}: {spec.key}"
    pretrained, peft = spec.pretrained, spec.peft
    name = spec.backend or settings.backend
    weights = backends.backend(name).weights
    if peft is None and weights == "local":
        # An adapter folder passed as `pretrained` is its base model plus itself as `peft`.
        try:
            pretrained, peft = split_adapter(pretrained)
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from err
    mixture: dict[str, Any] = {}
    for candidate in (peft, pretrained) if weights == "local" else ():
        if candidate and Path(candidate).is_dir() and (found := read_manifest(Path(candidate))):
            mixture = found
            break
    fraction = spec.general_fraction if spec.general_fraction is not None else mixture.get("general_fraction")
    n = spec.n if spec.n is not None else mixture.get("n")
    if mixture and (fraction, n) != (mixture["general_fraction"], mixture["n"]):
        raise ConfigError(
            f"{where}: general_fraction/n ({fraction}, {n}) disagree with {mixture['manifest']} "
            f"({mixture['general_fraction']}, {mixture['n']}); drop them from the config"
        )
    if spec.kind == "mixture" and (fraction is None or n is None):
        raise ConfigError(
            f"{where}: a mixture model needs {MANIFEST} in its folder or general_fraction and n"
        )
    model_args = {**settings.model_args, **spec.model_args}
    try:
        identity = _identity(name, pretrained, peft, spec, model_args)
    except FileNotFoundError as err:
        raise ConfigError(f"{where}: {err}") from err
    chat = settings.apply_chat_template if spec.apply_chat_template is None else spec.apply_chat_template
    scoring = fp.protocol(settings, model_args, chat, name)
    return ResolvedModel(
        name=spec.name,
        kind=spec.kind,
        backend=name,
        pretrained=pretrained,
        gguf_file=spec.gguf_file,
        peft=peft,
        revision=spec.revision,
        model_args=model_args,
        apply_chat_template=chat,
        general_fraction=fraction,
        n=n,
        requires=spec.requires,
        identity=identity,
        protocol=scoring,
        fingerprint=fp.fingerprint(identity, scoring),
        mixture=mixture,
    )


def _identity(
    backend: str, pretrained: str | None, peft: str | None, spec: ModelSpec, model_args: dict[str, Any]
) -> dict[str, Any]:
    """What the scored weights are (see fingerprint.py), as far as the backend can say."""
    weights = backends.backend(backend).weights
    if weights == "served":
        tokenizer = model_args["tokenizer"]
        return {
            "served_model": pretrained,
            "revision": spec.revision,
            "tokenizer": fp.tokenizer_identity(tokenizer),
        }
    identity: dict[str, Any] = {"model": source_identity(pretrained, spec.gguf_file, spec.revision)}
    if peft:
        identity["adapter"] = fp.directory_identity(Path(peft))
    return identity


def _expand_checkpoints(spec: ModelSpec, config: HarnessConfig) -> list[ModelSpec]:
    """One spec per checkpoint folder matching the glob; base model from the adapter."""
    matched = sorted(Path(p) for p in glob.glob(spec.checkpoints) if Path(p).is_dir())
    checkpoints = [p for p in matched if (p / MANIFEST).is_file()]
    if not checkpoints:
        raise ConfigError(
            f"{config.path}: {spec.key}.checkpoints: expected folders holding {MANIFEST}; "
            f"{spec.checkpoints!r} matched {len(matched)} folder(s), none with a manifest"
        )
    expanded = []
    for path in checkpoints:
        if spec.pretrained and (path / ADAPTER_CONFIG).is_file():
            pretrained, peft = spec.pretrained, str(path)  # the base the config names wins
        else:
            # An adapter folder is split into its base model and itself when resolved.
            pretrained, peft = str(path), None
        # `{dir}` is the matched folder, `{parent}` the one above it (finetune's sweep saves
        # runs/<sweep>/gf0.50_n1000/adapter, so the run name is the parent).
        fields = {"dir": path.name, "parent": path.parent.name}
        name = spec.name.format(**fields) if "{" in spec.name else f"{spec.name}/{path.name}"
        expanded.append(
            ModelSpec(
                **{
                    **spec.__dict__,
                    "name": name,
                    "pretrained": pretrained,
                    "peft": peft,
                    "checkpoints": None,
                    "key": f"{spec.key} ({path})",
                }
            )
        )
    return expanded


def resolve_roster(config: HarnessConfig) -> list[ResolvedModel]:
    """Every model of the config, globs expanded, in roster order; fails on duplicates."""
    specs: list[ModelSpec] = []
    for spec in config.roster:
        specs.extend(_expand_checkpoints(spec, config) if spec.checkpoints else [spec])
    models = [_resolve_one(spec, config.settings, config) for spec in specs]
    seen: dict[str, str] = {}
    for model in models:
        if model.fingerprint in seen:
            raise ConfigError(
                f"{config.path}: roster entries {seen[model.fingerprint]!r} and {model.name!r} "
                "are the same model scored the same way; keep one"
            )
        if model.name in seen.values():
            raise ConfigError(f"{config.path}: two roster models are both named {model.name!r}")
        seen[model.fingerprint] = model.name
    return models
