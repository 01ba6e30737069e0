"""Does the claim hold? Each asset's forward log return after each H.4.1 week, by the
liquidity regime and by the quintile of the 13-week net-liquidity change, point in time,
with moving-block bootstrap intervals and a verdict computed from them.

Pure polars, and numpy for the bootstrap (imported inside the function that resamples: a
vectorised resampling has no polars equivalent). Every week t is an H.4.1 Wednesday:

- its **release day** d_t is the first day of the availability-aligned daily table (built
  from each observation's first published value) whose Fed-assets observation is t;
- **point in time**: the 13-week change is net liquidity on d_t minus net liquidity on the
  release day of the week 91 days earlier, both as first published and both public by the
  end of d_t; **current vintage**: the same change from today's revised weekly table
  (`liquidity_regime_weekly.change_13w_bn`);
- the regime is 'expanding' when the change is > 0, 'contracting' when < 0 (a week whose
  change is unknown or exactly 0, in either class, is left out of both);
- the **entry** is the asset's first close that became known after the end of d_t (New
  York), within 4 days; the **exit** is its last close on or before entry + 7·h days, at most
  6 days earlier; the forward log return is ln(exit / entry). A week whose window
  (entry + 7·h days) ends after the run's clock has no forward return, and no price after
  the clock is read. Both evidence classes use the same weeks, entries and exits, so they
  differ only in the regime and the quintile.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.known import NEW_YORK
from transforms.spec import Column, TableSpec

TABLE = "liquidity_forward_returns"
HORIZONS_WEEKS = (4, 13, 26)
EVIDENCE_CLASSES = ("point_in_time", "current_vintage")
SAMPLES = ("in_sample", "expanding_window", "holdout")
HOLDOUT_YEARS = 2
ENTRY_WITHIN_DAYS = 4
EXIT_MAX_AGE_DAYS = 6
# quintile breakpoints need this many weeks of 13-week changes before they are fitted
MIN_FIT_WEEKS = 156
QUINTILES = ("q1", "q2", "q3", "q4", "q5")
REGIMES = ("expanding", "contracting")
# (conditioning, bucket) of every row of a group, in table order
BUCKETS = (("all", "all"), *(("regime", r) for r in REGIMES), *(("quintile_13w_change_pct", q) for q in QUINTILES))

# the moving-block bootstrap, stated in the table description
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261201
MIN_BLOCK_WEEKS = 13
CI_LEVEL = 0.95
# a statistic's interval is published only when at least this share of resamples define it
MIN_DEFINED_SHARE = 0.95

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
# a sample's regime difference counts for the verdict only when each regime has this many
# non-overlapping windows: an interval from fewer resamples a handful of distinct blocks
MIN_NON_OVERLAPPING_PER_REGIME = 5


def block_length_weeks(horizon_weeks: int) -> int:
    """The bootstrap block: the horizon (forward returns overlap over h weeks), at least 13
    weeks (the regime is a 13-week change, itself overlapping over 13 weeks)."""
    return max(horizon_weeks, MIN_BLOCK_WEEKS)


def holdout_start(clock: dt.date) -> dt.date:
    """The first signal week of the holdout: the clock's date HOLDOUT_YEARS earlier (Feb 29 → Feb 28)."""
    try:
        return clock.replace(year=clock.year - HOLDOUT_YEARS)
    except ValueError:
        return clock.replace(year=clock.year - HOLDOUT_YEARS, day=28)


# ---------------------------------------------------------------- weeks and signals


def _end_of_day_utc(day: pl.Expr) -> pl.Expr:
    """The last microsecond of a New York day, as naive UTC (transforms.known.end_of_day_utc)."""
    midnight = (day + pl.duration(days=1)).cast(pl.Datetime("us"))
    return (midnight.dt.replace_time_zone(NEW_YORK, ambiguous="latest", non_existent="null")
            .dt.convert_time_zone("UTC").dt.replace_time_zone(None) - pl.duration(microseconds=1))


