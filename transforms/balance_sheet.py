"""The Fed balance sheet and the channels around it, week by week.

Four published tables: the H.4.1 balance sheet and its drivers (reserves, Treasuries, MBS,
standing repo), H.8 bank credit growth, the 30-year mortgage rate against the 10-year
Treasury, and the net-liquidity impulse (4- and 13-week change, its z-score, a regime flag).

Pure polars: frames in, frames out. Every input is a frame with exactly `date` (pl.Date,
observation date) and `value` (pl.Float64), sorted ascending, one row per date, already in
the units its parameter name states (`_bn` billions USD, `_pct` percent). Optional inputs
may be None: their columns are then null, with their declared dtype.

Changes "over k weeks" are matched by date (the observation dated exactly 7·k days
earlier), never by row position: a week missing from a series gives a null change for the
weeks that would have used it, instead of a change over the wrong span.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.align import INPUT_SCHEMA, checked_series, outstanding_overnight
from transforms.spec import Column, TableSpec

BN_DECIMALS = 9  # 1e-9 bn = one dollar: differences of bn values carry no binary noise
PP_DECIMALS = 9  # rates are quoted to 2 decimals; differences rounded the same way
ZSCORE_WINDOW_WEEKS = 156  # three years of weeks
STANDING_REPO_LOOKBACK_DAYS = 4
TREASURY_10Y_MAX_AGE_DAYS = 5
# a PMMS release moved by a holiday is still "the previous week" (gaps of 5..9 days occur)
MORTGAGE_PREVIOUS_WEEK_DAYS = (4, 10)

BALANCE_SHEET_LEVELS = ("fed_assets", "reserves", "treasuries", "mbs")
BANK_CREDIT_SERIES = ("bank_credit", "loans_leases", "other_deposits")



# ---------------------------------------------------------------- helpers


def _checked(table: str, name: str, frame: pl.DataFrame | None, *, optional: bool = False) -> pl.DataFrame | None:
    return checked_series(table, name, frame, optional=optional)


def _days_before(series: pl.DataFrame, days: int, alias: str) -> pl.DataFrame:
    """`series` (date, value) with `alias` = the value observed exactly `days` earlier (null if none)."""
    earlier = series.select((pl.col("date") + pl.duration(days=days)).alias("date"), pl.col("value").alias(alias))
    return series.join(earlier, on="date", how="left", maintain_order="left")


def _pct_change(now: str, base: str) -> pl.Expr:
    """(now / base − 1) · 100; null when the base is not positive (a percent of nothing)."""
    return pl.when(pl.col(base) > 0).then((pl.col(now) / pl.col(base) - 1) * 100)


def _select(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    return frame.select(pl.col(name).cast(dtype) for name, dtype in spec.schema.items()).sort("date")


# ---------------------------------------------------------------- Fed balance sheet


def _level_changes(series: pl.DataFrame, name: str) -> pl.DataFrame:
    """date, `<name>_bn`, `<name>_wow_bn` (vs 7 days earlier), `<name>_13w_change_bn` (vs 91 days earlier)."""
    out = _days_before(_days_before(series, 7, "_wk"), 91, "_13w")
    return out.select(
        "date",
        pl.col("value").alias(f"{name}_bn"),
        (pl.col("value") - pl.col("_wk")).round(BN_DECIMALS).alias(f"{name}_wow_bn"),
        (pl.col("value") - pl.col("_13w")).round(BN_DECIMALS).alias(f"{name}_13w_change_bn"),
    )


def fed_balance_sheet_weekly(
    fed_assets_bn: pl.DataFrame,
    reserves_bn: pl.DataFrame,
    treasuries_bn: pl.DataFrame,
    mbs_bn: pl.DataFrame,
    standing_repo_bn: pl.DataFrame | None = None,
    *,
    standing_repo_lookback_days: int = STANDING_REPO_LOOKBACK_DAYS,
) -> pl.DataFrame:
    """One row per H.4.1 Wednesday (the dates of `fed_assets_bn`, WALCL), billions of USD.

    Reserves (WRESBAL, week average ending that Wednesday), Treasuries (TREAST) and MBS
    (WSHOMCB) are joined on the same date; a week missing from one of them leaves its
    columns null on that row (the suite's not-null checks block it). For each of the four,
    `_wow_bn` is the change from the observation 7 days earlier and `_13w_change_bn` from
    the one 91 days earlier (matched by date: null when that week is missing).
    The standing repo (RPONTSYD, business days with an operation) is the amount outstanding
    that Wednesday, the rule of `transforms.liquidity._rrp_outstanding`: the Wednesday's
    operation, else the last operation within `standing_repo_lookback_days` before it
    (as-of backward, never a later day), else 0 with `standing_repo_obs_date` null.
    `standing_repo_bn` None (not in the offline snapshot): both standing-repo columns null.
    """
    table = "fed_balance_sheet_weekly"
    inputs = {"fed_assets": fed_assets_bn, "reserves": reserves_bn, "treasuries": treasuries_bn, "mbs": mbs_bn}
    for name, frame in inputs.items():
        _checked(table, f"{name}_bn", frame)
    repo = _checked(table, "standing_repo_bn", standing_repo_bn, optional=True)

    out = fed_assets_bn.select("date")
    for name, frame in inputs.items():
        out = out.join(_level_changes(frame, name), on="date", how="left", maintain_order="left")

    if repo is None:
        out = out.with_columns(
            pl.lit(None, pl.Float64()).alias("standing_repo_bn"), pl.lit(None, pl.Date()).alias("standing_repo_obs_date")
        )
    else:
        out = outstanding_overnight(out, repo, value="standing_repo_bn", obs_date="standing_repo_obs_date",
                                    lag_days=0, lookback_days=standing_repo_lookback_days)
    return _select(out, FED_BALANCE_SHEET_WEEKLY)


# ---------------------------------------------------------------- bank credit (H.8)


def _growth(series: pl.DataFrame, name: str) -> pl.DataFrame:
    """date, `<name>_bn` and its week-over-week, 13-week annualised and year-over-year growth, percent."""
    out = _days_before(_days_before(_days_before(series, 7, "_wk"), 91, "_13w"), 364, "_52w")
    return out.select(
        "date",
        pl.col("value").alias(f"{name}_bn"),
        _pct_change("value", "_wk").alias(f"{name}_wow_pct"),
        pl.when(pl.col("_13w") > 0)
        .then(((pl.col("value") / pl.col("_13w")) ** (52 / 13) - 1) * 100)
        .alias(f"{name}_13w_annualised_pct"),
        _pct_change("value", "_52w").alias(f"{name}_yoy_pct"),
    )


def bank_credit_weekly(
    bank_credit_bn: pl.DataFrame,
    loans_leases_bn: pl.DataFrame | None = None,
    other_deposits_bn: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per H.8 Wednesday (the dates of `bank_credit_bn`, TOTBKCR), billions of USD, SA.

    For bank credit, loans and leases (TOTLL) and other deposits (ODSACBW027SBOG), each on
    its own dates: `_wow_pct` = (x_t / x_{t−7d} − 1)·100, `_13w_annualised_pct` =
    ((x_t / x_{t−91d})^(52/13) − 1)·100 and `_yoy_pct` = (x_t / x_{t−364d} − 1)·100. The
    base is the observation dated exactly 7, 91 or 364 days earlier, so a missing week gives
    a null growth rate, never one over the wrong span; a non-positive base gives null too.
    Loans and deposits are joined to the bank-credit dates (a date they lack: null).
    `loans_leases_bn` / `other_deposits_bn` None (not in the offline snapshot): their four
    columns are null.
    """
    table = "bank_credit_weekly"
    _checked(table, "bank_credit_bn", bank_credit_bn)
    inputs = {
        "bank_credit": bank_credit_bn,
        "loans_leases": _checked(table, "loans_leases_bn", loans_leases_bn, optional=True),
        "other_deposits": _checked(table, "other_deposits_bn", other_deposits_bn, optional=True),
    }
    out = bank_credit_bn.select("date")
    for name, frame in inputs.items():
        series = pl.DataFrame(schema=INPUT_SCHEMA) if frame is None else frame
        out = out.join(_growth(series, name), on="date", how="left", maintain_order="left")
    return _select(out, BANK_CREDIT_WEEKLY)


# ---------------------------------------------------------------- mortgage rate


def mortgage_rate_weekly(
    mortgage_rate_30y_pct: pl.DataFrame,
    treasury_10y_pct: pl.DataFrame,
    *,
    treasury_max_age_days: int = TREASURY_10Y_MAX_AGE_DAYS,
) -> pl.DataFrame:
    """One row per Freddie Mac PMMS release (the dates of MORTGAGE30US: Thursdays since 2004,
    Fridays before; a day earlier when a holiday moves the release), percent.

    `mortgage_rate_wow_pp` is the change from the previous release, provided it is dated
    4 to 10 days earlier (a holiday-shifted week still counts; a longer hole gives null).
    `treasury_10y_pct` is DGS10 as of the release date: that day's yield, else the newest
    one before it within `treasury_max_age_days` (as-of backward: a bond-market holiday such
    as Veterans Day takes the day before, never a later day); `treasury_10y_obs_date` says
    which. `mortgage_spread_10y_pp` = mortgage rate − 10-year yield, percentage points.
    """
    table = "mortgage_rate_weekly"
    _checked(table, "mortgage_rate_30y_pct", mortgage_rate_30y_pct)
    _checked(table, "treasury_10y_pct", treasury_10y_pct)
    low, high = MORTGAGE_PREVIOUS_WEEK_DAYS
    previous = mortgage_rate_30y_pct.select(pl.col("date").alias("_prev_date"), pl.col("value").alias("_prev"))
    yields = treasury_10y_pct.select(pl.col("date").alias("treasury_10y_obs_date"), pl.col("value").alias("treasury_10y_pct"))
    out = (
        mortgage_rate_30y_pct.rename({"value": "mortgage_rate_30y_pct"})
        .with_columns((pl.col("date") - pl.duration(days=low)).alias("_prev_search"))
        .join_asof(
            previous,
            left_on="_prev_search",
            right_on="_prev_date",
            strategy="backward",
            tolerance=dt.timedelta(days=high - low),
        )
        .join_asof(
            yields,
            left_on="date",
            right_on="treasury_10y_obs_date",
            strategy="backward",
            tolerance=dt.timedelta(days=treasury_max_age_days),
            coalesce=False,
        )
        .with_columns(
            (pl.col("mortgage_rate_30y_pct") - pl.col("_prev")).round(PP_DECIMALS).alias("mortgage_rate_wow_pp"),
            (pl.col("mortgage_rate_30y_pct") - pl.col("treasury_10y_pct")).round(PP_DECIMALS).alias("mortgage_spread_10y_pp"),
        )
    )
    return _select(out, MORTGAGE_RATE_WEEKLY)


# ---------------------------------------------------------------- liquidity regime


def liquidity_regime_weekly(net_liquidity_bn: pl.DataFrame) -> pl.DataFrame:
    """One row per Wednesday of net liquidity (the `net_liquidity_weekly` table's date and
    net_liquidity_bn as `value`), billions of USD.

    `change_4w_bn` / `change_13w_bn`: change from the value dated exactly 28 / 91 days
    earlier (null when that week is missing); `_pct`: that change as a percent of the
    earlier value. `zscore_13w_change_3y` = (change_13w_bn − mean) / std, mean and sample
    std (ddof 1) over the trailing 156 weeks including this one (dates in (t − 1092 d, t]);
    null until all 156 of those weeks have a change_13w_bn, or when std is 0.
    `regime`: 'expanding' when change_13w_bn > 0, 'contracting' when < 0, null when the
    change is unknown (or exactly 0).
    """
    table = "liquidity_regime_weekly"
    _checked(table, "net_liquidity_bn", net_liquidity_bn)
    changes = _days_before(_days_before(net_liquidity_bn, 28, "_4w"), 91, "_13w").select(
        "date",
        pl.col("value").alias("net_liquidity_bn"),
        (pl.col("value") - pl.col("_4w")).round(BN_DECIMALS).alias("change_4w_bn"),
        _pct_change("value", "_4w").alias("change_4w_pct"),
        (pl.col("value") - pl.col("_13w")).round(BN_DECIMALS).alias("change_13w_bn"),
        _pct_change("value", "_13w").alias("change_13w_pct"),
    )
    window = f"{7 * ZSCORE_WINDOW_WEEKS}d"
    scored = (
        changes.filter(pl.col("change_13w_bn").is_not_null())
        .select(
            "date",
            pl.col("change_13w_bn").rolling_mean_by("date", window, min_samples=ZSCORE_WINDOW_WEEKS).alias("_mean"),
            pl.col("change_13w_bn").rolling_std_by("date", window, min_samples=ZSCORE_WINDOW_WEEKS, ddof=1).alias("_std"),
        )
    )
    change = pl.col("change_13w_bn")
    out = changes.join(scored, on="date", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("_std") > 0).then((change - pl.col("_mean")) / pl.col("_std")).alias("zscore_13w_change_3y"),
        pl.when(change > 0).then(pl.lit("expanding")).when(change < 0).then(pl.lit("contracting")).alias("regime"),
    )
    return _select(out, LIQUIDITY_REGIME_WEEKLY)


