"""Gold against CPI and flows, cross-asset ratios, and performance indexed to 100.

Pure polars: frames in, frames out. Every input series is a frame with exactly `date`
(pl.Date) and `value` (pl.Float64), sorted ascending, one row per observation date, in
the units its parameter name states. Optional inputs arrive as `None`; their columns are
then null, never filled. Series on different calendars are joined as of BACKWARD (or, for
the BTC bar in a ratio, on the exact day its rule names): a row never carries a value dated
(or, for releases, published) after it.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.align import as_of, checked_series
from transforms.known import with_known_on
from transforms.spec import Column, TableSpec

# GLD shares outstanding older than this (calendar days) are not shown on a gold day.
GLD_SHARES_MAX_AGE_DAYS = 5
# A USD/JPY rate older than this (calendar days) does not convert a BTC-USD close.
FX_MAX_AGE_DAYS = 5
# Ratio percentiles and two-year lows look at the trailing 730 calendar days, today included,
# and start once the ratio has a year of history (a percentile of a few weeks says little).
RATIO_WINDOW_DAYS = 730
RATIO_MIN_HISTORY_DAYS = 365

RATIOS = ("mstr_btc", "metaplanet_btc_jpy", "btc_gold", "btc_ndx")
# calendar days from a ratio's row date back to the BTC bar in its denominator (or, for
# the non-BTC denominators, to the denominator's own close): the alignment rule per ratio
RATIO_DENOMINATOR_LAG_DAYS = {"mstr_btc": 0, "metaplanet_btc_jpy": 1, "btc_gold": 0, "btc_ndx": 0}
# where each ratio's denominator comes from, by the series' registry names: Metaplanet's
# BTC-JPY is a BTC-JPY series when one is available, else BTC-USD × USD/JPY (JPY=X)
BTC_JPY_GIVEN = "bitcoin_jpy"
BTC_JPY_DERIVED = "bitcoin*usd_jpy"
DENOMINATOR_SOURCES = {
    "mstr_btc": ("bitcoin",), "metaplanet_btc_jpy": (BTC_JPY_GIVEN, BTC_JPY_DERIVED),
    "btc_gold": ("gold",), "btc_ndx": ("nasdaq_100",),
}
# gold_real_monthly: where each month's gold comes from, by the series' registry names. Before
# GC=F's first month, the long monthly history (datasets/gold-prices): through 1959 it repeats the
# year's figure (Timothy Green's annual table) in every month, from 1960 it is the World Bank's
# monthly average; from the month of GC=F's first close on, the month's last GC=F close.
GOLD_AVERAGE_SOURCE = "gold_monthly_average"
GOLD_CLOSE_SOURCE = "gold"
GOLD_ANNUAL_FIGURES_THROUGH_YEAR = 1959
GOLD_PRICE_BASES = ("annual_figure", "monthly_average", "month_end_close")

# The yearly index of year Y is based on the asset's last observation before Y-01-01, if it is
# dated in the last YEAR_BASE_MAX_DAYS (7) days of Y-1 (December 25-31): every calendar here
# has its last session of the year in that week (NYSE/COMEX December 29-31, Tokyo December
# 28-30, crypto and net liquidity December 31). A series without one (it starts during Y, or
# has a hole across the new year, like ZEC-USD from 2024-12-10 to 2025-01-26) gets no index
# for Y, and `no_index_reason` says why.
YEAR_BASE_MAX_DAYS = 7
PERFORMANCE_ASSETS = ("bitcoin", "gold", "nasdaq_100", "mstr", "metaplanet", "zcash", "gld", "net_liquidity")
# the unit of value_native for each asset (the long table mixes them; index_100 is unitless)
PERFORMANCE_UNITS = {
    "bitcoin": "USD", "gold": "USD per troy ounce", "nasdaq_100": "index points", "mstr": "USD",
    "metaplanet": "JPY", "zcash": "USD", "gld": "USD", "net_liquidity": "billions USD",
}


# ---------------------------------------------------------------- input checks


def _checked(table: str, name: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """The input as the contract promises it, with finite positive values (prices, CPI)."""
    frame = checked_series(table, name, frame)
    bad = frame.filter(pl.col("value").is_null() | ~pl.col("value").is_finite() | (pl.col("value") <= 0))
    if bad.height:
        raise ValueError(
            f"{table}: input {name} has {bad.height} value(s) that are null, not finite or not positive, "
            f"e.g. {bad.row(0)}"
        )
    return frame


def _optional(table: str, name: str, frame: pl.DataFrame | None) -> pl.DataFrame | None:
    return None if frame is None else _checked(table, name, frame)


def _null(name: str, dtype: pl.DataType) -> pl.Expr:
    return pl.lit(None, dtype=dtype).alias(name)


# ---------------------------------------------------------------- gold


def gold_daily(
    gold_usd_per_oz: pl.DataFrame,
    cpi_index: pl.DataFrame,
    gld_shares_outstanding: pl.DataFrame | None = None,
    foreign_official_treasuries_bn: pl.DataFrame | None = None,
    *,
    cpi_publication_lag_days: int,
    foreign_official_treasuries_lag_days: int,
    known_at: dict[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """One row per COMEX trading day of gold (the dates of `gold_usd_per_oz`, GC=F closes).

    - gold_usd_per_oz: that day's close, USD per troy ounce.
    - cpi_index (CPIAUCNS, 1982-84 = 100, monthly, dated the first of the month): each
      month's index enters on `cpi_known_date`, the New York date it became public, and is
      carried until the next one is known (as of BACKWARD on that date, no age limit, so a
      month that was never collected — October 2025 — carries the previous month's value
      rather than inventing one; so does a CPI series that is late). `cpi_obs_month` is
      the month used. gold_real_usd_1982_84_per_oz = gold_usd_per_oz · 100 / cpi_index: the
      price in dollars of 1982-84 purchasing power (an index of 100 is 1982-84's price level).
    - gld_shares_outstanding (shares, optional): the newest count dated on or before the
      day, at most GLD_SHARES_MAX_AGE_DAYS (5) calendar days old, else null; `gld_shares_date`
      is its date. gld_shares_per_gold_usd_ratio = shares / gold_usd_per_oz.
    - foreign_official_treasuries_bn (WMTSECL1, weekly Wednesday, billions USD, optional):
      enters on `foreign_official_treasuries_known_date`, carried (as of BACKWARD on that
      date); `foreign_official_treasuries_obs_date` is its Wednesday.
      foreign_official_treasuries_per_gold_ratio = bn USD / (USD per oz) = billions of
      troy ounces the holdings would buy.
    An optional input passed as None gives null columns (right dtype), never a filled value.
    When each observation became known: known_at maps an input name ("cpi_index",
    "foreign_official_treasuries_bn") to `date`, `known_at_utc` (from its ALFRED vintage or
    the release rule, transforms.known), and the known date is its New York date; an input
    without it is known `*_lag_days` after its observation date (the registry's rule alone).
    """
    table = "gold_daily"
    gold = _checked(table, "gold_usd_per_oz", gold_usd_per_oz)
    cpi = _with_known_on(
        "cpi_index", _checked_months(table, "cpi_index", cpi_index), known_at, cpi_publication_lag_days
    )
    shares = _optional(table, "gld_shares_outstanding", gld_shares_outstanding)
    foreign = _optional(table, "foreign_official_treasuries_bn", foreign_official_treasuries_bn)
    if foreign is not None:
        foreign = _with_known_on("foreign_official_treasuries_bn", foreign, known_at, foreign_official_treasuries_lag_days)

    out = gold.select("date", pl.col("value").alias("gold_usd_per_oz"))
    out = as_of(out, cpi, value="cpi_index", obs_date="cpi_obs_month", extra={"_known_on": "cpi_known_date"})
    if shares is None:
        out = out.with_columns(_null("gld_shares_outstanding", pl.Float64()), _null("gld_shares_date", pl.Date()))
    else:
        out = as_of(
            out, shares, value="gld_shares_outstanding", obs_date="gld_shares_date",
            tolerance_days=GLD_SHARES_MAX_AGE_DAYS,
        )
    if foreign is None:
        out = out.with_columns(
            _null("foreign_official_treasuries_bn", pl.Float64()),
            _null("foreign_official_treasuries_obs_date", pl.Date()),
            _null("foreign_official_treasuries_known_date", pl.Date()),
        )
    else:
        out = as_of(
            out, foreign, value="foreign_official_treasuries_bn", obs_date="foreign_official_treasuries_obs_date",
            extra={"_known_on": "foreign_official_treasuries_known_date"},
        )
    return out.with_columns(
        _real_price(pl.col("gold_usd_per_oz"), pl.col("cpi_index")),
        (pl.col("gld_shares_outstanding") / pl.col("gold_usd_per_oz")).alias("gld_shares_per_gold_usd_ratio"),
        (pl.col("foreign_official_treasuries_bn") / pl.col("gold_usd_per_oz")).alias(
            "foreign_official_treasuries_per_gold_ratio"
        ),
    ).select(GOLD_DAILY.schema.names()).sort("date")


def _real_price(gold: pl.Expr, cpi: pl.Expr) -> pl.Expr:
    # CPIAUCNS is 100 at the 1982-84 price level: deflating by index / 100 gives 1982-84 dollars
    return (gold * 100.0 / cpi).alias("gold_real_usd_1982_84_per_oz")


def _with_known_on(
    name: str, frame: pl.DataFrame, known_at: dict[str, pl.DataFrame] | None, lag_days: int
) -> pl.DataFrame:
    """`frame` with `_known_on`, the New York date it became known: from `known_at` when it
    says (see gold_daily), else `lag_days` after each observation date."""
    if not known_at or name not in known_at:
        return frame.with_columns((pl.col("date") + pl.duration(days=lag_days)).alias("_known_on"))
    joined = frame.join(known_at[name].select("date", "known_at_utc"), on="date", how="left")
    return with_known_on("gold_daily", name, joined).select("date", "value", "_known_on")


def _checked_months(table: str, name: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    frame = _checked(table, name, frame)
    off = frame.filter(pl.col("date").dt.day() != 1)
    if off.height:
        raise ValueError(f"{table}: input {name} is monthly and must be dated the 1st; found {off['date'][0]}")
    return frame


def gold_cpi_monthly(gold_usd_per_oz: pl.DataFrame, cpi_index: pl.DataFrame) -> pl.DataFrame:
    """One row per CPI observation month (CPIAUCNS, the whole history), dated the 1st.

    cpi_index: that month's CPI (1982-84 = 100). gold_usd_per_oz: the last GC=F close on or
    before the month's last day, with `gold_close_date` the day it comes from, when gold's
    series reaches that day (its newest close is on or after it); otherwise null: before
    the first gold close, and for months that end after gold's newest close (a gold series
    that is late is never priced with an older month's close; the month gets its gold when
    gold catches up). gold_real_usd_1982_84_per_oz = gold_usd_per_oz · 100 / cpi_index.
    Dated by observation month, not by when the CPI was published (gold_daily is the
    availability-aligned view). A month without a CPI observation (October 2025 was never
    collected) has no row: nothing is carried into a month that has no CPI of its own.
    """
    table = "gold_cpi_monthly"
    gold = _checked(table, "gold_usd_per_oz", gold_usd_per_oz)
    cpi = _checked_months(table, "cpi_index", cpi_index)
    newest_close = gold["date"].max()
    months = cpi.select(
        "date", pl.col("value").alias("cpi_index"), pl.col("date").dt.month_end().alias("_month_end")
    )
    closes = gold.select(
        pl.col("date").alias("gold_close_date"), pl.col("value").alias("gold_usd_per_oz")
    )
    out = months.join_asof(closes, left_on="_month_end", right_on="gold_close_date", strategy="backward")
    reached = pl.col("_month_end") <= pl.lit(newest_close)
    out = out.with_columns(
        pl.when(reached).then(pl.col(c)).alias(c) for c in ("gold_close_date", "gold_usd_per_oz")
    )
    return out.with_columns(
        _real_price(pl.col("gold_usd_per_oz"), pl.col("cpi_index"))
    ).select(GOLD_CPI_MONTHLY.schema.names()).sort("date")


def gold_real_monthly(
    gold_monthly_average_usd_per_oz: pl.DataFrame | None,
    gold_usd_per_oz: pl.DataFrame,
    cpi_index: pl.DataFrame,
    *,
    known_at: dict[str, pl.DataFrame],
) -> pl.DataFrame:
    """One row per CPI observation month (CPIAUCNS, from 1913-01), dated the 1st: the real
    price of gold in USD of 1982-84, gold_real_usd_1982_84_per_oz = gold_usd_per_oz · 100 /
    cpi_index, and when each part became known.

    Gold, one series per month and one switch (gold_source, by registry name):
    - before the month of GC=F's first close: `gold_monthly_average_usd_per_oz` (optional; dated
      the 1st), gold_source "gold_monthly_average". Through GOLD_ANNUAL_FIGURES_THROUGH_YEAR
      (1959) every month of a year carries that year's figure (gold_price_basis
      "annual_figure"), from 1960 the month's average ("monthly_average");
    - from that month on: the last GC=F close (`gold_usd_per_oz`) on or before the month's
      last day ("month_end_close", gold_source "gold"), null for months that end after
      GC=F's newest close (a late gold series is never priced with an older close, and never
      falls back to the average: the source switches once).
    gold_obs_date is the observation used: the month's 1st for the averages, the close's day.

    Availability (known_at maps each input's name to `date`, `known_at_utc`, when each
    observation became public, transforms.known; its New York date is the *_known_date):
    cpi_known_date is CPI month M's; gold_known_date is the average's (the registry's rule:
    early the next month), the close's day, or for an annual figure the known date of the
    year's December figure, since a year's figure exists only once the year has ended (a
    year whose December is not known yet has no gold). known_date = the later of the two
    (cpi_known_date when there is no gold): from then on the row's real price was public,
    so a back-test that keeps rows with known_date on or before its day never looks ahead.
    A month without a CPI observation (October 2025) has no row.
    """
    table = "gold_real_monthly"
    cpi = _known_dates(table, "cpi_index", _checked_months(table, "cpi_index", cpi_index), known_at)
    closes = _known_dates(table, "gold_usd_per_oz", _checked(table, "gold_usd_per_oz", gold_usd_per_oz), known_at)
    averages = None
    if gold_monthly_average_usd_per_oz is not None:
        averages = _annual_figures_known_at_year_end(table, _known_dates(
            table, "gold_monthly_average_usd_per_oz",
            _checked_months(table, "gold_monthly_average_usd_per_oz", gold_monthly_average_usd_per_oz), known_at,
        ))

    first_close, newest_close = closes["date"].min(), closes["date"].max()
    months = cpi.select(
        "date", pl.col("value").alias("cpi_index"), pl.col("_known_on").alias("cpi_known_date"),
        pl.col("date").dt.month_end().alias("_month_end"),
    ).sort("date")
    by_close = months.join_asof(
        closes.select(pl.col("date").alias("_close_date"), pl.col("value").alias("_close"),
                      pl.col("_known_on").alias("_close_known")),
        left_on="_month_end", right_on="_close_date", strategy="backward",
    )
    if averages is None:
        by_close = by_close.with_columns(_null("_average", pl.Float64()), _null("_average_known", pl.Date()))
    else:
        by_close = by_close.join(
            averages.select("date", pl.col("value").alias("_average"), pl.col("_known_on").alias("_average_known")),
            on="date", how="left",
        )
    # the month of GC=F's first close and every later one are GC=F's, priced or not
    closing = pl.col("_month_end") >= pl.lit(first_close)
    reached = pl.col("_month_end") <= pl.lit(newest_close)
    annual = pl.col("date").dt.year() <= GOLD_ANNUAL_FIGURES_THROUGH_YEAR
    has_average = pl.col("_average").is_not_null()
    out = by_close.with_columns(
        pl.when(closing).then(pl.when(reached).then(pl.col("_close"))).otherwise(pl.col("_average"))
        .alias("gold_usd_per_oz"),
        pl.when(closing).then(pl.when(reached).then(pl.lit(GOLD_CLOSE_SOURCE)))
        .when(has_average).then(pl.lit(GOLD_AVERAGE_SOURCE)).alias("gold_source"),
        pl.when(closing).then(pl.when(reached).then(pl.lit("month_end_close")))
        .when(has_average).then(pl.when(annual).then(pl.lit("annual_figure")).otherwise(pl.lit("monthly_average")))
        .alias("gold_price_basis"),
        pl.when(closing).then(pl.when(reached).then(pl.col("_close_date")))
        .when(has_average).then(pl.col("date")).alias("gold_obs_date"),
        pl.when(closing).then(pl.when(reached).then(pl.col("_close_known")))
        .otherwise(pl.col("_average_known")).alias("gold_known_date"),
    )
    return out.with_columns(
        _real_price(pl.col("gold_usd_per_oz"), pl.col("cpi_index")),
        pl.max_horizontal("cpi_known_date", "gold_known_date").alias("known_date"),
    ).select(GOLD_REAL_MONTHLY.schema.names()).sort("date")


def _known_dates(table: str, name: str, frame: pl.DataFrame, known_at: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """`frame` with `_known_on`, the New York date each observation became public, from
    known_at[name]; a ValueError naming the input when it does not say."""
    if name not in known_at:
        raise ValueError(f"{table}: input {name} needs known_at (when each observation became public)")
    joined = frame.join(known_at[name].select("date", "known_at_utc"), on="date", how="left")
    return with_known_on(table, name, joined).select("date", "value", "_known_on")


def _annual_figures_known_at_year_end(table: str, averages: pl.DataFrame) -> pl.DataFrame:
    """The long gold history with each annual figure (a year through
    GOLD_ANNUAL_FIGURES_THROUGH_YEAR) known when the year's December figure is, and a year
    whose December is absent (not yet known) dropped; a ValueError when such a year's months
    do not all carry one figure (the file is not the history this rule describes)."""
    year = pl.col("date").dt.year()
    annual = averages.filter(year <= GOLD_ANNUAL_FIGURES_THROUGH_YEAR)
    mixed = annual.group_by(year.alias("year")).agg(pl.col("value").n_unique().alias("n")).filter(pl.col("n") > 1)
    if mixed.height:
        raise ValueError(
            f"{table}: input gold_monthly_average_usd_per_oz should repeat one annual figure in every month through "
            f"{GOLD_ANNUAL_FIGURES_THROUGH_YEAR}; {mixed.height} year(s) have more, "
            f"e.g. {mixed.sort('year')['year'][0]}"
        )
    december = annual.filter(pl.col("date").dt.month() == 12).select(
        year.alias("_year"), pl.col("_known_on").alias("_year_known_on"))
    annual = annual.with_columns(year.alias("_year")).join(december, on="_year", how="inner").select(
        "date", "value", pl.col("_year_known_on").alias("_known_on"))
    return pl.concat([annual, averages.filter(year > GOLD_ANNUAL_FIGURES_THROUGH_YEAR)]).sort("date")


# ---------------------------------------------------------------- ratios


def _pair(ratio: str, numerator: pl.DataFrame, denominator: pl.DataFrame, source: str) -> pl.DataFrame:
    """Rows on the numerator's dates D, divided by the denominator dated D − the ratio's lag
    (an exact date: a missing denominator bar means no row, never another day's close);
    `source` names the series the denominator came from."""
    lag = RATIO_DENOMINATOR_LAG_DAYS[ratio]
    num = numerator.select(
        "date",
        (pl.col("date") - pl.duration(days=lag)).alias("denominator_date"),
        pl.col("value").alias("numerator_close"),
    )
    den = denominator.select(pl.col("date").alias("denominator_date"), pl.col("value").alias("denominator_close"))
    return num.join(den, on="denominator_date", how="inner").select(
        "date", pl.lit(ratio).alias("ratio"), "numerator_close", "denominator_close", "denominator_date",
        pl.lit(source).alias("denominator_source"),
    )


def _btc_jpy(btc_usd: pl.DataFrame, jpy_per_usd: pl.DataFrame) -> pl.DataFrame:
    """BTC-JPY per BTC bar (UTC day): BTC-USD close × the newest USD/JPY close on or before
    that day, at most FX_MAX_AGE_DAYS old (else no value)."""
    return (
        as_of(btc_usd, jpy_per_usd, value="_jpy_per_usd", obs_date="_fx_date", tolerance_days=FX_MAX_AGE_DAYS)
        .filter(pl.col("_jpy_per_usd").is_not_null())
        .select("date", (pl.col("value") * pl.col("_jpy_per_usd")).alias("value"))
    )


def asset_ratios_daily(
    btc_usd: pl.DataFrame,
    gold_usd_per_oz: pl.DataFrame,
    ndx_index: pl.DataFrame,
    mstr_usd: pl.DataFrame,
    metaplanet_jpy: pl.DataFrame,
    jpy_per_usd: pl.DataFrame,
    btc_jpy: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per ratio per date (long format), each ratio on its numerator's calendar.

    - mstr_btc: MSTR close (USD, NYSE day D, 16:00 ET) ÷ BTC-USD bar D (Yahoo's UTC-day bar,
      closing 00:00 UTC D+1, 3–4 h after the NYSE close). Rows on NYSE days (MSTR dates) only.
    - metaplanet_btc_jpy: 3350.T close (JPY, Tokyo day D, 15:30 JST = 06:30 UTC D; 15:00
      before 2024-11-05) ÷ BTC-JPY of BTC bar D−1, the last bar completed before the Tokyo
      close. BTC-JPY is `btc_jpy` when given, else BTC-USD close(D−1) × USD/JPY
      (`jpy_per_usd`, JPY=X close on or before D−1, at most 5 days old). Rows on Tokyo
      trading days (3350.T dates) only. `denominator_source` says which BTC-JPY each row
      used: "bitcoin_jpy" (the given series) or "bitcoin*usd_jpy" (derived).
    - btc_gold: BTC-USD bar D ÷ GC=F close on COMEX day D (troy ounces per bitcoin).
      Rows on COMEX days only.
    - btc_ndx: BTC-USD bar D ÷ ^NDX close on Nasdaq day D. Rows on Nasdaq days only.
    The denominator is joined on its exact date (D, or D−1 for Metaplanet): without that
    bar there is no row. `denominator_date` is the date of the denominator used and
    `denominator_source` the series it came from (DENOMINATOR_SOURCES).
    percentile_2y_pct = 100 · (number of that ratio's values in the trailing 730 calendar
    days [D−729, D], today included, that are ≤ today's) / (number of values in that
    window); is_two_year_low = today's value is the window's minimum. Both are null until
    the ratio's first row is at least 365 days before D.
    """
    table = "asset_ratios_daily"
    btc = _checked(table, "btc_usd", btc_usd)
    gold = _checked(table, "gold_usd_per_oz", gold_usd_per_oz)
    ndx = _checked(table, "ndx_index", ndx_index)
    mstr = _checked(table, "mstr_usd", mstr_usd)
    metaplanet = _checked(table, "metaplanet_jpy", metaplanet_jpy)
    fx = _checked(table, "jpy_per_usd", jpy_per_usd)
    given_btc_jpy = _optional(table, "btc_jpy", btc_jpy)

    if given_btc_jpy is not None:
        btc_in_jpy, btc_jpy_source = given_btc_jpy, BTC_JPY_GIVEN
    else:
        btc_in_jpy, btc_jpy_source = _btc_jpy(btc, fx), BTC_JPY_DERIVED
    pairs = pl.concat(
        [
            _pair("mstr_btc", mstr, btc, "bitcoin"),
            _pair("metaplanet_btc_jpy", metaplanet, btc_in_jpy, btc_jpy_source),
            _pair("btc_gold", btc, gold, "gold"),
            _pair("btc_ndx", btc, ndx, "nasdaq_100"),
        ]
    ).with_columns((pl.col("numerator_close") / pl.col("denominator_close")).alias("ratio_value"))
    return _with_two_year_rank(pairs).select(ASSET_RATIOS_DAILY.schema.names()).sort("ratio", "date")


def _with_two_year_rank(pairs: pl.DataFrame) -> pl.DataFrame:
    pairs = pairs.sort("ratio", "date")
    window = pairs.rolling(index_column="date", period=f"{RATIO_WINDOW_DAYS}d", group_by="ratio").agg(
        _window_n=pl.len(),
        _at_or_below=(pl.col("ratio_value") <= pl.col("ratio_value").last()).sum(),
        _window_min=pl.col("ratio_value").min(),
    )
    has_history = (pl.col("date") - pl.col("date").min().over("ratio")).dt.total_days() >= RATIO_MIN_HISTORY_DAYS
    return pairs.join(window, on=["ratio", "date"], how="left").with_columns(
        pl.when(has_history).then(100.0 * pl.col("_at_or_below") / pl.col("_window_n")).alias("percentile_2y_pct"),
        pl.when(has_history).then(pl.col("ratio_value") <= pl.col("_window_min")).alias("is_two_year_low"),
    )


# ---------------------------------------------------------------- performance


def _checked_values(table: str, values: dict[str, pl.DataFrame | None]) -> dict[str, pl.DataFrame]:
    checked = {name: _checked(table, f"values[{name!r}]", frame) for name, frame in values.items() if frame is not None}
    if not checked:
        raise ValueError(f"{table}: input values holds no series")
    return checked


def _long(values: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return pl.concat([
        frame.select("date", pl.lit(name).alias("asset"), pl.col("value").alias("value_native"),
                     pl.lit(PERFORMANCE_UNITS.get(name, "")).alias("units"))
        for name, frame in values.items()
    ])


def _index_on(long: pl.DataFrame, bases: pl.DataFrame, *, on: list[str]) -> pl.DataFrame:
    """`long` with base_date, index_100 and no_index_reason from `bases` (`on` columns,
    base_date, _base_value, no_index_reason); 100 · (value / base), in that order, so a
    value equal to its base is exactly 100."""
    return long.join(bases, on=on, how="left").with_columns(
        (100.0 * (pl.col("value_native") / pl.col("_base_value"))).alias("index_100"),
    ).sort("asset", "date").select(PERFORMANCE_DAILY.schema.names())


def _year_bases(long: pl.DataFrame) -> pl.DataFrame:
    """Per asset and calendar year Y of its rows: the base of its yearly index (the last
    observation before Y-01-01, if within YEAR_BASE_MAX_DAYS of it) or why there is none."""
    years = (
        long.select("asset", pl.col("date").dt.year().alias("_year")).unique()
        .with_columns(pl.date(pl.col("_year"), 1, 1).alias("_year_start"))
        .with_columns((pl.col("_year_start") - pl.duration(days=1)).alias("_eve"),
                      (pl.col("_year_start") - pl.duration(days=YEAR_BASE_MAX_DAYS)).alias("_window_start"))
        .sort("_eve")
    )
    closes = long.select("asset", pl.col("date").alias("_last_date"), pl.col("value_native").alias("_last_value"))
    # both sides are sorted on their key, hence within every asset (polars cannot check that)
    found = years.join_asof(closes.sort("_last_date"), left_on="_eve", right_on="_last_date", by="asset",
                            strategy="backward", check_sortedness=False)
    found = found.join(long.group_by("asset").agg(pl.col("date").min().alias("_first")), on="asset", how="left")
    ok = pl.col("_last_date") >= pl.col("_window_start")
    reason = (
        pl.when(pl.col("_last_date").is_null())
        .then(pl.format("no close before {} to index the year to: the series starts {}",
                        pl.col("_year_start"), pl.col("_first")))
        .when(~ok)
        .then(pl.format("no close from {} to {} to index the year to: the last one before {} is {} "
                        "(a hole at the start of the year)",
                        pl.col("_window_start"), pl.col("_eve"), pl.col("_year_start"), pl.col("_last_date")))
    )
    return found.select(
        "asset", "_year",
        pl.when(ok).then(pl.col("_last_date")).alias("base_date"),
        pl.when(ok).then(pl.col("_last_value")).alias("_base_value"),
        reason.alias("no_index_reason"),
    )


def performance_daily(values: dict[str, pl.DataFrame | None]) -> pl.DataFrame:
    """One row per asset per date of that asset's own series (no filling, no common calendar).

    `values`: asset name → its series in its own units (USD closes; metaplanet in JPY;
    net_liquidity in billions USD, from the availability-aligned daily table, so every
    calendar day). An asset passed as None has no rows. The yearly index, as performance
    tables state a year's return: base_date = the asset's last observation before January 1
    of the year of `date` (the previous year's last close), index_100 = 100 · value / value
    on base_date, so a row's index is 100 + its year-to-date return in percent. When that
    last observation is more than YEAR_BASE_MAX_DAYS (7) days before January 1 (the series
    starts during the year, or has a hole across the new year), the year's rows keep their
    value but have no base_date and no index_100, and `no_index_reason` says why (it is null
    on every indexed row).
    """
    long = _long(_checked_values("performance_daily", values)).with_columns(pl.col("date").dt.year().alias("_year"))
    return _index_on(long, _year_bases(long), on=["asset", "_year"])


def performance_from(values: dict[str, pl.DataFrame | None], base_date: dt.date) -> pl.DataFrame:
    """performance_daily's columns for rows dated on or after `base_date`, each asset indexed
    to 100 on its first observation on or after `base_date` (the CLI's `--base DATE`);
    no_index_reason is null. An asset with no observation from `base_date` on has no rows."""
    long = _long(_checked_values("performance_from", values)).filter(pl.col("date") >= base_date)
    bases = long.sort("asset", "date").group_by("asset", maintain_order=True).first().select(
        "asset", pl.col("date").alias("base_date"), pl.col("value_native").alias("_base_value"),
        _null("no_index_reason", pl.String()),
    )
    return _index_on(long, bases, on=["asset"])


# ---------------------------------------------------------------- data dictionary

GOLD_DAILY = TableSpec(
    name="gold_daily",
    grain="one row per COMEX trading day of gold (GC=F close dates)",
    description=(
        "Gold (GC=F close, USD per troy ounce) against US CPI, GLD shares outstanding and foreign official "
        "Treasury holdings. Rows are the GC=F close dates. CPIAUCNS (monthly, dated the 1st) is availability-"
        "aligned: month M's index is used from cpi_known_date, the New York date it became public (its first "
        "ALFRED vintage, else the registry's release rule), and is carried until the next one is known (as of "
        "backward on that date; a month never collected, October 2025, carries September, nothing is invented; "
        "a late CPI series carries its newest month and the table is marked stale). The real price "
        "gold_real_usd_1982_84_per_oz is gold × 100 / CPI. GLD shares outstanding: as of backward on the same "
        "day, at most 5 days old, else null (the snapshot's series ends 2025-05-23). WMTSECL1 (weekly "
        "Wednesday): as of backward on foreign_official_treasuries_known_date (its vintage, else Wednesday + "
        "the registry's lag); null when the series is not available (not in the offline snapshot)."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "COMEX trading day (GC=F close date)"),
        "gold_usd_per_oz": Column(pl.Float64(), "gold front-month future close (GC=F), USD per troy ounce"),
        "cpi_index": Column(pl.Float64(), "CPI-U all items NSA (CPIAUCNS) known that day, index 1982-84 = 100"),
        "cpi_obs_month": Column(pl.Date(), "month (first day) of the CPI observation in cpi_index"),
        "gold_real_usd_1982_84_per_oz": Column(
            pl.Float64(),
            "gold_usd_per_oz × 100 / cpi_index: the real price of gold, USD of 1982-84 purchasing power per troy "
            "ounce (CPI-U 1982-84 = 100)",
        ),
        "gld_shares_outstanding": Column(
            pl.Float64(), "GLD shares outstanding on or up to 5 days before that day, shares; null when none"
        ),
        "gld_shares_date": Column(pl.Date(), "date of gld_shares_outstanding; null when none"),
        "gld_shares_per_gold_usd_ratio": Column(
            pl.Float64(), "gld_shares_outstanding / gold_usd_per_oz: shares per USD/oz of gold (retail appetite)"
        ),
        "foreign_official_treasuries_bn": Column(
            pl.Float64(),
            "marketable Treasuries held in custody at the Fed for foreign official and international accounts "
            "(WMTSECL1) known that day, billions USD; null when the series is not available",
        ),
        "foreign_official_treasuries_obs_date": Column(
            pl.Date(), "Wednesday of foreign_official_treasuries_bn; null when none"
        ),
        "foreign_official_treasuries_per_gold_ratio": Column(
            pl.Float64(),
            "foreign_official_treasuries_bn / gold_usd_per_oz: billions of troy ounces the holdings would buy",
        ),
        "cpi_known_date": Column(
            pl.Date(),
            "New York date on which cpi_index became public (its first ALFRED vintage at the release time, else "
            "the registry's release rule); date is never earlier",
        ),
        "foreign_official_treasuries_known_date": Column(
            pl.Date(),
            "New York date on which foreign_official_treasuries_bn became public (its first ALFRED vintage, else "
            "Wednesday + the registry's lag); date is never earlier; null when none",
        ),
    },
)

GOLD_CPI_MONTHLY = TableSpec(
    name="gold_cpi_monthly",
    grain="one row per CPI observation month (the whole CPIAUCNS history)",
    description=(
        "Gold ÷ US CPI by month, over the whole CPI history. Dated by the CPI observation month (the 1st, as "
        "FRED dates it), not by when it was published (gold_daily is the availability-aligned view). Gold is "
        "the last GC=F close on or before the month's last day (as of backward), null before the first gold "
        "close and for months that end after gold's newest close (a late gold series leaves the newest months "
        "without gold, never priced with an older month's close, and the table is marked stale). "
        "gold_real_usd_1982_84_per_oz is gold × 100 / CPI. A month without a CPI observation (October 2025, "
        "never collected) has no row."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "CPI observation month, first day of the month"),
        "cpi_index": Column(pl.Float64(), "CPI-U all items NSA (CPIAUCNS) for that month, index 1982-84 = 100"),
        "gold_usd_per_oz": Column(
            pl.Float64(),
            "last GC=F close on or before the month's last day, USD per troy ounce; null before gold data and for "
            "months ending after gold's newest close",
        ),
        "gold_close_date": Column(pl.Date(), "trading day of gold_usd_per_oz; null when gold_usd_per_oz is"),
        "gold_real_usd_1982_84_per_oz": Column(
            pl.Float64(),
            "gold_usd_per_oz × 100 / cpi_index: the real price of gold, USD of 1982-84 purchasing power per troy "
            "ounce (CPI-U 1982-84 = 100)",
        ),
    },
)

