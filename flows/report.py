"""`netliq report`: the essay's charts, drawn from the published file only.

build_report(published, out_dir) reads the published DuckDB file read-only (through
warehouse.db.query_published) and writes

  out_dir/index.html      one self-contained page: every chart as an interactive Vega-Lite
                          view (Vega, Vega-Lite and vega-embed are inlined, so it opens
                          offline) and a data-quality section (the last publish, freshness
                          per table from the catalog, the publish log)
  out_dir/<chart_id>.png  each chart rendered by vl-convert (no browser, no network)

Each chart names its source tables, its units and the last date of its data in its
subtitle and in the page's caption. The Vega-Lite spec of each chart is embedded in the
page as JSON (<script type="application/json" id="spec-<chart_id>">), its data in the
spec's top-level `datasets`, keyed by the published table it was read from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import vl_convert as vlc

from warehouse.db import WarehouseError, query_published

# Vega-Lite of the JS bundle and the PNG renderer; Altair writes specs of this major version.
VL_VERSION = "6.4"
WIDTH = 900
HEIGHT = 400
PNG_SCALE = 2.0

# Every table the report reads; a published file from an older version may lack some.
REQUIRED_TABLES = (
    "performance_daily", "net_liquidity_weekly", "asset_prices_daily", "liquidity_regime_weekly",
    "fed_balance_sheet_weekly", "bank_credit_weekly", "mortgage_rate_weekly", "gold_real_monthly",
    "gold_daily", "asset_ratios_daily", "liquidity_asset_correlation_weekly", "liquidity_asset_lead_lag",
    "net_liquidity_variants_daily", "liquidity_forward_returns", "catalog", "publishes",
)

ASSET_LABELS = {"bitcoin": "Bitcoin", "gold": "Gold", "nasdaq_100": "Nasdaq-100", "net_liquidity": "Net liquidity"}
# Bitcoin keeps its brand orange; gold is a dark old gold, apart from it in lightness as well as
# hue, so the two stay distinct in print and for red-green colour-blind readers (CIE76 ΔE 43
# between them, 37 under a deuteranopia simulation; the ochre #b8860b it replaces was 25 and 16)
ASSET_COLORS = {"bitcoin": "#f7931a", "gold": "#806000", "nasdaq_100": "#1f77b4", "net_liquidity": "#2f2f2f"}
CPI_COLOR = "#5b7fa6"
YEAR_ASSETS = ("bitcoin", "gold", "nasdaq_100", "net_liquidity")
NET_LIQUIDITY_YEARS = 5
# the reference formula in black (net liquidity's colour), every other variant in turn from these
VARIANT_COLORS = ("#1b9e77", "#7570b3", "#d95f02", "#e7298a")
FED_BALANCE_SHEET_YEARS = 7
BANK_CREDIT_YEARS = 10
RATIO_YEARS = 4
CORRELATION_YEARS = 10
CORRELATION_WINDOW = 52
CORRELATION_ASSETS = ("bitcoin", "nasdaq_100")
SATS_PER_BTC = 100_000_000


def _source_label(source: str, registry) -> str:
    """asset_ratios_daily.denominator_source (registry names, `a*b` a product) as the ratio
    charts' subtitles say it: the providers' ids, e.g. "BTC-USD × JPY=X"."""
    from flows.registry import RegistryError

    try:
        return " × ".join(registry.named(name).id for name in source.split("*"))
    except RegistryError:
        return source


class ReportError(WarehouseError):
    """The published file cannot be reported on (missing, not a DuckDB file, lacks a table, no data)."""


@dataclass(frozen=True)
class ChartInfo:
    chart_id: str
    title: str
    source_tables: tuple[str, ...]
    units: str
    last_date: dt.date | None
    png: Path
    spec: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ReportResult:
    html: Path
    pngs: dict[str, Path]
    charts: dict[str, ChartInfo]
    version: int | None
    published_at: dt.datetime | None
    seconds: float  # the whole report, PNGs included
    page_seconds: float = 0.0  # until index.html was written
    pngs_drawn: tuple[str, ...] = ()  # the charts whose PNG was drawn (the others had not changed)


@dataclass
class _Chart:
    chart_id: str
    title: str
    source_tables: tuple[str, ...]
    units: str
    last_date: dt.date | None
    chart: _Finished


# ------------------------------------------------------------------ entry point


def build_report(published: Path, out_dir: Path, *, year: int | None = None) -> ReportResult:
    """Write out_dir/index.html and out_dir/<chart_id>.png from the published file.

    year: the "year in one chart" year (default: the last full calendar year of the data;
    a second chart shows the year to date unless `year` is that year).
    """
    started = time.perf_counter()
    published = Path(published)
    reader = _Reader(published)
    reader.require(REQUIRED_TABLES)
    publish = reader.last_publish()

    charts: list[_Chart] = []
    # a year without a base (no close in the previous year's last week) has no index to draw
    perf = reader.query(
        "SELECT date, asset, value_native, units, base_date, index_100 FROM performance_daily "
        f"WHERE asset IN {_sql_list(YEAR_ASSETS)} AND index_100 IS NOT NULL ORDER BY asset, date"
    )
    if perf.height == 0:
        raise ReportError(f"{published}: performance_daily has no rows for {', '.join(YEAR_ASSETS)}")
    data_end: dt.date = perf["date"].max()
    years = sorted(set(perf["date"].dt.year().to_list()))
    if year is None:
        year = data_end.year if (data_end.month, data_end.day) == (12, 31) else data_end.year - 1
    if year not in years:
        raise ReportError(f"{published}: performance_daily has no data for {year} (years {years[0]}–{years[-1]})")
    charts.append(_year_chart(perf, year, "year", f"The year in one chart: {year}"))
    if year != data_end.year:
        charts.append(_year_chart(perf, data_end.year, "year_to_date",
                                  f"Year to date: {data_end.year}, to {data_end:%Y-%m-%d}"))
    charts.append(_net_liquidity_chart(reader))
    charts.append(_variants_chart(reader))
    charts.extend(_fed_chart(reader))
    charts.append(_bank_credit_chart(reader))
    charts.append(_mortgage_chart(reader))
    charts.append(_gold_real_chart(reader))
    charts.append(_gld_chart(reader))
    charts.append(_ratio_chart(reader, "mstr_btc", "MSTR ÷ BTC-USD: bitcoin per Strategy share",
                               "MSTR (USD) ÷ BTC-USD (USD)"))
    charts.append(_ratio_chart(reader, "metaplanet_btc_jpy", "Metaplanet ÷ BTC-JPY: bitcoin per Metaplanet share",
                               "3350.T (JPY) ÷ BTC-JPY (JPY)"))
    charts.append(_correlation_chart(reader))
    charts.append(_lead_lag_chart(reader))
    forward, verdicts = _forward_returns_section(reader)
    charts.extend(forward)
    quality = _quality_section(reader, publish)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    infos: dict[str, ChartInfo] = {}
    for item in charts:
        infos[item.chart_id] = ChartInfo(item.chart_id, item.title, item.source_tables, item.units,
                                         item.last_date, out_dir / f"{item.chart_id}.png", item.chart.to_dict())
    # the page first: it needs no PNG (the browser draws every chart from its spec), and a
    # reader who opens it while the PNGs are drawn sees the new version, never half a file
    page = out_dir / "index.html"
    _replace(page, _page(published, publish, charts, infos, quality, _bundle(out_dir), verdicts).encode("utf-8"))
    page_seconds = time.perf_counter() - started
    drawn = _write_pngs(infos.values())
    return ReportResult(
        html=page, pngs={k: v.png for k, v in infos.items()}, charts=infos,
        version=publish.get("version"), published_at=publish.get("published_at"),
        seconds=time.perf_counter() - started, page_seconds=page_seconds, pngs_drawn=tuple(drawn),
    )


# vl-convert releases the GIL: two renders at once take about half the time on 2 cores; more
# threads than that only contend (4 on 2 cores: slower than 2)
PNG_THREADS = max(1, min(2, os.cpu_count() or 1))


def _write_pngs(infos) -> list[str]:
    """Every chart's PNG, rendered by vl-convert on PNG_THREADS threads (no browser, no network);
    returns the charts drawn. A PNG whose spec (its rows included) is the one it was drawn
    from is kept: after a rollback, or a publish that changed other tables, most charts are
    as they were, and a PNG is 0.3-0.8 s of vl-convert. The spec's digest sits beside the PNG."""
    def draw(info: ChartInfo) -> str | None:
        digest = hashlib.sha256(json.dumps([VL_VERSION, PNG_SCALE, vlc.get_vega_version(), info.spec],
                                           sort_keys=True, default=str).encode()).hexdigest()
        mark = info.png.with_name(f".{info.png.name}.sha256")
        try:
            if info.png.exists() and mark.read_text() == digest:
                return None
        except OSError:
            pass
        mark.unlink(missing_ok=True)  # a PNG without its mark is drawn again next time
        _replace(info.png, vlc.vegalite_to_png(info.spec, vl_version=VL_VERSION, scale=PNG_SCALE,
                                               allowed_base_urls=[]))
        _replace(mark, digest.encode())
        return info.chart_id

    with ThreadPoolExecutor(PNG_THREADS, thread_name_prefix="netliq-png") as pool:
        return [c for c in (done.result() for done in [pool.submit(draw, info) for info in infos]) if c]


