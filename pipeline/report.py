"""The HTML report of an output folder: ``newsbeam report OUT --html FILE``.

``write_report(output, html_path)`` queries the output's tables through DuckDB views
(``pipeline.views``) and writes one self-contained HTML file: the charts are inline SVG drawn
here, the styles are inline, and a Content-Security-Policy forbids fetching anything, so the
file opens the same offline, in a mail attachment or years later. Every text that came from
the data (titles, outlet names, error messages) is HTML-escaped.

Each chart is an ``<svg data-chart="NAME" data-points="N">``; a chart without data says so
in place. ``write_report`` returns ``{NAME: N}``.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
from collections import defaultdict
from dataclasses import dataclass

import duckdb

from pipeline.views import RUNS_VIEW, open_views
from schemas.tables import SCHEMA_VERSION

TOP_OUTLETS = 9
TOP_ENTITIES_PER_LABEL = 6
TOP_CLUSTERS = 12
TOP_ERROR_REASONS = 20
# Longer spans are drawn with only the days that have data, not one column per calendar day.
MAX_FILLED_DAYS = 400
MAX_HEATMAP_DAYS = 45
MAX_RUNS_LISTED = 12

WIDTH = 960
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf",
)  # fmt: skip
OTHER_COLOR = "#bab0ac"
LABEL_NAMES = {
    "PERSON": "People",
    "ORG": "Organisations",
    "GPE": "Countries, cities, states",
    "LOC": "Places",
    "NORP": "Nationalities, religious and political groups",
    "FAC": "Buildings and facilities",
    "EVENT": "Named events",
}
LABEL_COLORS = {
    "PERSON": "#4e79a7",
    "ORG": "#f28e2b",
    "GPE": "#59a14f",
    "LOC": "#76b7b2",
    "NORP": "#b07aa1",
    "FAC": "#9c755f",
    "EVENT": "#e15759",
}
STAGE_COLORS = {"read": "#e15759", "feed": "#f28e2b", "clean": "#edc948", "dedup": "#b07aa1", "enrich": "#4e79a7"}

# Who carried a row: the rule of transforms.dedup.outlet_name (outlet, else the URL's host
# without "www.", else the input path), in SQL so millions of rows are grouped in DuckDB.
OUTLET_SQL = (
    "coalesce(nullif(outlet, ''), "
    "nullif(regexp_replace(lower(regexp_extract(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)', 1)), "
    "'^www\\.', ''), ''), source)"
)


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    description: str
    svg: str
    points: int


# ---------------------------------------------------------------- small drawing helpers


def _svg(name: str, points: int, height: float, body: str, label: str) -> str:
    return (
        f'<svg class="chart" data-chart="{esc(name)}" data-points="{points}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" role="img" aria-label="{esc(label)}">{body}</svg>'
    )


def _rect(
    x: float, y: float, width: float, height: float, fill: str, tooltip: str = "", css: str = "mark", opacity: float = 1
) -> str:
    """A rectangle; ``tooltip`` is plain text (escaped here), shown on hover."""
    title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
    paint = f'fill="{fill}"' + (f' fill-opacity="{opacity:.2f}"' if opacity < 1 else "") if fill else ""
    return (
        f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{max(width, 1):.1f}" height="{height:.1f}" rx="2" '
        f"{paint}>{title}</rect>"
    )


def _text(x: float, y: float, text: str, css: str, anchor: str = "start", tooltip: str = "", fill: str = "") -> str:
    title = f"<title>{esc(tooltip)}</title>" if tooltip else ""
    paint = f' fill="{fill}"' if fill else ""
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{paint}>{esc(text)}{title}</text>'


def _no_data(name: str, message: str) -> str:
    body = f'<rect class="empty" x="1" y="1" width="{WIDTH - 2}" height="78" rx="8"/>' + _text(
        WIDTH / 2, 46, f"No data: {message}", "no-data", "middle"
    )
    return _svg(name, 0, 80, body, f"no data: {message}")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


def _compact(value: float) -> str:
    """10, 1k, 100k, 1M: labels for a log axis."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least ``top`` (whole numbers: these are counts)."""
    raw = max(top, 1) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = max(1, next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))
    return [i * step for i in range(math.ceil(max(top, 1) / step) + 1)]


