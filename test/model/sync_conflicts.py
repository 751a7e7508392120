#!/usr/bin/python3
"""Exhaustive model check of pymigrate's two-node conflict rules.

Two nodes A and B replicate one key both ways.  Every interleaving of two
small local programs (one op per transaction) with the two apply workers is
explored; at the end (programs done, both streams drained) the nodes must
hold the same value, or both nothing.  For each divergence pattern (the set
of conflict decisions a trace took) the shortest trace of a smallest
workload is kept.

Model choices:
  * Only schedules where each op is valid when it runs are explored (insert
    needs the row absent, update/delete present).  Every program of every
    length up to --ops is checked, so a schedule that would skip an op is
    covered by the same program without that op.
  * One global clock: a commit is later than every earlier one, so
    timestamps are unique and in real-time (and causal) order.
  * Every applied remote transaction commits an apply transaction whose
    only stream entry is SEEN(xid), even when it changed nothing (as
    causal.hpp does).  Reading a SEEN writes nothing, so streams drain.
  * One key: a transaction touches one key and every rule reads only that
    key's row and records and the SEENs of the xids that wrote them, so a
    second key would be an independent copy of the same system.
  * Restart (optional, at most one per run, either node, any time): the node
    forgets the SEENs it had read.  A SEEN is read only after the xid it
    names committed, so only xids committed before the restart get an
    unknown status; later ones stay exact (the worker knows where it began).
  * States no rule can tell apart are merged: a SEEN of an xid no longer
    referenced is dropped (reading it would be a no-op step, so
    "interleavings" counts schedules without such steps), timestamps are
    kept as ranks, and a restart that forgets nothing is not a step.

Run:   /usr/bin/python3 test/model/sync_conflicts.py [--ops N] [--restart-ops N]
                                                     [--traces] [--only TEXT]
       defaults: --ops 3 --restart-ops 2 (about 8 s on 2 cores); the full
       check --ops 4 --restart-ops 3 takes a few minutes.
Exit:  0 when every rule set converges or diverges as its `expect` says;
       1 otherwise (a set expected to converge diverges, or an expected
       divergence is gone: the rules or the model changed).  The expected
       divergences need --ops >= 2 and --restart-ops >= 2.
"""
import itertools
import multiprocessing
import sys
import time
from collections import namedtuple

A, B = 0, 1
NAME = "AB"

# ---------------------------------------------------------------- rule sets
# strategy     'lww' (last_write_wins) or 'priority' (node `top` ranks first)
# impl         WHAT extension/sync/conflict.cpp DOES: register (below), but
#              the tombstone stays until trimmed (tombstone_trim.cpp) and its
#              SEEN status is asked like a row's (so a restart makes it
#              unknown, counted as concurrent); it is our version only while
#              the row is absent; an UPDATE of an absent row without a
#              concurrent tombstone is update_missing (skip, or insert under
#              priority when the peer ranks first).
# register     A DELETE is a write like the others: a
#              local DELETE leaves a tombstone (xid, ts) that is our version
#              of the key while it is absent (dropped when the key is written
#              again, locally or by an applied remote change, and when the
#              SEEN of its delete is read: it can decide nothing then).  A remote
#              change meets our version (row, else tombstone, else none)
#              under one rule: no version of ours, a version written by the
#              peer, or one the peer had SEEN -> hand-over, apply; else a
#              conflict, decided by commit time (lww) or rank (priority), the
#              winner's state (a row, or absent) is what both nodes keep.
# Else the brief's rules, plus the switches used to look for a fix:
# tomb         a local DELETE records tomb = (xid, ts, birth ts of the row)
# guard        a conflicting remote UPDATE/DELETE is skipped as "made on an
#              incarnation other than ours" when: 'tomb' our tombstone is
#              unseen (the brief); 'birth' the local INSERT that began our
#              row is unseen; None: never
# guard_update the guard decides UPDATE conflicts too (else DELETE only)
# by_birth     incarnations ordered by their INSERT's time: insert_exists
#              compares it (not the last write), and a remote INSERT into a
#              row we deleted applies only if born after the one we deleted
# restart      explore one apply-worker restart
# unknown      after a restart, an unknown SEEN status of our tombstone (or
#              of the guard's record) counts as unseen ('unseen'), or as
#              unseen only when the remote change committed before it ('ts');
#              for a row version unknown always counts as unseen (a conflict)
Rules = namedtuple("Rules", "name expect strategy top register tomb guard guard_update by_birth "
                            "restart unknown impl")