def _replace(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _bundle(out_dir: Path) -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript that vl-convert bundles (1.3-2 s to
    produce, the same for one vl-convert and Vega-Lite version): kept beside the page, in a
    file named after both versions, and inlined from there into every page."""
    cached = out_dir / f".vega-bundle-{vlc.get_vega_version()}-{VL_VERSION}-{vlc.get_vega_embed_version()}.js"
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    text = vlc.javascript_bundle(vl_version=VL_VERSION)
    for stale in out_dir.glob(".vega-bundle-*.js"):
        stale.unlink(missing_ok=True)
    _replace(cached, text.encode("utf-8"))
    return text


# ------------------------------------------------------------------ reading


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def registry(self):
        """The series registry, read once per report (0.5 s a read; both ratio charts ask)."""
        from flows.registry import load_registry

        return load_registry()

    def query(self, sql: str) -> pl.DataFrame:
        try:
            return query_published(self.path, sql)
        except WarehouseError as exc:
            raise ReportError(f"cannot read the published file {self.path}: {exc}") from None

    def require(self, names: tuple[str, ...]) -> None:
        if not self.path.exists():
            raise ReportError(f"no published file at {self.path}: run `netliq run --offline` (or `netliq run`) first")
        present = set(self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")["table_name"].to_list())
        missing = [n for n in names if n not in present]
        if missing:
            raise ReportError(
                f"the published file {self.path} has no table {', '.join(missing)} (published by an older "
                "netliq?): run `netliq run` to publish a current version, then `netliq report`"
            )

    def last_publish(self) -> dict[str, Any]:
        frame = self.query("SELECT * FROM publishes ORDER BY version DESC LIMIT 1")
        return frame.row(0, named=True) if frame.height else {}


def _sql_list(values) -> str:
    return "(" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + ")"


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: dates as ISO strings, NaN as null."""
    casts = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Date:
            casts.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S"))
        elif dtype.is_float():
            casts.append(pl.col(name).fill_nan(None))
    return (frame.with_columns(casts) if casts else frame).to_dicts()


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _last(frame: pl.DataFrame, column: str = "date") -> dt.date | None:
    return frame[column].max() if frame.height else None


# ------------------------------------------------------------------ chart helpers


def _subtitle(tables: tuple[str, ...], units: str, last: dt.date | None, note: str = "") -> list[str]:
    lines = [f"Source: {', '.join(tables)} (published netliq file) · units: {units}",
             f"Data to {last:%Y-%m-%d}" if last else "No data"]
    if note:
        lines[1] += f" · {note}"
    return lines


def _title(title: str, tables: tuple[str, ...], units: str, last: dt.date | None, note: str = "") -> alt.TitleParams:
    return alt.TitleParams(text=title, subtitle=_subtitle(tables, units, last, note), anchor="start",
                           fontSize=17, subtitleFontSize=12, subtitleColor="#555", offset=12)


def _x(title: str | None = "Date", span: tuple[dt.date, dt.date] | None = None, **axis) -> alt.X:
    """The date axis. With `span` (the data's first and last date), one tick per label: ticks
    every 1, 3 or 6 months ("%Y-%m") or every 1, 2, 5, 10 or 20 years ("%Y"), the finest whose
    labels fit the width (Vega would otherwise hide every other label and leave ticks without
    one, e.g. the last)."""
    if span is not None:
        axis = {**_date_ticks(*span), **axis}
    axis = {"format": "%Y-%m", "labelAngle": 0, **axis}
    return alt.X("date:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(**axis))


# width one date label needs on the axis, pixels: "2026-01" at 11 px is about 45
DATE_LABEL_PX = 64


def _date_ticks(first: dt.date, last: dt.date) -> dict[str, Any]:
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    for step in (1, 3, 6):
        if months / step * DATE_LABEL_PX <= WIDTH:
            return {"format": "%Y-%m", "tickCount": {"interval": "month", "step": step}}
    years = months / 12
    step = next((s for s in (1, 2, 5, 10, 20) if years / s * DATE_LABEL_PX <= WIDTH), 50)
    return {"format": "%Y", "tickCount": {"interval": "year", "step": step}}


def _span(*frames: pl.DataFrame, column: str = "date") -> tuple[dt.date, dt.date]:
    return (min(f[column].min() for f in frames if f.height), max(f[column].max() for f in frames if f.height))


def _date_tooltip(field_name: str = "date") -> alt.Tooltip:
    return alt.Tooltip(f"utcyearmonthdate({field_name}):T", title="date", format="%Y-%m-%d")


def _label_calc(field_name: str, mapping: dict[str, str]) -> str:
    expr = "datum." + field_name
    for key, label in reversed(list(mapping.items())):
        expr = f"datum.{field_name} === {json.dumps(key)} ? {json.dumps(label)} : ({expr})"
    return f"({expr})"


@dataclass(frozen=True)
class _Finished:
    """A chart and the rows it draws. Altair validates the spec against the Vega-Lite schema,
    which is cheap for the encodings and costs seconds for the datasets (every row is checked
    against every anyOf branch, ~125,000 rows in all: 9 of the report's 12 s in Dec 2026), so
    the datasets join the spec after its validation: the rows are ours, typed by _rows()."""

    chart: Any
    datasets: dict[str, list[dict]]

    def to_dict(self) -> dict[str, Any]:
        return {**self.chart.to_dict(), "datasets": self.datasets}


def _finish(chart, datasets: dict[str, list[dict]]) -> _Finished:
    return _Finished(chart.configure(
        font="Liberation Sans, DejaVu Sans, Arial, sans-serif",
        background="white",
        padding={"left": 10, "right": 20, "top": 10, "bottom": 10},
    ).configure_axis(
        labelFontSize=11, titleFontSize=12, gridColor="#e6e6e6", titleFontWeight="normal",
    ).configure_legend(
        orient="top", direction="horizontal", labelFontSize=12, titleFontSize=12, symbolStrokeWidth=3,
        labelLimit=320, columnPadding=14,
    ).configure_view(stroke="#cccccc"), datasets)


def _color(mapping: dict[str, str], colors: list[str], title: str | None = None) -> alt.Color:
    return alt.Color("label:N", title=title, sort=list(mapping.values()),
                     scale=alt.Scale(domain=list(mapping.values()), range=colors))


# ------------------------------------------------------------------ 1. the year in one chart


def _year_chart(perf: pl.DataFrame, year: int, chart_id: str, title: str) -> _Chart:
    rows = perf.filter(pl.col("date").dt.year() == year).sort("asset", "date")
    tables = ("performance_daily",)
    units = "index, each series' last close of the previous year = 100"
    last = _last(rows)
    labels = {a: ASSET_LABELS[a] for a in YEAR_ASSETS}
    ends = rows.group_by("asset", maintain_order=True).last()
    base = alt.Chart(alt.NamedData("performance_daily")).transform_calculate(label=_label_calc("asset", labels))
    lines = base.mark_line(strokeWidth=2.2).encode(
        x=_x("Date", format="%b", tickCount={"interval": "month", "step": 1}),
        y=alt.Y("index_100:Q", title="Index (previous year's last close = 100)", scale=alt.Scale(zero=False)),
        color=_color(labels, [ASSET_COLORS[a] for a in YEAR_ASSETS]),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="series"),
                 alt.Tooltip("index_100:Q", format=".1f", title="index"),
                 alt.Tooltip("value_native:Q", format=",.2f", title="value"), alt.Tooltip("units:N"),
                 _date_tooltip("base_date")],
    )
    hundred = alt.Chart(alt.NamedData("hundred")).mark_rule(color="#888", strokeDash=[4, 3]).encode(y="y:Q")
    end_labels = alt.Chart(alt.NamedData("year_end")).transform_calculate(
        label=_label_calc("asset", labels),
        text=f"{_label_calc('asset', labels)} + ' ' + format(datum.index_100, '.1f')",
    ).mark_text(align="left", dx=6, fontSize=12, fontWeight="bold").encode(
        x=alt.X("date:T", scale=alt.Scale(type="utc")), y="index_100:Q", text="text:N",
        color=_color(labels, [ASSET_COLORS[a] for a in YEAR_ASSETS]),
    )
    chart = alt.layer(hundred, lines, end_labels).properties(
        width=WIDTH, height=HEIGHT, title=_title(title, tables, units, last,
                                                 "net liquidity is the daily availability-aligned series"),
    )
    datasets = {"performance_daily": _rows(rows), "hundred": [{"y": 100}], "year_end": _rows(ends)}
    return _Chart(chart_id, title, tables, units, last, _finish(chart, datasets))


# ------------------------------------------------------------------ 2. net liquidity and its components


