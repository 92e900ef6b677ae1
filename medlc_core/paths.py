"""Where medlc keeps what it builds once and reuses: exams, converted models, digests."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The medlc cache; `MEDLC_CACHE` overrides `~/.cache/medlc`."""
    root = Path(os.environ.get("MEDLC_CACHE", Path.home() / ".cache" / "medlc"))
    root.mkdir(parents=True, exist_ok=True)
    return root