def rules(name, expect, strategy="lww", top=A, register=False, tomb=False, guard=None,
          guard_update=False, by_birth=False, impl=False):
    return Rules(name, expect, strategy, top, register or impl, tomb or register or impl, guard, guard_update,
                 by_birth, False, "unseen", impl)


BASE = [
    rules("lww: current", "diverge"),
    rules("lww: tombstones (brief)", "diverge", tomb=True, guard="tomb", guard_update=True),
    rules("lww: implemented", "converge", impl=True),
    rules("lww: register (proposed)", "converge", register=True),
    # keeps "delete wins" but needs the INSERT's xid and time of every row
    rules("lww: incarnations (delete wins kept)", "converge", tomb=True, guard="birth",
          guard_update=True, by_birth=True),
]
for _t in (A, B):
    _n = "priority %s>%s: " % (NAME[_t], NAME[1 - _t])
    BASE += [
        rules(_n + "current", "diverge", "priority", _t),
        rules(_n + "tombstones (brief, update by rank)", "diverge", "priority", _t, tomb=True, guard="tomb"),
        rules(_n + "implemented", "converge", "priority", _t, impl=True),
        # A resolver that keeps the older of two concurrent updates and a
        # delete weighed by time can still disagree (README, Limitations):
        # expected to diverge, and kept so that a change is noticed.
        rules("custom, resolver keeps %s's row: implemented" % NAME[_t], "diverge", "custom", _t, impl=True),
        rules(_n + "register (proposed)", "converge", "priority", _t, register=True),
    ]
# Under a restart only lww still converges: it decides every conflict by
# time, which agrees with the hand-over it may miss.  (Priority needs the
# SEENs across restarts: causal_store.hpp keeps them but for a crash.)
RESTART_CONVERGES = {"lww: register (proposed)", "lww: implemented"}


def rule_sets():
    out = list(BASE)
    for unknown in ("unseen", "ts"):
        for R in BASE:
            out.append(R._replace(
                name="%s | restart, unknown %s" % (R.name, "= unseen" if unknown == "unseen" else "by ts"),
                restart=True, unknown=unknown,
                expect="converge" if R.name in RESTART_CONVERGES else "diverge"))
    return out


# ---------------------------------------------------------------- state
# A flat tuple (hashable, cheap to copy); per node x at [slot + x]:
PC, ROW, TOMB, BIRTH, PEND, SEEN = 0, 2, 4, 6, 8, 10
#   PC     next op of x's program
#   ROW    None or (value, origin 'L'/'R', xid, ts)
#   TOMB   None or (xid, ts, birth ts of the deleted row): x's latest local delete
#   BIRTH  None or (origin, xid, ts): the INSERT that began x's row (by_birth/
#          'birth' guard only; v0: None, i.e. time 0)
#   PEND   x's stream entries the peer has not read:
#          ('T', xid, ts, kind, value) a local transaction; ('S', xid) a SEEN
#   SEEN   x's own xids the peer has SEEN (only those still referenced)
RESTART = 12  # None, or (node, its xids whose status became unknown)
TOP = 13  # the latest timestamp in the state (a new commit gets TOP + 1)
V0 = ("v0", "R", None, 0)  # replicated everywhere: never a conflict
NONE = frozenset()
INIT = (0, 0, V0, V0, None, None, None, None, (), (), NONE, NONE, None, 0)


def referenced(s, x):
    """x's own xids whose SEEN can still be asked about."""
    row, tomb, birth = s[ROW + x], s[TOMB + x], s[BIRTH + x]
    ref = set()
    if row is not None and row[1] == "L":
        ref.add(row[2])
    if tomb is not None:
        ref.add(tomb[0])
    if birth is not None and birth[0] == "L":
        ref.add(birth[1])
    return ref