def _day_axis(dates: set[str]) -> list[str]:
    """Every calendar day from the first to the last date, so gaps show; only the dates
    themselves when the span is too long to draw day by day or a date is not ISO."""
    ordered = sorted(dates)
    try:
        first, last = dt.date.fromisoformat(ordered[0]), dt.date.fromisoformat(ordered[-1])
    except ValueError:
        return ordered
    span = (last - first).days
    if span >= MAX_FILLED_DAYS:
        return ordered
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(span + 1)]


def _date_labels(days: list[str], left: float, step: float, y: float) -> str:
    """Labels under day columns, thinned out so they never overlap."""
    every = math.ceil(86 / step)
    return "".join(
        _text(left + (i + 0.5) * step, y, day, "tick", "middle") for i, day in enumerate(days) if i % every == 0
    )


def _legend(items: list[tuple[str, str]], y: float, left: float = 56) -> tuple[str, float]:
    """Swatches in rows that wrap at the chart width; returns (svg, height used)."""
    parts, x, row = [], left, 0
    for name, color in items:
        width = 22 + 7.2 * len(name) + 18
        if x + width > WIDTH - 8 and x > left:
            x, row = left, row + 1
        y_row = y + row * 20
        parts.append(_rect(x, y_row - 10, 12, 12, color, css="swatch") + _text(x + 18, y_row, name, "legend"))
        x += width
    return "".join(parts), (row + 1) * 20


def _label_rank(label: str) -> tuple[int, str]:
    known = list(LABEL_NAMES)
    return (known.index(label) if label in known else len(known), label)


