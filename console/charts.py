"""Charts drawn on the server as SVG (no script, no CDN): the three charts are lists of labelled
bars that one layout draws, every value printed beside its bar."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from markupsafe import Markup, escape

from console import formats
from domain.stages import STAGES, STEP_LABELS_FR, Step
from projection.views import KpiLine

WIDTH = 360  # viewBox units: 14-unit text is >= 12 px in a 390 px phone's card (~318 px), and
# about the page's 15 px at the 24rem the chart grows to on a wide screen
FONT = 14
CHAR = 0.56 * FONT  # a character's mean width: the room labels and values take
BAR, LANE, GAP = 14, 20, 8  # a bar's thickness, the pitch of its lane, the space after a row
INK, MUTED = "#1f2328", "#5f6368"  # base.html's text and grey: >= 5.7:1 on white and on the page
GREEN, GREEN_LIGHT = "#0b6b3a", "#e3f1e8"


@dataclass(frozen=True)
class Bar:
    value: float
    text: str  # the value as printed beside the bar
    fill: str = GREEN
    stroke: str = "none"
    missing: bool = False  # not reported yet: an empty dashed box instead of a length


@dataclass(frozen=True)
class Row:
    label: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Group:
    rows: tuple[Row, ...]
    heading: str = ""  # a small multiple: each group has a scale of its own


def _number(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")  # the `montant` filter's narrow no-break space


def _width(text: str) -> float:
    return len(text) * CHAR


def _text(x: float, y: float, text: str, room: float, **attrs: str) -> str:
    """A line of text cut to its room (the whole of it kept as a tooltip)."""
    shown = text if _width(text) <= room else text[: max(int(room / CHAR) - 1, 1)] + "…"
    tip = f"<title>{escape(text)}</title>" if shown != text else ""
    extra = "".join(f' {key.replace("_", "-")}="{escape(v)}"' for key, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(shown)}{tip}</text>'


def _bar(x: float, y: float, length: float, bar: Bar) -> str:
    """One bar from `x` and its value just after its end."""
    if bar.missing:
        length = BAR
        shape = (
            f'<rect class="manquant" x="{x:.1f}" y="{y:.1f}" width="{BAR}" height="{BAR}" '
            f'fill="none" stroke="{MUTED}" stroke-dasharray="3 2"/>'
        )
    else:
        shape = (
            f'<rect class="barre" x="{x:.1f}" y="{y:.1f}" width="{length:.1f}" height="{BAR}" '
            f'fill="{bar.fill}" stroke="{bar.stroke}"/>'
        )
    value = _text(x + length + 4, y + BAR - 2, bar.text, WIDTH, fill=MUTED if bar.missing else INK)
    return shape + value


def _chart(title: str, groups: list[Group], empty: str) -> Markup:
    """Groups of rows of bars, or the sentence `empty` when there is nothing to draw."""
    rows = [row for group in groups for row in group.rows]
    if not rows:
        return Markup('<p class="discret">{}</p>').format(empty)
    x0, plot = _columns(rows)
    parts, y = [], 0.0
    for group in groups:
        drawn, y = _group(group, x0, plot, y)
        parts.append(drawn)
    return _svg(title, _summary(groups), "".join(parts), y)


def _columns(rows: list[Row]) -> tuple[float, float]:
    """Where bars start and their longest length: labels sit left of the bars when they are
    short, above them otherwise (a phone's width), and the longest value keeps its room."""
    value_room = max(_width(bar.text) for row in rows for bar in row.bars) + 8
    label_room = max(_width(row.label) for row in rows) + 8
    x0 = label_room if label_room <= 0.4 * WIDTH else 0
    return x0, max(WIDTH - x0 - value_room, 2 * BAR)


def _group(group: Group, x0: float, plot: float, y: float) -> tuple[str, float]:
    """A group's heading and rows from height `y`, on the group's own scale; and where it ends."""
    parts = []
    if group.heading:
        parts.append(_text(0, y + FONT, group.heading, WIDTH, font_weight="600", fill=INK))
        y += LANE + 4
    top = max((b.value for row in group.rows for b in row.bars if not b.missing), default=0) or 1
    for row in group.rows:
        parts.append(_text(0, y + BAR - 2, row.label, x0 - 4 if x0 else WIDTH, fill=INK))
        y += 0 if x0 else LANE
        for bar in row.bars:
            parts.append(_bar(x0, y, plot * bar.value / top, bar))
            y += LANE
        y += GAP
    return "".join(parts), y


def _summary(groups: list[Group]) -> str:
    """Every value in a sentence: what a screen reader says of the chart."""
    lines = [
        f"{group.heading + ', ' if group.heading else ''}{row.label} : "
        + ", ".join(bar.text for bar in row.bars)
        for group in groups
        for row in group.rows
    ]
    return "; ".join(lines) + "."


def _svg(title: str, desc: str, body: str, height: float) -> Markup:
    """The inline SVG: it scales to its container's width, named and described in French."""
    ident = f"graphique-{uuid4().hex[:8]}"
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" style="display:block;max-width:24rem;height:auto" '
        f'aria-labelledby="{ident}-titre" aria-describedby="{ident}-desc" '
        f'font-family="system-ui, \'Segoe UI\', Roboto, sans-serif" font-size="{FONT}">'
        f'<title id="{ident}-titre">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>{body}</svg>'
    )


