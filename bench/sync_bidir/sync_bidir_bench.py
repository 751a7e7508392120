#!/usr/bin/python3
"""Bi-directional sync: pymigrate against pglogical, both configured both
ways on the same two clusters, a and b (started by bench/sync_bidir/run.sh
with pm-cluster).

  pymigrate  a subscription on each side to the other (forward_origins
             'none': a change applied from b is not sent back to b), conflict
             strategy last_write_wins, node names a and b
  pglogical  a node and a subscription on each side to the other
             (forward_origins := '{}'), pglogical.conflict_resolution =
             last_update_wins (its default, apply_remote, does not converge
             under concurrent updates of one row)

Each system gets its own database on both clusters with the same rows,
frozen, so no initial copy is timed and no row counts as a recent local
write: accounts (101,000 rows: ids 1..1000 are shared keys, a updates
1001..51000, b the rest), events (insert-only, ids from a sequence that is
odd on a and even on b), probe (latency probes, below). Writers on both
sides at once, 2 pgbench clients per side; a transaction is UPDATE accounts
(one row) + INSERT events; 2 % of the UPDATEs hit a shared key, so 1 % of
all changes hit keys that the other side also writes (real conflicts).

Runs: 3 per system, interleaved in a rotating order, each system's
subscriptions enabled only during its turn; every figure is the median over
a system's converged runs. Per run:

  throughput  both sides unthrottled for SECONDS; then a marker committed on
              each side; changes/s = changes committed on both sides /
              (load time + time until both markers are applied on the other
              side). "catch-up" is that time.
  latency     both sides at a fixed rate, 10,000 changes/s in total (the
              target; the achieved rate is printed); 2 % of the transactions
              are probes: INSERT probe, whose sent_at is clock_timestamp() in
              the origin's transaction (committed right after) and whose
              received_at is set by an ALWAYS BEFORE INSERT trigger on the
              other side, in its apply transaction (committed right after),
              for rows of the other node only. Same clock, so latency =
              received_at - sent_at with no skew, measured the same way for
              both systems; p50/p95/p99 over the probes of both directions.
              "p95@max" is the same over the probes of the throughput load.
  capacity    the subscriptions on both sides are disabled while SECONDS of
              load build a backlog on both, then enabled: backlog changes /
              time from enable until both markers are applied (includes
              the workers' start). When "catch-up" is near 0, throughput is
              the load generator's rate and capacity is what tells the
              systems apart.
  conflicts   recorded during the run: pymigrate, new rows in
              pymigrate.conflict_log on both sides; pglogical, "CONFLICT:"
              lines in both servers' logs (it keeps no table). "shared upd"
              is how many UPDATEs of shared keys both sides made: only those
              can meet a row the other side changed.
  converged   after each load, once both markers are through: count and md5
              of every table's rows in key order (probe without received_at)
              compared between a and b. A run that has not converged 30 s
              later is reported as FAILED, not as a number.
"""
import os
import statistics
import sys
import time

from benchpg import Pgbench, cluster_dsn, connect, dsn, medians, preload_peers, print_head, wait

QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = float(os.environ.get("SYNC_BENCH_SECONDS", "2" if QUICK else "8"))
SYSTEMS = os.environ.get("SYNC_BENCH_SYSTEMS", "pymigrate,pglogical").split(",")
REPS = 3
TARGET_CHANGES = 10000
CLIENTS = 2  # per side
SHARED_KEYS, OWN_KEYS = 1000, 50000
HOT_PERCENT = 2  # of UPDATEs, i.e. 1 % of all changes
PROBE_WEIGHT = 2
CHANGES_PER_TXN = 2
CONVERGE_TIMEOUT = 30
NODES = {"a": cluster_dsn("a"), "b": cluster_dsn("b")}
OTHER = {"a": "b", "b": "a"}
TABLES = ["accounts", "events", "probe"]
# What "the same rows" means per table: probe's received_at is set on the
# receiving side only.
CHECKSUM_ROW = {"accounts": "t", "events": "t", "probe": "ROW(t.id, t.node, t.phase, t.sent_at)"}


