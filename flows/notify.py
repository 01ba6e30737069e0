"""Run summaries as Prefect artifacts, and a webhook for what an operator must act on
(a blocked publish, a late series)."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Mapping

log = logging.getLogger(__name__)

WEBHOOK_ENV = "NETLIQ_WEBHOOK_URL"
WEBHOOK_TIMEOUT_S = 10


def summary_markdown(*, run_id: str, status: str, clock, version, message: str, row_counts: Mapping[str, int],
                     stale: Mapping[str, str], unavailable: Mapping[str, str], late: Mapping[str, str],
                     failures: list[str], timings: Mapping[str, float],
                     revised: Mapping[str, int] | None = None, held: Mapping[str, str] | None = None,
                     held_tables: Mapping[str, str] | None = None, row_changes: Mapping[str, int] | None = None,
                     revised_rows: list[dict] | None = None, rows_added: Mapping[str, int] | None = None) -> str:
    lines = [f"# netliq run {status}", "", f"- run: `{run_id}`", f"- clock: {clock}",
             f"- version: {version if version is not None else '—'}", f"- {message}", ""]
    if failures:
        lines += ["## Blocking checks that failed", ""] + [f"```\n{f}\n```" for f in failures] + [""]
    if row_counts:
        changes = row_changes or {}
        lines += ["## Tables", "", "| table | rows | rows vs previous version | stale or held |", "|---|---:|---:|---|"]
        lines += [f"| {t} | {n} | {changes.get(t, 0):+d} | {stale.get(t, '')} |" for t, n in row_counts.items()]
        lines += [""]
    if rows_added and any(rows_added.values()):
        lines += ["## Raw rows added (new or revised observations)", ""]
        lines += [f"- {k}: {n}" for k, n in rows_added.items() if n] + [""]
    if held_tables:
        lines += ["## Tables held at their last good version", "",
                  "A series whose registry policy is `block` is late or failing; only the tables that read it "
                  "were held, the others were rebuilt.", ""]
        lines += [f"- {t}: {why}" for t, why in held_tables.items()] + [""]
    if late or unavailable or held:
        lines += ["## Series", ""]
        lines += [f"- held (policy block): {k}: {v}" for k, v in (held or {}).items()]
        lines += [f"- late: {k}" for k in late] + [f"- unavailable: {k} ({v})" for k, v in unavailable.items()]
        lines += [""]
    if revised:
        lines += ["## Revised since the last run", ""] + [f"- {k}: {n} observation(s)" for k, n in revised.items()]
        lines += [""]
    if revised_rows:
        lines += ["| series | date | old value | new value | public since (UTC) |", "|---|---|---:|---:|---|"]
        lines += [f"| {r['series_id']} | {r['obs_date']} | {r['old_value']} | {r['new_value']} | {r['known_at_utc']} |"
                  for r in revised_rows]
        lines += ["", "(every revision: the published `revisions` table)", ""]
    if timings:
        lines += ["## Time per step (s)", "", "| step | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in timings.items()]
    return "\n".join(lines)


def publish_artifacts(markdown: str, row_counts: Mapping[str, int], stale: Mapping[str, str]) -> None:
    """The run summary as a markdown artifact and a table artifact (no-ops outside a flow run)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_markdown_artifact(markdown, key="netliq-run-summary", description="what this netliq run did")
    if row_counts:
        create_table_artifact(
            [{"table": t, "rows": n, "stale": stale.get(t, "")} for t, n in row_counts.items()],
            key="netliq-tables", description="published tables: rows and staleness",
        )


def notify(event: str, payload: dict, env: Mapping[str, str] = os.environ) -> bool:
    """POST `payload` as JSON to $NETLIQ_WEBHOOK_URL; a notification that fails is logged,
    never fatal to the run. Returns whether it was delivered."""
    url = env.get(WEBHOOK_ENV)
    if not url:
        return False
    body = json.dumps({"event": event, **payload}, default=str).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            return 200 <= response.status < 300
    except OSError as exc:
        log.warning("netliq: webhook notification %s failed: %s", event, exc)
        return False
