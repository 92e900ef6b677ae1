"""What every built exam, checkpoint and result records about how it was made."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import subprocess
from pathlib import Path

logger = logging.getLogger("medlc")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks so large files stay cheap."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(*extra: str) -> dict[str, str | None]:
    """Versions of medlc and the libraries whose behaviour shapes a result."""
    names = ("medlc", "lm_eval", "transformers", "torch", "datasets", *extra)
    found = {name: package_version(name.replace("_", "-")) or package_version(name) for name in names}
    found["python"] = platform.python_version()
    return found


def git_describe(directory: str | Path | None = None) -> str | None:
    """`git describe --always` of the checkout holding `directory` (default: the working
    directory); None outside a checkout or without git.

    git's complaint ("fatal: not a git repository") is captured and logged at debug level,
    not printed: running outside a checkout is the normal case for an installed medlc.
    """
    try:
        done = subprocess.run(
            ["git", "describe", "--always"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as err:
        logger.debug("no git commit for %s: %s", directory or os.getcwd(), err)
        return None
    if done.returncode != 0:
        logger.debug("no git commit for %s: %s", directory or os.getcwd(), done.stderr.strip())
        return None
    return done.stdout.strip() or None


def quiet_lm_eval_git_probe() -> None:
    """Route lm-eval's results `git_hash` through `git_describe`.

    `lm_eval.evaluator.simple_evaluate` calls `get_git_commit_hash()`, which runs git with
    its stderr inherited, so every evaluation outside a checkout printed git's "fatal"
    line. The recorded value is what lm-eval would record: git's answer, else the commit
    read from `./.git` (lm-eval's own fallback).
    """
    import lm_eval.evaluator
    from lm_eval.loggers.utils import get_commit_from_path

    def get_git_commit_hash() -> str | None:
        return git_describe() or get_commit_from_path(os.getcwd())

    lm_eval.evaluator.get_git_commit_hash = get_git_commit_hash
