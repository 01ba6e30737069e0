"""How assets move with USD net liquidity, week by week: rolling correlation and beta, and
lead/lag cross-correlation.

Pure polars. Everything sits on the H.4.1 Wednesday calendar of `net_liquidity_weekly` and
is dated by observation (a Wednesday's net liquidity is published on the Thursday after):
these tables describe co-movement, they are not signals that were tradeable on the date shown.

Definitions shared by both tables, for each Wednesday t of the calendar:
- the asset's weekly close c_t is its last close on or before t and no older than
  `MAX_CLOSE_AGE_DAYS` (6: the close falls in the 7 days t−6 … t, so one close never
  serves two weeks); none in those days → null (never a close from after t);
- the asset's weekly log return r_t = ln(c_t / c_{t−7 days});
- the liquidity weekly change x_t = ln(net_t / net_{t−7 days}), a LOG change (not a change in
  billions), so beta is an elasticity: % move of the asset per 1 % move of net liquidity;
- a week whose previous Wednesday is missing (no row at t − 7 days) has no x_t / r_t.
Pearson correlation and beta = cov(r, x) / var(x) (both with ddof = 1) use only the weeks
where both x and r exist; `n_obs` counts them.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.align import checked_series
from transforms.spec import Column, TableSpec

CORRELATION_TABLE = "liquidity_asset_correlation_weekly"
LEAD_LAG_TABLE = "liquidity_asset_lead_lag"

WINDOWS_WEEKS = (13, 26, 52)
LEAD_LAG_WINDOW_WEEKS = 156
MAX_LAG_WEEKS = 12
MAX_CLOSE_AGE_DAYS = 6
# A correlation needs at least this share of the possible weekly pairs (and never fewer than
# MIN_PAIRS); below it the value is null. Integer percent so 80 % of 145 is exactly 116.
MIN_OBS_PERCENT = 80
MIN_PAIRS = 3

# the assets, by registry name (the flow's builder maps names to series)
ASSETS = ("bitcoin", "nasdaq_100", "gold", "mstr", "zcash")


def min_obs(possible_pairs: int) -> int:
    """Fewest pairs for a non-null correlation: ceil(80 % of the possible pairs), at least 3."""
    return max(MIN_PAIRS, -(-possible_pairs * MIN_OBS_PERCENT // 100))


# ---------------------------------------------------------------- inputs


def _validated(table: str, name: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """`frame` as a clean series (null values are no observation, values positive for the
    logs), or a ValueError naming the table and the input."""
    frame = checked_series(table, name, frame, must_be_sorted=False)
    frame = frame.filter(pl.col("value").is_not_null())
    if frame.height == 0:
        raise ValueError(f"{table}: input {name} is empty")
    not_positive = frame.filter(~(pl.col("value") > 0) | pl.col("value").is_nan())
    if not_positive.height:
        row = not_positive.row(0)
        raise ValueError(f"{table}: input {name} has a value that is not positive (log undefined): {row[0]} = {row[1]}")
    return frame.sort("date")


def _weekly_close(days: pl.Series, closes: pl.DataFrame) -> pl.DataFrame:
    """For each day: the last close on or before it, at most MAX_CLOSE_AGE_DAYS old (as-of backward)."""
    return (
        days.to_frame("date")
        .join_asof(
            closes.select(pl.col("date").alias("close_date"), pl.col("value").alias("close")),
            left_on="date",
            right_on="close_date",
            strategy="backward",
            tolerance=dt.timedelta(days=MAX_CLOSE_AGE_DAYS),
        )
        .with_columns(pl.when(pl.col("close").is_not_null()).then(pl.col("close_date")).alias("close_date"))
    )


def _week_before(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """`column` of the row dated exactly 7 days earlier, on each row (null when there is none)."""
    earlier = frame.select((pl.col("date") + pl.duration(days=7)).alias("date"), pl.col(column).alias(f"_{column}_prev"))
    return frame.join(earlier, on="date", how="left")


def _weekly_pairs(table: str, net_weekly: pl.DataFrame, closes: dict[str, pl.DataFrame | None]) -> pl.DataFrame:
    """One row per asset per Wednesday of `net_weekly`: the weekly close and the two changes.

    Columns: asset, date, net_liquidity_bn, liquidity_log_change, asset_close,
    asset_close_date, asset_log_return (see the module docstring). An asset passed as None
    has every Wednesday with its close and return null. Errors name `table`.
    """
    net = _validated(table, "net_weekly", net_weekly)
    if not closes:
        raise ValueError(f"{table}: input closes names no asset")
    calendar = _week_before(net.rename({"value": "net_liquidity_bn"}), "net_liquidity_bn").select(
        "date",
        "net_liquidity_bn",
        (pl.col("net_liquidity_bn") / pl.col("_net_liquidity_bn_prev")).log().alias("liquidity_log_change"),
    ).sort("date")
    parts = []
    for asset, frame in closes.items():
        if frame is None:
            weekly = calendar.select(
                "date",
                pl.lit(None, pl.Float64()).alias("asset_close"),
                pl.lit(None, pl.Date()).alias("asset_close_date"),
                pl.lit(None, pl.Float64()).alias("asset_log_return"),
            )
        else:
            series = _validated(table, f"closes[{asset!r}]", frame)
            now = _weekly_close(calendar["date"], series)
            # the close a week earlier, read as of t − 7 days by the same rule
            before = _weekly_close(calendar["date"] - dt.timedelta(days=7), series)
            weekly = pl.DataFrame(
                {
                    "date": calendar["date"],
                    "asset_close": now["close"],
                    "asset_close_date": now["close_date"],
                    "asset_log_return": (now["close"] / before["close"]).log(),
                }
            )
        parts.append(
            calendar.join(weekly, on="date", how="left").with_columns(
                pl.lit(asset).alias("asset"),
                # no Wednesday at t − 7 days in the calendar (x_t null): no weekly return either
                pl.when(pl.col("liquidity_log_change").is_not_null()).then(pl.col("asset_log_return")).alias(
                    "asset_log_return"
                ),
            )
        )
    return pl.concat(parts).select(
        "asset", "date", "net_liquidity_bn", "liquidity_log_change", "asset_close", "asset_close_date", "asset_log_return"
    ).sort("asset", "date")


def _both() -> pl.Expr:
    return pl.col("liquidity_log_change").is_not_null() & pl.col("asset_log_return").is_not_null()


# ---------------------------------------------------------------- rolling correlation and beta


def liquidity_asset_correlation_weekly(
    net_weekly: pl.DataFrame,
    closes: dict[str, pl.DataFrame | None],
    *,
    windows_weeks: tuple[int, ...] = WINDOWS_WEEKS,
) -> pl.DataFrame:
    """One row per Wednesday of `net_weekly` per asset per window (13, 26, 52 weeks).

    `net_weekly`: date = H.4.1 Wednesday, value = net liquidity, billions USD.
    `closes`: asset name → daily closes (date, value) in the asset's own quote units; an
    asset that is not available is passed as None and gets its rows with correlation,
    beta, close and return null (n_obs 0).
    Every asset has a row on every Wednesday of the calendar, also before its history
    starts (n_obs 0 there). Weekly closes are as-of backward (module docstring).
    correlation and beta at t use the Wednesdays in (t − 7·window days, t], i.e. the
    `window` weeks up to and including t; they are null when fewer than `min_obs(window)`
    weeks (80 %) have both changes, or when either series does not vary.
    Columns and dtypes as in TABLE_SPECS.
    """
    if not windows_weeks or min(windows_weeks) < 2:
        raise ValueError(f"{CORRELATION_TABLE}: windows_weeks must be at least 2 weeks each, got {windows_weeks}")
    weekly = _weekly_pairs(CORRELATION_TABLE, net_weekly, closes)
    both = _both()
    x = pl.col("liquidity_log_change").filter(both)
    r = pl.col("asset_log_return").filter(both)
    parts = []
    for window in windows_weeks:
        # two-pass statistics over each trailing window, computed by polars per window
        stats = weekly.rolling(index_column="date", period=f"{7 * window}d", group_by="asset").agg(
            both.sum().cast(pl.Int32()).alias("n_obs"),
            pl.corr(x, r).alias("_corr"),
            pl.cov(x, r, ddof=1).alias("_cov"),
            x.var(ddof=1).alias("_var_x"),
        )
        enough = pl.col("n_obs") >= min_obs(window)
        parts.append(
            weekly.join(stats, on=["asset", "date"], how="left").with_columns(
                pl.lit(window, pl.Int32()).alias("window_weeks"),
                pl.when(enough).then(pl.col("_corr").fill_nan(None).clip(-1.0, 1.0)).alias("correlation"),
                pl.when(enough & (pl.col("_var_x") > 0)).then(pl.col("_cov") / pl.col("_var_x")).alias("beta"),
            )
        )
    return (
        pl.concat(parts)
        .select(list(TABLE_SPECS[0].columns))
        .sort("asset", "window_weeks", "date")
    )


# ---------------------------------------------------------------- lead / lag


def lead_lag(
    net_weekly: pl.DataFrame,
    closes: dict[str, pl.DataFrame | None],
    window_start: dt.date,
    window_end: dt.date,
    *,
    max_lag_weeks: int = MAX_LAG_WEEKS,
) -> pl.DataFrame:
    """One row per asset per lag −max_lag_weeks … +max_lag_weeks, over one window of weeks.

    The sample is the Wednesdays of `net_weekly` with window_start ≤ date ≤ window_end
    (x_t and r_t as in the module docstring; their first week reaches back to the Wednesday
    before the window). Lag k: Pearson corr(x_t, r_{t+k}), t + k meaning t + 7k days —
    positive k = liquidity LEADS the asset by k weeks. Only pairs with BOTH weeks inside
    the sample are used, so a window of W weeks offers W − |k| pairs at every lag (no data
    from outside the window, symmetric in k); correlation is null below
    `min_obs(W − |k|)` pairs with both changes. window_start / window_end in the result are
    the first and last Wednesday of the sample, W = (window_end − window_start)/7 + 1.
    is_best_lag marks, per asset, the lag with the largest |correlation| (ties: the smallest
    |lag|, then the negative one); all false when the asset has no correlation at any lag.
    """
    return _lead_lag(
        LEAD_LAG_TABLE,
        _weekly_pairs(LEAD_LAG_TABLE, net_weekly, closes),
        window_start,
        window_end,
        max_lag_weeks,
    )


def liquidity_asset_lead_lag(
    net_weekly: pl.DataFrame,
    closes: dict[str, pl.DataFrame | None],
    *,
    window_weeks: int = LEAD_LAG_WINDOW_WEEKS,
    max_lag_weeks: int = MAX_LAG_WEEKS,
) -> pl.DataFrame:
    """`lead_lag` over the last `window_weeks` weeks of the calendar: one row per asset per lag.

    The window ends on the last Wednesday of `net_weekly` and starts 7·(window_weeks − 1)
    days before it (156 Wednesdays by default). Same inputs, None rule and columns as
    `lead_lag`.
    """
    if window_weeks <= 2 * max_lag_weeks:
        raise ValueError(f"{LEAD_LAG_TABLE}: window_weeks ({window_weeks}) must exceed twice max_lag_weeks ({max_lag_weeks})")
    weekly = _weekly_pairs(LEAD_LAG_TABLE, net_weekly, closes)
    end = weekly["date"].max()
    start = end - dt.timedelta(days=7 * (window_weeks - 1))  # type: ignore[operator]
    return _lead_lag(LEAD_LAG_TABLE, weekly, start, end, max_lag_weeks)  # type: ignore[arg-type]


def _lead_lag(table: str, weekly: pl.DataFrame, start: dt.date, end: dt.date, max_lag: int) -> pl.DataFrame:
    if start > end:
        raise ValueError(f"{table}: window_start {start} is after window_end {end}")
    if max_lag < 0:
        raise ValueError(f"{table}: max_lag_weeks must be ≥ 0, got {max_lag}")
    sample = weekly.filter(pl.col("date").is_between(start, end))
    if sample.height == 0:
        raise ValueError(f"{table}: no Wednesday of net_weekly between {start} and {end}")
    first, last = sample["date"].min(), sample["date"].max()
    weeks = (last - first).days // 7 + 1  # type: ignore[operator]
    lags = list(range(-max_lag, max_lag + 1))

    x = sample.select("asset", "date", "liquidity_log_change")
    r = sample.select("asset", "date", "asset_log_return")
    pairs = pl.concat(
        [
            # r_{t+k} moved onto t: the inner join keeps pairs whose two weeks are both in the sample
            x.join(r.with_columns(pl.col("date") - pl.duration(days=7 * k)), on=["asset", "date"], how="inner")
            .with_columns(pl.lit(k, pl.Int32()).alias("lag_weeks"))
            for k in lags
        ]
    )
    both = _both()
    stats = pairs.group_by("asset", "lag_weeks").agg(
        both.sum().cast(pl.Int32()).alias("n_obs"),
        pl.corr(pl.col("liquidity_log_change").filter(both), pl.col("asset_log_return").filter(both)).alias("_corr"),
    )
    grid = sample.select(pl.col("asset").unique()).join(
        pl.DataFrame({"lag_weeks": lags}, schema={"lag_weeks": pl.Int32()}), how="cross"
    )
    out = grid.join(stats, on=["asset", "lag_weeks"], how="left").with_columns(
        pl.col("n_obs").fill_null(0),
        pl.lit(first).alias("window_start"),
        pl.lit(last).alias("window_end"),
    )
    possible = pl.lit(weeks) - pl.col("lag_weeks").abs()
    needed = pl.max_horizontal(pl.lit(MIN_PAIRS), (possible * MIN_OBS_PERCENT + 99) // 100)
    out = out.with_columns(
        pl.when(pl.col("n_obs") >= needed).then(pl.col("_corr").fill_nan(None).clip(-1.0, 1.0)).alias("correlation")
    )
    ranked = out.sort(
        [pl.col("asset"), pl.col("correlation").abs(), pl.col("lag_weeks").abs(), pl.col("lag_weeks")],
        descending=[False, True, False, False],
        nulls_last=True,
    ).with_columns(
        ((pl.int_range(pl.len()).over("asset") == 0) & pl.col("correlation").is_not_null()).alias("is_best_lag")
    )
    return ranked.select(list(TABLE_SPECS[1].columns)).sort("asset", "lag_weeks")


# ---------------------------------------------------------------- data dictionary

_DATING = (
    "Dated by observation: a Wednesday's net liquidity is published on the Thursday after, so "
    "this describes co-movement and is not a signal that was available on the date shown. "
)
_DEFINITIONS = (
    "Weekly close of an asset = its last daily close on or before the Wednesday, no older than "
    f"{MAX_CLOSE_AGE_DAYS} days (as-of backward, never a later close; none → null). "
    "Asset weekly return r_t = ln(close_t / close_{t−1 week}); liquidity weekly change "
    "x_t = ln(net_t / net_{t−1 week}) — a log change, not billions, so beta is an elasticity. "
    "Only weeks where both r and x exist are used; Pearson correlation and beta = cov(r, x) / var(x), "
    "both with ddof 1. "
)

TABLE_SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        name=CORRELATION_TABLE,
        grain="one row per H.4.1 Wednesday per asset per window (13, 26, 52 weeks)",
        description=(
            "Rolling correlation and beta of each asset's weekly log return to the weekly log change of USD "
            "net liquidity (net_liquidity_weekly), on the H.4.1 Wednesday calendar; every asset has a row on "
            "every Wednesday (n_obs 0 before its history). "
            + _DEFINITIONS
            + "The window at t is the `window_weeks` Wednesdays up to and including t; correlation and beta "
            f"are null when fewer than {MIN_OBS_PERCENT} % of them (rounded up: 11, 21, 42) have both changes "
            "or when a series does not vary. "
            + _DATING
        ),
        key=("date", "asset", "window_weeks"),
        columns={
            "date": Column(pl.Date(), "H.4.1 Wednesday (observation date), the last week of the window"),
            "asset": Column(pl.String(), "asset name (bitcoin, nasdaq_100, gold, mstr, zcash)"),
            "window_weeks": Column(pl.Int32(), "length of the trailing window in weeks, including this Wednesday"),
            "correlation": Column(pl.Float64(), "Pearson correlation of asset_log_return and liquidity_log_change over the window, unitless in [−1, 1]; null below the minimum number of weeks"),
            "beta": Column(pl.Float64(), "cov(asset_log_return, liquidity_log_change) / var(liquidity_log_change) over the window (ddof 1): elasticity, % asset move per 1 % net liquidity move; null like correlation"),
            "n_obs": Column(pl.Int32(), "number of weeks in the window where both changes exist (pairs used)"),
            "net_liquidity_bn": Column(pl.Float64(), "net liquidity on this Wednesday (net_liquidity_weekly), billions USD"),
            "liquidity_log_change": Column(pl.Float64(), "ln(net_liquidity_bn / net liquidity 7 days earlier), natural log, unitless (× 100 ≈ percent); null without the previous Wednesday"),
            "asset_close": Column(pl.Float64(), "asset's weekly close: last daily close on or before this Wednesday within 6 days, in the asset's own quote units (USD; index points for nasdaq_100); null when none"),
            "asset_close_date": Column(pl.Date(), "trading day asset_close comes from (this Wednesday or up to 6 days before)"),
            "asset_log_return": Column(pl.Float64(), "ln(asset_close / weekly close 7 days earlier), natural log, unitless (× 100 ≈ percent); null when either close is missing"),
        },
    ),
    TableSpec(
        name=LEAD_LAG_TABLE,
        grain="one row per asset per lag (−12 … +12 weeks), for the latest window",
        description=(
            "Lead/lag cross-correlation of the weekly log change of USD net liquidity x and each asset's "
            "weekly log return r over the last 156 weeks (window_start … window_end, ending on the last "
            "H.4.1 Wednesday). Lag k is corr(x_t, r_{t+k}): positive k means liquidity LEADS the asset by "
            "k weeks, negative k means the asset leads. Only pairs whose two weeks both lie in the window "
            f"are used (W − |k| possible); correlation is null below {MIN_OBS_PERCENT} % of them. "
            + _DEFINITIONS
            + "is_best_lag marks each asset's lag of largest |correlation| (ties: smallest |lag|, then the "
            "negative one). "
            + _DATING
        ),
        key=("asset", "lag_weeks"),
        columns={
            "asset": Column(pl.String(), "asset name (bitcoin, nasdaq_100, gold, mstr, zcash)"),
            "lag_weeks": Column(pl.Int32(), "k in weeks: correlation of liquidity change at t with asset return at t + k; > 0 liquidity leads"),
            "correlation": Column(pl.Float64(), "Pearson correlation of the pairs (x_t, r_{t+k}), unitless in [−1, 1]; null below the minimum number of pairs"),
            "n_obs": Column(pl.Int32(), "number of pairs used (both weeks in the window, both changes present)"),
            "window_start": Column(pl.Date(), "first Wednesday of the window (observation date)"),
            "window_end": Column(pl.Date(), "last Wednesday of the window (observation date)"),
            "is_best_lag": Column(pl.Boolean(), "true on the asset's lag with the largest |correlation| (ties: smallest |lag|, then negative); false everywhere when no lag has a correlation"),
        },
    ),
)