def work_script(node):
    lo = SHARED_KEYS + 1 + (0 if node == "a" else OWN_KEYS)
    return f"""\\set r random(1, 100)
\\set own random({lo}, {lo + OWN_KEYS - 1})
\\set hot random(1, {SHARED_KEYS})
\\set id CASE WHEN :r <= {HOT_PERCENT} THEN :hot ELSE :own END
BEGIN;
UPDATE accounts SET balance = balance + 1, updated_at = clock_timestamp(), node = '{node}' WHERE id = :id;
INSERT INTO events (node, account_id, amount) VALUES ('{node}', :id, 1);
END;
"""


def probe_script(node):
    return f"INSERT INTO probe (node, phase) VALUES ('{node}', :phase);\n"


def make_database(node, db):
    base = NODES[node]
    with connect(base) as c:
        c.execute(f"CREATE DATABASE {db}")
    start = 1 if node == "a" else 2
    with connect(base, db) as c:
        # Same rows on both sides; ids the sides insert never collide.
        c.execute(f"""
            CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, node text NOT NULL,
                                   updated_at timestamptz NOT NULL);
            INSERT INTO accounts SELECT g, 0, 'load', '2026-01-01' FROM generate_series(1, {SHARED_KEYS + 2 * OWN_KEYS}) g;
            CREATE SEQUENCE events_id_seq START {start} INCREMENT 2;
            CREATE TABLE events (id bigint PRIMARY KEY DEFAULT nextval('events_id_seq'), node text NOT NULL,
                                 account_id int NOT NULL, amount int NOT NULL,
                                 created_at timestamptz NOT NULL DEFAULT clock_timestamp());
            CREATE SEQUENCE probe_id_seq START {start} INCREMENT 2;
            CREATE TABLE probe (id bigint PRIMARY KEY DEFAULT nextval('probe_id_seq'), node text NOT NULL,
                                phase int NOT NULL, sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                                received_at timestamptz);
            CREATE FUNCTION probe_received() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF NEW.node <> '{node}' THEN NEW.received_at := clock_timestamp(); END IF; RETURN NEW; END $$;
            CREATE TRIGGER probe_received BEFORE INSERT ON probe FOR EACH ROW EXECUTE FUNCTION probe_received();
            ALTER TABLE probe ENABLE ALWAYS TRIGGER probe_received""")
        c.execute("VACUUM (FREEZE, ANALYZE) accounts")


def log_size(node):
    return os.path.getsize(os.environ[f"PM_{node.upper()}_LOG"])


def log_count(node, since, needle):
    with open(os.environ[f"PM_{node.upper()}_LOG"], "rb") as f:
        f.seek(since)
        return f.read().count(needle)


