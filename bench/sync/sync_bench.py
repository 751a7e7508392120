#!/usr/bin/python3
"""One-way replication: pymigrate (logical decoding, and "trigger": the
same subscription reading the provider by trigger capture, whose triggers
also slow the provider's load) against native logical replication and
pglogical, measured in the same run on the same two clusters (started by
bench/sync/run.sh with pm-cluster; PM_PROVIDER_* and PM_SUBSCRIBER_* come
from there).

Each system gets its own pair of databases holding the sample monolith
(scale 1, the same rows on both sides, so no initial copy is timed). The
systems take turns, 3 per system and workload, in a rotating order, each
enabled only during its turn (so one walsender decodes at a time); every
figure is the median of a system's 3 turns. Two workloads from pgbench
clients on the provider (4 clients, 2 threads):

  update-heavy  per transaction: UPDATE stock_levels (composite key) and
                UPDATE products (a row with a large description)
  insert-heavy  per transaction: 2 INSERT order_items, 1 INSERT stock_movements

Measurements per system and workload:

  sustained   unthrottled load for SECONDS (default 5); a marker row is
              committed when the load ends; sustained changes/s = changes committed by the
              load / (load time + time until the marker is applied). When
              the subscriber keeps up this equals the provider's rate (the
              load generator is the limit); when it falls behind it drops.
              "catch-up" is the marker's delay.
  capacity    the subscription is disabled while SECONDS of load build a
              backlog, then enabled: backlog changes / time from enable
              until the marker is applied (includes the worker's start).
  latency     load at a fixed rate (10,000 changes/s, the target, if the
              provider manages it; the achieved rate is printed); 2 % of
              the transactions are probes: INSERT bench_probe, whose
              sent_at is clock_timestamp() in the provider's transaction
              (its last statement, committed right after) and whose
              received_at is set by an ALWAYS BEFORE INSERT trigger in the
              subscriber's apply transaction (committed right after). Both
              clocks are this machine's, so latency = received_at - sent_at
              with no clock skew; it underestimates commit-to-visible by
              the provider's commit time and the subscriber's time from
              trigger to commit (tens of microseconds each for these small
              transactions). p50/p95/p99 over the probes; "p95 at max" is
              the same over the probes of the unthrottled runs.
"""
import os

from benchpg import (TOP, cluster_dsn, connect, dsn, medians, pgbench as run_pgbench, preload_peers, print_head,
                     psql_file, wait)

SECONDS = float(os.environ.get("SYNC_BENCH_SECONDS", "5"))
SYSTEMS = os.environ.get("SYNC_BENCH_SYSTEMS", "pymigrate,trigger,native,pglogical").split(",")
TARGET_CHANGES = 10000
CLIENTS = 4
REPS = 3
PROV, SUB = cluster_dsn("provider"), cluster_dsn("subscriber")
TABLES = ["stock_levels", "products", "order_items", "stock_movements", "bench_probe"]

WORKLOADS = {
    "update-heavy": (2, """\\set v random(1, 4000)
\\set p random(1, 1500)
BEGIN;
UPDATE stock_levels SET on_hand = on_hand + 1, updated_at = clock_timestamp()
 WHERE warehouse_id = 1 + :v % 6 AND variant_id = :v;
UPDATE products SET price = price + 0.01, updated_at = clock_timestamp() WHERE id = :p;
END;
"""),
    "insert-heavy": (3, """\\set o random(1, 8000)
\\set v random(1, 4000)
BEGIN;
INSERT INTO order_items (order_id, variant_id, quantity, unit_price) VALUES (:o, :v, 1, 9.99);
INSERT INTO order_items (order_id, variant_id, quantity, unit_price) VALUES (:o, :v, 2, 19.99);
INSERT INTO stock_movements (warehouse_id, variant_id, kind, quantity, reference)
VALUES (1 + :v % 6, :v, 'sale', -1, 'bench');
END;
"""),
}
PROBE = "INSERT INTO bench_probe (phase) VALUES (:phase);\n"
PROBE_WEIGHT = 2


def make_databases(db):
    sample = os.path.join(TOP, "sample")
    for base in (PROV, SUB):
        with connect(base) as c:
            c.execute(f"CREATE DATABASE {db}")
        # The same generated rows on both sides (data.sql seeds random()).
        psql_file(base, db, f"{sample}/schema.sql")
        psql_file(base, db, f"{sample}/data.sql", "scale=1")
        psql_file(base, db, f"{sample}/constraints.sql")
        with connect(base, db) as c:
            c.execute("CREATE TABLE bench_probe (id bigserial PRIMARY KEY, phase int NOT NULL,"
                      " sent_at timestamptz NOT NULL DEFAULT clock_timestamp(), received_at timestamptz)")
    with connect(SUB, db) as c:
        c.execute("""CREATE FUNCTION bench_received() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN NEW.received_at := clock_timestamp(); RETURN NEW; END $$""")
        c.execute("CREATE TRIGGER bench_received BEFORE INSERT ON bench_probe "
                  "FOR EACH ROW EXECUTE FUNCTION bench_received()")
        c.execute("ALTER TABLE bench_probe ENABLE ALWAYS TRIGGER bench_received")