# A call's funnel: how many applications reached each step, told by where each stands now (its
# stage's record; one sent back to evaluation by a redress counts where it is again).


def funnel(counts: Mapping[str, int]) -> Markup:
    """A call's applications step by step: registered, examined, eligible, evaluated,
    labelled; the cases that stopped on the way are the difference between two bars."""
    reached = [
        (label, sum(n for s, n in counts.items() if STAGES[s].step >= step))  # type: ignore[index,operator]
        for step, label in zip(Step, STEP_LABELS_FR, strict=True)
    ]
    rows = tuple(Row(label, (Bar(n, _number(n)),)) for label, n in reached)
    title = f"Parcours des candidatures de l'appel ({_number(reached[0][1])} enregistrées)"
    return _chart(
        title, [Group(rows)] if reached[0][1] else [], "Aucune candidature pour cet appel."
    )


def _kpi_row(line: KpiLine) -> Row:
    target = Bar(line.target, f"objectif {_number(line.target)}", GREEN_LIGHT, GREEN)
    if line.actual is None:
        missing = "non déclaré" if line.reported else "pas encore de rapport"
        return Row(f"année {line.year}", (target, Bar(0, missing, missing=True)))
    return Row(f"année {line.year}", (target, Bar(line.actual, f"réalisé {_number(line.actual)}")))


def kpi_chart(kpis: Iterable[KpiLine]) -> Markup:
    """Per indicator (each on its own scale), the target and the actual of every year."""
    by_indicator: dict[str, list[KpiLine]] = {}
    for line in sorted(kpis, key=lambda line: line.year):
        by_indicator.setdefault(line.indicator, []).append(line)
    groups = [
        Group(tuple(_kpi_row(line) for line in lines), heading=lines[0].label)
        for lines in by_indicator.values()
    ]
    title = "Indicateurs du cluster : objectif et réalisé par année"
    empty = "Aucun indicateur pour l'instant : ils sont fixés à la signature de la convention."
    return _chart(title, groups, empty)


def support_chart(by_year: Mapping[int, float]) -> Markup:
    """The support granted per calendar year, in MAD."""
    rows = tuple(
        Row(str(year), (Bar(by_year[year], formats.amount(by_year[year])),))
        for year in sorted(by_year)
    )
    title = f"Soutien accordé par année ({formats.amount(sum(by_year.values()))} au total)"
    return _chart(title, [Group(rows)], "Aucun soutien accordé pour l'instant.")


def forecast_chart(needs: Iterable[Any]) -> Markup:
    """Per budget year, what the running contracts plan and is not paid yet, and what the
    scenario expects of it (`needs`: items with `year`, `planned`, `expected`)."""
    rows = tuple(
        Row(
            str(n.year),
            (
                Bar(n.planned, f"prévu {formats.amount(n.planned)}", GREEN_LIGHT, GREEN),
                Bar(n.expected, f"attendu {formats.amount(n.expected)}"),
            ),
        )
        for n in needs
        if n.planned or n.expected
    )
    title = "Besoins des conventions en cours par année budgétaire : prévu et attendu"
    return _chart(title, [Group(rows)] if rows else [], "Aucune convention en cours à payer.")


# The template functions this module gives the console's pages.
CHARTS: dict[str, Callable[..., Any]] = {
    "funnel": funnel,
    "kpi_chart": kpi_chart,
    "support_chart": support_chart,
    "forecast_chart": forecast_chart,
}
