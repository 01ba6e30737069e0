"""`netliq report`: the charts drawn from the published file of one offline run.

The data each chart draws is read back from the Vega-Lite spec embedded in the HTML and
checked against the published tables and, for two headline numbers, against the snapshot
CSVs read with the csv module. The page is opened in headless Chromium (Debian package
`chromium`): every chart must render with no script error. Where Chromium is not
installed those browser tests skip, saying how to install it; the rest still run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import vl_convert as vlc

from flows.report import ASSET_COLORS, VL_VERSION, ReportError, build_report
from warehouse.db import WarehouseError

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshot"
CHROMIUM_MISSING = "headless Chromium not installed: apt-get install -y chromium (Debian) to run the browser test"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPECTED_CHARTS = {
    "year", "year_to_date", "net_liquidity", "net_liquidity_variants", "fed_balance_sheet", "bank_credit", "mortgage_rate", "gold_real",
    "gld_shares_gold", "mstr_btc", "metaplanet_btc", "correlation", "lead_lag", "forward_returns",
    "regime_difference",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory, offline_v1):
    """One offline run published once (a copy of tests/conftest.py's offline_v1), one report
    built from it, for the whole module."""
    root = tmp_path_factory.mktemp("report_data") / "data"
    shutil.copytree(offline_v1, root)
    published = root / "netliq.duckdb"
    result = build_report(published, root / "report")
    specs = embedded_specs(result.html.read_text(encoding="utf-8"))
    return {"published": published, "result": result, "specs": specs, "root": root}


def embedded_specs(page: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="spec-([a-z0-9_]+)">(.*?)</script>', page, re.DOTALL)
    return {chart_id: json.loads(text) for chart_id, text in found}


def published_rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def csv_values(rel: str, column: str = "value") -> dict[str, float]:
    with open(SNAPSHOT / rel, newline="") as handle:
        return {row.get("date") or row["Date"]: float(row[column]) for row in csv.DictReader(handle) if row[column]}


def _norm(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# ------------------------------------------------------------------ what the report holds


def test_every_chart_is_built_with_its_metadata(report):
    result = report["result"]
    assert set(result.charts) == EXPECTED_CHARTS == set(report["specs"])
    assert result.html == report["root"] / "report" / "index.html"
    assert result.version == 1
    page = result.html.read_text(encoding="utf-8")
    for chart_id, info in result.charts.items():
        assert info.source_tables and info.units and info.last_date, chart_id
        subtitle = " ".join(report["specs"][chart_id]["title"]["subtitle"])
        assert f"Data to {info.last_date:%Y-%m-%d}" in subtitle, chart_id
        assert info.units in subtitle, chart_id
        for table in info.source_tables:
            assert table in subtitle, (chart_id, table)
        # the page's caption names them too
        caption = page.split(f'id="spec-{chart_id}"')[1].split("</figcaption>")[0]
        assert f"last data date: <b>{info.last_date:%Y-%m-%d}</b>" in caption
        assert all(f"<code>{t}</code>" in caption for t in info.source_tables)
    # data ends on the clock 2026-03-31: the default year is the last full one, 2025
    assert result.charts["year"].title == "The year in one chart: 2025"
    assert result.charts["year"].last_date == dt.date(2025, 12, 31)
    assert result.charts["year_to_date"].last_date == dt.date(2026, 3, 31)
    # stale inputs show as an earlier last date
    with open(SNAPSHOT / "prices/3350.T.csv", newline="") as handle:
        last_tokyo_day = max(row["Date"] for row in csv.DictReader(handle))
    assert result.charts["metaplanet_btc"].last_date == dt.date.fromisoformat(last_tokyo_day)
    assert result.charts["gld_shares_gold"].last_date == dt.date(2025, 5, 28)


def test_every_charted_row_is_a_row_of_its_published_table(report):
    """Datasets named after a published table hold that table's rows, column for column."""
    published, checked = report["published"], 0
    tables = {r[0] for r in published_rows(published, "SELECT table_name FROM information_schema.tables")}
    for chart_id, spec in report["specs"].items():
        for name, rows in spec["datasets"].items():
            if name not in tables or not rows:
                continue
            table_columns = [r[0] for r in published_rows(
                published, f"SELECT column_name FROM information_schema.columns WHERE table_name = '{name}'")]
            columns = [c for c in rows[0] if c in table_columns]
            assert "date" in columns or name == "liquidity_asset_lead_lag", (chart_id, name)
            quoted = ", ".join(f'"{c}"' for c in columns)
            table_rows = published_rows(published, f'SELECT {quoted} FROM "{name}"')
            truth = {tuple(_norm(v) for v in row) for row in table_rows}
            for row in rows:
                assert tuple(_norm(row[c]) for c in columns) in truth, (chart_id, name, row)
            checked += 1
    assert checked >= 12


def test_year_chart_bitcoin_on_the_last_day_of_2025_from_the_csv(report):
    # the yearly index is based on the previous year's last close: BTC-USD 2024-12-31
    every = csv_values("prices/BTC-USD.csv", "Close")
    closes = {d: v for d, v in every.items() if d.startswith("2025-")}
    first_day = min(closes)
    base_day = max(d for d in every if d < "2025-01-01")
    assert base_day == "2024-12-31"
    expected = 100 * closes["2025-12-31"] / every[base_day]
    rows = report["specs"]["year"]["datasets"]["performance_daily"]
    assert {r["date"][:4] for r in rows} == {"2025"}
    assert {r["asset"] for r in rows} == {"bitcoin", "gold", "nasdaq_100", "net_liquidity"}
    btc = {r["date"]: r for r in rows if r["asset"] == "bitcoin"}
    assert btc[first_day]["index_100"] == pytest.approx(100 * closes[first_day] / every[base_day], rel=1e-9)
    assert {r["base_date"][:10] for r in rows if r["asset"] == "bitcoin"} == {base_day}
    assert btc["2025-12-31"]["index_100"] == pytest.approx(expected, rel=1e-9)
    ytd = report["specs"]["year_to_date"]["datasets"]["performance_daily"]
    assert {r["date"][:4] for r in ytd} == {"2026"} and max(r["date"] for r in ytd) == "2026-03-31"


def _monthly_gold(rel: str) -> dict[str, float]:
    """datasets/gold-prices monthly.csv: `Date,Price`, dates YYYY-MM."""
    with open(SNAPSHOT / rel, newline="") as handle:
        return {row["Date"] + "-01": float(row["Price"]) for row in csv.DictReader(handle)}


def test_gold_real_chart_is_the_price_in_1982_84_dollars_since_1913_on_a_log_scale(report):
    # Read with the csv module: CPIAUCNS 1913-01 9.8, 1980-01 77.8, 2026-03 330.213; the long
    # gold history 1913-01 18.920 (1913's annual figure), 1980-01 675.310 (the month's
    # average); GC=F's last March 2026 close (2026-03-31) 4647.60009765625. Real price = gold
    # × 100 ÷ CPI: 193.061, 868.008, 1,407.455 USD of 1982-84 per ounce.
    cpi, long = csv_values("fred/CPIAUCNS.csv"), _monthly_gold("other/gold_price_monthly_1833_datasets-gold-prices.csv")
    gold = csv_values("prices/GC=F.csv", "Close")
    last_close = max(d for d in gold if d.startswith("2026-03"))
    expected = {"1913-01-01": long["1913-01-01"] * 100 / cpi["1913-01-01"],
                "1980-01-01": long["1980-01-01"] * 100 / cpi["1980-01-01"],
                "2026-03-01": gold[last_close] * 100 / cpi["2026-03-01"]}
    assert [round(v, 3) for v in expected.values()] == [193.061, 868.008, 1407.455]
    spec = report["specs"]["gold_real"]
    rows = {r["date"][:10]: r for r in spec["datasets"]["gold_real_monthly"]}
    assert min(rows) == "1913-01-01" and max(rows) == "2026-03-01" and len(rows) == 1358
    for month, value in expected.items():
        assert rows[month]["gold_real_usd_1982_84_per_oz"] == pytest.approx(value, rel=1e-12), month
    assert rows["2026-03-01"]["gold_obs_date"][:10] == last_close
    assert (rows["1913-01-01"]["gold_source"], rows["2026-03-01"]["gold_source"]) == ("gold_monthly_average", "gold")
    # nominal gold, its real price and CPI, drawn on one log axis; a rule where the gold figure changes kind
    lines = next(layer for layer in spec["layer"] if layer.get("transform", [{}])[0].get("fold"))
    assert lines["transform"][0]["fold"] == ["gold_usd_per_oz", "gold_real_usd_1982_84_per_oz", "cpi_index"]
    assert lines["encoding"]["y"]["scale"]["type"] == "log"
    assert [(r["date"], r["gold_price_basis"]) for r in spec["datasets"]["gold_basis_switches"]] == [
        ("1913-01-01", "annual_figure"), ("1960-01-01", "monthly_average"), ("2000-08-01", "month_end_close")]


def test_metaplanet_ratio_chart_says_where_its_btc_jpy_came_from(report):
    # no BTC-JPY series in the snapshot: every row divides by BTC-USD × JPY=X, and the chart says so
    rows = report["specs"]["metaplanet_btc"]["datasets"]["asset_ratios_daily"]
    assert {r["denominator_source"] for r in rows} == {"bitcoin*usd_jpy"}
    assert "BTC from BTC-USD × JPY=X" in " ".join(report["specs"]["metaplanet_btc"]["title"]["subtitle"])


def test_net_liquidity_chart_last_point_from_the_csvs(report):
    walcl = csv_values("fred/WALCL.csv")["2026-03-25"] / 1000      # millions -> billions
    tga = csv_values("fred/WTREGEN.csv")["2026-03-25"] / 1000      # millions -> billions
    rrp = csv_values("fred/RRPONTSYD.csv")["2026-03-25"]           # billions
    spec = report["specs"]["net_liquidity"]
    last = spec["datasets"]["net_liquidity_weekly"][-1]
    assert last["date"] == "2026-03-25"
    assert last["net_liquidity_bn"] == pytest.approx(walcl - tga - rrp) == pytest.approx(5782.307)
    assert (last["fed_assets_bn"], last["tga_bn"], last["rrp_bn"]) == pytest.approx((6657.161, 874.077, 0.777))
    # five years of weeks, bitcoin in its own panel, the regime strip from the published flag
    dates = [r["date"] for r in spec["datasets"]["net_liquidity_weekly"]]
    assert dates[0] >= "2021-03-25" and len(dates) >= 259
    assert spec["datasets"]["asset_prices_daily"][-1]["date"] == "2026-03-31"
    regimes = spec["datasets"]["regime_intervals"]
    assert {r["regime"] for r in regimes} == {"expanding", "contracting"}
    flags = dict(published_rows(report["published"],
                                "SELECT strftime(date, '%Y-%m-%d'), regime FROM liquidity_regime_weekly"))
    for interval in regimes:
        assert flags[interval["start"]] == interval["regime"]


def test_net_liquidity_chart_has_one_y_axis_per_panel_and_the_regime_as_a_strip(report):
    # Issue 13 item 5: the second axis and the shading were busy. Three stacked panels on one
    # x scale: the components (bn USD), a thin strip of the 13-week regime, bitcoin (USD, log).
    panels = report["specs"]["net_liquidity"]["vconcat"]
    assert len(panels) == 3
    for panel in panels:
        assert "layer" not in panel and panel["encoding"]["y"].get("axis", {}).get("orient") != "right"
    lines, strip, btc = panels
    assert lines["encoding"]["y"]["title"] == "Billions of USD"
    assert strip["data"]["name"] == "regime_intervals" and strip["mark"]["type"] == "rect"
    assert strip["height"] <= 20 < lines["height"]
    assert btc["data"]["name"] == "asset_prices_daily" and btc["encoding"]["y"]["scale"]["type"] == "log"
    assert len({json.dumps(p["encoding"]["x"]["scale"], sort_keys=True) for p in panels}) == 1


def test_variants_chart_shows_how_far_apart_the_formulas_are(report):
    # Fri 2025-08-29: the daily-TGA formula minus Hayes' 2022 formula is the week-average TGA
    # minus the statement's close (WALCL and the reverse repo are the same in both and cancel).
    # Public that evening: WTREGEN's week to Wed 2025-08-27, 589,998 (fred/WTREGEN.csv, H.4.1 on
    # Thursday), and the statement's close of Thu 2025-08-28, 609,660 (other/tga_daily_close_dts.csv,
    # out Friday 16:00), millions USD: (589,998 − 609,660) / 1000 = −19.662 bn.
    wtregen = csv_values("fred/WTREGEN.csv")["2025-08-27"]
    dts = csv_values("other/tga_daily_close_dts.csv")["2025-08-28"]
    assert (wtregen, dts) == (589998, 609660)
    spec = report["specs"]["net_liquidity_variants"]
    rows = spec["datasets"]["net_liquidity_variants_daily"]
    day = next(r for r in rows if r["variant"] == "daily_tga" and r["date"] == "2025-08-29")
    assert day["difference_to_reference_bn"] == pytest.approx((wtregen - dts) / 1000, abs=1e-9)
    assert day["reference_variant"] == "hayes_2022"
    # what is drawn: the variants with values, each day available; the H.4.1 Wednesdays beside them
    assert {r["variant"] for r in rows} == {"hayes_2022", "daily_tga"} and all(r["is_available"] for r in rows)
    assert max(r["date"] for r in rows if r["variant"] == "daily_tga") == "2025-09-07"
    wednesdays = spec["datasets"]["net_liquidity_weekly"]
    assert {dt.date.fromisoformat(r["date"]).weekday() for r in wednesdays} == {2}
    # a formula without data offline is named with its reason, not drawn as a line at 0
    subtitle = " ".join(spec["title"]["subtitle"])
    assert "not drawn: hayes_bloomberg (RPONTSYD (standing_repo): no observations in this run)" in subtitle
    assert "daily_tga = WALCL − RRPONTSYD − DTS-TGA" in subtitle
    top, bottom = spec["vconcat"]
    assert bottom["layer"][1]["transform"][-1] == {"filter": 'datum.variant !== "hayes_2022"'}


def _lab(hex_color: str, matrix=None) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour, optionally through a colour-vision simulation
    matrix on linear RGB (Machado et al. 2009, severity 1)."""
    rgb = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    rgb = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    if matrix:
        rgb = [min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb, strict=True)))) for row in matrix]
    r, g, b = rgb
    xyz = (0.4124 * r + 0.3576 * g + 0.1805 * b, 0.2126 * r + 0.7152 * g + 0.0722 * b,
           0.0193 * r + 0.1192 * g + 0.9505 * b)
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116
         for t in (xyz[0] / 0.95047, xyz[1], xyz[2] / 1.08883)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


DEUTERANOPIA = ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881))
PROTANOPIA = ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998))


def test_bitcoin_and_gold_are_told_apart_also_by_colour_blind_readers(report):
    # Issue 13 item 5: bitcoin orange and gold ochre were too alike (#f7931a against #b8860b:
    # CIE76 ΔE 25, 16 under deuteranopia, 11 under protanopia). The year chart's own colours.
    legend = next(layer for layer in report["specs"]["year"]["layer"] if layer.get("mark", {}).get("type") == "line")
    scale = legend["encoding"]["color"]["scale"]
    colors = dict(zip(scale["domain"], scale["range"], strict=True))
    btc, gold = colors["Bitcoin"], colors["Gold"]
    assert (btc, gold) == (ASSET_COLORS["bitcoin"], ASSET_COLORS["gold"])
    assert math.dist(_lab("#f7931a"), _lab("#b8860b")) == pytest.approx(25, abs=1)  # the old pair, for scale
    assert math.dist(_lab(btc), _lab(gold)) >= 40
    assert math.dist(_lab(btc, DEUTERANOPIA), _lab(gold, DEUTERANOPIA)) >= 30
    assert math.dist(_lab(btc, PROTANOPIA), _lab(gold, PROTANOPIA)) >= 25


def test_every_axis_tick_has_its_label(report):
    # Issue 13 item 5: the MSTR chart's last x tick had no label (Vega hid every other label
    # and left their ticks). Rendered to SVG, no chart has a hidden axis label.
    for chart_id, spec in report["specs"].items():
        svg = vlc.vegalite_to_svg(spec, vl_version=VL_VERSION)
        labels = re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, re.DOTALL)
        assert labels, chart_id
        for group in labels:
            assert 'opacity="0"' not in group, (chart_id, re.findall(r"<text[^>]*>([^<]*)</text>", group))
    svg = vlc.vegalite_to_svg(report["specs"]["mstr_btc"], vl_version=VL_VERSION)
    x_labels = [re.findall(r"<text[^>]*>([^<]*)</text>", g)
                for g in re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, re.DOTALL)]
    assert ["2022-07", "2023-01", "2023-07", "2024-01", "2024-07", "2025-01", "2025-07", "2026-01"] in x_labels


def test_ratio_band_is_the_trailing_two_years(report):
    rows = report["specs"]["mstr_btc"]["datasets"]["asset_ratios_daily"]
    history = published_rows(report["published"],
                             "SELECT date, ratio_value FROM asset_ratios_daily WHERE ratio = 'mstr_btc' ORDER BY date")
    last = rows[-1]
    day = dt.date.fromisoformat(last["date"])
    window = [v for d, v in history if day - dt.timedelta(days=730) < d <= day]
    assert last["min_2y"] == pytest.approx(min(window)) and last["max_2y"] == pytest.approx(max(window))
    assert last["ratio_value_sats"] == pytest.approx(last["ratio_value"] * 1e8)
    assert all(r["min_2y"] <= r["ratio_value"] <= r["max_2y"] for r in rows if r["min_2y"] is not None)


def test_lead_lag_and_correlation_come_from_their_tables(report):
    lead_lag = report["specs"]["lead_lag"]["datasets"]["liquidity_asset_lead_lag"]
    assert {(r["asset"], r["lag_weeks"]) for r in lead_lag} == {
        (a, k) for a in ("bitcoin", "nasdaq_100") for k in range(-12, 13)}
    best = {r["asset"]: r["lag_weeks"] for r in lead_lag if r["is_best_lag"]}
    assert best == dict(published_rows(report["published"],
                                       "SELECT asset, lag_weeks FROM liquidity_asset_lead_lag WHERE is_best_lag "
                                       "AND asset IN ('bitcoin', 'nasdaq_100')"))
    corr = report["specs"]["correlation"]["datasets"]["liquidity_asset_correlation_weekly"]
    assert {r["window_weeks"] for r in corr} == {52} and {r["asset"] for r in corr} == {"bitcoin", "nasdaq_100"}


def test_forward_returns_and_the_verdicts_come_from_their_table(report):
    """The charts draw the point-in-time rows with their intervals; the verdict table has one
    row per asset × horizon whose verdict and in-sample interval are the published ones."""
    regimes = report["specs"]["forward_returns"]["datasets"]["regimes"]
    assert {r["evidence_class"] for r in regimes} == {"point_in_time"}
    assert {r["sample"] for r in regimes} == {"in_sample"}
    assert all(r["mean_log_return_ci_low"] <= r["mean_log_return"] <= r["mean_log_return_ci_high"]
               for r in regimes if r["mean_log_return_ci_low"] is not None)
    differences = report["specs"]["regime_difference"]["datasets"]["differences"]
    assert {r["sample"] for r in differences} == {"in_sample", "holdout"}
    page = report["result"].html.read_text(encoding="utf-8")
    section = page.split('<section id="verdicts">')[1].split("</section>")[0]
    rows = published_rows(report["published"],
                          "SELECT asset, horizon_weeks, verdict, regime_difference_log_return, "
                          "regime_difference_ci_low, regime_difference_ci_high FROM liquidity_forward_returns "
                          "WHERE evidence_class = 'point_in_time' AND sample = 'in_sample' AND bucket = 'all'")
    assert len(rows) == 15 and section.count("<tr>") == 16
    labels = {"bitcoin": "Bitcoin", "nasdaq_100": "Nasdaq-100", "gold": "Gold", "mstr": "Strategy", "zcash": "Zcash"}
    for asset, horizon, verdict, d, low, high in rows:
        row = section.split(f"<tr><td>{labels[asset]}</td><td class=\"num\">{horizon} weeks</td>")[1].split("</tr>")[0]
        assert f"<b>{verdict}</b>" in row and f"{d:+.3f} [{low:+.3f}, {high:+.3f}]" in row


def test_data_quality_section(report):
    page = report["result"].html.read_text(encoding="utf-8")
    section = page.split('<section id="data_quality">')[1].split("</section>")[0]
    version, published_at, summary = published_rows(
        report["published"], "SELECT version, published_at, check_summary FROM publishes")[-1]
    assert f"<th>current version</th><td>{version}</td>" in section
    assert f"{published_at:%Y-%m-%d %H:%M}" in section
    assert summary in section and "checks passed" in summary
    for table, reason in published_rows(report["published"],
                                        "SELECT DISTINCT table_name, stale_reason FROM catalog WHERE is_stale"):
        row = section.split(f"<tr><td><code>{table}</code></td>")[1].split("</tr>")[0]
        assert "stale" in row and reason in row
    assert "<td><code>net_liquidity_weekly</code></td>" in section


# ------------------------------------------------------------------ the files


def test_every_png_is_a_real_image(report):
    for chart_id, path in report["result"].pngs.items():
        assert path == report["root"] / "report" / f"{chart_id}.png"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC, chart_id
        width, height = struct.unpack(">II", data[16:24])  # IHDR
        assert width >= 1800 and height >= 800, (chart_id, width, height)  # 900 x 400 at scale 2
        assert len(data) > 50_000, chart_id


def test_html_is_self_contained(report):
    page = report["result"].html.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\shref\s*=\s*[\"']?(https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*[\"']?(https?:)?//", page, re.IGNORECASE)
    assert "vegaEmbed" in page and len(page) > 1_000_000  # the bundle is inline


# ------------------------------------------------------------------ in a browser


def _drawn_charts(dom: str) -> tuple[set[str], set[str]]:
    """(chart containers on the page, those holding an <svg> or <canvas> after rendering).

    A container <div id="chart-X"> is followed by its spec <script id="spec-X">: whatever
    vega-embed drew for X lies between the two.
    """
    containers = set(re.findall(r'<div[^>]*\sid="chart-([a-z0-9_]+)"', dom))
    drawn = set()
    for chart_id in containers:
        inside = dom.split(f'id="chart-{chart_id}"', 1)[1].split(f'id="spec-{chart_id}"', 1)[0]
        if re.search(r"<(svg|canvas)[\s>]", inside):
            drawn.add(chart_id)
    return containers, drawn


def find_chromium(which=shutil.which, fallback: Path = Path("/usr/bin/chromium")) -> str | None:
    """The Chromium binary on PATH, else Debian's, else None."""
    found = which("chromium")
    if found:
        return found
    return str(fallback) if fallback.exists() else None


def require_chromium(binary: str | None) -> str:
    if binary is None:
        pytest.skip(CHROMIUM_MISSING)
    return binary


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser, or a skip. Session-scoped and asked for first, so a machine without it
    skips before the Prefect harness starts and the report is built."""
    return require_chromium(find_chromium())


def test_without_chromium_the_browser_tests_skip_saying_how_to_install_it(tmp_path):
    with pytest.raises(pytest.skip.Exception, match=re.escape(CHROMIUM_MISSING)):
        require_chromium(find_chromium(which=lambda name: None, fallback=tmp_path / "no-chromium"))


def test_chromium_is_found_on_the_path_or_where_debian_puts_it(tmp_path):
    debian = tmp_path / "chromium"
    debian.touch()
    on_path = find_chromium(which=lambda name: f"/opt/bin/{name}", fallback=debian)
    assert require_chromium(on_path) == "/opt/bin/chromium"
    assert require_chromium(find_chromium(which=lambda name: None, fallback=debian)) == str(debian)


def _chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_every_chart_renders_in_headless_chromium_without_script_errors(chromium, report, tmp_path):
    page = report["result"].html
    done = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    errors = re.search(r'data-errors="([^"]*)"', body)
    assert errors is None or errors.group(1) == "", f"script errors in the page: {errors.group(1)}"
    assert f'data-rendered="{len(EXPECTED_CHARTS)}"' in body, body
    containers, drawn = _drawn_charts(done.stdout)
    assert containers == EXPECTED_CHARTS
    assert drawn == EXPECTED_CHARTS, f"not drawn: {EXPECTED_CHARTS - drawn}"

    shot = tmp_path / "page.png"
    done = _chromium(chromium, tmp_path, "--hide-scrollbars", "--window-size=1200,3000", f"--screenshot={shot}",
                     page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG_MAGIC and shot.stat().st_size > 100_000


def test_the_page_reports_a_chart_that_fails_to_render(chromium, report, tmp_path):
    """The error hook the browser test relies on does see a failure."""
    page = report["result"].html.read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    head, rest = page.split('id="spec-lead_lag">', 1)
    after = rest.split("</script>", 1)[1]
    broken.write_text(head + 'id="spec-lead_lag">{"mark": {"type": "no-such-mark"}}</script>' + after,
                      encoding="utf-8")
    done = _chromium(chromium, tmp_path, "--dump-dom", broken.as_uri())
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    assert re.search(r'data-errors="lead_lag: [^"]+"', body), body
    assert f'data-rendered="{len(EXPECTED_CHARTS) - 1}"' in body


# ------------------------------------------------------------------ bad input


def test_missing_published_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "netliq.duckdb"
    with pytest.raises(WarehouseError, match=re.escape(str(missing))):
        build_report(missing, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_published_file_without_a_table_names_the_table(report, tmp_path):
    old = tmp_path / "old.duckdb"
    shutil.copyfile(report["published"], old)
    con = duckdb.connect(str(old))
    try:
        con.execute("DROP TABLE gold_real_monthly")
        con.execute("DROP TABLE liquidity_asset_lead_lag")
    finally:
        con.close()
    with pytest.raises(ReportError, match="no table gold_real_monthly, liquidity_asset_lead_lag") as caught:
        build_report(old, tmp_path / "out")
    assert str(old) in str(caught.value)


def test_not_a_duckdb_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "netliq.duckdb"
    bogus.write_text("not a database")
    with pytest.raises(ReportError, match=re.escape(str(bogus))):
        build_report(bogus, tmp_path / "out")


def test_a_year_without_data_is_a_clear_error(report, tmp_path):
    with pytest.raises(ReportError, match=r"no data for 1970 \(years 19\d\d–2026\)"):
        build_report(report["published"], tmp_path / "out", year=1970)
    assert math.isfinite(report["result"].seconds)


# ------------------------------------------------------------------ drawn after a publish or a rollback


def _data_copy(report, tmp_path: Path) -> Path:
    """A copy of the module's published data dir (warehouse, history, published file)."""
    root = tmp_path / "data"
    shutil.copytree(report["root"], root, ignore=shutil.ignore_patterns("report"))
    return root


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_page_is_written_before_the_pngs_and_the_bundle_is_kept_beside_it(report):
    result = report["result"]
    assert 0 < result.page_seconds <= result.seconds
    bundles = list(result.html.parent.glob(".vega-bundle-*.js"))
    assert len(bundles) == 1 and vlc.get_vega_version() in bundles[0].name
    assert bundles[0].read_text(encoding="utf-8") in result.html.read_text(encoding="utf-8")


def test_a_rollback_redraws_the_report_at_the_restored_version(report, tmp_path, monkeypatch, capsys):
    """Before: the page stayed at the version before the rollback. Now the rollback starts
    the drawing process, which draws the published file as restored (version 2 = tables of 1)."""
    from flows.cli import main

    root = _data_copy(report, tmp_path)
    monkeypatch.setenv("NETLIQ_REPORT", "1")
    assert main(["--data-dir", str(root), "rollback", "1", "--reason", "test: redraw"]) == 0
    out = capsys.readouterr().out
    page = root / "report" / "index.html"
    assert f"Report: {page}" in out
    assert _wait_for(lambda: page.exists() and "published version 2," in page.read_text(encoding="utf-8"), 240), \
        (root / "report" / "report.log").read_text()
    assert _wait_for(lambda: "report of version 2" in (root / "report" / "report.log").read_text(), 60)
    assert len(list((root / "report").glob("*.png"))) == len(EXPECTED_CHARTS)


@pytest.mark.parametrize("how", ["hangs", "fails", "cannot start"])
def test_a_report_that_hangs_or_fails_changes_neither_the_outcome_nor_the_exit(report, tmp_path, monkeypatch,
                                                                                capsys, how):
    from flows import report_job
    from flows.cli import main

    started = []
    real_start = report_job.start

    def start(published, out_dir):
        started.append(real_start(published, out_dir))
        return started[-1]

    commands = {"hangs": [sys.executable, "-c", "import time; time.sleep(600)"],
                "fails": [sys.executable, "-c", "raise SystemExit('the report broke')"],
                "cannot start": [str(tmp_path / "no-such-program")]}
    monkeypatch.setattr(report_job, "command", lambda published, out_dir: commands[how])
    monkeypatch.setattr(report_job, "start", start)
    monkeypatch.setenv("NETLIQ_REPORT", "1")
    root = _data_copy(report, tmp_path)
    began = time.monotonic()
    try:
        code = main(["--data-dir", str(root), "rollback", "1", "--reason", f"test: a report that {how}"])
        took = time.monotonic() - began
    finally:
        alive = [proc.poll() is None for proc in started]
        for proc in started:
            proc.kill()
            proc.wait(10)
    assert code == 0 and took < 60
    out = capsys.readouterr().out
    assert "Published version 2: the tables of version 1" in out
    assert ("Report:" in out) is (how != "cannot start")
    versions = published_rows(root / "netliq.duckdb", "SELECT max(version) FROM publishes")
    assert versions == [(2,)]
    if how == "hangs":
        assert alive == [True]  # the rollback had returned while its report was still drawing


def test_the_run_and_the_rollback_never_import_the_report(tmp_path):
    """flows.pipeline, and starting the drawing, load neither flows.report nor Altair nor vl-convert."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import flows.pipeline as p\n"
        "from flows import report_job\n"
        "report_job.command = lambda published, out_dir: [sys.executable, '-c', 'pass']\n"
        f"page = p._write_report(Path({str(tmp_path / 'netliq.duckdb')!r}), Path({str(tmp_path)!r}))\n"
        "assert page is not None and page.name == 'index.html', page\n"
        "loaded = [m for m in ('flows.report', 'altair', 'vl_convert') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "NETLIQ_REPORT": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_drawing_process_says_why_a_report_was_not_written(tmp_path, capsys, monkeypatch):
    from flows import report_job

    # main() is the drawing process's own: it sets an alarm that ends its process after
    # REPORT_TIMEOUT_S and lowers its priority. Called here, in the test process, the real ones
    # would end this pytest worker 300 s later (seen on a loaded machine: "node down") and slow
    # every test after it; recorded instead, and checked.
    asked = []
    monkeypatch.setattr(report_job.signal, "alarm", lambda seconds: asked.append(("alarm", seconds)))
    monkeypatch.setattr(report_job.os, "nice", lambda step: asked.append(("nice", step)))
    missing = tmp_path / "nowhere" / "netliq.duckdb"
    assert report_job.main([str(missing), str(tmp_path / "out")]) == 1
    assert asked == [("alarm", report_job.REPORT_TIMEOUT_S), ("nice", report_job.REPORT_NICE)]
    assert f"report of {missing} not written" in capsys.readouterr().out
    assert not (tmp_path / "out" / "index.html").exists()


def test_a_png_is_drawn_again_only_when_its_chart_changed(report, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(report["root"] / "report", out)
    again = build_report(report["published"], out)
    assert again.pngs_drawn == ()  # the same published file: every chart as it was
    (out / ".year.png.sha256").write_text("a chart drawn from other rows")
    (out / "lead_lag.png").unlink()
    again = build_report(report["published"], out)
    assert sorted(again.pngs_drawn) == ["lead_lag", "year"]
    assert (out / "lead_lag.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "year.png").read_bytes() == (report["root"] / "report" / "year.png").read_bytes()