def forget(n, x):
    """After x's records changed: an overwritten xid is never asked about
    again, so its SEEN (read, or still in the peer's stream) is dropped."""
    ref = referenced(n, x)
    n[SEEN + x] = n[SEEN + x] & ref
    n[PEND + 1 - x] = tuple(e for e in n[PEND + 1 - x] if e[0] == "T" or e[1] in ref)
    if n[RESTART] is not None and n[RESTART][0] == x and n[RESTART][1]:
        n[RESTART] = (x, n[RESTART][1] & ref)


def rank_stamps(s):
    """Keeps of the timestamps only their order: the rules only compare
    them, and a new commit is later than all of them."""
    st = {0}
    for x in (A, B):
        row, tomb, birth = s[ROW + x], s[TOMB + x], s[BIRTH + x]
        if row is not None:
            st.add(row[3])
        if tomb is not None:
            st.add(tomb[1])
            st.add(tomb[2])
        if birth is not None:
            st.add(birth[2])
        for e in s[PEND + x]:
            if e[0] == "T":
                st.add(e[2])
    if len(st) == s[TOP] + 1:
        return s  # dense already: nothing vanished
    r = {ts: i for i, ts in enumerate(sorted(st))}
    n = list(s)
    for x in (A, B):
        row, tomb, birth = s[ROW + x], s[TOMB + x], s[BIRTH + x]
        if row is not None:
            n[ROW + x] = row[:3] + (r[row[3]],)
        if tomb is not None:
            n[TOMB + x] = (tomb[0], r[tomb[1]], r[tomb[2]])
        if birth is not None:
            n[BIRTH + x] = birth[:2] + (r[birth[2]],)
        n[PEND + x] = tuple(e[:2] + (r[e[2]],) + e[3:] if e[0] == "T" else e for e in s[PEND + x])
    n[TOP] = len(st) - 1
    return tuple(n)


def status(s, x, xid):
    """Had the peer applied x's transaction xid?  True, False, None (unknown)."""
    if xid in s[SEEN + x]:
        return True
    r = s[RESTART]
    return None if r is not None and r[0] == x and xid in r[1] else False


def counts_unseen(R, s, x, xid, ts, ts_c):
    """For a tombstone / guard record: unknown is unseen, or (rule 'ts')
    unseen only when the remote change committed before the record."""
    st = status(s, x, xid)
    if st is None:
        return ts_c < ts if R.unknown == "ts" else True
    return not st


# ---------------------------------------------------------------- the rules
KINDS = ("insert", "update", "delete")
PRESENT = ("insert_exists", "update_origin_differs", "delete_origin_differs")
ABSENT = ("insert_over_our_delete", "update_missing", "delete_missing")


def decide_register(R, s, x, kind, remote, ts_c):
    """The proposed rules (see `register`): (row, tomb, birth, label)."""
    L, tomb = s[ROW + x], s[TOMB + x]
    what = (PRESENT if L is not None else ABSENT)[KINDS.index(kind)]
    new = None if kind == "delete" else remote  # an UPDATE of an absent row inserts it
    if L is not None:  # our version is the row
        concurrent = L[1] == "L" and status(s, x, L[2]) is not True
        ours = L[3]
    elif tomb is not None and R.impl:  # kept until trimmed; its SEEN status asked like a row's
        concurrent = status(s, x, tomb[0]) is not True
        ours = tomb[1]
    elif tomb is not None:  # our version is our delete
        concurrent = counts_unseen(R, s, x, tomb[0], tomb[1], ts_c)
        ours = tomb[1]
    else:  # absent by the peer's delete: nothing of ours competes
        concurrent = False
    keep_tomb = tomb if R.impl else None
    if concurrent and L is not None and kind != "delete" and R.strategy == "custom":
        # A resolver picks between two rows (here: the row of node `top`);
        # deletes are weighed by time.  A change made before our concurrent
        # delete of the key lost to it on the peer's side: keep our row.
        if tomb is not None and status(s, x, tomb[0]) is not True and ts_c < tomb[1]:
            return L, tomb, None, what + ": keep local (before our delete)"
        if 1 - x == R.top:
            return new, keep_tomb, None, what + ": resolver: remote"
        return L, tomb, None, what + ": resolver: local"
    if not concurrent:  # hand-over: the peer's change is on top of our version
        if R.impl and L is None and kind == "update":
            if R.strategy == "priority" and 1 - x == R.top:
                return new, keep_tomb, None, what + ": update_missing inserted"
            return None, keep_tomb, None, what + ": update_missing skipped"
        return new, keep_tomb, None, (what + ": inserted") if L is None and kind == "update" else None
    if ts_c > ours if R.strategy in ("lww", "custom") else 1 - x == R.top:
        return new, keep_tomb, None, what + ": remote wins"
    return L, tomb, None, what + ": keep local"