def _signal_weeks(regime_weekly: pl.DataFrame, first_release_daily: pl.DataFrame) -> pl.DataFrame:
    """One row per H.4.1 Wednesday with a release day and a non-zero 13-week change in both
    classes: date, release_date, signal_known_at_utc (the latest known_at of the net-liquidity
    inputs the point-in-time change reads), release_end_utc, change_<class>_bn."""
    known = pl.max_horizontal("fed_assets_known_at_utc", "tga_known_at_utc", "rrp_known_at_utc")
    releases = (
        first_release_daily.filter(pl.col("fed_assets_obs_date").is_not_null())
        .sort("date")
        .group_by("fed_assets_obs_date", maintain_order=True).first()
        .select(pl.col("fed_assets_obs_date").alias("date"), pl.col("date").alias("release_date"),
                pl.col("net_liquidity_bn").alias("_pit_bn"), known.alias("_known_at"))
    )
    earlier = releases.select((pl.col("date") + pl.duration(days=91)).alias("date"),
                              pl.col("_pit_bn").alias("_pit_13w_bn"), pl.col("_known_at").alias("_known_13w"))
    pit = releases.join(earlier, on="date", how="inner").select(
        "date", "release_date",
        pl.max_horizontal("_known_at", "_known_13w").alias("signal_known_at_utc"),
        (pl.col("_pit_bn") - pl.col("_pit_13w_bn")).round(9).alias("change_point_in_time_bn"),
        pl.when(pl.col("_pit_13w_bn") > 0).then((pl.col("_pit_bn") / pl.col("_pit_13w_bn") - 1) * 100)
        .alias("change_point_in_time_pct"),
    )
    current = regime_weekly.select("date", pl.col("change_13w_bn").alias("change_current_vintage_bn"),
                                   pl.col("change_13w_pct").alias("change_current_vintage_pct"))
    nonzero = pl.all_horizontal(pl.col(f"change_{c}_bn").is_not_null() & (pl.col(f"change_{c}_bn") != 0)
                                & pl.col(f"change_{c}_pct").is_not_null() for c in EVIDENCE_CLASSES)
    return (pit.join(current, on="date", how="inner").filter(nonzero)
            .with_columns(_end_of_day_utc(pl.col("release_date")).alias("release_end_utc")).sort("date"))


def _forward_returns(weeks: pl.DataFrame, closes: pl.DataFrame, clock: dt.date, horizon: int) -> pl.DataFrame:
    """Per week with a forward return over `horizon` weeks: date, entry_date, entry_known_at_utc,
    exit_date, log_return (module docstring)."""
    prices = closes.filter(pl.col("date") <= clock).sort("known_at_utc")
    entries = weeks.select("date", "release_date", "release_end_utc").sort("release_end_utc").join_asof(
        prices.select(pl.col("known_at_utc").alias("entry_known_at_utc"), pl.col("date").alias("entry_date"),
                      pl.col("value").alias("_entry")),
        left_on="release_end_utc", right_on="entry_known_at_utc", strategy="forward", allow_exact_matches=False,
    ).filter((pl.col("entry_date") - pl.col("release_date")).dt.total_days() <= ENTRY_WITHIN_DAYS)
    target = (pl.col("entry_date") + pl.duration(days=7 * horizon)).alias("window_end_date")
    out = (
        entries.with_columns(target).filter(pl.col("window_end_date") <= clock).sort("window_end_date")
        .join_asof(prices.sort("date").select(pl.col("date").alias("exit_date"), pl.col("value").alias("_exit")),
                   left_on="window_end_date", right_on="exit_date", strategy="backward",
                   tolerance=dt.timedelta(days=EXIT_MAX_AGE_DAYS))
        .filter(pl.col("_exit").is_not_null() & (pl.col("exit_date") > pl.col("entry_date")))
    )
    return out.select("date", "entry_date", "entry_known_at_utc", "exit_date", "window_end_date",
                      (pl.col("_exit") / pl.col("_entry")).log().alias("log_return")).sort("date")