def _regime_intervals(regime: pl.DataFrame, end: dt.date) -> pl.DataFrame:
    """Contiguous runs of one regime, each week lasting until the next Wednesday."""
    regime = regime.sort("date").with_columns(pl.col("date").shift(-1).fill_null(end).alias("until"))
    regime = regime.filter(pl.col("regime").is_not_null())
    runs = regime.with_columns(
        ((pl.col("regime") != pl.col("regime").shift(1)) | (pl.col("date") != pl.col("until").shift(1)))
        .fill_null(True).cum_sum().alias("run")
    )
    return runs.group_by("run", maintain_order=True).agg(
        pl.col("regime").first(), pl.col("date").min().alias("start"), pl.col("until").max().alias("end")
    ).drop("run")


def _net_liquidity_chart(reader: _Reader) -> _Chart:
    tables = ("net_liquidity_weekly", "asset_prices_daily", "liquidity_regime_weekly")
    weekly = reader.query("SELECT date, fed_assets_bn, tga_bn, rrp_bn, net_liquidity_bn FROM net_liquidity_weekly "
                          "ORDER BY date")
    if weekly.height == 0:
        raise ReportError(f"{reader.path}: net_liquidity_weekly is empty")
    end = weekly["date"].max()
    start = _years_before(end, NET_LIQUIDITY_YEARS)
    weekly = weekly.filter(pl.col("date") >= start)
    btc = reader.query("SELECT date, close_usd FROM asset_prices_daily WHERE asset = 'bitcoin' "
                       f"AND date >= DATE '{start}' ORDER BY date")
    regime = reader.query(f"SELECT date, regime FROM liquidity_regime_weekly WHERE date >= DATE '{start}' "
                          "ORDER BY date")
    intervals = _regime_intervals(regime, end)
    last = max(d for d in (_last(weekly), _last(btc)) if d)
    span = _span(weekly, btc)
    # one x scale for the three panels, so a week lines up across them
    x_scale = alt.Scale(type="utc", domain=[f"{span[0]:%Y-%m-%d}", f"{span[1]:%Y-%m-%d}"])
    x_axis = alt.Axis(**{"labelAngle": 0, **_date_ticks(*span)})
    units = "billions of USD (top panel); bitcoin in USD (bottom panel)"
    components = {"fed_assets_bn": "Fed total assets", "tga_bn": "Treasury General Account (−)",
                  "rrp_bn": "Overnight reverse repo (−)", "net_liquidity_bn": "Net liquidity"}
    lines = alt.Chart(alt.NamedData("net_liquidity_weekly")).transform_fold(
        list(components), as_=["component", "value_bn"]
    ).transform_calculate(label=_label_calc("component", components)).mark_line().encode(
        x=alt.X("date:T", title=None, scale=x_scale, axis=alt.Axis(**{**x_axis.to_dict(), "labels": False})),
        y=alt.Y("value_bn:Q", title="Billions of USD", axis=alt.Axis(format=",.0f")),
        color=_color(components, ["#6a8caf", "#c0504d", "#8e6bb5", "#1a1a1a"]),
        strokeWidth=alt.condition("datum.component === 'net_liquidity_bn'", alt.value(3), alt.value(1.6)),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="series"),
                 alt.Tooltip("value_bn:Q", format=",.1f", title="bn USD")],
    ).properties(width=WIDTH, height=260)
    # the 13-week regime as a strip under the lines, not a wash behind them
    strip = alt.Chart(alt.NamedData("regime_intervals")).transform_calculate(
        row="'13-week regime'").mark_rect().encode(
        x=alt.X("start:T", title=None, scale=x_scale, axis=None), x2="end:T",
        y=alt.Y("row:N", title=None, axis=alt.Axis(ticks=False, domain=False, labelFontSize=11, labelPadding=6)),
        fill=alt.Fill("regime:N", title=None,
                      scale=alt.Scale(domain=["expanding", "contracting"], range=["#7fbf7f", "#e08080"]),
                      legend=alt.Legend(title="13-week regime:", orient="top", direction="horizontal",
                                        titleOrient="left", titleFontWeight="normal")),
        tooltip=[alt.Tooltip("regime:N", title="13-week regime"),
                 alt.Tooltip("utcyearmonthdate(start):T", title="from", format="%Y-%m-%d"),
                 alt.Tooltip("utcyearmonthdate(end):T", title="until", format="%Y-%m-%d")],
    ).properties(width=WIDTH, height=14)
    btc_domain = [btc["close_usd"].min() / 1.15, btc["close_usd"].max() * 1.15] if btc.height else None
    btc_line = alt.Chart(alt.NamedData("asset_prices_daily")).mark_line(
        strokeWidth=1.3, color=ASSET_COLORS["bitcoin"]
    ).encode(
        x=alt.X("date:T", title="Date", scale=x_scale, axis=x_axis),
        y=alt.Y("close_usd:Q", title="Bitcoin, USD (log scale)",
                scale=alt.Scale(type="log", domain=btc_domain, nice=False),
                axis=alt.Axis(format="$,.0f", values=[10_000, 20_000, 50_000, 100_000, 200_000, 500_000])),
        tooltip=[_date_tooltip(), alt.Tooltip("close_usd:Q", format="$,.0f", title="bitcoin USD")],
    ).properties(width=WIDTH, height=130)
    title = f"Net liquidity and its components, with bitcoin: last {NET_LIQUIDITY_YEARS} years"
    chart = alt.vconcat(lines, strip, btc_line, spacing=6).resolve_scale(x="shared").properties(
        title=_title(title, tables, units, last,
                     "net liquidity = Fed total assets − TGA − reverse repo (H.4.1 Wednesdays); strip: "
                     "liquidity_regime_weekly.regime"),
    )
    datasets = {"net_liquidity_weekly": _rows(weekly), "asset_prices_daily": _rows(btc),
                "regime_intervals": _rows(intervals)}
    return _Chart("net_liquidity", title, tables, units, last, _finish(chart, datasets))


def _variants_chart(reader: _Reader) -> _Chart:
    tables = ("net_liquidity_variants_daily", "net_liquidity_weekly")
    every = reader.query(
        "SELECT variant, date, net_liquidity_bn, is_available, unavailable_reason, difference_to_reference_bn, "
        "reference_variant, formula FROM net_liquidity_variants_daily ORDER BY variant, date")
    drawn = every.filter(pl.col("is_available"))
    end = _last(drawn)
    if end is None:
        raise ReportError(f"{reader.path}: net_liquidity_variants_daily has no available variant")
    start = _years_before(end, NET_LIQUIDITY_YEARS)
    drawn = drawn.filter(pl.col("date") >= start)
    weekly = reader.query("SELECT date, net_liquidity_bn FROM net_liquidity_weekly "
                          f"WHERE date >= DATE '{start}' ORDER BY date")
    reference = every["reference_variant"][0]
    # in the table's order (a plain group_by is in any order: the subtitle, so the PNG, changed run to run)
    formulas = dict(every.group_by("variant", maintain_order=True).agg(pl.col("formula").first()).iter_rows())
    # the reference first, then the others in the table's order; a variant with no value in the
    # window is named in the subtitle with its reason instead of being drawn as nothing
    shown = [reference] + [v for v in dict.fromkeys(drawn["variant"].to_list()) if v != reference]
    missing = every.filter(~pl.col("variant").is_in(shown) | pl.col("variant").is_in(
        [v for v in formulas if v not in set(drawn["variant"].to_list())]))
    missing = missing.group_by("variant", maintain_order=True).agg(pl.col("unavailable_reason").drop_nulls().first())
    labels = {v: f"{v} (reference)" if v == reference else v for v in shown}
    weekly_label = "H.4.1 Wednesdays (net_liquidity_weekly)"
    colors = ["#1a1a1a", *VARIANT_COLORS[: len(shown) - 1]]
    span = _span(drawn, weekly)
    x_scale = alt.Scale(type="utc", domain=[f"{span[0]:%Y-%m-%d}", f"{span[1]:%Y-%m-%d}"])
    x_axis = alt.Axis(**{"labelAngle": 0, **_date_ticks(*span)})
    legend_color = alt.Color("label:N", title=None, sort=[*labels.values(), weekly_label],
                             scale=alt.Scale(domain=[*labels.values(), weekly_label], range=[*colors, "#c0504d"]))
    base = alt.Chart(alt.NamedData("net_liquidity_variants_daily")).transform_calculate(
        label=_label_calc("variant", labels))
    tooltip = [_date_tooltip(), alt.Tooltip("variant:N"), alt.Tooltip("formula:N"),
               alt.Tooltip("net_liquidity_bn:Q", format=",.1f", title="bn USD"),
               alt.Tooltip("difference_to_reference_bn:Q", format=",.1f", title=f"minus {reference}, bn USD")]
    levels = base.mark_line(strokeWidth=1.4).encode(
        x=alt.X("date:T", title=None, scale=x_scale, axis=alt.Axis(**{**x_axis.to_dict(), "labels": False})),
        y=alt.Y("net_liquidity_bn:Q", title="Net liquidity, bn USD", scale=alt.Scale(zero=False),
                axis=alt.Axis(format=",.0f")),
        color=legend_color, tooltip=tooltip,
    )
    wednesdays = alt.Chart(alt.NamedData("net_liquidity_weekly")).transform_calculate(
        label=json.dumps(weekly_label)).mark_point(size=14, filled=True, opacity=0.8).encode(
        x=alt.X("date:T", scale=x_scale), y="net_liquidity_bn:Q", color=legend_color,
        tooltip=[_date_tooltip(), alt.Tooltip("net_liquidity_bn:Q", format=",.1f", title="H.4.1 Wednesday, bn USD")],
    )
    differences = base.transform_filter(f"datum.variant !== {json.dumps(reference)}").mark_line(
        strokeWidth=1.2).encode(
        x=alt.X("date:T", title="Date", scale=x_scale, axis=x_axis),
        y=alt.Y("difference_to_reference_bn:Q", title=f"minus {reference}, bn USD", axis=alt.Axis(format=",.0f")),
        color=legend_color, tooltip=tooltip,
    )
    zero = alt.Chart(alt.NamedData("zero")).mark_rule(color="#888").encode(y="y:Q")
    top = alt.layer(levels, wednesdays).properties(width=WIDTH, height=240)
    bottom = alt.layer(zero, differences).properties(width=WIDTH, height=150)
    ends = {v: drawn.filter(pl.col("variant") == v)["date"].max() for v in shown}
    note = "; ".join(f"{v} to {d:%Y-%m-%d}" for v, d in ends.items() if d != end)
    if missing.height:
        note = "; ".join(filter(None, [note, "not drawn: " + ", ".join(
            f"{v} ({_short(r)})" for v, r in missing.iter_rows())]))
    units = "billions of USD (levels, top; each variant minus the reference, bottom)"
    title = f"Net liquidity by formula: how far apart the variants are, last {NET_LIQUIDITY_YEARS} years"
    heading = _title(title, tables, units, end, note)
    heading.subtitle = [*heading.subtitle, *_wrapped("Formulas: ", [f"{v} = {formulas[v]}" for v in formulas])]
    chart = alt.vconcat(top, bottom, spacing=8).resolve_scale(x="shared").properties(title=heading)
    datasets = {"net_liquidity_variants_daily": _rows(drawn), "net_liquidity_weekly": _rows(weekly),
                "zero": [{"y": 0}]}
    return _Chart("net_liquidity_variants", title, tables, units, end, _finish(chart, datasets))