def decide(R, s, x, kind, val, xid, ts_c):
    """A change of the peer reaching node x: (row, tomb, birth, label or None)."""
    p = 1 - x
    L, tomb, birth = s[ROW + x], s[TOMB + x], s[BIRTH + x]
    remote = (val, "R", xid, ts_c)  # the provider's commit time is kept
    if R.register:
        return decide_register(R, s, x, kind, remote, ts_c)
    # The brief's rules ("current" = no tomb, no guard), and the incarnation variant.

    def node_of(row):
        return x if row[1] == "L" else p

    def remote_wins(row, ours):  # insert_exists, update_origin_differs
        if R.strategy == "lww" or node_of(row) == p:
            return ts_c > ours  # timestamps are unique: no tie
        return p == R.top

    def other_incarnation():
        if R.guard == "tomb":
            return tomb is not None and counts_unseen(R, s, x, tomb[0], tomb[1], ts_c)
        if R.guard == "birth":
            return birth is not None and birth[0] == "L" and counts_unseen(R, s, x, birth[1], birth[2], ts_c)
        return False

    r_birth = ("R", xid, ts_c) if R.by_birth or R.guard == "birth" else None  # the peer's incarnation
    if kind == "insert":
        if L is None:
            if R.by_birth and tomb is not None and ts_c < tomb[2]:
                return None, tomb, birth, "insert of an incarnation older than the one we deleted: skip"
            return remote, tomb, r_birth, None
        if remote_wins(L, (birth[2] if birth else 0) if R.by_birth else L[3]):
            return remote, tomb, r_birth, "insert_exists: remote wins"
        return L, tomb, birth, "insert_exists: keep local"
    if L is None:
        if kind == "update" and R.strategy == "priority" and p == R.top:
            return remote, tomb, r_birth, "update_missing: insert"
        return None, tomb, birth, kind + "_missing: skip"
    # The peer's own version, or ours that the peer had applied (SEEN) before
    # making this change: a hand-over.  Unknown counts as unseen (causal.cpp).
    if L[1] == "R" or status(s, x, L[2]) is True:
        return (remote, tomb, birth, None) if kind == "update" else (None, tomb, None, None)
    what = kind + "_origin_differs"
    if (kind == "delete" or R.guard_update) and other_incarnation():
        return L, tomb, birth, what + ": keep local (made on another incarnation)"
    if kind == "update":
        if remote_wins(L, L[3]):
            return remote, tomb, birth, what + ": remote wins"
        return L, tomb, birth, what + ": keep local"
    if R.strategy == "lww" or p == R.top:  # lww: delete wins; priority: rank
        return None, tomb, None, what + ": delete applied"
    return L, tomb, birth, what + ": keep local"


