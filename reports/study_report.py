"""Write the study report (reports/study.py computes it): study.md, study.json and the
figures under `<report>/study/`, linked from the leaderboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlc_core.atomic import atomic_write
from reports.collect import TaskRun
from reports.leaderboard import Leaderboard, Row, fmt
from reports.saturation import Saturation
from reports.study import StudyQuestion, VariantStudy, analyse, draw

SATURATION_LABELS = {"open": "open book", "closed": "closed book", "gain": "open - closed"}


@dataclass(frozen=True)
class StudyReport:
    markdown: Path
    json: Path
    studies: list[VariantStudy]


def _est(e) -> dict | None:
    return e.as_dict() if e else None


def _row_json(row: Row, study: VariantStudy) -> dict[str, Any]:
    return {
        "model": row.model,
        "fingerprint": row.fingerprint,
        "kind": row.kind,
        "general_fraction": row.general_fraction,
        "n": row.n,
        **{key: _est(getter(row)) for key, _, getter in study.metrics},
    }


def to_json(question: StudyQuestion, studies: list[VariantStudy]) -> dict[str, Any]:
    return {
        "base": question.base,
        "title": question.title,
        "variants": {
            s.variant: {
                "metric": s.metric,
                "base": _row_json(s.base, s) if s.base else None,
                "checkpoints": [
                    _row_json(r, s) | {"mixture": s.manifests.get(r.model)} for r in s.checkpoints
                ],
                "references": [_row_json(r, s) for r in s.references],
                "paired_vs_base": [t.__dict__ | {"diff": t.diff} for t in s.paired],
                "saturation": [
                    {"general_fraction": f, "metric": m, **fit.as_dict()}
                    for (f, m), fit in sorted(s.saturation.items())
                ],
            }
            for s in studies
        },
    }


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return (
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(r) + " |" for r in rows]
        + [""]
    )


def _saturation_text(fit: Saturation) -> str:
    if fit.estimated:
        high = "beyond the grid" if fit.n90_high is None else f"{fit.n90_high:.0f}"
        low = "–" if fit.n90_low is None else f"{fit.n90_low:.0f}"
        return f"gains flatten by n ≈ {fit.n90:.0f} [{low}, {high}] ({fit.fits} bootstrap refits)"
    return f"no estimate: {fit.reason}"


def _variant_md(s: VariantStudy, out: Path) -> list[str]:
    lines = [f"## {s.variant} variant (metric `{s.metric}`, 95% cluster-bootstrap CI)", ""]
    if s.base is None:
        lines += ["> the base model is not in these results: no paired tests, no n = 0 point", ""]
    head = ["model", "kind", "gf", "n"] + [label for _, label, _ in s.metrics]
    rows = [
        [
            r.model,
            r.kind,
            "–" if r.general_fraction is None else f"{r.general_fraction:g}",
            "–" if r.n is None else str(r.n),
        ]
        + [fmt(getter(r), signed=key == "gain") for key, _, getter in s.metrics]
        for r in ([s.base] if s.base else []) + s.checkpoints + [r for r in s.references if r is not s.base]
    ]
    lines += ["### every model, every metric", ""] + _table(head, rows)
    lines += ["### accuracy against general fraction and against volume", ""]
    for fig in s.figures:
        if fig.png is None:
            lines += [f"- {fig.title}: not drawn ({fig.note})"]
        else:
            lines += [f"![{fig.title}]({fig.png.relative_to(out).as_posix()})", ""]
    lines += ["", "### each checkpoint against the base model (paired, exact McNemar)", ""]
    if s.paired:
        lines += _table(
            [
                "checkpoint",
                "task",
                "items",
                "base",
                "checkpoint acc",
                "diff",
                "base only",
                "ckpt only",
                "p",
                "p (Holm)",
            ],
            [
                [
                    t.model,
                    t.task,
                    str(t.n),
                    f"{t.base_acc:.3f}",
                    f"{t.model_acc:.3f}",
                    f"{t.diff:+.3f}",
                    str(t.base_only),
                    str(t.model_only),
                    f"{t.p:.3g}",
                    f"{t.p_holm:.3g}",
                ]
                for t in s.paired
            ],
        )
    else:
        lines += ["no paired comparison (no base model or no checkpoint in these results)", ""]
    lines += [
        "### reading against knowing",
        "",
        "Open-book gain over closed-book accuracy, one point per model (figure above).",
        "",
    ]
    lines += ["### saturation over volume", ""]
    lines += [
        f"- gf={f:g}, {SATURATION_LABELS[m]}: {_saturation_text(fit)}; points "
        + ", ".join(f"n={n}: {v:.3f}" for n, v in zip(fit.volumes, fit.values, strict=True))
        for (f, m), fit in sorted(s.saturation.items())
    ] or ["- no mixture checkpoints"]
    lines += ["", "### where each checkpoint's place on the curves comes from", ""]
    lines += _table(
        ["checkpoint", "general_fraction", "n", "mixture_manifest.json", "sha256"],
        [
            [
                r.model,
                f"{r.general_fraction:g}",
                str(r.n),
                str(s.manifests[r.model]["manifest"]),
                str(s.manifests[r.model]["sha256"])[:16],
            ]
            for r in s.checkpoints
        ],
    )
    return lines


def to_markdown(question: StudyQuestion, studies: list[VariantStudy], out: Path) -> str:
    lines = [f"# medlc study: {question.title or question.base}", ""]
    lines += [
        f"Base model: **{question.base}**. Numbers are the leaderboard's (`../leaderboard.md`), "
        "re-read per checkpoint; intervals are 95% cluster bootstraps over questions. "
        "Saturation: y(n) = a + b(1 - exp(-n/k)) over volume with the base at n = 0; "
        "gains flatten at n90 = k ln 10, the volume reaching 90% of the fitted change.",
        "",
    ]
    for s in studies:
        lines += _variant_md(s, out)
    return "\n".join(lines) + "\n"


def write_study(
    board: Leaderboard, runs: list[TaskRun], out: Path, question: StudyQuestion, iters: int, seed: int
) -> StudyReport:
    """Analyse, draw and write; `out` is the study folder (`<report>/study`)."""
    studies = analyse(board, runs, question, min(iters, 500), seed)
    for s in studies:
        s.figures = draw(s, out / s.variant)
    md, js = out / "study.md", out / "study.json"
    atomic_write(md, to_markdown(question, studies, out))
    atomic_write(js, json.dumps(to_json(question, studies), indent=2, ensure_ascii=False) + "\n")
    return StudyReport(md, js, studies)