def _quintile(change: pl.Expr, cuts: list[float]) -> pl.Expr:
    """'q1'…'q5': 1 + the number of breakpoints below the change."""
    rank = sum((change > c).cast(pl.Int32) for c in cuts) + 1
    return pl.format("q{}", rank)


def _breakpoints(changes: pl.Series) -> list[float] | None:
    """The 20/40/60/80 % quantiles (linear interpolation) of the fitting weeks' changes; None
    below MIN_FIT_WEEKS weeks."""
    if changes.len() < MIN_FIT_WEEKS:
        return None
    return [float(changes.quantile(q, interpolation="linear")) for q in (0.2, 0.4, 0.6, 0.8)]  # type: ignore[arg-type]


def _labelled(weeks: pl.DataFrame, start: dt.date) -> dict[str, pl.DataFrame]:
    """Per sample, the signal weeks with regime_<class> and quintile_<class> (the quintile's
    breakpoints fitted only as the sample allows) and the split date each week belongs to."""
    regimes = [pl.when(pl.col(f"change_{c}_bn") > 0).then(pl.lit("expanding")).otherwise(pl.lit("contracting"))
               .alias(f"regime_{c}") for c in EVIDENCE_CLASSES]
    base = weeks.with_columns(regimes)
    before = base.filter(pl.col("date") < start)

    def with_cuts(frame: pl.DataFrame, fit: pl.DataFrame) -> pl.DataFrame | None:
        labels = []
        for c in EVIDENCE_CLASSES:
            cuts = _breakpoints(fit[f"change_{c}_pct"])
            if cuts is None:
                return None
            labels.append(_quintile(pl.col(f"change_{c}_pct"), cuts).alias(f"quintile_{c}"))
        return frame.with_columns(labels)

    out = {}
    # in sample: breakpoints over the whole in-sample period (what a study on all the past does)
    out["in_sample"] = with_cuts(before, before)
    # expanding window: each year's weeks classified by breakpoints from the weeks before that
    # year's 1 January (a week counts as fitted data once its release day is past)
    parts = []
    for year in sorted(set(before["date"].dt.year().to_list())):
        split = dt.date(year, 1, 1)
        fit = base.filter(pl.col("release_date") < split)
        labelled = with_cuts(before.filter(pl.col("date").dt.year() == year), fit)
        if labelled is not None:
            parts.append(labelled.with_columns(pl.lit(split).alias("split_date")))
    out["expanding_window"] = pl.concat(parts) if parts else None
    # holdout: breakpoints from every week released before it starts
    out["holdout"] = with_cuts(base.filter(pl.col("date") >= start),
                               base.filter(pl.col("release_date") < start))
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------- the bootstrap


def _block_starts(n: int, block: int, cache: dict):
    """The resamples of a series of n weeks: BOOTSTRAP_RESAMPLES × k block starts, k = ceil(n /
    block), each uniform in 0 … n − 1 (circular blocks: a block running past the last week
    continues at the first, so every week is drawn equally often); the last block is cut to
    n − (k − 1)·block weeks. Depends only on (n, block) and the seed."""
    import numpy as np

    if (n, block) not in cache:
        k = -(-n // block)
        cache[(n, block)] = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, size=(BOOTSTRAP_RESAMPLES, k))
    return cache[(n, block)]


def _resampled_sums(values, block: int, cache: dict):
    """values (n weeks × V columns, in time order) → (B × V) column sums of each circular
    block resample of the weeks: a block's sum is read from the cumulative sums of the series
    wrapped once, so a resample costs one gather per block, not one per week."""
    import numpy as np

    n = values.shape[0]
    starts = _block_starts(n, block, cache)
    k = starts.shape[1]
    last = n - (k - 1) * block
    wrapped = np.vstack([values, values[: block - 1]])
    cum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(wrapped, axis=0)])
    full = cum[block: block + n] - cum[:n]  # sum of the block starting at each week
    partial = cum[last: last + n] - cum[:n]  # sum of the shortened last block
    sums = partial[starts[:, k - 1]]
    for j in range(k - 1):
        sums += full[starts[:, j]]
    return sums