# ---------------------------------------------------------------- data dictionary

_WOW = "change from the observation 7 days earlier (null when that week is missing), billions USD"
_13W = "change from the observation 91 days (13 weeks) earlier (null when that week is missing), billions USD"
_BS_LEVELS = {
    "fed_assets": "Fed total assets (WALCL), Wednesday level",
    "reserves": "reserve balances with Federal Reserve Banks (WRESBAL), average of the week ending that Wednesday",
    "treasuries": "U.S. Treasury securities held outright (TREAST), Wednesday level",
    "mbs": "mortgage-backed securities held outright (WSHOMCB), Wednesday level",
}

FED_BALANCE_SHEET_WEEKLY = TableSpec(
    name="fed_balance_sheet_weekly",
    grain="one row per H.4.1 Wednesday",
    description=(
        "The Fed balance sheet and its drivers on each H.4.1 Wednesday (the WALCL dates), billions of USD: "
        "total assets, reserves, Treasuries, MBS (joined on the same Wednesday) and the standing repo "
        "facility outstanding that Wednesday (the last operation within 4 days before it, as-of backward, "
        "else 0), with week-over-week and 13-week changes matched by date. Reserve-management purchases "
        "show as growth of total assets and Treasuries. Dated by observation (published the Thursday after)."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "H.4.1 Wednesday (observation date)"),
        **{f"{n}_bn": Column(pl.Float64(), f"{d}, billions USD") for n, d in _BS_LEVELS.items()},
        "standing_repo_bn": Column(
            pl.Float64(),
            "standing repo facility outstanding that Wednesday (RPONTSYD; a day without an operation carries the "
            "last operation day within 4 days; 0 when none), billions USD; null when the series is not available",
        ),
        "standing_repo_obs_date": Column(
            pl.Date(), "operation day the standing repo amount comes from; null when there was none (amount 0)"
        ),
        **{
            col: Column(pl.Float64(), f"{n.replace('_', ' ')}: {text}")
            for n in BALANCE_SHEET_LEVELS
            for col, text in ((f"{n}_wow_bn", _WOW), (f"{n}_13w_change_bn", _13W))
        },
    },
)