# ---------------------------------------------------------------- steps
def successors(R, progs, s, verbose=False):
    """Every step from s: (move, state, label, text if verbose)."""
    t = s[TOP] + 1  # the timestamp of a commit now
    for x in (A, B):
        p = 1 - x
        pc = s[PC + x]
        if pc < len(progs[x]):  # x runs its next local transaction
            kind, val = progs[x][pc]
            if (s[ROW + x] is None) == (kind == "insert"):  # else not valid now: wait
                n = list(s)
                n[PC + x] = pc + 1
                xid = "%s%d" % (NAME[x], pc + 1)
                n[ROW + x] = None if kind == "delete" else (val, "L", xid, t)
                if kind == "delete":
                    n[BIRTH + x] = None
                    if R.tomb:
                        n[TOMB + x] = (xid, t, s[BIRTH + x][2] if s[BIRTH + x] else 0)
                else:
                    if R.register and not R.impl:
                        n[TOMB + x] = None  # the row is our version now
                    if kind == "insert" and (R.by_birth or R.guard == "birth"):
                        n[BIRTH + x] = ("L", xid, t)
                n[PEND + x] = s[PEND + x] + (("T", xid, t, kind, val),)
                n[TOP] = t
                forget(n, x)
                yield ("op", x), tuple(n), None, verbose and "%s: local %s  [%s ts=%d]" % (
                    NAME[x], kind if kind == "delete" else kind + " " + val, xid, t)
        if s[PEND + p]:  # x's apply worker reads the peer's next entry
            e = s[PEND + p][0]
            n = list(s)
            n[PEND + p] = s[PEND + p][1:]
            if e[0] == "S":
                n[SEEN + x] = s[SEEN + x] | {e[1]}
                if R.register and not R.impl and s[TOMB + x] is not None and s[TOMB + x][0] == e[1]:
                    n[TOMB + x] = None  # a SEEN tombstone decides nothing more: dropped
                if n[RESTART] is not None and n[RESTART][0] == x:
                    n[RESTART] = (x, n[RESTART][1] - {e[1]})
                yield ("seen", x), tuple(n), None, verbose and "%s: reads SEEN(%s)" % (NAME[x], e[1])
            else:
                _, xid, ts_c, kind, val = e
                n[ROW + x], n[TOMB + x], n[BIRTH + x], label = decide(R, s, x, kind, val, xid, ts_c)
                if xid in referenced(s, p):  # the SEEN of this apply transaction
                    n[PEND + x] = s[PEND + x] + (("S", xid),)
                forget(n, x)
                yield ("apply", x), tuple(n), label, verbose and "%s: applies %s %s%s" % (
                    NAME[x], xid, kind if kind == "delete" else kind + " " + val, " -> " + label if label else "")
    if R.restart and s[RESTART] is None:
        for x in (A, B):
            lost = frozenset(referenced(s, x)) if R.unknown == "ts" else NONE
            if s[SEEN + x] or lost:  # a restart that forgets nothing changes nothing
                n = list(s)
                n[SEEN + x] = NONE
                n[RESTART] = (x, lost)
                yield ("restart", x), tuple(n), "restart", verbose and "%s: apply worker restarts" % NAME[x]


def done(progs, s):
    return s[PC] == len(progs[A]) and s[PC + 1] == len(progs[B]) and not s[PEND] and not s[PEND + 1]


def show(row):
    return "absent" if row is None else row[0]


def progress(s):
    """Grows at every step (forget() only raises it): visiting states in its
    order is a topological order of the step graph."""
    return (3 * (s[PC] + s[PC + 1]) - sum(2 if e[0] == "T" else 1 for e in s[PEND] + s[PEND + 1])
            + (s[RESTART] is not None))


# ---------------------------------------------------------------- search
def explore(R, progs, max_traces=12):
    """All interleavings of one workload, states visited in topological
    order so that interleaving counts and shortest distances are exact.
    Returns (states, interleavings, divergent ones, shortest divergent traces)."""
    info = {INIT: [1, 0, None, None]}  # state -> [interleavings, distance, parent, move]
    buckets = {progress(INIT): [INIT]}
    total = bad = 0
    divergent = []
    while buckets:
        for s in buckets.pop(min(buckets)):
            cnt, dist = info[s][0], info[s][1]
            if done(progs, s):
                total += cnt
                if show(s[ROW]) != show(s[ROW + 1]):
                    bad += cnt
                    divergent.append((dist, s))
                continue
            for move, n, _, _ in successors(R, progs, s):
                if move[0] != "restart":  # a timestamp may have gone
                    n = rank_stamps(n)
                i = info.get(n)
                if i is None:
                    info[n] = [cnt, dist + 1, s, move]
                    buckets.setdefault(progress(n), []).append(n)
                else:
                    i[0] += cnt
                    if dist + 1 < i[1]:
                        i[1:] = [dist + 1, s, move]
    traces = []
    for dist, s in sorted(divergent, key=lambda d: d[0])[:max_traces]:
        moves = []
        while info[s][2] is not None:
            moves.append(info[s][3])
            s = info[s][2]
        traces.append(replay(R, progs, moves[::-1]))
    return len(info), total, bad, traces