def _wrapped(lead: str, parts: list[str], width: int = 125) -> list[str]:
    """`lead` + parts joined by "; ", broken into subtitle lines of at most `width` characters
    (about the chart's width at the subtitle's font size)."""
    lines, line = [], lead
    for part in parts:
        if line not in ("", lead) and len(line) + 2 + len(part) > width:
            lines.append(line + ";")
            line = part
        else:
            line = part if line == "" else (line + ("; " if line != lead else "") + part)
    return [*lines, line]


def _short(reason: str | None) -> str:
    """An unavailable_reason without its explanation: "which term: what" up to the first
    parenthesis after the colon."""
    if not reason:
        return "no value in the window"
    head, _, rest = reason.partition(": ")
    return f"{head}: {rest.split(' (')[0]}" if rest else reason


# ------------------------------------------------------------------ 3. Fed balance sheet, bank credit, mortgages


def _fed_chart(reader: _Reader) -> list[_Chart]:
    tables = ("fed_balance_sheet_weekly",)
    frame = reader.query("SELECT date, fed_assets_bn, treasuries_bn, mbs_bn, reserves_bn, "
                         "fed_assets_13w_change_bn, treasuries_13w_change_bn FROM fed_balance_sheet_weekly "
                         "ORDER BY date")
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: fed_balance_sheet_weekly is empty")
    frame = frame.filter(pl.col("date") >= _years_before(end, FED_BALANCE_SHEET_YEARS))
    units = "billions of USD"
    levels = {"fed_assets_bn": "Total assets", "treasuries_bn": "Treasuries held outright",
              "mbs_bn": "Mortgage-backed securities", "reserves_bn": "Reserve balances"}
    colors = ["#1a1a1a", "#1f77b4", "#8c564b", "#2ca02c"]
    level_chart = alt.Chart(alt.NamedData("fed_balance_sheet_weekly")).transform_fold(
        list(levels), as_=["component", "value_bn"]
    ).transform_calculate(label=_label_calc("component", levels)).mark_line(strokeWidth=2).encode(
        x=_x(title=None, span=_span(frame)), y=alt.Y("value_bn:Q", title="Billions of USD", axis=alt.Axis(format=",.0f")),
        color=_color(levels, colors),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="series"),
                 alt.Tooltip("value_bn:Q", format=",.1f", title="bn USD")],
    ).properties(width=WIDTH, height=300)
    changes = {"fed_assets_13w_change_bn": "Total assets, 13-week change",
               "treasuries_13w_change_bn": "Treasuries, 13-week change"}
    change_chart = alt.Chart(alt.NamedData("fed_balance_sheet_weekly")).transform_fold(
        list(changes), as_=["component", "change_bn"]
    ).transform_calculate(label=_label_calc("component", changes)).mark_line(strokeWidth=1.6).encode(
        x=_x(span=_span(frame)), y=alt.Y("change_bn:Q", title="13-week change, bn USD", axis=alt.Axis(format=",.0f")),
        color=alt.Color("label:N", title=None, scale=alt.Scale(domain=list(changes.values()),
                                                               range=["#1a1a1a", "#1f77b4"])),
        strokeDash=alt.StrokeDash("label:N", title=None, scale=alt.Scale(domain=list(changes.values()),
                                                                         range=[[1, 0], [5, 3]])),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="series"),
                 alt.Tooltip("change_bn:Q", format=",.1f", title="bn USD")],
    )
    zero = alt.Chart(alt.NamedData("zero")).mark_rule(color="#888").encode(y="y:Q")
    change_panel = alt.layer(zero, change_chart).properties(width=WIDTH, height=140)
    last = end
    title = f"The Fed balance sheet: last {FED_BALANCE_SHEET_YEARS} years"
    chart = alt.vconcat(level_chart, change_panel, spacing=18).resolve_scale(
        color="independent", strokeDash="independent").properties(
        title=_title(title, tables, units, last,
                     "reserve-management purchases show as growth of total assets and Treasuries (lower panel > 0)"),
    )
    datasets = {"fed_balance_sheet_weekly": _rows(frame), "zero": [{"y": 0}]}
    return [_Chart("fed_balance_sheet", title, tables, units, last, _finish(chart, datasets))]


def _bank_credit_chart(reader: _Reader) -> _Chart:
    tables = ("bank_credit_weekly",)
    frame = reader.query("SELECT date, bank_credit_bn, bank_credit_yoy_pct, bank_credit_13w_annualised_pct "
                         "FROM bank_credit_weekly ORDER BY date")
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: bank_credit_weekly is empty")
    frame = frame.filter(pl.col("date") >= _years_before(end, BANK_CREDIT_YEARS))
    units = "percent"
    series = {"bank_credit_yoy_pct": "Year over year", "bank_credit_13w_annualised_pct": "13 weeks, annualised"}
    lines = alt.Chart(alt.NamedData("bank_credit_weekly")).transform_fold(
        list(series), as_=["measure", "pct"]
    ).transform_calculate(label=_label_calc("measure", series)).mark_line().encode(
        x=_x(span=_span(frame)), y=alt.Y("pct:Q", title="Growth of bank credit, %"),
        color=_color(series, ["#1f77b4", "#ff7f0e"]),
        strokeWidth=alt.condition("datum.measure === 'bank_credit_yoy_pct'", alt.value(2.4), alt.value(1.2)),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="growth"), alt.Tooltip("pct:Q", format=".2f", title="%"),
                 alt.Tooltip("bank_credit_bn:Q", format=",.1f", title="bank credit, bn USD")],
    )
    zero = alt.Chart(alt.NamedData("zero")).mark_rule(color="#888").encode(y="y:Q")
    title = f"Bank credit growth: last {BANK_CREDIT_YEARS} years"
    chart = alt.layer(zero, lines).properties(
        width=WIDTH, height=HEIGHT,
        title=_title(title, tables, units, end,
                     "bank credit of all commercial banks (H.8, TOTBKCR), seasonally adjusted"))
    datasets = {"bank_credit_weekly": _rows(frame), "zero": [{"y": 0}]}
    return _Chart("bank_credit", title, tables, units, end, _finish(chart, datasets))