_BC_LEVELS = {
    "bank_credit": ("bank credit, all commercial banks (TOTBKCR)", ""),
    "loans_leases": ("loans and leases in bank credit, all commercial banks (TOTLL)", "; null when TOTLL is not available"),
    "other_deposits": (
        "other deposits, all commercial banks (ODSACBW027SBOG)", "; null when ODSACBW027SBOG is not available"
    ),
}

BANK_CREDIT_WEEKLY = TableSpec(
    name="bank_credit_weekly",
    grain="one row per H.8 Wednesday",
    description=(
        "H.8 bank credit, loans and leases and other deposits of all commercial banks on each Wednesday of "
        "TOTBKCR, billions of USD, seasonally adjusted, with week-over-week, 13-week annualised and "
        "year-over-year growth in percent. Each growth rate compares with the observation dated exactly "
        "7, 91 or 364 days earlier (null when that week is missing); loans and deposits are joined on the "
        "same Wednesday. Dated by observation (H.8 is published about 9 days later)."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "H.8 Wednesday (observation date)"),
        **{
            col: Column(pl.Float64(), text)
            for n, (what, missing) in _BC_LEVELS.items()
            for col, text in (
                (f"{n}_bn", f"{what}, seasonally adjusted, billions USD{missing}"),
                (f"{n}_wow_pct", f"{n}_bn growth from 7 days earlier: (x_t / x_t−7d − 1)·100, percent{missing}"),
                (
                    f"{n}_13w_annualised_pct",
                    f"{n}_bn growth over 13 weeks, annualised: ((x_t / x_t−91d)^(52/13) − 1)·100, percent{missing}",
                ),
                (f"{n}_yoy_pct", f"{n}_bn growth from 364 days earlier: (x_t / x_t−364d − 1)·100, percent{missing}"),
            )
        },
    },
)