GOLD_REAL_MONTHLY = TableSpec(
    name="gold_real_monthly",
    grain="one row per CPI observation month (CPIAUCNS, from 1913-01)",
    description=(
        "The real price of gold since 1913: gold × 100 / CPI-U (NSA), in USD of 1982-84 per troy ounce, one row per "
        "CPI month. Gold comes from one series per month and switches once, as gold_source says on every row: "
        "before the month of GC=F's first close (2000-08 in the snapshot) the long monthly history "
        "gold_monthly_average (datasets/gold-prices: through 1959 the year's figure repeated in every month, "
        "gold_price_basis annual_figure; from 1960 the World Bank's monthly average, monthly_average); from that "
        "month on the month's last GC=F close (month_end_close), null for months that end after GC=F's newest "
        "close (a late gold series leaves the newest months without gold and the table is marked stale). Each part "
        "says when it became public, as New York dates: cpi_known_date (BLS's release, else the registry's rule), "
        "gold_known_date (a monthly average early the next month by the registry's rule; an annual figure only "
        "once its year ended, with the year's December figure; a close on its day); known_date is the later: "
        "keep rows with known_date <= D for what was known on day D. Dated by CPI month; October 2025 (never "
        "collected) has no row."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "CPI observation month, first day of the month"),
        "cpi_index": Column(pl.Float64(), "CPI-U all items NSA (CPIAUCNS) for that month, index 1982-84 = 100"),
        "cpi_known_date": Column(
            pl.Date(),
            "New York date on which cpi_index became public (BLS's release date, else the registry's release rule); "
            "always after the month's end",
        ),
        "gold_usd_per_oz": Column(
            pl.Float64(),
            "gold for that month, nominal USD per troy ounce, from the series in gold_source as gold_price_basis "
            "says; null when that series has no value for the month (GC=F months after its newest close)",
        ),
        "gold_source": Column(
            pl.String(),
            "registry name of the series gold_usd_per_oz comes from: gold_monthly_average (the long monthly "
            "history, GOLD-MONTHLY) before GC=F's first month, gold (GC=F) from it on; null when there is no gold",
        ),
        "gold_price_basis": Column(
            pl.String(),
            "what gold_usd_per_oz measures: annual_figure (through 1959, the year's figure, the same in each of its "
            "months), monthly_average (the month's average, 1960 to the month before GC=F), month_end_close (the "
            "last GC=F close on or before the month's last day); null when there is no gold",
        ),
        "gold_obs_date": Column(
            pl.Date(),
            "observation gold_usd_per_oz comes from: the month's first day for the averages and annual figures, the "
            "trading day of the GC=F close; null when there is no gold",
        ),
        "gold_known_date": Column(
            pl.Date(),
            "New York date on which gold_usd_per_oz became public: a monthly average by the registry's rule (early "
            "the next month); an annual figure with its year's December figure (a year's figure exists only once the "
            "year ended); a GC=F close on its day; null when there is no gold",
        ),
        "gold_real_usd_1982_84_per_oz": Column(
            pl.Float64(),
            "gold_usd_per_oz × 100 / cpi_index: the real price of gold, USD of 1982-84 purchasing power per troy "
            "ounce (CPI-U 1982-84 = 100); null when there is no gold",
        ),
        "known_date": Column(
            pl.Date(),
            "New York date from which the row's real price was public: the later of cpi_known_date and "
            "gold_known_date (cpi_known_date when there is no gold)",
        ),
    },
)