def _mortgage_chart(reader: _Reader) -> _Chart:
    tables = ("mortgage_rate_weekly",)
    frame = reader.query("SELECT date, mortgage_rate_30y_pct, treasury_10y_pct, mortgage_spread_10y_pp "
                         "FROM mortgage_rate_weekly ORDER BY date")
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: mortgage_rate_weekly is empty")
    units = "percent"
    series = {"mortgage_rate_30y_pct": "30-year fixed mortgage rate (Freddie Mac PMMS)",
              "treasury_10y_pct": "10-year Treasury yield"}
    lines = alt.Chart(alt.NamedData("mortgage_rate_weekly")).transform_fold(
        list(series), as_=["measure", "pct"]
    ).transform_calculate(label=_label_calc("measure", series)).mark_line().encode(
        x=_x(span=_span(frame)), y=alt.Y("pct:Q", title="Percent"),
        color=_color(series, ["#c0504d", "#7f7f7f"]),
        strokeWidth=alt.condition("datum.measure === 'mortgage_rate_30y_pct'", alt.value(2.2), alt.value(1.2)),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="rate"), alt.Tooltip("pct:Q", format=".2f", title="%"),
                 alt.Tooltip("mortgage_spread_10y_pp:Q", format=".2f", title="spread, pp")],
    )
    title = "The 30-year mortgage rate"
    chart = lines.properties(width=WIDTH, height=HEIGHT, title=_title(title, tables, units, end))
    datasets = {"mortgage_rate_weekly": _rows(frame)}
    return _Chart("mortgage_rate", title, tables, units, end, _finish(chart, datasets))


# ------------------------------------------------------------------ 4. gold


def _gold_real_chart(reader: _Reader) -> _Chart:
    tables = ("gold_real_monthly",)
    frame = reader.query(
        "SELECT date, cpi_index, gold_usd_per_oz, gold_real_usd_1982_84_per_oz, gold_source, gold_price_basis, "
        "gold_obs_date FROM gold_real_monthly WHERE gold_usd_per_oz IS NOT NULL ORDER BY date")
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: gold_real_monthly has no real gold price")
    units = ("USD per troy ounce (gold; real: USD of 1982–84 = gold × 100 ÷ CPI), CPI-U NSA index 1982–84 = 100; "
             "log scale")
    series = {"gold_usd_per_oz": "Gold, USD per troy ounce",
              "gold_real_usd_1982_84_per_oz": "Gold in 1982–84 dollars (gold × 100 ÷ CPI)",
              "cpi_index": "CPI-U, index 1982–84 = 100"}
    colors = ["#c9a640", ASSET_COLORS["gold"], CPI_COLOR]
    x = _x(span=_span(frame))
    low_value = min(frame[c].min() for c in series)
    high_value = max(frame[c].max() for c in series)
    log_domain = [low_value / 1.25, high_value * 1.25]
    lines = alt.Chart(alt.NamedData("gold_real_monthly")).transform_fold(
        list(series), as_=["measure", "value"]
    ).transform_calculate(label=_label_calc("measure", series)).mark_line().encode(
        x=x,
        y=alt.Y("value:Q", title="USD per troy ounce · CPI index (log scale)",
                scale=alt.Scale(type="log", domain=log_domain, nice=False),
                axis=alt.Axis(format=",.0f", values=[5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000])),
        color=_color(series, colors),
        strokeWidth=alt.condition("datum.measure === 'gold_real_usd_1982_84_per_oz'", alt.value(2.6),
                                  alt.value(1.5)),
        tooltip=[alt.Tooltip("utcyearmonth(date):T", title="CPI month", format="%Y-%m"),
                 alt.Tooltip("gold_real_usd_1982_84_per_oz:Q", format="$,.2f", title="gold, 1982–84 USD/oz"),
                 alt.Tooltip("gold_usd_per_oz:Q", format="$,.2f", title="gold, USD/oz"),
                 alt.Tooltip("cpi_index:Q", format=".3f", title="CPI"),
                 alt.Tooltip("gold_source:N", title="gold series"),
                 alt.Tooltip("gold_price_basis:N", title="gold figure")],
    )
    # where the gold series changes (the table says so on every row): a thin rule and a word
    switches = frame.filter(
        (pl.col("gold_price_basis") != pl.col("gold_price_basis").shift(1)).fill_null(True)).select(
        "date", "gold_price_basis")
    basis_labels = {"annual_figure": "annual figures", "monthly_average": "monthly averages",
                    "month_end_close": "GC=F month-end closes"}
    switches = switches.with_columns(
        pl.col("gold_price_basis").replace_strict(basis_labels, default=pl.col("gold_price_basis")).alias("text"))
    rules = alt.Chart(alt.NamedData("gold_basis_switches")).mark_rule(color="#999", strokeDash=[3, 3]).encode(
        x=alt.X("date:T", scale=alt.Scale(type="utc")))
    rule_text = alt.Chart(alt.NamedData("gold_basis_switches")).mark_text(
        align="left", baseline="top", dx=4, dy=4, fontSize=11, color="#666").encode(
        x=alt.X("date:T", scale=alt.Scale(type="utc")), y=alt.value(0), text="text:N")
    ends = frame.tail(1)
    end_rows = [{"date": f"{ends['date'][0]:%Y-%m-%d}", "measure": m, "value": ends[m][0],
                 "text": f"{ends[m][0]:,.0f}"} for m in series]
    end_text = alt.Chart(alt.NamedData("gold_real_end")).transform_calculate(
        label=_label_calc("measure", series)).mark_text(align="left", dx=5, fontSize=12, fontWeight="bold").encode(
        x=alt.X("date:T", scale=alt.Scale(type="utc")), y=alt.Y("value:Q", scale=alt.Scale(type="log")),
        text="text:N", color=_color(series, colors))
    low = frame.sort("gold_real_usd_1982_84_per_oz").row(0, named=True)
    high = frame.sort("gold_real_usd_1982_84_per_oz", descending=True).row(0, named=True)
    title = f"Gold and the price level since {frame['date'].min():%Y}: the real price of gold"
    note = ("monthly; dashed rules: where the gold figure changes kind (gold_price_basis); in 1982–84 dollars "
            f"lowest {low['gold_real_usd_1982_84_per_oz']:,.0f} ({low['date']:%Y-%m}), "
            f"highest {high['gold_real_usd_1982_84_per_oz']:,.0f} ({high['date']:%Y-%m})")
    chart = alt.layer(rules, rule_text, lines, end_text).properties(
        width=WIDTH, height=HEIGHT, title=_title(title, tables, units, end, note))
    datasets = {"gold_real_monthly": _rows(frame), "gold_basis_switches": _rows(switches), "gold_real_end": end_rows}
    return _Chart("gold_real", title, tables, units, end, _finish(chart, datasets))


def _gld_chart(reader: _Reader) -> _Chart:
    tables = ("gold_daily",)
    frame = reader.query("SELECT date, gold_usd_per_oz, gld_shares_outstanding, gld_shares_date, "
                         "gld_shares_per_gold_usd_ratio FROM gold_daily "
                         "WHERE gld_shares_per_gold_usd_ratio IS NOT NULL ORDER BY date")
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: gold_daily has no GLD shares ÷ gold value")
    units = "GLD shares outstanding per USD/oz of gold"
    line = alt.Chart(alt.NamedData("gold_daily")).mark_line(color="#8c6d1f", strokeWidth=1.6).encode(
        x=_x(span=_span(frame)),
        y=alt.Y("gld_shares_per_gold_usd_ratio:Q", title="GLD shares ÷ gold price (shares per USD/oz)",
                axis=alt.Axis(format=",.0f")),
        tooltip=[_date_tooltip(), alt.Tooltip("gld_shares_per_gold_usd_ratio:Q", format=",.0f", title="ratio"),
                 alt.Tooltip("gld_shares_outstanding:Q", format=",.0f", title="GLD shares"),
                 alt.Tooltip("gold_usd_per_oz:Q", format="$,.2f", title="gold, USD/oz")],
    )
    title = "GLD shares outstanding ÷ gold price: the ETF buyer's appetite"
    chart = line.properties(width=WIDTH, height=HEIGHT, title=_title(title, tables, units, end))
    return _Chart("gld_shares_gold", title, tables, units, end, _finish(chart, {"gold_daily": _rows(frame)}))


# ------------------------------------------------------------------ 5. treasury companies ÷ bitcoin