class System:
    def __init__(self, name):
        self.name = name
        self.db = f"bidir_{name}"
        self.conn = {}

    def setup(self):
        for node in NODES:
            make_database(node, self.db)
            self.conn[node] = connect(NODES[node], self.db)
        if self.name == "pymigrate":
            for node, c in self.conn.items():
                c.execute("CREATE EXTENSION pymigrate")
            for node, c in self.conn.items():
                other = OTHER[node]
                c.execute("SELECT pymigrate.create_subscription(%s, %s, %s, copy_data => false, "
                          "forward_origins => 'none', options => %s::jsonb)",
                          (f"from_{other}", dsn(NODES[other], self.db), TABLES,
                           f'{{"local_node": "{node}", "remote_node": "{other}", "strategy": "last_write_wins"}}'))
            for node, c in self.conn.items():
                wait(lambda: c.execute("SELECT bool_and(state = 'streaming') FROM pymigrate.subscription_status")
                     .fetchone()[0])
        else:
            for node, c in self.conn.items():
                c.execute("CREATE EXTENSION pglogical")
                c.execute("SELECT pglogical.create_node(node_name := %s, dsn := %s)", (node, dsn(NODES[node], self.db)))
                for t in TABLES:
                    c.execute("SELECT pglogical.replication_set_add_table('default', %s, synchronize_data := false)",
                              (t,))
            for node, c in self.conn.items():
                other = OTHER[node]
                c.execute("SELECT pglogical.create_subscription(subscription_name := %s, provider_dsn := %s, "
                          "replication_sets := ARRAY['default'], synchronize_structure := false, "
                          "synchronize_data := false, forward_origins := '{}')",
                          (f"from_{other}", dsn(NODES[other], self.db)))
            for node, c in self.conn.items():
                wait(lambda: c.execute("SELECT status FROM pglogical.show_subscription_status(%s)",
                                       (f"from_{OTHER[node]}",)).fetchone()[0] == "replicating")
        self.markers()  # replicating end to end, both ways

    def enable(self, on):
        for node, c in self.conn.items():
            sub = f"from_{OTHER[node]}"
            if self.name == "pymigrate":
                c.execute(f"SELECT pymigrate.{'enable' if on else 'disable'}_subscription(%s)", (sub,))
            else:
                c.execute(f"SELECT pglogical.alter_subscription_{'enable' if on else 'disable'}(%s, true)", (sub,))
        if on:
            return
        for node, c in self.conn.items():
            sub = f"from_{OTHER[node]}"
            if self.name == "pymigrate":
                wait(lambda: c.execute("SELECT worker_pid IS NULL FROM pymigrate.subscription_status WHERE name = %s",
                                       (sub,)).fetchone()[0])
            else:
                wait(lambda: c.execute("SELECT status FROM pglogical.show_subscription_status(%s)",
                                       (sub,)).fetchone()[0] == "disabled")

    def markers(self, timeout=120):
        """Commits a probe on each side and waits until both are applied on
        the other side; returns the longer delay in seconds and when the
        later one arrived (epoch seconds)."""
        sent = {}
        for node, c in self.conn.items():
            sent[node] = c.execute("INSERT INTO probe (node, phase) VALUES (%s, -1) "
                                   "RETURNING id, extract(epoch FROM sent_at)", (node,)).fetchone()
        delay, last = 0.0, 0.0
        for node, (pid, at) in sent.items():
            other = self.conn[OTHER[node]]
            got = wait(lambda: other.execute("SELECT extract(epoch FROM received_at) FROM probe WHERE id = %s",
                                             (pid,)).fetchone(), timeout, 0.01)
            delay, last = max(delay, float(got[0]) - float(at)), max(last, float(got[0]))
        return delay, last

    def now(self):
        return float(self.conn["a"].execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])

    def conflict_marks(self):
        """Where conflict counting starts, per node."""
        if self.name == "pymigrate":
            return {n: c.execute("SELECT count(*) FROM pymigrate.conflict_log").fetchone()[0]
                    for n, c in self.conn.items()}
        return {n: log_size(n) for n in NODES}

    def conflicts_since(self, marks):
        if self.name == "pymigrate":
            return sum(c.execute("SELECT count(*) FROM pymigrate.conflict_log").fetchone()[0] - marks[n]
                       for n, c in self.conn.items())
        return sum(log_count(n, marks[n], b"CONFLICT: remote") for n in NODES)

    def hot_writes(self):
        """UPDATEs of shared keys so far, both sides' (each has an events row)."""
        return self.conn["a"].execute("SELECT count(*) FROM events WHERE account_id <= %s",
                                      (SHARED_KEYS,)).fetchone()[0]

    def conflict_kinds(self):
        """pymigrate's record, per side, table, kind and outcome (all runs)."""
        if self.name != "pymigrate":
            return []
        return [(node, *row) for node, c in self.conn.items() for row in c.execute(
            "SELECT table_name, kind, outcome, count(*) FROM pymigrate.conflict_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")]

    def checksums(self, node):
        c = self.conn[node]
        return {t: c.execute(f"SELECT count(*), md5(string_agg(({CHECKSUM_ROW[t]})::text, '|' ORDER BY t.id)) "
                             f"FROM {t} t").fetchone() for t in TABLES}

    def converged(self):
        """None when a and b hold the same rows (waiting up to
        CONVERGE_TIMEOUT), else which tables differ and how."""
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        while True:
            a, b = self.checksums("a"), self.checksums("b")
            differ = [f"{t} (a: {a[t][0]} rows, md5 {a[t][1]}; b: {b[t][0]} rows, md5 {b[t][1]})"
                      for t in TABLES if a[t] != b[t]]
            if not differ:
                return None
            if time.monotonic() > deadline:
                return "; ".join(differ)
            time.sleep(0.5)

    def teardown(self):
        for node, c in self.conn.items():
            sub = f"from_{OTHER[node]}"
            try:
                if self.name == "pymigrate":
                    c.execute("SELECT pymigrate.drop_subscription(%s)", (sub,))
                else:
                    c.execute("SELECT pglogical.drop_subscription(%s)", (sub,))
            except Exception as e:  # the clusters go away with pm-cluster anyway
                print(f"  ({self.name} teardown on {node}: {e})", file=sys.stderr)
        for c in self.conn.values():
            c.close()