def _colors(names: list[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _rows(connection: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return connection.execute(sql, params or []).fetchall()


# ---------------------------------------------------------------- the charts


def outlet_colors(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """One color per leading outlet (by articles and copies carried), shared by the charts."""
    rows = _rows(
        connection,
        f"select {OUTLET_SQL} as o, count(*) n from (select outlet, url, source from articles "
        f"union all select outlet, url, source from duplicates) group by o order by n desc, o limit {TOP_OUTLETS}",
    )
    return _colors([outlet for outlet, _n in rows])


def articles_per_day(connection: duckdb.DuckDBPyConnection, outlets: dict[str, str]) -> Chart:
    name, title = "articles_per_day", "Articles per day, by outlet"
    description = "Deduplicated articles by publication date (ingestion date when unknown); copies are not counted."
    rows = _rows(connection, f"select date, {OUTLET_SQL} as o, count(*) from articles group by all")
    if not rows:
        return Chart(name, title, description, _no_data(name, "no articles"), 0)
    other = "other outlets"
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for date, outlet, n in rows:
        counts[date][outlet if outlet in outlets else other] += n
    present = {outlet for by_outlet in counts.values() for outlet in by_outlet}
    stack_order = [outlet for outlet in [*outlets, other] if outlet in present]
    colors = {**outlets, other: OTHER_COLOR}
    legend, legend_height = _legend([(_shorten(o, 40), colors[o]) for o in stack_order], 20)
    days = _day_axis(set(counts))
    ticks = _nice_ticks(max(sum(by_outlet.values()) for by_outlet in counts.values()))
    left, right, plot_top = 56.0, WIDTH - 16.0, 20 + legend_height + 8
    plot_bottom = plot_top + 260
    step = (right - left) / len(days)
    bar = max(1.0, min(step * 0.72, 64))

    def y(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * value / ticks[-1]

    parts = [legend]
    for tick in ticks:
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>')
        parts.append(_text(left - 8, y(tick) + 4, _number(tick), "tick", "end"))
    for i, day in enumerate(days):
        base, x = 0, left + i * step + (step - bar) / 2
        by_outlet = counts.get(day, {})
        total = sum(by_outlet.values())
        for outlet in (o for o in stack_order if by_outlet.get(o)):
            n = by_outlet[outlet]
            tooltip = f"{day} · {outlet}: {n:,} of {_plural(total, 'article')}"
            parts.append(_rect(x, y(base + n), bar, y(base) - y(base + n), colors[outlet], tooltip))
            base += n
    parts.append(f'<line class="axis" x1="{left}" x2="{right}" y1="{plot_bottom}" y2="{plot_bottom}"/>')
    parts.append(_date_labels(days, left, step, plot_bottom + 18))
    svg = _svg(name, len(counts), plot_bottom + 28, "".join(parts), title)
    return Chart(name, title, description, svg, len(counts))


def top_entities(connection: duckdb.DuckDBPyConnection) -> Chart:
    name, title = "top_entities", "Top entities per day"
    description = (
        f"The {TOP_ENTITIES_PER_LABEL} names of each kind mentioned in the most articles (canonical names); "
        "a cell is the number of articles that day, the bar the number over all days."
    )
    rows = _rows(
        connection,
        "with named as (select label, coalesce(canonical, text) as name, doc_id, date from entities), "
        "leaders as (select label, name, count(distinct doc_id) as articles, row_number() over ("
        "  partition by label order by count(distinct doc_id) desc, count(*) desc, name) as rank "
        f"  from named group by label, name qualify rank <= {TOP_ENTITIES_PER_LABEL}) "
        "select label, name, articles, date, count(distinct doc_id) "
        "from leaders join named using (label, name) group by label, name, articles, rank, date order by label, rank",
    )
    if not rows:
        return Chart(name, title, description, _no_data(name, "no entities (was the run made with --no-enrich?)"), 0)
    leaders = list(dict.fromkeys((label, entity, articles) for label, entity, articles, _d, _n in rows))
    cells = {(label, entity, date): n for label, entity, _a, date, n in rows}
    days = _day_axis({date for _l, _e, date in cells})
    shown_days = days[-MAX_HEATMAP_DAYS:]
    if len(days) > len(shown_days):
        description += f" Only the last {len(shown_days)} days are drawn."
    left, total_width, row_height = 250.0, 150.0, 24.0
    step = min(64.0, (WIDTH - total_width - 12 - left) / len(shown_days))
    totals_left = left + step * len(shown_days) + 12
    most_per_day = max(cells.values())
    most_in_all = max(articles for _l, _e, articles in leaders)
    parts = [_date_labels(shown_days, left, step, 18), _text(totals_left, 18, "all days", "tick")]
    y = 26.0
    for label in sorted({label for label, _e, _a in leaders}, key=_label_rank):
        color = LABEL_COLORS.get(label, OTHER_COLOR)
        parts.append(_text(8, y + 16, f"{LABEL_NAMES.get(label, label)} ({label})", "group", fill=color))
        y += row_height
        for entity, articles in ((e, a) for lb, e, a in leaders if lb == label):
            parts.append(_text(20, y + 16, _shorten(entity, 32), "name", tooltip=entity))
            for i, day in enumerate(shown_days):
                n, x = cells.get((label, entity, day), 0), left + i * step + 1
                if not n:
                    parts.append(_rect(x, y + 2, step - 2, row_height - 4, "", css="cell-empty"))
                    continue
                strength = 0.25 + 0.75 * n / most_per_day
                tooltip = f"{day} · {entity}: {_plural(n, 'article')}"
                parts.append(_rect(x, y + 2, step - 2, row_height - 4, color, tooltip, opacity=strength))
                if step >= 22:
                    css = "cell" if strength >= 0.75 else "cell pale"
                    parts.append(_text(x + step / 2 - 1, y + 16, f"{n:,}", css, "middle"))
            bar = (total_width - 50) * articles / most_in_all
            tooltip = f"{entity}: {_plural(articles, 'article')} in all"
            parts.append(_rect(totals_left, y + 5, bar, row_height - 10, color, tooltip))
            parts.append(_text(totals_left + bar + 6, y + 16, f"{articles:,}", "value"))
            y += row_height
    return Chart(name, title, description, _svg(name, len(leaders), y + 8, "".join(parts), title), len(leaders))


def wire_clusters(connection: duckdb.DuckDBPyConnection, outlets: dict[str, str]) -> Chart:
    name, title = "wire_clusters", "Largest wire-copy clusters"
    description = "Stories carried most often: one bar per cluster, one segment per outlet that ran a copy."
    rows = _rows(
        connection,
        f"with members as (select cluster_id, doc_id, {OUTLET_SQL} as o, date from articles "
        f"  union all select cluster_id, doc_id, {OUTLET_SQL} as o, date from duplicates), "
        "largest as (select cluster_id, count(distinct doc_id) as copies, min(date) as first, max(date) as last "
        "  from members group by cluster_id having copies > 1 "
        f"  order by copies desc, count(distinct o) desc, cluster_id limit {TOP_CLUSTERS}), "
        "headline as (select cluster_id, any_value(coalesce(nullif(title, ''), substr(text, 1, 200))) as h "
        "  from articles where cluster_id in (select cluster_id from largest) group by cluster_id) "
        "select cluster_id, copies, first, last, h, o, count(distinct doc_id) "
        "from largest join members using (cluster_id) left join headline using (cluster_id) "
        "group by all order by copies desc, cluster_id, count(distinct doc_id) desc, o",
    )
    if not rows:
        return Chart(name, title, description, _no_data(name, "no story was carried more than once"), 0)
    clusters: dict[str, dict] = {}
    for cluster_id, copies, first, last, headline, outlet, n in rows:
        when = first if first == last else f"{first} → {last}"
        headline = " ".join((headline or f"cluster {cluster_id}").split())
        cluster = clusters.setdefault(cluster_id, {"copies": copies, "when": when, "headline": headline, "outlets": []})
        cluster["outlets"].append((outlet, n))
    left, right, row_height = 380.0, WIDTH - 60.0, 44.0
    most = max(cluster["copies"] for cluster in clusters.values())
    carried = {outlet for cluster in clusters.values() for outlet, _n in cluster["outlets"]}
    keys = [(_shorten(o, 40), color) for o, color in outlets.items() if o in carried]
    if carried - set(outlets):
        keys.append(("other outlets", OTHER_COLOR))
    legend, legend_height = _legend(keys, 14, left=8)
    parts, y = [legend], legend_height + 4
    for cluster_id, cluster in clusters.items():
        outlet_count = _plural(len(cluster["outlets"]), "outlet")
        detail = f"{_plural(cluster['copies'], 'copy', 'copies')} · {outlet_count} · {cluster['when']}"
        parts.append(_text(8, y + 16, _shorten(cluster["headline"], 52), "name", tooltip=cluster["headline"]))
        parts.append(_text(8, y + 33, detail, "detail"))
        x = left
        for label, n, color, tooltip in _cluster_segments(cluster["outlets"], outlets):
            width = (right - left) * n / most
            parts.append(_rect(x, y + 8, width - 1, row_height - 18, color, f"{tooltip} (cluster {cluster_id})"))
            fitting = int((width - 10) / 7.2)
            if fitting >= min(len(label), 12):
                parts.append(_text(x + 5, y + 25, _shorten(label, fitting), "inbar"))
            x += width
        parts.append(_text(x + 6, y + 25, f"{cluster['copies']:,}", "value"))
        y += row_height
    return Chart(name, title, description, _svg(name, len(clusters), y + 4, "".join(parts), title), len(clusters))


def _cluster_segments(carried: list[tuple[str, int]], outlets: dict[str, str]) -> list[tuple[str, int, str, str]]:
    """(label, copies, color, tooltip) per bar segment: each colored outlet, then the rest as one."""
    segments = [
        (outlet, n, outlets[outlet], f"{outlet}: {_plural(n, 'copy', 'copies')}")
        for outlet, n in carried
        if outlet in outlets
    ]
    rest = [(outlet, n) for outlet, n in carried if outlet not in outlets]
    if rest:
        listed = ", ".join(f"{outlet} ({n})" for outlet, n in rest[:15]) + (", …" if len(rest) > 15 else "")
        label = _plural(len(rest), "other outlet")
        copies = sum(n for _o, n in rest)
        segments.append((label, copies, OTHER_COLOR, f"{label}, {_plural(copies, 'copy', 'copies')}: {listed}"))
    return segments


def events_over_time(connection: duckdb.DuckDBPyConnection) -> Chart:
    name, title = "events_over_time", "People counts by event type over time"
    description = (
        "One lane per event: the largest number of people reported that day (upper end of ranges), "
        "on one log scale for all lanes; hover a dot for how many mentions it summarises."
    )
    rows = _rows(
        connection,
        "select event, date, max(coalesce(value_max, value)) as top, count(*) from numbers "
        "where is_people and event is not null and coalesce(value_max, value) > 0 group by all order by event, date",
    )
    if not rows:
        return Chart(name, title, description, _no_data(name, "no counts of people with an event (killed, ...)"), 0)
    mentions: dict[str, int] = defaultdict(int)
    for event, _date, _top, n in rows:
        mentions[event] += n
    events = sorted(mentions, key=lambda event: (-mentions[event], event))
    colors = _colors(events)
    days = _day_axis({date for _e, date, _t, _n in rows})
    index = {day: i for i, day in enumerate(days)}
    low = 10 ** math.floor(math.log10(min(top for _e, _d, top, _n in rows)))
    high = max(10 ** math.ceil(math.log10(max(top for _e, _d, top, _n in rows))), low * 10)
    left, right, lane_height = 180.0, WIDTH - 44.0, 58.0
    step = (right - left) / len(days)
    radius = max(2.0, min(5.0, step / 3))
    parts, lane_top = [], 6.0
    for event in events:
        series = [(date, top, n) for ev, date, top, n in rows if ev == event]
        color, bottom, top_y = colors[event], lane_top + lane_height - 8, lane_top + 8

        def y(value: float, bottom: float = bottom, top_y: float = top_y) -> float:
            return bottom - (bottom - top_y) * math.log10(value / low) / math.log10(high / low)

        largest = max(top for _d, top, _n in series)
        parts.append(_rect(left - 6, lane_top + 2, right - left + 12, lane_height - 4, "", css="lane"))
        parts.append(_text(8, lane_top + 26, event, "group", fill=color))
        summary = f"up to {_number(largest)} · {_plural(mentions[event], 'mention')}"
        parts.append(_text(8, lane_top + 43, summary, "detail"))
        for value in (low, high):
            parts.append(_text(right + 10, y(value) + 4, _compact(value), "tick"))
        path, previous = [], None
        for date, top, _n in series:
            # A day with nothing reported breaks the line instead of bridging it.
            command = "L" if previous is not None and index[date] == previous + 1 else "M"
            path.append(f"{command}{left + (index[date] + 0.5) * step:.1f},{y(top):.1f}")
            previous = index[date]
        if any(point.startswith("L") for point in path):
            parts.append(f'<path class="line" d="{" ".join(path)}" stroke="{color}"/>')
        for date, top, n in series:
            tooltip = f"{date} · {event}: up to {_number(top)} people ({_plural(n, 'mention')})"
            cx = left + (index[date] + 0.5) * step
            parts.append(
                f'<circle class="mark" cx="{cx:.1f}" cy="{y(top):.1f}" r="{radius:.1f}" fill="{color}">'
                f"<title>{esc(tooltip)}</title></circle>"
            )
        lane_top += lane_height
    parts.append(_date_labels(days, left, step, lane_top + 14))
    return Chart(name, title, description, _svg(name, len(rows), lane_top + 22, "".join(parts), title), len(rows))


def error_reasons(connection: duckdb.DuckDBPyConnection) -> Chart:
    name, title = "error_reasons", "Error reasons"
    description = "Inputs or steps that failed, by stage and reason; hover a bar for an example message."
    rows = _rows(
        connection,
        "select stage, error_type, count(*) as n, any_value(message order by source) from errors "
        f"group by all order by n desc, stage, error_type limit {TOP_ERROR_REASONS}",
    )
    if not rows:
        return Chart(name, title, description, _no_data(name, "no errors recorded"), 0)
    left, right, row_height = 260.0, WIDTH - 70.0, 28.0
    most = max(n for _s, _t, n, _m in rows)
    parts, y = [], 6.0
    for stage, error_type, n, message in rows:
        width = max((right - left) * n / most, 2)
        tooltip = f"{stage} · {error_type}: {n:,}\ne.g. {_shorten(message or '', 300)}"
        parts.append(_text(left - 10, y + 18, f"{stage} · {_shorten(error_type, 28)}", "name", "end", error_type))
        parts.append(_rect(left, y + 5, width, row_height - 10, STAGE_COLORS.get(stage, OTHER_COLOR), tooltip))
        parts.append(_text(left + width + 6, y + 18, f"{n:,}", "value"))
        y += row_height
    return Chart(name, title, description, _svg(name, len(rows), y + 6, "".join(parts), title), len(rows))


# ---------------------------------------------------------------- the page


def _totals(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    tables = {
        "articles": "articles",
        "duplicates": "duplicates",
        "errors": "errors",
        "entity mentions": "entities",
        "numbers": "numbers",
        "claims": "claims",
    }
    return [(label, _rows(connection, f"select count(*) from {table}")[0][0]) for label, table in tables.items()]


def _date_span(connection: duckdb.DuckDBPyConnection) -> str:
    first, last = _rows(connection, "select min(date), max(date) from articles")[0]
    if first is None:
        return "no articles yet"
    return f"articles dated {first}" if first == last else f"articles dated {first} → {last}"


def _runs(connection: duckdb.DuckDBPyConnection) -> list[dict]:
    """Run manifests, newest first, as plain dicts (their keys differ between versions)."""
    if not _rows(connection, "select 1 from duckdb_views() where view_name = ?", [RUNS_VIEW]):
        return []
    result = connection.execute(f"select * from {RUNS_VIEW}")
    names = [column[0] for column in result.description]
    runs = [dict(zip(names, row)) for row in result.fetchall()]
    # Run ids start with their UTC start time.
    return sorted(runs, key=lambda run: str(run.get("run_id") or ""), reverse=True)


def _cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{esc('' if value is None else value)}</td>"
    return f"<td>{esc(_number(value) if isinstance(value, int | float) else value)}</td>"


def _runs_table(runs: list[dict]) -> str:
    if not runs:
        return '<p class="note">No run manifests in <code>_runs/</code>.</p>'
    columns = ("run", "mode", "inputs", "articles", "duplicates", "rejected", "seconds")
    lines = ["<tr>" + "".join(f"<th>{column}</th>" for column in columns) + "</tr>"]
    for run in runs[:MAX_RUNS_LISTED]:
        accounting = run.get("accounting") or {}
        counts = [accounting.get(key) for key in ("inputs", "articles", "duplicates", "rejected")]
        lines.append(
            "<tr>"
            + "".join(map(_cell, [run.get("run_id"), run.get("mode"), *counts, run.get("wall_seconds")]))
            + "</tr>"
        )
    shown = f", the latest {MAX_RUNS_LISTED} shown" if len(runs) > MAX_RUNS_LISTED else ""
    return f'<table class="runs"><caption>{_plural(len(runs), "run")}{shown}</caption>{"".join(lines)}</table>'


STYLE = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --card: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans",
    "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 1000px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 2px; }
.sub, .note, .description, footer { color: var(--muted); }
.sub { margin: 0 0 18px; overflow-wrap: anywhere; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 18px; padding: 0; list-style: none; }
.totals li { background: var(--card); border-radius: 8px; padding: 8px 14px; min-width: 110px; }
.totals b { display: block; font-size: 20px; }
.totals span { color: var(--muted); font-size: 13px; }
table.runs { border-collapse: collapse; width: 100%; font-size: 13px; margin-bottom: 8px; }
table.runs caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
table.runs th, table.runs td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line); }
table.runs th:first-child, table.runs td:first-child, table.runs th:nth-child(2), table.runs td:nth-child(2) {
  text-align: left; }
table.runs td:first-child { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
section { border-top: 1px solid var(--line); padding: 22px 0 10px; }
.description { margin: 0 0 10px; font-size: 14px; }
svg.chart { display: block; height: auto; overflow: visible; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, "Liberation Sans", "DejaVu Sans",
  sans-serif; font-size: 12px; fill: var(--ink); }
svg .tick, svg .detail { fill: var(--muted); font-size: 11px; }
svg .legend { font-size: 12px; }
svg .group { font-weight: 600; font-size: 13px; }
svg .cell { font-size: 11px; fill: #fff; font-weight: 600; pointer-events: none; }
svg .cell.pale { fill: var(--ink); font-weight: 400; }
svg .lane { fill: var(--card); }
svg .inbar { fill: #fff; font-size: 11px; font-weight: 600; pointer-events: none; }
svg .value { fill: var(--muted); font-size: 12px; }
svg .no-data { fill: var(--muted); font-size: 15px; }
svg .grid { stroke: var(--line); }
svg .axis { stroke: #9aa5b1; }
svg .cell-empty { fill: var(--card); }
svg .empty { fill: var(--card); stroke: var(--line); stroke-dasharray: 4 4; }
svg .line { fill: none; stroke-width: 2.5; stroke-linejoin: round; }
svg .mark:hover { opacity: 0.8; }
footer { padding: 18px 20px 32px; font-size: 13px; }
"""

# Nothing may be fetched when the file is opened: no scripts, no remote images, fonts or styles.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _section(chart: Chart) -> str:
    return (
        f'<section id="{esc(chart.name)}"><h2>{esc(chart.title)}</h2>'
        f'<p class="description">{esc(chart.description)}</p>{chart.svg}</section>'
    )


def render_report(connection: duckdb.DuckDBPyConnection, output: str) -> tuple[str, list[Chart]]:
    """The report page of the views in ``connection`` and its charts."""
    outlets = outlet_colors(connection)
    charts = [
        articles_per_day(connection, outlets),
        top_entities(connection),
        wire_clusters(connection, outlets),
        events_over_time(connection),
        error_reasons(connection),
    ]
    totals = "".join(f"<li><b>{value:,}</b><span>{esc(name)}</span></li>" for name, value in _totals(connection))
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{output} · {_date_span(connection)} · generated {generated}"
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>newsbeam report: {esc(os.path.basename(output.rstrip(os.sep)) or output)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<header><h1>newsbeam report</h1><p class="sub">{esc(subtitle)}</p>'
        f'<ul class="totals">{totals}</ul>{_runs_table(_runs(connection))}</header>'
        f"<main>{''.join(_section(chart) for chart in charts)}</main>"
        f"<footer>newsbeam output schema version {esc(SCHEMA_VERSION)}. Query the same tables with "
        f"<code>newsbeam query {esc(output)} &quot;SQL&quot;</code>.</footer>"
        "</body></html>\n"
    )
    return page, charts


def write_report(output: str, html_path: str) -> dict[str, int]:
    """Write the report of ``output`` to ``html_path``; returns the data points of each chart."""
    connection = open_views(output)
    try:
        page, charts = render_report(connection, os.path.abspath(output))
    finally:
        connection.close()
    folder = os.path.dirname(os.path.abspath(html_path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(html_path)}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(page)
    os.replace(temporary, html_path)
    return {chart.name: chart.points for chart in charts}