def _ratio_chart(reader: _Reader, ratio: str, title: str, definition: str) -> _Chart:
    tables = ("asset_ratios_daily",)
    frame = reader.query("SELECT date, ratio_value, numerator_close, denominator_close, denominator_source, "
                         f"percentile_2y_pct, is_two_year_low FROM asset_ratios_daily WHERE ratio = '{ratio}' "
                         "ORDER BY date")
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: asset_ratios_daily has no {ratio} rows")
    # the trailing two-year range, the same window as percentile_2y_pct: 730 calendar days,
    # today included, null until the ratio has 365 days of history
    first = frame["date"].min()
    frame = frame.with_columns(
        pl.col("ratio_value").rolling_min_by("date", window_size="730d").alias("min_2y"),
        pl.col("ratio_value").rolling_max_by("date", window_size="730d").alias("max_2y"),
    ).with_columns(
        pl.when(pl.col("date") >= first + dt.timedelta(days=365)).then(pl.col(c)).otherwise(None).alias(c)
        for c in ("min_2y", "max_2y")
    ).with_columns(
        (pl.col(c) * SATS_PER_BTC).alias(f"{c}_sats") for c in ("ratio_value", "min_2y", "max_2y")
    ).filter(pl.col("date") >= _years_before(end, RATIO_YEARS))
    units = "satoshis per share (100,000,000 sats = 1 BTC; the table's ratio_value is in BTC per share)"
    base = alt.Chart(alt.NamedData("asset_ratios_daily"))
    band = base.mark_area(opacity=0.25, color="#9ecae1").encode(
        x=_x(span=_span(frame)), y=alt.Y("min_2y_sats:Q", title="Satoshis per share", axis=alt.Axis(format=",.0f")),
        y2="max_2y_sats:Q",
    )
    line = base.mark_line(color="#1a1a1a", strokeWidth=1.5).encode(
        x=_x(span=_span(frame)), y="ratio_value_sats:Q",
        tooltip=[_date_tooltip(), alt.Tooltip("ratio_value:Q", format=".8f", title="BTC per share"),
                 alt.Tooltip("ratio_value_sats:Q", format=",.0f", title="sats per share"),
                 alt.Tooltip("percentile_2y_pct:Q", format=".0f", title="2-year percentile, %"),
                 alt.Tooltip("numerator_close:Q", format=",.2f", title="share close"),
                 alt.Tooltip("denominator_close:Q", format=",.0f", title="BTC close"),
                 alt.Tooltip("denominator_source:N", title="BTC close from")],
    )
    lows = base.transform_filter("datum.is_two_year_low === true").mark_point(
        color="#d62728", size=28, filled=True).encode(x=_x(span=_span(frame)), y="ratio_value_sats:Q")
    legend = alt.Chart(alt.NamedData("ratio_legend")).mark_point(opacity=0, filled=True).encode(
        color=alt.Color("label:N", title=None, scale=alt.Scale(
            domain=["Ratio", "Trailing 2-year range (min–max)", "Two-year low"],
            range=["#1a1a1a", "#9ecae1", "#d62728"]),
            legend=alt.Legend(symbolType="square", symbolOpacity=1)),
    )
    # the table says on every row where the denominator came from (BTC-JPY, or BTC-USD × USD/JPY)
    sources = ", ".join(_source_label(s, reader.registry) for s in sorted(set(frame["denominator_source"].to_list())))
    chart = alt.layer(band, line, lows, legend).properties(
        width=WIDTH, height=HEIGHT,
        title=_title(title, tables, units, end, f"{definition}; BTC from {sources}; last {RATIO_YEARS} years"),
    )
    datasets = {"asset_ratios_daily": _rows(frame),
                "ratio_legend": [{"label": "Ratio"}, {"label": "Trailing 2-year range (min–max)"},
                                 {"label": "Two-year low"}]}
    chart_id = "mstr_btc" if ratio == "mstr_btc" else "metaplanet_btc"
    return _Chart(chart_id, title, tables, units, end, _finish(chart, datasets))


# ------------------------------------------------------------------ 6. correlation and lead/lag


def _correlation_chart(reader: _Reader) -> _Chart:
    tables = ("liquidity_asset_correlation_weekly",)
    frame = reader.query(
        "SELECT date, asset, window_weeks, correlation, beta, n_obs FROM liquidity_asset_correlation_weekly "
        f"WHERE window_weeks = {CORRELATION_WINDOW} AND asset IN {_sql_list(CORRELATION_ASSETS)} "
        "AND correlation IS NOT NULL ORDER BY asset, date"
    )
    end = _last(frame)
    if end is None:
        raise ReportError(f"{reader.path}: liquidity_asset_correlation_weekly has no {CORRELATION_WINDOW}-week "
                          "correlation")
    frame = frame.filter(pl.col("date") >= _years_before(end, CORRELATION_YEARS))
    units = "Pearson correlation, unitless (−1 … 1)"
    labels = {a: ASSET_LABELS[a] for a in CORRELATION_ASSETS}
    lines = alt.Chart(alt.NamedData("liquidity_asset_correlation_weekly")).transform_calculate(
        label=_label_calc("asset", labels)
    ).mark_line(strokeWidth=1.8).encode(
        x=_x(format="%Y", tickCount={"interval": "year", "step": 1}),
        y=alt.Y("correlation:Q", title=f"{CORRELATION_WINDOW}-week correlation", scale=alt.Scale(domain=[-1, 1])),
        color=_color(labels, [ASSET_COLORS[a] for a in CORRELATION_ASSETS]),
        tooltip=[_date_tooltip(), alt.Tooltip("label:N", title="asset"),
                 alt.Tooltip("correlation:Q", format=".2f"), alt.Tooltip("beta:Q", format=".2f"),
                 alt.Tooltip("n_obs:Q", title="weeks used")],
    )
    zero = alt.Chart(alt.NamedData("zero")).mark_rule(color="#888").encode(y="y:Q")
    title = (f"Rolling {CORRELATION_WINDOW}-week correlation of bitcoin and the Nasdaq-100 with net liquidity: "
             f"last {CORRELATION_YEARS} years")
    chart = alt.layer(zero, lines).properties(
        width=WIDTH, height=HEIGHT,
        title=_title(title, tables, units, end,
                     "weekly log returns vs weekly log change of net liquidity; co-movement, not a signal"),
    )
    datasets = {"liquidity_asset_correlation_weekly": _rows(frame), "zero": [{"y": 0}]}
    return _Chart("correlation", title, tables, units, end, _finish(chart, datasets))


def _lead_lag_chart(reader: _Reader) -> _Chart:
    tables = ("liquidity_asset_lead_lag",)
    frame = reader.query(
        "SELECT asset, lag_weeks, correlation, n_obs, n_effective, correlation_ci_low, correlation_ci_high, "
        "ci_level_pct, is_significant, is_best_lag, window_start, window_end "
        f"FROM liquidity_asset_lead_lag WHERE asset IN {_sql_list(CORRELATION_ASSETS)} ORDER BY asset, lag_weeks"
    )
    end = _last(frame, "window_end")
    if end is None:
        raise ReportError(f"{reader.path}: liquidity_asset_lead_lag has no rows for {', '.join(CORRELATION_ASSETS)}")
    start = frame["window_start"].min()
    level = frame["ci_level_pct"].max()
    units = "Pearson correlation, unitless; lag in weeks (> 0: liquidity leads)"
    labels = {a: ASSET_LABELS[a] for a in CORRELATION_ASSETS}
    base = alt.Chart(alt.NamedData("liquidity_asset_lead_lag")).transform_calculate(
        label=_label_calc("asset", labels))
    x = alt.X("lag_weeks:O", title="Lag k in weeks: corr(liquidity change at t, asset return at t + k); "
              "k > 0 liquidity leads", axis=alt.Axis(labelAngle=0))
    x_offset = alt.XOffset("label:N", sort=list(labels.values()))
    bars = base.mark_bar().encode(
        x=x,
        xOffset=x_offset,
        y=alt.Y("correlation:Q", title="Correlation"),
        color=_color(labels, [ASSET_COLORS[a] for a in CORRELATION_ASSETS]),
        stroke=alt.condition("datum.is_best_lag", alt.value("#000"), alt.value(None)),
        strokeWidth=alt.condition("datum.is_best_lag", alt.value(1.5), alt.value(0)),
        tooltip=[alt.Tooltip("label:N", title="asset"), alt.Tooltip("lag_weeks:O", title="lag, weeks"),
                 alt.Tooltip("correlation:Q", format=".3f"),
                 alt.Tooltip("correlation_ci_low:Q", title=f"{level:.4g} % interval, low", format=".3f"),
                 alt.Tooltip("correlation_ci_high:Q", title=f"{level:.4g} % interval, high", format=".3f"),
                 alt.Tooltip("n_obs:Q", title="pairs"),
                 alt.Tooltip("n_effective:Q", title="effective pairs", format=".1f"),
                 alt.Tooltip("is_significant:N", title="interval excludes 0"),
                 alt.Tooltip("is_best_lag:N", title="best lag (largest significant |correlation|)")],
    )
    # each lag's interval as a whisker on its bar
    whiskers = base.mark_rule(color="#555", strokeWidth=1).encode(
        x=x, xOffset=x_offset, y=alt.Y("correlation_ci_low:Q"), y2=alt.Y2("correlation_ci_high:Q"),
    )
    ref = alt.Chart(alt.NamedData("reference")).mark_rule(color="#888").encode(y="y:Q")
    title = "Lead and lag: does net liquidity move first?"
    best = frame.filter(pl.col("is_best_lag"))
    marked = (", ".join(f"{labels[a]} {k:+d} w" for a, k in best.select("asset", "lag_weeks").iter_rows())
              if best.height else "none significant")
    note = (f"window {start:%Y-%m-%d} – {end:%Y-%m-%d}; whiskers: {level:.4g} % intervals (Bonferroni, "
            f"{frame['lag_weeks'].n_unique()} lags); outlined: best significant lag ({marked})")
    chart = alt.layer(ref, bars, whiskers).properties(width=WIDTH, height=HEIGHT,
                                                      title=_title(title, tables, units, end, note))
    datasets = {"liquidity_asset_lead_lag": _rows(frame), "reference": [{"y": 0, "kind": "zero"}]}
    return _Chart("lead_lag", title, tables, units, end, _finish(chart, datasets))


# ------------------------------------------------------------------ 7. does the claim hold?

