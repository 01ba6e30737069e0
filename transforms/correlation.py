"""How assets move with USD net liquidity, week by week: rolling correlation and beta, and
lead/lag cross-correlation with a significance test for the best lag.

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
from statistics import NormalDist

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

# Significance of a lead/lag correlation: a Fisher z interval on an effective number of pairs.
# The best lag is the largest of 2·12 + 1 = 25 correlations, and under no relation the largest
# |correlation| of 25 is typically 2.2 standard errors (≈ 0.18 with 150 pairs). So the 5 % is
# family-wise per asset, split over its lags (Bonferroni: 0.05 / 25 = 0.2 % per lag, a 99.8 %
# interval per lag). Bonferroni, not a max-statistic bootstrap: under no relation the lagged
# correlations are nearly independent, so it is close to exact here, and it is deterministic.
FAMILY_ALPHA = 0.05


def ci_level(lag_count: int) -> float:
    """Per-lag confidence (a fraction) of the interval: 1 − FAMILY_ALPHA / lag_count (Bonferroni)."""
    return 1 - FAMILY_ALPHA / lag_count


def ci_z(lag_count: int) -> float:
    """Two-sided standard normal critical value of the per-lag interval (3.0902 for 25 lags)."""
    return NormalDist().inv_cdf(1 - FAMILY_ALPHA / lag_count / 2)


# no_best_lag_reason, on every row of an asset without a best lag
NO_CORRELATION = "no lag has a correlation (too few pairs, or a series that does not vary)"
NO_INTERVAL = "no lag has an interval (too few pairs to estimate the autocorrelations, or n_effective ≤ 3)"
NOT_SIGNIFICANT = "no lag is significant: every lag's {level} % interval contains 0"


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

    Significance (the test, stated in TABLE_SPECS): ρx and ρr are the lag-1-week
    autocorrelations of x and of the asset's r over the window (pairs of consecutive weeks
    both in it; null below min_obs(W − 1) pairs); n_effective = n_obs·(1 − p)/(1 + p) with
    p = max(ρx·ρr, 0); the interval is tanh(atanh(correlation) ± z/√(n_effective − 3)), z the
    two-sided normal quantile at 5 % / (2·max_lag_weeks + 1) (Bonferroni over the lags), null
    when n_effective ≤ 3. is_significant: the interval excludes 0. is_best_lag marks, per
    asset, the significant lag with the largest |correlation| (ties: the smallest |lag|, then
    the negative one); none when no lag is significant, and no_best_lag_reason says why.
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
    out = _with_interval(out, _autocorrelations(sample, weeks), len(lags))
    return _with_best_lag(out, len(lags)).select(list(TABLE_SPECS[1].columns)).sort("asset", "lag_weeks")


def _lag1_autocorrelation(frame: pl.DataFrame, column: str, weeks: int) -> pl.DataFrame:
    """Per asset: corr(v_t, v_{t+7 days}) over the pairs of consecutive weeks both in `frame`
    with both values present; null below min_obs(weeks − 1) pairs or when v does not vary."""
    later = frame.select("asset", (pl.col("date") - pl.duration(days=7)).alias("date"), pl.col(column).alias("_later"))
    joined = frame.select("asset", "date", column).join(later, on=["asset", "date"], how="inner").drop_nulls()
    # summed in date order, so the same window gives the same floats whatever the row order
    stats = joined.sort("asset", "date").group_by("asset").agg(
        pl.len().alias("_n"), pl.corr(column, "_later").alias("_rho")
    )
    rho = pl.when(pl.col("_n") >= min_obs(max(weeks - 1, 1))).then(pl.col("_rho").fill_nan(None).clip(-1.0, 1.0))
    return stats.select("asset", rho.alias(column))


def _autocorrelations(sample: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """Per asset: the lag-1-week autocorrelation of x (the same for every asset) and of r."""
    # x once per Wednesday, as one pseudo-asset, through the same helper
    calendar = sample.select(pl.lit("").alias("asset"), "date", "liquidity_log_change").unique("date")
    rho_x = _lag1_autocorrelation(calendar, "liquidity_log_change", weeks)["liquidity_log_change"]
    rho_r = _lag1_autocorrelation(sample, "asset_log_return", weeks)
    return (
        sample.select(pl.col("asset").unique())
        .join(rho_r, on="asset", how="left")
        .select(
            "asset",
            pl.lit(rho_x[0] if rho_x.len() else None, pl.Float64()).alias("liquidity_autocorrelation_1w"),
            pl.col("asset_log_return").alias("asset_autocorrelation_1w"),
        )
    )


def _with_interval(out: pl.DataFrame, autocorrelations: pl.DataFrame, lag_count: int) -> pl.DataFrame:
    """n_effective, the Fisher z interval at the Bonferroni level and is_significant (TABLE_SPECS)."""
    product = pl.col("liquidity_autocorrelation_1w") * pl.col("asset_autocorrelation_1w")
    # Bretherton et al. (1999) / Bartlett for two AR(1) series; a negative product would make
    # n_effective exceed n_obs, which the test does not claim: it is taken as 0
    dependence = pl.max_horizontal(product, pl.lit(0.0))
    n_eff = pl.when(pl.col("correlation").is_not_null() & product.is_not_null()).then(
        pl.col("n_obs") * (1 - dependence) / (1 + dependence)
    )
    half_width = ci_z(lag_count) / (pl.col("n_effective") - 3).sqrt()
    z = pl.col("correlation").arctanh()
    has_interval = pl.col("n_effective") > 3
    low, high = pl.col("correlation_ci_low"), pl.col("correlation_ci_high")
    return (
        out.join(autocorrelations, on="asset", how="left")
        .with_columns(n_eff.alias("n_effective"), pl.lit(100 * ci_level(lag_count)).alias("ci_level_pct"))
        .with_columns(
            pl.when(has_interval).then((z - half_width).tanh()).alias("correlation_ci_low"),
            pl.when(has_interval).then((z + half_width).tanh()).alias("correlation_ci_high"),
        )
        .with_columns(((low > 0) | (high < 0)).fill_null(False).alias("is_significant"))
    )


def _with_best_lag(out: pl.DataFrame, lag_count: int) -> pl.DataFrame:
    """is_best_lag: among an asset's significant lags, the largest |correlation| (ties: the
    smallest |lag|, then the negative one); none when no lag is significant, and why."""
    ranked = out.sort(
        [pl.col("asset"), pl.col("is_significant"), pl.col("correlation").abs(), pl.col("lag_weeks").abs(),
         pl.col("lag_weeks")],
        descending=[False, True, True, False, False],
        nulls_last=True,
    ).with_columns(((pl.int_range(pl.len()).over("asset") == 0) & pl.col("is_significant")).alias("is_best_lag"))
    level = f"{100 * ci_level(lag_count):.4g}"
    reason = (
        pl.when(_any_lag(pl.col("is_significant"))).then(pl.lit(None, pl.String()))
        .when(~_any_lag(pl.col("correlation").is_not_null())).then(pl.lit(NO_CORRELATION))
        .when(~_any_lag(pl.col("correlation_ci_low").is_not_null())).then(pl.lit(NO_INTERVAL))
        .otherwise(pl.lit(NOT_SIGNIFICANT.format(level=level)))
    )
    return ranked.with_columns(reason.alias("no_best_lag_reason"))


def _any_lag(condition: pl.Expr) -> pl.Expr:
    return condition.any().over("asset")


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
            + "Significance test: a Fisher z interval on an effective number of pairs. Weekly returns do "
            "not overlap, but both series are autocorrelated, which makes n_obs overstate the evidence: "
            "n_effective = n_obs·(1 − p)/(1 + p), p = max(ρx·ρr, 0), with ρx, ρr the lag-1-week "
            "autocorrelations of x and r over the window (Bartlett's variance of a cross-correlation of "
            "two AR(1) series, as in Bretherton et al. 1999). Interval = tanh(atanh(correlation) ± "
            "z/√(n_effective − 3)). The level is family-wise per asset: 5 % split over the 25 lags "
            f"(Bonferroni, {100 * ci_level(2 * MAX_LAG_WEEKS + 1):.4g} % per lag, z = "
            f"{ci_z(2 * MAX_LAG_WEEKS + 1):.4f}), because the best lag is the largest of 25 correlations "
            "and would exceed a single-lag 95 % bound by chance alone. is_best_lag marks each asset's "
            "lag of largest |correlation| among those whose interval excludes 0 (ties: smallest |lag|, "
            "then the negative one); an asset with no significant lag has none, and no_best_lag_reason "
            "says why. "
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
            "is_best_lag": Column(pl.Boolean(), "true on the asset's significant lag with the largest |correlation| (ties: smallest |lag|, then negative); false everywhere when no lag of the asset is significant"),
            # the columns of the significance test come after the table's first seven, so that
            # an existing history table gains them by ALTER TABLE … ADD COLUMN
            "liquidity_autocorrelation_1w": Column(pl.Float64(), "ρx: Pearson correlation of x_t with x_{t+1 week} over the consecutive weeks of the window, unitless in [−1, 1]; the same on every row; null below 80 % of the W − 1 possible pairs"),
            "asset_autocorrelation_1w": Column(pl.Float64(), "ρr: Pearson correlation of the asset's r_t with r_{t+1 week} over the consecutive weeks of the window, unitless in [−1, 1]; the same on the asset's rows; null below 80 % of the W − 1 possible pairs"),
            "n_effective": Column(pl.Float64(), "effective number of independent pairs: n_obs·(1 − p)/(1 + p), p = max(liquidity_autocorrelation_1w · asset_autocorrelation_1w, 0); never above n_obs; null when correlation or either autocorrelation is null"),
            "ci_level_pct": Column(pl.Float64(), "confidence of each lag's interval in percent: 100·(1 − 0.05 / number of lags), i.e. 99.8 for 25 lags (Bonferroni), so the 25 intervals of an asset hold together at 95 %"),
            "correlation_ci_low": Column(pl.Float64(), "lower bound of the Fisher z interval of correlation at ci_level_pct: tanh(atanh(correlation) − z/√(n_effective − 3)), unitless in [−1, 1]; null when correlation is null or n_effective ≤ 3"),
            "correlation_ci_high": Column(pl.Float64(), "upper bound of the same interval: tanh(atanh(correlation) + z/√(n_effective − 3)), unitless in [−1, 1]; null like correlation_ci_low"),
            "is_significant": Column(pl.Boolean(), "true when the interval excludes 0 (correlation_ci_low > 0 or correlation_ci_high < 0); false when there is no interval"),
            "no_best_lag_reason": Column(pl.String(), "on every row of an asset with no best lag, why: no correlation at any lag, no interval at any lag, or no lag significant at ci_level_pct; null when the asset has a best lag"),
        },
    ),
)