ASSET_RATIOS_DAILY = TableSpec(
    name="asset_ratios_daily",
    grain="one row per ratio per trading day of the ratio's numerator",
    description=(
        "Cross-asset ratios in long format, each on its numerator's calendar, the denominator joined on an "
        "exact date (no row without it). mstr_btc: MSTR (NYSE day D, close 16:00 ET) ÷ BTC-USD bar D (UTC "
        "day, closes 00:00 UTC D+1, 3–4 h after the NYSE close); NYSE days only. metaplanet_btc_jpy: 3350.T "
        "(Tokyo day D, close 15:30 JST = 06:30 UTC D, 15:00 before 2024-11-05) ÷ BTC-JPY of bar D−1, "
        "the last BTC bar completed before the Tokyo close: a BTC-JPY series when one is available, else "
        "BTC-USD close × USD/JPY (JPY=X on or before D−1, at most 5 days old), as denominator_source says on "
        "every row; Tokyo days only. btc_gold: BTC-USD bar D ÷ GC=F on COMEX "
        "day D; btc_ndx: BTC-USD bar D ÷ ^NDX on Nasdaq day D; exchange days only (no weekend rows). "
        "percentile_2y_pct and is_two_year_low look at the ratio's values in the trailing 730 calendar "
        "days, today included, and are null until the ratio has 365 days of history."
    ),
    key=("ratio", "date"),
    columns={
        "date": Column(pl.Date(), "trading day of the numerator (NYSE for MSTR, Tokyo for 3350.T, UTC day for BTC)"),
        "ratio": Column(pl.String(), "ratio name: mstr_btc, metaplanet_btc_jpy, btc_gold or btc_ndx"),
        "numerator_close": Column(
            pl.Float64(), "numerator close in its own units: MSTR USD, 3350.T JPY, BTC-USD USD (btc_gold, btc_ndx)"
        ),
        "denominator_close": Column(
            pl.Float64(),
            "denominator close in its own units: BTC-USD USD (mstr_btc), BTC-JPY JPY (metaplanet_btc_jpy), "
            "GC=F USD per troy ounce (btc_gold), ^NDX index points (btc_ndx)",
        ),
        "denominator_date": Column(
            pl.Date(), "date of the denominator close: date for every ratio except metaplanet_btc_jpy (date − 1 day)"
        ),
        "ratio_value": Column(
            pl.Float64(),
            "numerator_close / denominator_close: BTC per MSTR share, BTC per Metaplanet share, troy ounces of "
            "gold per BTC, USD per BTC per NDX point",
        ),
        "percentile_2y_pct": Column(
            pl.Float64(),
            "100 · (values of this ratio in the trailing 730 calendar days, today included, that are ≤ today's) "
            "/ (values in that window), percent; null until the ratio has 365 days of history",
        ),
        "is_two_year_low": Column(
            pl.Boolean(),
            "today's ratio_value is the minimum of the trailing 730 calendar days; null until 365 days of history",
        ),
        "denominator_source": Column(
            pl.String(),
            "series of denominator_close, by registry name: bitcoin (BTC-USD), gold (GC=F), nasdaq_100 (^NDX); for "
            "metaplanet_btc_jpy bitcoin_jpy (a BTC-JPY series) or bitcoin*usd_jpy (BTC-USD close × JPY=X, used "
            "when no BTC-JPY series is available)",
        ),
    },
)

