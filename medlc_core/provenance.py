"""What every built exam, checkpoint and result records about how it was made."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path


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