MORTGAGE_RATE_WEEKLY = TableSpec(
    name="mortgage_rate_weekly",
    grain="one row per Freddie Mac PMMS release date",
    description=(
        "The 30-year fixed mortgage rate (Freddie Mac PMMS, MORTGAGE30US) on each release date, with its "
        "week-over-week change and its spread over the 10-year Treasury yield (DGS10) as of the release "
        "date: that day's yield, else the newest within 5 days before it (as-of backward, never a later "
        "day). Percent and percentage points."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "PMMS release date (Thursday since 2004, Friday before; a day earlier when a holiday moves it)"),
        "mortgage_rate_30y_pct": Column(pl.Float64(), "30-year fixed mortgage average rate (MORTGAGE30US), percent"),
        "mortgage_rate_wow_pp": Column(
            pl.Float64(),
            "change from the previous release dated 4–10 days earlier (null otherwise), percentage points",
        ),
        "treasury_10y_pct": Column(
            pl.Float64(), "10-year Treasury constant-maturity yield (DGS10) as of the release date, percent"
        ),
        "treasury_10y_obs_date": Column(
            pl.Date(), "day the 10-year yield comes from (the release date or up to 5 days before); null when none"
        ),
        "mortgage_spread_10y_pp": Column(
            pl.Float64(), "mortgage_rate_30y_pct − treasury_10y_pct, percentage points"
        ),
    },
)