def load(system, phase, seconds, rate_per_side=None):
    """Both sides at once; returns (changes committed in total, wall seconds)."""
    runs = [Pgbench(dsn(NODES[node], system.db), [(work_script(node), 100 - PROBE_WEIGHT),
                                                   (probe_script(node), PROBE_WEIGHT)],
                    seconds, CLIENTS, 1, rate_per_side, [f"phase={phase}"]) for node in NODES]
    changes, wall = 0, 0.0
    for r in runs:
        (work, probes), w = r.result()
        changes += work * CHANGES_PER_TXN + probes
        wall = max(wall, w)
    return changes, wall


def percentiles(system, phase):
    """Probes of both directions: each side holds the other's with received_at."""
    rows = []
    for node, c in system.conn.items():
        rows += [r[0] for r in c.execute("SELECT extract(epoch FROM received_at - sent_at) * 1000 FROM probe "
                                         "WHERE phase = %s AND node <> %s", (phase, node)).fetchall()]
    if not rows:
        return [float("nan")] * 3, 0
    rows.sort()
    q = statistics.quantiles(rows, n=100, method="inclusive") if len(rows) > 1 else rows * 99
    return [q[49], q[94], q[98]], len(rows)


def turn(system, phase):
    """One run of `system` (enabled and caught up on entry). Returns its
    figures, or raises RunFailed."""
    r = {}
    marks, hot = system.conflict_marks(), system.hot_writes()
    changes, wall = load(system, phase, SECONDS)
    catchup, _ = system.markers()
    r["load"], r["catchup"], r["throughput"] = changes / wall, catchup, changes / (wall + catchup)
    r["p95_max"] = percentiles(system, phase)[0][1]
    if (why := system.converged()) is not None:
        raise RunFailed(f"not converged after the throughput load: {why}")
    per_txn = CHANGES_PER_TXN * (100 - PROBE_WEIGHT) / 100 + PROBE_WEIGHT / 100
    changes, wall = load(system, phase + 1, SECONDS, TARGET_CHANGES / len(NODES) / per_txn)
    system.markers()
    r["lat_rate"] = changes / wall
    (r["p50"], r["p95"], r["p99"]), r["probes"] = percentiles(system, phase + 1)
    if (why := system.converged()) is not None:
        raise RunFailed(f"not converged after the latency load: {why}")
    # Capacity: a backlog built on both sides while the subscriptions are
    # disabled, drained once they are enabled.
    system.enable(False)
    changes, wall = load(system, phase + 2, SECONDS)
    t_on = system.now()
    system.enable(True)
    _, done = system.markers(300)
    r["capacity"] = changes / (done - t_on)
    if (why := system.converged()) is not None:
        raise RunFailed(f"not converged after draining the backlog: {why}")
    r["conflicts"] = system.conflicts_since(marks)
    r["hot"] = system.hot_writes() - hot
    return r