def replay(R, progs, moves):
    """Re-runs a schedule, one timestamp per step: (labels, lines)."""
    s, labels, lines = INIT, [], []
    for move in moves:
        s = s[:TOP] + (len(lines),)  # so that a commit at step k gets ts k
        m, s, label, text = next(step for step in successors(R, progs, s, True) if step[0] == move)
        labels += [label] if label else []
        lines.append("%2d. %-70s A=%-6s B=%s" % (len(lines) + 1, text, show(s[ROW]), show(s[ROW + 1])))
    return labels, lines


# ---------------------------------------------------------------- workloads
def programs(x, max_ops):
    for n in range(max_ops + 1):
        for kinds in itertools.product(("insert", "update", "delete"), repeat=n):
            yield tuple((k, "%s%d" % (NAME[x].lower(), i + 1)) for i, k in enumerate(kinds))


def prog_text(prog):
    return " ".join(k if k == "delete" else "%s(%s)" % (k, v) for k, v in prog) or "-"


def _explore(job):
    return job[1], job[2], explore(job[0], job[1])


def check(R, max_ops, pool):
    """All workloads, smallest first.  lww is symmetric in A and B, so a
    workload and its mirror give the same results: one of them is explored,
    counted twice.  Returns counts and, per divergence pattern, the shortest
    trace of a smallest workload."""
    progs = [list(programs(x, max_ops)) for x in (A, B)]
    jobs = []
    for i, j in itertools.product(range(len(progs[A])), repeat=2):
        if R.strategy != "lww" or i <= j:
            jobs.append((R, (progs[A][i], progs[B][j]), 1 if R.strategy != "lww" or i == j else 2))
    jobs.sort(key=lambda job: len(job[1][0]) + len(job[1][1]))
    states = total = bad = bad_w = 0
    best = {}
    for w, weight, (st, tot, bd, traces) in pool.imap_unordered(_explore, jobs, chunksize=8):
        states, total, bad = states + st * weight, total + tot * weight, bad + bd * weight
        bad_w += weight * (bd > 0)
        for labels, lines in traces:
            key = tuple(sorted(set(labels)))
            cand = (len(w[0]) + len(w[1]), len(lines), w, lines)
            if key not in best or cand[:3] < best[key][:3]:
                best[key] = cand
    return len(progs[A]) * len(progs[B]), states, total, bad, bad_w, sorted(best.values())


def main(argv):
    def opt(name, default):
        return argv[argv.index(name) + 1] if name in argv else default
    ops, restart_ops, only = int(opt("--ops", 3)), int(opt("--restart-ops", 2)), opt("--only", "")
    t0 = time.time()
    summary = []
    with multiprocessing.Pool() as pool:
        for R in [R for R in rule_sets() if only in R.name]:
            t1 = time.time()
            n_ops = restart_ops if R.restart else ops
            nw, states, total, bad, bad_w, shortest = check(R, n_ops, pool)
            ok = (R.expect == "diverge") == (bad > 0)
            summary.append((R.name, n_ops, "DIVERGES" if bad else "converges", R.expect, ok))
            print("== %s: %s  (ops<=%d: %d workloads, %d states, %d interleavings, %d divergent in %d "
                  "workloads, %.1fs)" % (R.name, summary[-1][2], n_ops, nw, states, total, bad, bad_w,
                                         time.time() - t1))
            for size, steps, w, lines in shortest if "--traces" in argv else shortest[:1]:
                print("   A: %s | B: %s" % (prog_text(w[0]), prog_text(w[1])))
                for line in lines:
                    print("     " + line)
            if len(shortest) > 1 and "--traces" not in argv:
                print("   (%d more divergence patterns: --traces)" % (len(shortest) - 1))
    width = max([len(row[0]) for row in summary] + [8])
    print("\n%-*s %4s  %-10s %s" % (width, "rule set", "ops", "result", "expected"))
    for name, n_ops, verdict, expect, ok in summary:
        print("%-*s %4d  %-10s %s%s" % (width, name, n_ops, verdict, expect, "" if ok else "  <-- MISMATCH"))
    print("total %.1fs" % (time.time() - t0))
    return 0 if all(ok for *_, ok in summary) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