class System:
    def __init__(self, name):
        self.name = name
        self.db = f"bench_{name}"

    def setup(self):
        make_databases(self.db)
        p, s = connect(PROV, self.db), connect(SUB, self.db)
        if self.name in ("pymigrate", "trigger"):
            for c in (p, s):
                c.execute("CREATE EXTENSION IF NOT EXISTS pymigrate")
            # Named per system: replication origins are per cluster.
            capture = "trigger" if self.name == "trigger" else "logical"
            s.execute("SELECT pymigrate.create_subscription(%s, %s, %s, copy_data => false, "
                      "options => jsonb_build_object('capture', %s::text))",
                      (self.db, dsn(PROV, self.db), TABLES, capture))
            wait(lambda: s.execute("SELECT state FROM pymigrate.subscription_status").fetchone()[0] == "streaming")
        elif self.name == "native":
            p.execute("CREATE PUBLICATION bench FOR TABLE " + ", ".join(TABLES))
            s.execute(f"CREATE SUBSCRIPTION bench CONNECTION '{dsn(PROV, self.db)}' PUBLICATION bench "
                      "WITH (copy_data = false)")
        else:
            for c, node, base in ((p, "provider", PROV), (s, "subscriber", SUB)):
                c.execute("CREATE EXTENSION pglogical")
                c.execute("SELECT pglogical.create_node(node_name := %s, dsn := %s)", (node, dsn(base, self.db)))
            for t in TABLES:
                p.execute("SELECT pglogical.replication_set_add_table('default', %s, synchronize_data := false)",
                          (t,))
            s.execute("SELECT pglogical.create_subscription(subscription_name := 'bench', provider_dsn := %s, "
                      "replication_sets := ARRAY['default'], synchronize_structure := false, "
                      "synchronize_data := false)", (dsn(PROV, self.db),))
            wait(lambda: s.execute("SELECT status FROM pglogical.show_subscription_status('bench')")
                 .fetchone()[0] == "replicating")
        self.p, self.s = p, s
        self.marker()  # replicating end to end

    def enable(self, on):
        s = self.s
        if self.name in ("pymigrate", "trigger"):
            s.execute(f"SELECT pymigrate.{'enable' if on else 'disable'}_subscription(%s)", (self.db,))
            if not on:
                wait(lambda: s.execute("SELECT worker_pid IS NULL FROM pymigrate.subscription_status")
                     .fetchone()[0])
        elif self.name == "native":
            s.execute(f"ALTER SUBSCRIPTION bench {'ENABLE' if on else 'DISABLE'}")
            if not on:
                wait(lambda: s.execute("SELECT pid IS NULL FROM pg_stat_subscription WHERE subname = 'bench'")
                     .fetchone()[0])
        else:
            s.execute(f"SELECT pglogical.alter_subscription_{'enable' if on else 'disable'}('bench', true)")
            if not on:
                wait(lambda: s.execute("SELECT status FROM pglogical.show_subscription_status('bench')")
                     .fetchone()[0] == "disabled")

    def marker(self, timeout=600):
        """Commits a probe on the provider and waits until it is applied;
        returns (provider commit-ish time, subscriber apply time) as epochs."""
        pid, sent = self.p.execute("INSERT INTO bench_probe (phase) VALUES (-1) "
                                   "RETURNING id, extract(epoch FROM sent_at)").fetchone()
        got = wait(lambda: self.s.execute("SELECT extract(epoch FROM received_at) FROM bench_probe WHERE id = %s",
                                          (pid,)).fetchone(), timeout, 0.01)
        return float(sent), float(got[0])

    def teardown(self):
        if self.name in ("pymigrate", "trigger"):
            self.s.execute("SELECT pymigrate.drop_subscription(%s)", (self.db,))
        elif self.name == "native":
            self.s.execute("DROP SUBSCRIPTION bench")
        else:
            self.s.execute("SELECT pglogical.drop_subscription('bench')")
            self.p.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                           "WHERE database = %s", (self.db,))
        self.p.close()
        self.s.close()


def pgbench(system, script, phase, seconds, rate=None):
    """Runs the workload with 2 % probes; returns (transactions of the
    workload script, probe transactions, wall seconds)."""
    (work, probes), wall = run_pgbench(dsn(PROV, system.db), [(script, 100 - PROBE_WEIGHT), (PROBE, PROBE_WEIGHT)],
                                       seconds, CLIENTS, 2, rate, [f"phase={phase}"])
    return work, probes, wall