LIQUIDITY_REGIME_WEEKLY = TableSpec(
    name="liquidity_regime_weekly",
    grain="one row per H.4.1 Wednesday",
    description=(
        "The liquidity impulse: 4- and 13-week change of net liquidity (net_liquidity_weekly), billions of "
        "USD and percent, matched by date (28 / 91 days earlier; null when that week is missing); the "
        "z-score of the 13-week change against the trailing 156 weeks including the current one; and an "
        "expanding / contracting regime flag from the sign of the 13-week change."
    ),
    key=("date",),
    columns={
        "date": Column(pl.Date(), "H.4.1 Wednesday (observation date)"),
        "net_liquidity_bn": Column(pl.Float64(), "net liquidity (net_liquidity_weekly), billions USD"),
        "change_4w_bn": Column(pl.Float64(), "net_liquidity_bn − its value 28 days earlier, billions USD"),
        "change_4w_pct": Column(pl.Float64(), "change_4w_bn as a percent of the value 28 days earlier, percent"),
        "change_13w_bn": Column(pl.Float64(), "net_liquidity_bn − its value 91 days earlier, billions USD"),
        "change_13w_pct": Column(pl.Float64(), "change_13w_bn as a percent of the value 91 days earlier, percent"),
        "zscore_13w_change_3y": Column(
            pl.Float64(),
            "(change_13w_bn − mean) / sample std (ddof 1) over the trailing 156 weeks including this one; "
            "null until those 156 weeks all have a change_13w_bn, standard deviations (unitless)",
        ),
        "regime": Column(
            pl.String(), "'expanding' when change_13w_bn > 0, 'contracting' when < 0, null when unknown"
        ),
    },
)

TABLE_SPECS: tuple[TableSpec, ...] = (
    FED_BALANCE_SHEET_WEEKLY,
    BANK_CREDIT_WEEKLY,
    MORTGAGE_RATE_WEEKLY,
    LIQUIDITY_REGIME_WEEKLY,
)
