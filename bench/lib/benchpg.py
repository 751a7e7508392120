"""What the sync benchmarks share (bench/sync, bench/sync_bidir): the
clusters pm-cluster started, connections, pgbench runs, polling, the peers'
preload settings. Imported by the benchmark scripts, which their run.sh
starts with PYTHONPATH=$PYMIGRATE_TOP/bench/lib."""
import os
import re
import statistics
import subprocess
import tempfile
import time

import psycopg
from psycopg import conninfo

PGBIN = os.environ["PYMIGRATE_PGBIN"]
TOP = os.environ["PYMIGRATE_TOP"]
PM_CLUSTER = os.environ["PM_CLUSTER"]


def cluster_dsn(name):
    """Base DSN of the cluster pm-cluster started as `-c name`."""
    return os.environ[f"PM_{name.upper()}_DSN"]


def dsn(base, db):
    return conninfo.make_conninfo(base, dbname=db)


def connect(base, db="postgres"):
    return psycopg.connect(dsn(base, db), autocommit=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def psql_file(base, db, path, *variables):
    args = [f"{PGBIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn(base, db), "-f", path]
    for v in variables:
        args += ["-v", v]
    run(args)


def preload_peers(names, settings=()):
    """Restarts the clusters `names` with pglogical preloaded next to
    pymigrate (Debian's 15.20+ also lists the libraries allowed as output
    plugins), then sets the extra (name, value) `settings` (which may be
    the preloaded libraries' own)."""
    for name in names:
        with connect(cluster_dsn(name)) as c:
            c.execute("ALTER SYSTEM SET shared_preload_libraries = 'pymigrate', 'pglogical'")
            if c.execute("SELECT current_setting('output_plugin_libraries', true)").fetchone()[0] is not None:
                c.execute("ALTER SYSTEM SET output_plugin_libraries = "
                          "'pgoutput', 'test_decoding', 'pymigrate', 'pglogical_output'")
        cluster_dir = os.environ[f"PM_{name.upper()}_DIR"]
        run([PM_CLUSTER, "stop", cluster_dir])
        run([PM_CLUSTER, "start", cluster_dir])
        with connect(cluster_dsn(name)) as c:
            for key, value in settings:
                c.execute(f"ALTER SYSTEM SET {key} = '{value}'")
            c.execute("SELECT pg_reload_conf()")


def wait(cond, timeout=120, poll=0.05):
    """Polls `cond` until it returns something true, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark wait timed out")
        time.sleep(poll)


class Pgbench:
    """A pgbench run of weighted scripts against one database, started in
    the background (so that both sides of a pair can be loaded at once);
    result() waits and returns (transactions per script, wall seconds)."""

    def __init__(self, target_dsn, scripts, seconds, clients, threads, rate=None, defines=()):
        self._dir = tempfile.TemporaryDirectory()
        cmd = [f"{PGBIN}/pgbench", "-n", "-c", str(clients), "-j", str(threads), "-T", str(int(seconds))]
        for i, (text, weight) in enumerate(scripts):
            path = os.path.join(self._dir.name, f"script{i}.sql")
            with open(path, "w") as f:
                f.write(text)
            cmd += ["-f", f"{path}@{weight}"]
        for d in defines:
            cmd += ["-D", d]
        if rate:
            cmd += ["-R", str(int(rate))]
        cmd.append(target_dsn)
        self._scripts = len(scripts)
        self._t0 = time.monotonic()
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self):
        out, err = self._proc.communicate()
        wall = time.monotonic() - self._t0
        self._dir.cleanup()
        if self._proc.returncode != 0:
            raise RuntimeError(f"pgbench failed ({self._proc.returncode}):\n{out}\n{err}")
        if self._scripts == 1:
            counts = [int(n) for n in re.findall(r"^number of transactions actually processed: (\d+)", out, re.M)]
        else:
            counts = [int(n) for n in re.findall(r"^ - (\d+) transactions", out, re.M)]
        if len(counts) != self._scripts:
            raise RuntimeError("cannot read pgbench's per-script transaction counts:\n" + out)
        return counts, wall


def pgbench(target_dsn, scripts, seconds, clients, threads, rate=None, defines=()):
    """One pgbench run in the foreground: (transactions per script, wall seconds)."""
    return Pgbench(target_dsn, scripts, seconds, clients, threads, rate, defines).result()



def medians(runs):
    """{key: [run figures, ...]} -> {key: {figure: median over the runs}}."""
    return {key: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for key, rs in runs.items() if rs}


def print_head(head):
    """A results table's header line, underlined."""
    print()
    print(head)
    print("-" * len(head))