class RunFailed(Exception):
    pass


def main():
    print(f"sync_bidir bench: writers on both sides ({CLIENTS} pgbench clients each), {SECONDS:g} s loads, "
          f"{REPS} runs per system{' (BENCH_QUICK)' if QUICK else ''}; load average {os.getloadavg()[0]:.1f} at start "
          f"({os.cpu_count()} cores shared with other work, both clusters local: timings are noisy)")
    print("Runs:" + __doc__.split("Runs:")[1].rstrip())
    preload_peers(NODES, [("pglogical.conflict_resolution", "last_update_wins")])
    systems = [System(name) for name in SYSTEMS]
    for system in systems:
        system.setup()
        system.enable(False)
    runs, failures = {}, {}
    for rep in range(REPS):
        for k in range(len(systems)):
            system = systems[(rep + k) % len(systems)]
            system.enable(True)
            try:
                system.markers(300)  # the other system's WAL decoded past
                if rep == 0:
                    load(system, 0, 1 if QUICK else 2)  # warm-up
                    system.markers()
                r = turn(system, 10 * (rep + 1))
            except (RunFailed, TimeoutError) as e:
                failures.setdefault(system.name, []).append(str(e))
                print(f"  {system.name:10} run {rep + 1}: FAILED: {e}", flush=True)
            else:
                runs.setdefault(system.name, []).append(r)
                print(f"  {system.name:10} run {rep + 1}: {r['throughput']:7.0f} changes/s, capacity "
                      f"{r['capacity']:7.0f} changes/s, p95 {r['p95']:6.1f} ms "
                      f"at {r['lat_rate']:.0f} changes/s, {r['conflicts']} conflicts ({r['hot']} updates of shared keys), "
                      "both sides converged",
                      flush=True)
            try:
                system.enable(False)
            except TimeoutError as e:
                print(f"  {system.name:10}: could not disable: {e}", flush=True)
    kinds = [k for system in systems for k in system.conflict_kinds()]
    for system in systems:
        system.teardown()

    results = medians(runs)
    print_head(f"{'system':10} {'converged':>9} {'load ch/s':>10} {'changes/s':>10} {'catch-up s':>10} "
               f"{'capacity':>9} {'lat @ ch/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'p95@max':>8} "
               f"{'conflicts':>9} {'shared upd':>10}")
    for name in SYSTEMS:
        ok = len(runs.get(name, []))
        if not ok:
            print(f"{name:10} {f'0 of {REPS}':>9}  FAILED: {failures[name][0]}")
            continue
        r = results[name]
        print(f"{name:10} {f'{ok} of {REPS}':>9} {r['load']:10.0f} {r['throughput']:10.0f} {r['catchup']:10.2f} "
              f"{r['capacity']:9.0f} "
              f"{r['lat_rate']:10.0f} {r['p50']:7.1f} {r['p95']:7.1f} {r['p99']:7.1f} {r['p95_max']:8.1f} "
              f"{r['conflicts']:9.0f} {r['hot']:10.0f}")
    if kinds:
        print("pymigrate conflict_log, all runs: " + ", ".join(f"on {n} {t} {k} -> {o}: {c}" for n, t, k, o, c in kinds))
    for name, why in failures.items():
        for w in why:
            print(f"failed run of {name}: {w}")
    if "pymigrate" in results and "pglogical" in results:
        me, o = results["pymigrate"], results["pglogical"]
        print(f"\npymigrate / pglogical: throughput x{me['throughput'] / o['throughput']:.2f}, capacity "
              f"x{me['capacity'] / o['capacity']:.2f} (above 1 is faster), "
              f"p95 latency x{me['p95'] / o['p95']:.2f} (below 1 is faster)")
    if "pymigrate" in results:
        me = results["pymigrate"]
        print(f"targets: >= 10,000 changes/s in total (throughput median {me['throughput']:.0f}, capacity median "
              f"{me['capacity']:.0f}), p95 < 100 ms "
              f"(median {me['p95']:.1f} ms), beat pglogical")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