def percentiles(system, phases):
    row = system.s.execute(
        "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
        "(ORDER BY extract(epoch FROM received_at - sent_at) * 1000), count(*) "
        "FROM bench_probe WHERE phase = ANY(%s)", (phases,)).fetchone()
    return (row[0] or [float("nan")] * 3), row[1]


def turn(system, workload, phase):
    """One measurement of each kind for `system`, which is enabled and caught
    up on entry and disabled on exit."""
    per_txn, script = WORKLOADS[workload]
    r = {}
    # Sustained: unthrottled load, then how long until the marker is applied.
    work, probes, wall = pgbench(system, script, phase, SECONDS)
    sent, got = system.marker()
    changes = work * per_txn + probes
    r["load"], r["catchup"] = changes / wall, got - sent
    r["sustained"] = changes / (wall + (got - sent))
    r["p95_max"] = percentiles(system, [phase])[0][1]
    # Latency at the target rate.
    rate = TARGET_CHANGES / (per_txn * (100 - PROBE_WEIGHT) / 100 + PROBE_WEIGHT / 100)
    work, probes, wall = pgbench(system, script, phase + 1, SECONDS, rate)
    system.marker()
    r["lat_rate"] = (work * per_txn + probes) / wall
    (r["p50"], r["p95"], r["p99"]), r["probes"] = percentiles(system, [phase + 1])
    # Capacity: drain a backlog built while disabled.
    system.enable(False)
    work, probes, wall = pgbench(system, script, phase + 2, SECONDS)
    t_on = system.s.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0]
    system.enable(True)
    _, got = system.marker()
    r["capacity"] = (work * per_txn + probes) / (got - float(t_on))
    system.enable(False)
    return r


def main():
    print(f"sync bench: {CLIENTS} pgbench clients, {SECONDS:g} s loads, {REPS} turns per system; "
          f"load average {os.getloadavg()[0]:.1f} at start ({os.cpu_count()} cores, both clusters local)")
    print(__doc__.split("Measurements per system and workload:")[1].rstrip())
    preload_peers(["provider", "subscriber"])
    systems = [System(name) for name in SYSTEMS]
    for system in systems:
        system.setup()
        system.enable(False)
    # Turns interleave the systems (in a rotating order), so that the
    # machine's background load, which changes by the minute here, falls on
    # all of them alike; each figure is the median of its system's turns.
    turns = {}
    for w, workload in enumerate(WORKLOADS):
        for rep in range(REPS):
            for k in range(len(systems)):
                system = systems[(rep + k) % len(systems)]
                system.enable(True)
                system.marker()
                if rep == 0:
                    pgbench(system, WORKLOADS[workload][1], 0, 2)  # warm-up
                    system.marker()
                r = turn(system, workload, 1000 * (w + 1) + 10 * rep)
                turns.setdefault((workload, system.name), []).append(r)
                print(f"  {workload:12} {system.name:10} run {rep + 1}: sustained {r['sustained']:7.0f}, "
                      f"capacity {r['capacity']:7.0f} changes/s, p95 {r['p95']:6.1f} ms", flush=True)
    results = medians(turns)
    for system in systems:
        system.teardown()

    print_head(f"{'workload':13} {'system':10} {'load ch/s':>10} {'sustained':>10} {'catch-up s':>10} "
               f"{'capacity':>10} {'lat @ ch/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'p95@max':>8}")
    for workload in WORKLOADS:
        for name in SYSTEMS:
            r = results[(workload, name)]
            print(f"{workload:13} {name:10} {r['load']:10.0f} {r['sustained']:10.0f} {r['catchup']:10.2f} "
                  f"{r['capacity']:10.0f} {r['lat_rate']:10.0f} {r['p50']:7.1f} {r['p95']:7.1f} {r['p99']:7.1f} "
                  f"{r['p95_max']:8.1f}")
    if "pymigrate" in SYSTEMS:
        print()
        for workload in WORKLOADS:
            me = results[(workload, "pymigrate")]
            for name in SYSTEMS:
                if name == "pymigrate":
                    continue
                o = results[(workload, name)]
                print(f"{workload:13} pymigrate / {name:9}: sustained x{me['sustained'] / o['sustained']:.2f}, "
                      f"capacity x{me['capacity'] / o['capacity']:.2f}, p95 latency x{me['p95'] / o['p95']:.2f} "
                      f"(below 1 is faster)")
        worst = min(results[(w, "pymigrate")]["sustained"] for w in WORKLOADS)
        worst_cap = min(results[(w, "pymigrate")]["capacity"] for w in WORKLOADS)
        p95 = max(results[(w, "pymigrate")]["p95"] for w in WORKLOADS)
        print(f"targets: >= 10,000 changes/s kept up with (sustained min {worst:.0f}, capacity min {worst_cap:.0f}), "
              f"p95 < 100 ms (aim < 25 ms): worst p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
