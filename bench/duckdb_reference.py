"""rules §7's reference: the `customers` report as one DuckDB SQL query over CSVs of the same data.

    python bench/duckdb_reference.py export --db sqlite:///bench/out/l.db --out bench/out/csv
    python bench/duckdb_reference.py run --csv bench/out/csv --start 2026-06-01 --end 2026-08-30

`export` writes the store's frames as CSV (events rolled up, each row's own cost already priced, as the
engine sees them); `run` is what is timed: a new process that loads the CSVs into DuckDB and runs the
attribution (mapping precedence, candidate events, coverage by the events' tokens with the uncovered rest
left to the row, largest-remainder split), the revenue spreading and
the per-customer sums, then prints a checksum to compare with the engine's report.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CUSTOMERS_SQL = """
WITH
-- CSV reads an empty string as NULL: the store's empty key parts and features come back as ''
usage AS (
  SELECT * REPLACE (coalesce(api_key_id, '') AS api_key_id, coalesce(project_id, '') AS project_id,
                    coalesce(user_id, '') AS user_id)
  FROM usage_csv WHERE day >= DATE '{start}' AND day < DATE '{end}'),
events_in_range AS (
  SELECT * REPLACE (coalesce(api_key_id, '') AS api_key_id, coalesce(feature, '') AS feature,
                    coalesce(metadata_json, '') AS metadata_json)
  FROM events_csv WHERE day >= DATE '{start}' AND day < DATE '{end}'),
events AS (
  SELECT *, row_number() OVER (ORDER BY day, provider, model, customer_id, feature, api_key_id, metadata_json,
                                        has_cost) AS event_row,
         regexp_replace(lower(model), '^.*/', '') AS model_key
  FROM events_in_range),
mapped AS (
  SELECT u.*, regexp_replace(lower(u.model), '^.*/', '') AS model_key,
    coalesce(
      (SELECT customer_id FROM mappings_csv m WHERE m.dimension = 'api_key_id' AND m.value = u.api_key_id
         AND u.api_key_id <> '' AND m.provider = u.provider),
      (SELECT customer_id FROM mappings_csv m WHERE m.dimension = 'api_key_id' AND m.value = u.api_key_id
         AND u.api_key_id <> '' AND m.provider = '*'),
      (SELECT customer_id FROM mappings_csv m WHERE m.dimension = 'project_id' AND m.value = u.project_id
         AND u.project_id <> '' AND m.provider = u.provider),
      (SELECT customer_id FROM mappings_csv m WHERE m.dimension = 'project_id' AND m.value = u.project_id
         AND u.project_id <> '' AND m.provider = '*'),
      (SELECT customer_id FROM mappings_csv m WHERE m.dimension = 'user_id' AND m.value = u.user_id
         AND u.user_id <> '' AND m.provider = u.provider),
      (SELECT customer_id FROM mappings_csv m WHERE m.dimension = 'user_id' AND m.value = u.user_id
         AND u.user_id <> '' AND m.provider = '*')) AS mapped_customer
  FROM usage u),
pairs AS (
  SELECT r.usage_id, e.event_row, e.customer_id, e.cost_micros AS wc, e.requests AS ereq,
         e.input_tokens AS ei, e.cached_input_tokens AS ec, e.cache_write_tokens AS ew, e.output_tokens AS eo,
         e.input_tokens + e.cached_input_tokens + e.cache_write_tokens + e.output_tokens AS wt
  FROM mapped r JOIN events e
    ON e.day = r.day AND e.provider = r.provider AND e.model_key = r.model_key
   AND (r.api_key_id = '' OR e.api_key_id = '' OR e.api_key_id = r.api_key_id)
  WHERE r.mapped_customer IS NULL OR e.customer_id = r.mapped_customer),
-- §4.2 step 3: the candidates take the share of the row that their tokens cover (half-even to the micro)
candidate_totals AS (SELECT usage_id, sum(wt) AS ct FROM pairs GROUP BY usage_id),
coverage AS (
  SELECT m.usage_id, m.mapped_customer, m.cost_micros, t.ct IS NOT NULL AS has_candidates,
         m.input_tokens + m.cached_input_tokens + m.cache_write_tokens + m.output_tokens AS rt,
         coalesce(t.ct, 0) AS ct, m.cost_micros::HUGEINT * coalesce(t.ct, 0) AS n
  FROM mapped m LEFT JOIN candidate_totals t USING (usage_id)),