FORWARD_HORIZONS = (4, 13, 26)
FORWARD_ASSETS = ("bitcoin", "nasdaq_100", "gold", "mstr", "zcash")
FORWARD_LABELS = {**ASSET_LABELS, "mstr": "Strategy", "zcash": "Zcash"}  # MSTR is Strategy Inc.
REGIME_COLORS = {"expanding": "#1d6b1d", "contracting": "#a40000"}
SAMPLE_LABELS = {"in_sample": "in sample", "holdout": "holdout (last 2 years)"}
VERDICT_ID = "verdicts"
VERDICT_TITLE = "Does the claim hold? The verdict per asset and horizon"


def _forward_returns_section(reader: _Reader) -> tuple[list[_Chart], list[str]]:
    """Two charts (the forward-return means by regime with their intervals; the regime
    difference in sample and in the holdout) and the verdict table, point in time."""
    tables = ("liquidity_forward_returns",)
    frame = reader.query(
        "SELECT sample, asset, horizon_weeks, bucket, n_obs, n_non_overlapping, mean_log_return, "
        "median_log_return, hit_rate_share, mean_log_return_ci_low, mean_log_return_ci_high, "
        "regime_difference_log_return, regime_difference_ci_low, regime_difference_ci_high, verdict, "
        "verdict_reason, last_week, holdout_start_date, block_length_weeks, bootstrap_resamples, evidence_class "
        "FROM liquidity_forward_returns WHERE conditioning IN ('regime', 'all') "
        "AND sample IN ('in_sample', 'holdout') ORDER BY evidence_class, asset, horizon_weeks, sample, bucket"
    )
    pit = frame.filter(pl.col("evidence_class") == "point_in_time")
    if pit.filter(pl.col("n_obs") > 0).height == 0:
        raise ReportError(f"{reader.path}: liquidity_forward_returns has no point-in-time forward returns")
    end = pit["last_week"].max()
    holdout = pit["holdout_start_date"].max()
    units = "forward log return ln(exit ÷ entry), unitless (0.05 ≈ +5 %)"
    labels = {a: FORWARD_LABELS[a] for a in FORWARD_ASSETS}
    regimes = pit.filter(pl.col("sample") == "in_sample", pl.col("bucket").is_in(list(REGIME_COLORS)),
                         pl.col("n_obs") > 0)

    def panel(horizon: int, data: str, y: str, low: str, high: str, color: alt.Color, offset: str,
              y_title: str | None):
        base = alt.Chart(alt.NamedData(data)).transform_filter(f"datum.horizon_weeks == {horizon}")
        x = alt.X("asset_label:N", title=None, sort=list(labels.values()), axis=alt.Axis(labelAngle=0))
        points = base.mark_point(filled=True, size=70).encode(
            x=x, xOffset=alt.XOffset(f"{offset}:N"), y=alt.Y(f"{y}:Q", title=y_title), color=color,
            tooltip=[alt.Tooltip("asset_label:N", title="asset"), alt.Tooltip(f"{offset}:N"),
                     alt.Tooltip(f"{y}:Q", format=".3f"),
                     alt.Tooltip(f"{low}:Q", title="95 % interval, low", format=".3f"),
                     alt.Tooltip(f"{high}:Q", title="95 % interval, high", format=".3f"),
                     alt.Tooltip("n_obs:Q", title="weeks"),
                     alt.Tooltip("n_non_overlapping:Q", title="non-overlapping")])
        whiskers = base.mark_rule(strokeWidth=2).encode(
            x=x, xOffset=alt.XOffset(f"{offset}:N"), y=alt.Y(f"{low}:Q"), y2=alt.Y2(f"{high}:Q"), color=color)
        zero = alt.Chart(alt.NamedData("zero")).mark_rule(color="#888").encode(y="y:Q")
        return alt.layer(zero, whiskers, points).properties(width=WIDTH // 3 - 40, height=HEIGHT - 60,
                                                            title=f"{horizon} weeks ahead")

    regime_rows = regimes.with_columns(
        pl.col("asset").replace_strict(labels, default=None).alias("asset_label"), pl.col("bucket").alias("regime"))
    color = alt.Color("regime:N", title="regime (point in time)", sort=list(REGIME_COLORS),
                      scale=alt.Scale(domain=list(REGIME_COLORS), range=list(REGIME_COLORS.values())))
    title = "Forward returns by liquidity regime, as the regime was known each week (in sample)"
    note = (f"weeks before {holdout:%Y-%m-%d}; dots: mean forward log return; bars: 95 % block-bootstrap "
            "intervals; regime from the 13-week change of net liquidity as first published")
    chart = alt.hconcat(*(panel(h, "regimes", "mean_log_return", "mean_log_return_ci_low", "mean_log_return_ci_high",
                                color, "regime", "Mean forward log return" if i == 0 else None)
                          for i, h in enumerate(FORWARD_HORIZONS))).properties(
        title=_title(title, tables, units, end, note))
    charts = [_Chart("forward_returns", title, tables, units, end,
                     _finish(chart, {"regimes": _rows(regime_rows), "zero": [{"y": 0}]}))]

    spread = pit.filter(pl.col("bucket") == "all", pl.col("regime_difference_log_return").is_not_null()).with_columns(
        pl.col("asset").replace_strict(labels, default=None).alias("asset_label"),
        pl.col("sample").replace_strict(SAMPLE_LABELS, default=None).alias("period"))
    period = alt.Color("period:N", title="period", sort=list(SAMPLE_LABELS.values()),
                       scale=alt.Scale(domain=list(SAMPLE_LABELS.values()), range=["#1f77b4", "#d95f02"]))
    title = "Expanding minus contracting: the difference in mean forward return, in sample and in the holdout"
    note = ("a difference whose interval crosses 0 is not evidence either way; the holdout is short, so its "
            "13- and 26-week intervals rest on a few non-overlapping windows")
    chart = alt.hconcat(*(panel(h, "differences", "regime_difference_log_return", "regime_difference_ci_low",
                                "regime_difference_ci_high", period, "period",
                                "Difference of mean forward log returns" if i == 0 else None)
                          for i, h in enumerate(FORWARD_HORIZONS))).properties(
        title=_title(title, tables, units, end, note))
    charts.append(_Chart("regime_difference", title, tables, units, end,
                         _finish(chart, {"differences": _rows(spread), "zero": [{"y": 0}]})))
    return charts, _verdict_html(frame, holdout)


def _verdict_html(frame: pl.DataFrame, holdout: dt.date) -> list[str]:
    esc = html.escape
    alls = frame.filter(pl.col("bucket") == "all")

    def cell(c: str, asset: str, horizon: int, sample: str) -> str:
        row = alls.filter(evidence_class=c, asset=asset, horizon_weeks=horizon, sample=sample)
        if row.height == 0 or row["regime_difference_log_return"][0] is None:
            return "no weeks of both regimes"
        d, low, high = row.select("regime_difference_log_return", "regime_difference_ci_low",
                                  "regime_difference_ci_high").row(0)
        interval = f" [{low:+.3f}, {high:+.3f}]" if low is not None else " (no interval)"
        return f"{d:+.3f}{interval}"

    verdict = {(c, a, h): v for c, a, h, v in alls.select("evidence_class", "asset", "horizon_weeks", "verdict")
               .unique().iter_rows()}
    reason = {(a, h): r for c, a, h, r in alls.select("evidence_class", "asset", "horizon_weeks", "verdict_reason")
              .unique().iter_rows() if c == "point_in_time"}
    counts = {v: sum(1 for (c, _, _), x in verdict.items() if c == "point_in_time" and x == v)
              for v in ("supported", "contradicted", "inconclusive")}
    first = alls.row(0, named=True)
    out = [f'<section id="{VERDICT_ID}">', f"<h2>{esc(VERDICT_TITLE)}</h2>",
           "<p>The claim: when USD net liquidity expands, Bitcoin and the Nasdaq-100 rise. The test: the mean "
           "forward log return after weeks when net liquidity had grown over 13 weeks (expanding) minus that after "
           "weeks when it had shrunk (contracting), with each week's regime as it was known at the end of its "
           "H.4.1 release day, and entries only after that. A verdict of <b>supported</b> needs that difference's "
           f"95 % interval above 0 both in sample (windows ending before {holdout:%Y-%m-%d}) and in the holdout "
           "(the two years since), each regime with at least 5 non-overlapping windows; "
           "<b>contradicted</b> needs it below 0 in both; anything else is <b>inconclusive</b>: the data do not "
           "tell the regimes apart, or the two periods disagree. "
           f"Point in time: {counts['supported']} supported, {counts['contradicted']} contradicted, "
           f"{counts['inconclusive']} inconclusive of {sum(counts.values())} asset × horizon pairs. "
           f"Intervals: circular block bootstrap, blocks of max(horizon, 13) weeks, {first['bootstrap_resamples']:,} "
           "resamples, fixed seed; overlapping windows are why n weeks overstate the evidence.</p>",
           '<table id="verdict_table">',
           "<tr><th>asset</th><th>horizon</th><th>verdict (point in time)</th><th>difference in sample "
           "[95 % interval]</th><th>difference in holdout [95 % interval]</th><th>why</th>"
           "<th>verdict (current vintage)</th></tr>"]
    for asset in FORWARD_ASSETS:
        for horizon in FORWARD_HORIZONS:
            v = verdict.get(("point_in_time", asset, horizon), "")
            out.append(f"<tr><td>{esc(FORWARD_LABELS[asset])}</td><td class=\"num\">{horizon} weeks</td>"
                       f"<td><b>{esc(v)}</b></td>"
                       f'<td class="num">{esc(cell("point_in_time", asset, horizon, "in_sample"))}</td>'
                       f'<td class="num">{esc(cell("point_in_time", asset, horizon, "holdout"))}</td>'
                       f"<td>{esc(reason.get((asset, horizon), ''))}</td>"
                       f"<td>{esc(verdict.get(('current_vintage', asset, horizon), ''))}</td></tr>")
    out += ["</table>",
            "<p>Differences are in log return (0.05 ≈ 5 percentage points over the horizon). The table "
            "<code>liquidity_forward_returns</code> also holds the quintiles of the 13-week change, medians, hit "
            "rates and the expanding-window sample.</p>", "</section>"]
    return out