def _intervals(samples):
    """Per column of samples (B resamples × C statistics, NaN where a resample does not define
    it): the percentile interval (numpy's linear method) of the defined resamples, as two
    arrays (low, high), NaN where fewer than MIN_DEFINED_SHARE of the resamples define it."""
    import numpy as np

    defined = (~np.isnan(samples)).sum(axis=0)
    ordered = np.sort(samples, axis=0)  # NaN sort last
    columns = np.arange(samples.shape[1])
    tail = (1 - CI_LEVEL) / 2
    bounds = []
    for q in (tail, 1 - tail):
        position = q * np.maximum(defined - 1, 0)
        below = np.floor(position).astype(int)
        above = np.minimum(below + 1, np.maximum(defined - 1, 0))
        low, high = ordered[below, columns], ordered[above, columns]
        value = low + (position - below) * (high - low)
        bounds.append(np.where(defined >= MIN_DEFINED_SHARE * samples.shape[0], value, np.nan))
    return bounds


def _non_overlapping(positions, horizon: int) -> int:
    """Greedy count of weeks whose forward windows do not overlap: the first week, then each
    next week at least `horizon` weeks after the last one counted."""
    import numpy as np

    count, i = 0, 0
    following = np.searchsorted(positions, positions + horizon, side="left")
    while i < positions.size:
        count += 1
        i = following[i]
    return count


def _none(value: float) -> float | None:
    return None if value != value else float(value)