quotients AS (  -- floor division whatever the sign (a credit row has a negative cost)
  SELECT *, n // greatest(rt, 1) - CASE WHEN n % greatest(rt, 1) < 0 THEN 1 ELSE 0 END AS q FROM coverage),
covered AS (
  SELECT *, CASE WHEN NOT has_candidates THEN 0
                 WHEN ct >= rt OR rt = 0 THEN cost_micros
                 WHEN 2 * (n - q * rt) > rt OR (2 * (n - q * rt) = rt AND q % 2 <> 0) THEN q + 1
                 ELSE q END AS covered_micros
  FROM quotients),
weighted AS (
  SELECT p.*, c.covered_micros AS total,
         CASE WHEN sum(wc) OVER (PARTITION BY p.usage_id) = 0 THEN wt ELSE wc END AS w
  FROM pairs p JOIN covered c USING (usage_id)),
shares AS (
  SELECT *, CASE WHEN sum(w) OVER (PARTITION BY usage_id) = 0 THEN 1 ELSE w END AS w2,
            CASE WHEN sum(w) OVER (PARTITION BY usage_id) = 0 THEN count(*) OVER (PARTITION BY usage_id)
                 ELSE sum(w) OVER (PARTITION BY usage_id) END AS wsum
  FROM weighted),
exact AS (SELECT *, total::HUGEINT * w2 AS x FROM shares),
floors AS (  -- DuckDB's // truncates; the engine floors (a credit row splits into negative parts)
  SELECT *, x // wsum - CASE WHEN x % wsum < 0 THEN 1 ELSE 0 END AS fl,
            x - (x // wsum - CASE WHEN x % wsum < 0 THEN 1 ELSE 0 END) * wsum AS rest FROM exact),
split AS (
  SELECT customer_id,
         fl + CASE WHEN row_number() OVER (PARTITION BY usage_id ORDER BY rest DESC, event_row) - 1
                        < total - sum(fl) OVER (PARTITION BY usage_id) THEN 1 ELSE 0 END AS part
  FROM floors),
lonely AS (
  SELECT coalesce(mapped_customer, '(unattributed)') AS customer_id, cost_micros - covered_micros AS part
  FROM covered WHERE NOT has_candidates OR (ct < rt AND rt <> 0)),
uncovered AS (
  SELECT e.customer_id, e.cost_micros AS part FROM events e
  WHERE NOT EXISTS (SELECT 1 FROM usage u WHERE u.day = e.day AND u.provider = e.provider)),
cost AS (
  SELECT customer_id, sum(part) AS cost_micros FROM (
    SELECT * FROM split UNION ALL SELECT * FROM lonely UNION ALL SELECT * FROM uncovered) GROUP BY 1),
lines AS (
  SELECT customer_id, service_start, greatest(date_diff('day', service_start, service_end), 1) AS days,
         amount_usd_cents AS n,
         greatest(service_start, DATE '{start}') AS a,
         least(greatest(service_end, service_start + 1), DATE '{end}') AS b
  FROM revenue_csv WHERE amount_usd_cents IS NOT NULL),
daily AS (
  SELECT customer_id,
         sign(n) * (abs(n) // days + CASE WHEN date_diff('day', service_start, d::DATE) < abs(n) % days
                                          THEN 1 ELSE 0 END) AS cents
  FROM lines, generate_series(a, b - 1, INTERVAL 1 DAY) AS g(d) WHERE a < b),
revenue AS (SELECT customer_id, sum(cents) * 10000 AS revenue_micros FROM daily GROUP BY 1)
SELECT coalesce(c.customer_id, r.customer_id) AS customer_id,
       coalesce(r.revenue_micros, 0) AS revenue_micros, coalesce(c.cost_micros, 0) AS cost_micros
FROM cost c FULL JOIN revenue r USING (customer_id)
"""


def export(db: str, out: Path) -> None:
    """Write the frames the engine reads as CSV files."""
    sys.path.insert(0, str(ROOT))
    from margin_core.store.db import make_engine
    from margin_core.workspace import load_workspace, priced_store_frames

    out.mkdir(parents=True, exist_ok=True)
    workspace = load_workspace(make_engine(db))
    usage, events = priced_store_frames(workspace)
    usage.drop("price_known").write_csv(out / "usage.csv")
    events.drop("price_known", "event_row").write_csv(out / "events.csv")
    workspace.mappings.write_csv(out / "mappings.csv")
    workspace.revenue.write_csv(out / "revenue.csv")
    print(f"exported to {out}")


def run(csv: Path, *, start: date, end: date) -> None:
    """Load the CSVs into DuckDB and compute the customers report; print timings and a checksum."""
    import duckdb

    began = time.perf_counter()
    con = duckdb.connect()
    for name in ("usage", "events", "mappings", "revenue"):
        con.execute(f"CREATE TABLE {name}_csv AS SELECT * FROM read_csv_auto('{csv / f'{name}.csv'}')")
    loaded = time.perf_counter()
    rows = con.execute(CUSTOMERS_SQL.format(start=start, end=end)).fetchall()
    done = time.perf_counter()
    print(f"duckdb: load {loaded - began:.2f}s, query {done - loaded:.2f}s, total {done - began:.2f}s")
    print(f"digest {digest(rows)}")


def digest(rows: list[tuple[str, int, int]]) -> str:
    """SHA-256 of the sorted (customer_id, revenue_micros, cost_micros) rows that are not all zero."""
    text = "\n".join(f"{c},{int(r)},{int(k)}" for c, r, k in sorted(rows) if r or k)
    return hashlib.sha256(text.encode()).hexdigest()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    exp = commands.add_parser("export")
    exp.add_argument("--db", required=True)
    exp.add_argument("--out", type=Path, required=True)
    go = commands.add_parser("run")
    go.add_argument("--csv", type=Path, required=True)
    go.add_argument("--start", type=date.fromisoformat, required=True)
    go.add_argument("--end", type=date.fromisoformat, required=True)
    args = parser.parse_args()
    if args.command == "export":
        export(args.db, args.out)
    else:
        run(args.csv, start=args.start, end=args.end)