# ------------------------------------------------------------------ 7. data quality


def _quality_section(reader: _Reader, publish: dict[str, Any]) -> dict[str, Any]:
    log = reader.query("SELECT version, run_id, published_at, code_version, clock, check_summary "
                       "FROM publishes ORDER BY version DESC")
    catalog = reader.query(
        "SELECT table_name, any_value(grain) AS grain, bool_or(is_stale) AS is_stale, "
        "max(stale_reason) AS stale_reason, list(column_name ORDER BY column_position) AS columns "
        "FROM catalog GROUP BY table_name ORDER BY table_name"
    )
    counts = json.loads(publish.get("row_counts") or "{}")
    rows = []
    for row in catalog.iter_rows(named=True):
        name, columns = row["table_name"], row["columns"]
        date_col = "date" if "date" in columns else ("window_end" if "window_end" in columns else None)
        last = None
        if date_col:
            last = reader.query(f'SELECT max("{date_col}") AS d FROM "{name}"')["d"][0]
        rows.append({**row, "last_date": last, "rows": counts.get(name)})
    return {"log": log, "tables": rows}


# ------------------------------------------------------------------ the page


_CSS = """
body { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #1a1a1a; margin: 0;
       background: #fafafa; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 60px; background: white; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 0 0 8px; }
p.lead { color: #444; margin: 4px 0 14px; }
nav ol { columns: 2; font-size: 14px; }
figure { margin: 0; }
.chart { min-height: 420px; }
figcaption { font-size: 13px; color: #444; margin-top: 6px; line-height: 1.5; }
figcaption code, td code { font-size: 12px; background: #f2f2f2; padding: 0 3px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.date { white-space: nowrap; }
.stale { color: #a40000; font-weight: bold; }
.fresh { color: #1d6b1d; }
section { border-top: 1px solid #ddd; margin-top: 28px; padding-top: 18px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
                   margin: 0; padding: 0; border: 0; }
"""

# Records any script error (and vega-embed failure) in <body data-errors>, and the number of
# charts drawn in <body data-rendered>, so a headless browser can check the page.
_ERROR_HOOK = """
(function () {
  var errors = [];
  function record(message) {
    errors.push(String(message));
    document.body.setAttribute("data-errors", errors.join(" | "));
  }
  window.netliqRecordError = record;
  window.addEventListener("error", function (e) { record(e.message || e); });
  window.addEventListener("unhandledrejection", function (e) { record(e.reason); });
})();
"""

_EMBED = """
(function () {
  var ids = %s, done = 0;
  ids.forEach(function (id) {
    var spec = JSON.parse(document.getElementById("spec-" + id).textContent);
    vegaEmbed("#chart-" + id, spec, {renderer: "svg", actions: false})
      .then(function () {
        document.getElementById("chart-" + id).setAttribute("data-rendered", "true");
        done += 1;
        document.body.setAttribute("data-rendered", String(done));
      })
      .catch(function (err) { window.netliqRecordError(id + ": " + err); });
  });
})();
"""


def _json_script(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _page(published: Path, publish: dict[str, Any], charts: list[_Chart], infos: dict[str, ChartInfo],
          quality: dict[str, Any], bundle: str, verdicts: list[str] = ()) -> str:
    esc = html.escape
    version = publish.get("version")
    head = (f"published version {version}, {_fmt(publish.get('published_at'))}, run clock {_fmt(publish.get('clock'))}"
            if publish else "no version in the publish log")
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>netliq report: {esc(head)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<script>{_ERROR_HOOK}</script>",
        (f"<script>/* Vega {vlc.get_vega_version()}, Vega-Lite {VL_VERSION}, vega-embed "
         f"{vlc.get_vega_embed_version()}: bundled by vl-convert */\n{bundle}"
         "</script>"),
        "<main>",
        "<h1>USD net liquidity: the charts</h1>",
        (f'<p class="lead">Drawn from the published file <code>{esc(published.name)}</code> only: {esc(head)}. '
         "Net liquidity = Fed total assets − Treasury General Account − overnight reverse repo, billions of USD. "
         "Each chart names its source tables, units and the last date of its data; a PNG of each sits beside "
         "this page.</p>"),
        "<nav><ol>",
    ]
    out += [f'<li><a href="#{c.chart_id}">{esc(c.title)}</a></li>' for c in charts]
    if verdicts:
        out.append(f'<li><a href="#{VERDICT_ID}">{esc(VERDICT_TITLE)}</a></li>')
    out += ['<li><a href="#data_quality">Data quality: the last publish and freshness per table</a></li>',
            "</ol></nav>"]
    for item in charts:
        info = infos[item.chart_id]
        out += [
            f'<section id="{item.chart_id}">', f'<h2 class="visually-hidden">{esc(item.title)}</h2>', "<figure>",
            f'<div class="chart" id="chart-{item.chart_id}"></div>',
            f'<script type="application/json" id="spec-{item.chart_id}">{_json_script(info.spec)}</script>',
            "<figcaption>Source tables: " + ", ".join(f"<code>{esc(t)}</code>" for t in item.source_tables)
            + f" · units: {esc(item.units)} · last data date: <b>{_fmt(item.last_date) or 'none'}</b>"
            + f' · <a href="{esc(info.png.name)}">PNG</a></figcaption>',
            "</figure>", "</section>",
        ]
    out += verdicts
    out += _quality_html(publish, quality)
    out += ["</main>", f"<script>{_EMBED % json.dumps([c.chart_id for c in charts])}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _quality_html(publish: dict[str, Any], quality: dict[str, Any]) -> list[str]:
    esc = html.escape
    out = ['<section id="data_quality">', "<h2>Data quality: the last publish and freshness per table</h2>"]
    if publish:
        out += [
            "<table>",
            f"<tr><th>current version</th><td>{esc(_fmt(publish.get('version')))}</td></tr>",
            f"<tr><th>published at</th><td>{esc(_fmt(publish.get('published_at')))}</td></tr>",
            (f"<tr><th>run</th><td><code>{esc(_fmt(publish.get('run_id')))}</code> (clock "
             f"{esc(_fmt(publish.get('clock')))}, code {esc(_fmt(publish.get('code_version')))})</td></tr>"),
            f"<tr><th>checks</th><td>{esc(_fmt(publish.get('check_summary')))}</td></tr>",
            "</table>",
        ]
    else:
        out.append("<p>The publish log is empty.</p>")
    tables = quality["tables"]
    stale = [t["table_name"] for t in tables if t["is_stale"]]
    out.append(f"<p>{len(tables)} tables in the catalog; {len(stale)} stale in this version"
               + (f": {esc(', '.join(stale))}" if stale else "") + ".</p>")
    out += ['<table id="freshness">',
            "<tr><th>table</th><th>grain</th><th>rows</th><th>last date</th><th>fresh?</th><th>stale reason</th></tr>"]
    for t in tables:
        rows = f"{t['rows']:,}" if isinstance(t["rows"], int) else ""
        flag = '<span class="stale">stale</span>' if t["is_stale"] else '<span class="fresh">fresh</span>'
        out.append(f"<tr><td><code>{esc(t['table_name'])}</code></td><td>{esc(t['grain'] or '')}</td>"
                   f'<td class="num">{rows}</td><td class="date">{_fmt(t["last_date"])}</td><td>{flag}</td>'
                   f"<td>{esc(t['stale_reason'] or '')}</td></tr>")
    out.append("</table>")
    out += ["<h3>Publish log</h3>", '<table id="publishes">',
            "<tr><th>version</th><th>published at</th><th>clock</th><th>code</th><th>checks</th></tr>"]
    for row in quality["log"].iter_rows(named=True):
        out.append(f'<tr><td class="num">{row["version"]}</td><td>{esc(_fmt(row["published_at"]))}</td>'
                   f"<td>{_fmt(row['clock'])}</td><td>{esc(_fmt(row['code_version']))}</td>"
                   f"<td>{esc(_fmt(row['check_summary']))}</td></tr>")
    out += ["</table>", "</section>"]
    return out