def _group_rows(frame: pl.DataFrame, horizon: int, cache: dict) -> list[dict]:
    """Every bucket row of one sample × asset × horizon, both evidence classes, with the
    regime difference: point statistics of each bucket's weeks, and their intervals from one
    set of resamples of the sample's weeks."""
    import numpy as np

    n = frame.height
    r = frame["log_return"].to_numpy()
    dates = frame["date"].to_numpy()
    weeks = (dates - dates.min()).astype("timedelta64[D]").astype(np.int64) // 7 if n else np.zeros(0, np.int64)
    exits = frame["exit_date"].to_numpy()
    lead_hours = ((frame["entry_known_at_utc"] - frame["signal_known_at_utc"]).dt.total_seconds() / 3600).to_numpy()
    labels = {c: {"regime": frame[f"regime_{c}"].to_numpy(),
                  "quintile_13w_change_pct": frame[f"quintile_{c}"].to_numpy()} for c in EVIDENCE_CLASSES}
    keys = [(c, conditioning, bucket) for c in EVIDENCE_CLASSES for conditioning, bucket in BUCKETS]
    masks = np.column_stack([np.ones(n, bool) if cond == "all" else labels[c][cond] == bucket
                             for c, cond, bucket in keys]) if n else np.zeros((0, len(keys)), bool)
    block = min(block_length_weeks(horizon), n) or block_length_weeks(horizon)
    columns = {key: j for j, key in enumerate(keys)}
    differences = [(columns[(c, "regime", "expanding")], columns[(c, "regime", "contracting")])
                   for c in EVIDENCE_CLASSES]
    count = masks.sum(axis=0)
    if n:
        m = masks.astype(np.float64)
        sums = _resampled_sums(np.hstack([m, m * r[:, None], m * (r > 0)[:, None]]), block, cache)
        counts, totals, hits = np.split(sums, 3, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means, rates = totals / counts, hits / counts
        spread = np.column_stack([means[:, e] - means[:, k] for e, k in differences])
        low, high = _intervals(np.hstack([means, rates, spread]))
    else:
        low = high = np.full(3 * len(keys), np.nan)
    width = len(keys)
    rows = []
    for j, (c, conditioning, bucket) in enumerate(keys):
        mask = masks[:, j]
        x = r[mask]
        e, k = differences[EVIDENCE_CLASSES.index(c)]
        both = count[e] > 0 and count[k] > 0
        d = EVIDENCE_CLASSES.index(c)
        row = {"evidence_class": c, "conditioning": conditioning, "bucket": bucket, "block_length_weeks": block,
               "n_obs": int(x.size), "n_non_overlapping": _non_overlapping(weeks[mask], horizon) if x.size else 0,
               "regime_difference_log_return": float(r[masks[:, e]].mean() - r[masks[:, k]].mean()) if both else None,
               "regime_difference_ci_low": _none(low[2 * width + d]) if both else None,
               "regime_difference_ci_high": _none(high[2 * width + d]) if both else None,
               "mean_log_return": None, "median_log_return": None, "hit_rate_share": None,
               "mean_log_return_ci_low": None, "mean_log_return_ci_high": None,
               "hit_rate_ci_low_share": None, "hit_rate_ci_high_share": None,
               "first_week": None, "last_week": None, "last_price_date": None, "min_entry_after_signal_hours": None}
        if x.size:
            row.update(mean_log_return=float(x.mean()), median_log_return=float(np.median(x)),
                       hit_rate_share=float((x > 0).mean()),
                       mean_log_return_ci_low=_none(low[j]), mean_log_return_ci_high=_none(high[j]),
                       hit_rate_ci_low_share=_none(low[width + j]), hit_rate_ci_high_share=_none(high[width + j]),
                       first_week=dates[mask].min().item(), last_week=dates[mask].max().item(),
                       last_price_date=exits[mask].max().item(),
                       min_entry_after_signal_hours=float(lead_hours[mask].min()))
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the table


def _side(low: float | None, high: float | None, fewest_windows: int) -> str:
    """Where one sample's regime-difference interval lies, for the verdict."""
    if fewest_windows < MIN_NON_OVERLAPPING_PER_REGIME:
        return f"too few non-overlapping windows ({fewest_windows} in a regime)"
    if low is None or high is None:
        return "no interval"
    return "above 0" if low > 0 else "below 0" if high < 0 else "contains 0"


def _verdict(in_sample: str, holdout: str) -> tuple[str, str]:
    """The verdict and its reason from where the in-sample and holdout intervals lie."""
    reason = f"in sample: {in_sample}; holdout: {holdout}"
    if in_sample == holdout == "above 0":
        return SUPPORTED, reason
    if in_sample == holdout == "below 0":
        return CONTRADICTED, reason
    return INCONCLUSIVE, reason


def liquidity_forward_returns(
    regime_weekly: pl.DataFrame,
    first_release_daily: pl.DataFrame,
    closes: dict[str, pl.DataFrame | None],
    *,
    clock: dt.date,
) -> pl.DataFrame:
    """One row per evidence class × sample × asset × horizon × (conditioning, bucket).

    `regime_weekly`: `liquidity_regime_weekly` of today's weekly net liquidity (date,
    change_13w_bn, …). `first_release_daily`: `net_liquidity_daily` built from each
    component's first published values (date, net_liquidity_bn, fed_assets_obs_date and
    the three `_known_at_utc`). `closes`: asset name → daily closes (date, value in its own
    currency, known_at_utc), None when unavailable (its rows have n_obs 0). `clock`: the
    run's clock; no price after it is read. Columns, samples and the verdict rule as in
    LIQUIDITY_FORWARD_RETURNS.
    """
    if not closes:
        raise ValueError(f"{TABLE}: closes names no asset")
    for name in ("regime_weekly", "first_release_daily"):
        if locals()[name].height == 0:
            raise ValueError(f"{TABLE}: input {name} is empty")
    start = holdout_start(clock)
    # a sample without enough weeks to fit its quintiles (an as-of date in the first years) has
    # its rows with n_obs 0, so the grid is the same on every date
    samples = _labelled(_signal_weeks(regime_weekly, first_release_daily), start)
    cache: dict = {}
    rows = []
    weeks = pl.concat([s.select("date", "release_date", "release_end_utc") for s in samples.values()]
                      or [pl.DataFrame(schema=_WEEK_SCHEMA)]).unique("date")
    for asset, frame in closes.items():
        for horizon in HORIZONS_WEEKS:
            returns = None
            if frame is not None and frame.height:
                returns = _forward_returns(weeks, frame.select("date", "value", "known_at_utc"), clock, horizon)
            for sample in SAMPLES:
                labelled = samples.get(sample)
                chosen = pl.DataFrame(schema=_EMPTY_GROUP)
                if labelled is not None and returns is not None:
                    chosen = labelled.join(returns, on="date", how="inner")
                    # in sample and expanding window: only returns whose window closed before the holdout starts
                    if sample != "holdout":
                        chosen = chosen.filter(pl.col("window_end_date") < start)
                    chosen = chosen.sort("date")
                for row in _group_rows(chosen, horizon, cache):
                    rows.append({"sample": sample, "asset": asset, "horizon_weeks": horizon, **row})
    out = pl.DataFrame(rows, schema_overrides={k: v for k, v in LIQUIDITY_FORWARD_RETURNS.schema.items()},
                       infer_schema_length=None)
    out = out.with_columns(pl.lit(start).alias("holdout_start_date"),
                           pl.lit(BOOTSTRAP_RESAMPLES, pl.Int32).alias("bootstrap_resamples"))
    group = ["evidence_class", "asset", "horizon_weeks"]
    sides = (
        out.filter(pl.col("conditioning") == "regime")
        .group_by(*group, "sample", maintain_order=True)
        .agg(pl.col("regime_difference_ci_low").first(), pl.col("regime_difference_ci_high").first(),
             pl.col("n_non_overlapping").min().alias("fewest"))
    )
    where: dict[tuple, dict[str, str]] = {}
    for c, asset, horizon, sample, low, high, fewest in sides.iter_rows():
        where.setdefault((c, asset, horizon), {})[sample] = _side(low, high, fewest)
    verdicts = []
    for (c, asset, horizon), by in where.items():
        verdict, reason = _verdict(by.get("in_sample", "no interval"), by.get("holdout", "no interval"))
        verdicts.append({"evidence_class": c, "asset": asset, "horizon_weeks": horizon,
                         "verdict": verdict, "verdict_reason": reason})
    out = out.join(pl.DataFrame(verdicts, schema_overrides={"horizon_weeks": pl.Int32}), on=group, how="left")
    order = {name: i for i, name in enumerate(SAMPLES)}
    return (out.with_columns(pl.col("sample").replace_strict(order, return_dtype=pl.Int32).alias("_s"),
                             pl.int_range(pl.len()).alias("_row"))
            .sort("evidence_class", "asset", "horizon_weeks", "_s", "_row")
            .select(pl.col(n).cast(t) for n, t in LIQUIDITY_FORWARD_RETURNS.schema.items()))


_WEEK_SCHEMA = {"date": pl.Date, "release_date": pl.Date, "release_end_utc": pl.Datetime("us")}
_EMPTY_GROUP = {"date": pl.Date, "log_return": pl.Float64, "exit_date": pl.Date,
                "entry_known_at_utc": pl.Datetime("us"), "signal_known_at_utc": pl.Datetime("us"),
                **{f"{k}_{c}": pl.String for c in EVIDENCE_CLASSES for k in ("regime", "quintile")}}

_CI = f"{CI_LEVEL:.0%} moving-block bootstrap interval"

LIQUIDITY_FORWARD_RETURNS = TableSpec(
    name=TABLE,
    grain="one row per evidence class × sample × asset × horizon (4, 13, 26 weeks) × conditioning bucket",
    description=(
        "Does the claim hold? Each asset's forward log return after each H.4.1 week, by liquidity regime "
        "(expanding / contracting) and by quintile of the 13-week net-liquidity change in percent. Release day "
        "d_t: the "
        "first day of net_liquidity_daily (built from each component's FIRST published value) whose Fed-assets "
        "observation is week t. point_in_time: the 13-week change is net liquidity on d_t minus net liquidity "
        "on the release day of the week 91 days earlier, both as first published, both public by the end of "
        "d_t; current_vintage: change_13w_bn of today's revised liquidity_regime_weekly. Regime: 'expanding' "
        "when the change is > 0, 'contracting' when < 0; weeks whose change is unknown or 0 in either class are "
        "left out. Entry: the asset's first close known after the end of d_t (New York), within "
        f"{ENTRY_WITHIN_DAYS} days; exit: its last close on or before entry + 7·h days, at most "
        f"{EXIT_MAX_AGE_DAYS} days earlier; forward log return "
        "ln(exit / entry). A window ending after the run's clock is excluded, and no price after the clock is "
        "read. Both evidence classes use the same weeks, entries and exits. Samples: holdout = weeks from "
        f"holdout_start_date (the clock {HOLDOUT_YEARS} years earlier); in_sample = weeks whose window ends "
        "before it, with quintile breakpoints (20/40/60/80 % quantiles of the 13-week change in percent of the "
        "earlier week's net liquidity) fitted on all in-sample "
        "weeks; expanding_window = the same weeks, but each year's weeks get breakpoints fitted only on the "
        f"weeks released before that year's 1 January (from the first year with {MIN_FIT_WEEKS} such weeks); "
        "the holdout's breakpoints are fitted on the weeks released before it. The regime has no fitted "
        "parameter. Intervals: circular moving-block bootstrap (Politis & Romano) of the sample's weeks in time "
        "order, blocks of "
        f"block_length_weeks = max(horizon, {MIN_BLOCK_WEEKS}) consecutive weeks drawn with replacement and cut "
        f"to the sample's length, {BOOTSTRAP_RESAMPLES} resamples, numpy default_rng seed {BOOTSTRAP_SEED}, "
        f"{CI_LEVEL:.0%} percentile intervals; every bucket and the regime difference come from the same "
        "resamples; an interval is null when fewer than 95 % of resamples contain the bucket. Overlap: "
        "consecutive weeks' windows overlap (h weeks each), so n_obs overstates the evidence; the blocks keep "
        "that overlap inside each block, and n_non_overlapping counts the weeks whose windows do not overlap. "
        "Verdict per evidence class × asset × horizon: 'supported' when the regime difference (expanding − "
        "contracting) interval lies above 0 in both in_sample and holdout, 'contradicted' when below 0 in both, "
        f"'inconclusive' otherwise; a sample counts only when each regime has at least "
        f"{MIN_NON_OVERLAPPING_PER_REGIME} non-overlapping windows (verdict_reason says where each sample stands)."
    ),
    key=("evidence_class", "sample", "asset", "horizon_weeks", "conditioning", "bucket"),
    columns={
        "evidence_class": Column(pl.String(), (
            "'point_in_time' (regime as first published, known by the end of the release day) or 'current_vintage' "
            "(today's revised series)")),
        "sample": Column(pl.String(), (
            "'in_sample' (windows ending before holdout_start_date), 'expanding_window' (the same weeks, quintile "
            "breakpoints fitted only before each 1 January) or 'holdout' (weeks from holdout_start_date)")),
        "asset": Column(pl.String(), "asset name (bitcoin, nasdaq_100, gold, mstr, zcash)"),
        "horizon_weeks": Column(pl.Int32(), (
            "forward horizon h in weeks: the return runs from the entry close to the close on or before entry + 7·h "
            "days")),
        "conditioning": Column(pl.String(), (
            "'all' (every week of the sample), 'regime' or 'quintile_13w_change_pct'")),
        "bucket": Column(pl.String(), (
            "'all'; 'expanding' / 'contracting' (regime); 'q1' (lowest 13-week change in percent) … 'q5' (highest) "
            "for quintile_13w_change_pct")),
        "n_obs": Column(pl.Int32(), (
            "number of weeks in the bucket with a forward return; the regime buckets add up to 'all', and so do the "
            "quintiles")),
        "n_non_overlapping": Column(pl.Int32(), (
            "number of the bucket's weeks whose forward windows do not overlap (greedy: the first week, then each next"
            " one at least h weeks after the last counted)")),
        "mean_log_return": Column(pl.Float64(), (
            "mean forward log return ln(exit / entry) of the bucket's weeks, natural log (unitless); null when n_obs "
            "is 0")),
        "median_log_return": Column(pl.Float64(), (
            "median forward log return of the bucket's weeks, natural log (unitless); null when n_obs is 0")),
        "hit_rate_share": Column(pl.Float64(), (
            "share of the bucket's forward log returns above 0, a fraction in [0, 1]; null when n_obs is 0")),
        "mean_log_return_ci_low": Column(pl.Float64(), (
            f"lower bound of the {_CI} of mean_log_return, natural log (unitless); null when fewer than 95 % of "
            f"resamples contain the bucket")),
        "mean_log_return_ci_high": Column(pl.Float64(), (
            f"upper bound of the {_CI} of mean_log_return, natural log (unitless); null like the lower bound")),
        "hit_rate_ci_low_share": Column(pl.Float64(), (
            f"lower bound of the {_CI} of hit_rate_share, a fraction in [0, 1]; null like the mean's interval")),
        "hit_rate_ci_high_share": Column(pl.Float64(), (
            f"upper bound of the {_CI} of hit_rate_share, a fraction in [0, 1]; null like the mean's interval")),
        "regime_difference_log_return": Column(pl.Float64(), (
            "mean forward log return of expanding weeks minus that of contracting weeks in this evidence class × "
            "sample × asset × horizon (the same on each of its rows), natural log (unitless); null without weeks of "
            "both")),
        "regime_difference_ci_low": Column(pl.Float64(), (
            f"lower bound of the {_CI} of regime_difference_log_return (both regimes from the same resamples), natural "
            f"log (unitless); null when fewer than 95 % of resamples contain both regimes")),
        "regime_difference_ci_high": Column(pl.Float64(), (
            f"upper bound of the {_CI} of regime_difference_log_return, natural log (unitless); null like the lower "
            f"bound")),
        "verdict": Column(pl.String(), (
            "per evidence class × asset × horizon (the same on every sample's rows): 'supported' when the regime "
            "difference interval lies above 0 in both in_sample and holdout, 'contradicted' when below 0 in both, "
            f"else 'inconclusive'; a sample counts only with {MIN_NON_OVERLAPPING_PER_REGIME} non-overlapping "
            "windows in each regime")),
        "verdict_reason": Column(pl.String(), (
            "where each of the in_sample and holdout regime difference intervals lies: 'above 0', 'below 0', 'contains"
            " 0' or 'no interval'")),
        "first_week": Column(pl.Date(), (
            "first H.4.1 Wednesday (observation date) of the bucket's weeks; null when n_obs is 0")),
        "last_week": Column(pl.Date(), (
            "last H.4.1 Wednesday (observation date) of the bucket's weeks; null when n_obs is 0")),
        "last_price_date": Column(pl.Date(), (
            "latest close date any of the bucket's forward returns reads (never after the run's clock); null when "
            "n_obs is 0")),
        "min_entry_after_signal_hours": Column(pl.Float64(), (
            "smallest time, in hours, from the moment every net-liquidity value of a week's point-in-time change was "
            "public (latest known_at_utc) to when its entry close became known; > 0: every return starts after its "
            "regime was public; null when n_obs is 0")),
        "block_length_weeks": Column(pl.Int32(), (
            f"bootstrap block length in weeks: max(horizon_weeks, {MIN_BLOCK_WEEKS}), or the sample's length when "
            f"shorter")),
        "bootstrap_resamples": Column(pl.Int32(), (
            f"number of bootstrap resamples ({BOOTSTRAP_RESAMPLES}, numpy default_rng seed {BOOTSTRAP_SEED})")),
        "holdout_start_date": Column(pl.Date(), (
            f"first signal week of the holdout: the run's clock {HOLDOUT_YEARS} years earlier")),
    },
)

TABLE_SPECS: tuple[TableSpec, ...] = (LIQUIDITY_FORWARD_RETURNS,)