PERFORMANCE_DAILY = TableSpec(
    name="performance_daily",
    grain="one row per asset per date of that asset's series",
    description=(
        "Each asset and net liquidity indexed to 100 at the previous year's last close, the convention of "
        "yearly performance tables (the 'year in one chart' comparison): in year Y, index_100 = 100 · value / "
        "the asset's last value before Y-01-01, so index_100 − 100 is the year-to-date return in percent. That "
        "base must be dated December 25-31 of Y-1; an asset without one (its series starts during Y, or has a "
        "hole across the new year, like ZEC-USD in January 2025) keeps its rows for Y with base_date and "
        "index_100 null and the reason in no_index_reason. Each asset keeps its own calendar (crypto and net "
        "liquidity every day, exchange-traded assets on their trading days); nothing is filled. Net liquidity "
        "comes from net_liquidity_daily (availability-aligned)."
    ),
    key=("asset", "date"),
    columns={
        "date": Column(pl.Date(), "observation day of the asset"),
        "asset": Column(
            pl.String(), "bitcoin, gold, nasdaq_100, mstr, metaplanet, zcash, gld or net_liquidity"
        ),
        "value_native": Column(
            pl.Float64(),
            "the asset's close in its own units, named in `units`: USD (bitcoin, mstr, zcash, gld), USD per "
            "troy ounce (gold), JPY (metaplanet), index points (nasdaq_100), bn USD (net_liquidity)",
        ),
        "units": Column(pl.String(), "the unit of value_native for this asset"),
        "base_date": Column(
            pl.Date(),
            "the asset's last date before January 1 of the year of date (the previous year's last close), within "
            "December 25-31; null when there is none (no_index_reason says why)",
        ),
        "index_100": Column(
            pl.Float64(),
            "100 · value_native / value_native on base_date, index (100 = the previous year's last close); null "
            "when base_date is",
        ),
        "no_index_reason": Column(
            pl.String(),
            "why the row has no index_100: no close dated December 25-31 of the previous year, because the series "
            "starts in this year or has a hole across the new year (the text names its last earlier close); null "
            "when the row has an index",
        ),
    },
)

TABLE_SPECS: tuple[TableSpec, ...] = (
    GOLD_DAILY, GOLD_CPI_MONTHLY, GOLD_REAL_MONTHLY, ASSET_RATIOS_DAILY, PERFORMANCE_DAILY,
)
