"""What a person needs from a build: the commonest drop reasons and what to pass to keep more.

The manifest stores these (`drop_reasons_top`, `advice`) and `medlc build-exam` prints them,
as does the error for a build that kept nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

TOP_REASONS = 3
# A drop reason starts with its location ("row 12: ", "row 3 (line 4): ", "line 7: ").
_LOCATION = re.compile(r"^(?:row|line) \d+(?: \(line \d+\))?: ")
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"\d+")

# Drop kind -> what to change to keep such items.
_DROP_ADVICE = {
    "book_unfillable": "pass --reference FILE with more text (the pool is too small for the smallest book)",
    "no_evidence": "pass --reference FILE holding the keyed option texts (these items have no explanation)",
    "evidence_too_long": "ask for a larger smallest bucket with --buckets (evidence may fill half of it)",
    "evidence_too_short": "give these items longer explanations (at least 20 characters after scrubbing)",
    "multi_answer_filtered": "leave out --drop-multi-answer",
    "duplicate_id": "give every item a unique id",
}
_ROW_ADVICE = "fix the rows listed under 'drops' in manifest.json"


def reason_pattern(reason: str) -> str:
    """A drop reason without its location, quoted names or numbers, so alike reasons group."""
    reason = _LOCATION.sub("", reason)
    return _NUMBER.sub("N", _QUOTED.sub("'…'", reason))


def top_reasons(drops: Iterable[Mapping[str, Any]], limit: int = TOP_REASONS) -> list[dict[str, Any]]:
    """The most common (kind, reason pattern) pairs, with counts, commonest first."""
    counts = Counter((drop["kind"], reason_pattern(drop["reason"])) for drop in drops)
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return [{"kind": kind, "reason": reason, "count": count} for (kind, reason), count in ranked[:limit]]


def advice(
    drop_kinds: Mapping[str, int], skipped_buckets: Iterable[str], items_short_of_decoys: int
) -> list[str]:
    """What to pass or change to get more items, buckets or decoys, one line each."""
    lines = [
        f"{kind} ({count}): {_DROP_ADVICE.get(kind, _ROW_ADVICE)}"
        for kind, count in sorted(drop_kinds.items(), key=lambda pair: (-pair[1], pair[0]))
    ]
    skipped = list(skipped_buckets)
    if skipped:
        lines.append(f"skipped bucket(s) {', '.join(skipped)}: pass --reference FILE with more text")
    if items_short_of_decoys:
        lines.append(
            f"{items_short_of_decoys} item(s) lack a decoy for some option, or name the key most: pass "
            "--reference FILE with passages naming those options (manifest.json lists them per item "
            "under decoys_missing and key_named_most), or list the options' other names in "
            "meta.option_aliases"
        )
    return lines
