// The manager task "subscriptions" (worker/worker.hpp): keeps one apply
// worker per enabled subscription of this database, restarts a failed one
// with exponential back-off, and stops the workers of disabled, dropped or
// altered subscriptions (an altered one starts again with its new settings).
#include "pg/guard.hpp"
#include "sync/catalog.hpp"
#include "sync/status.hpp"
#include "sync/sync.hpp"
#include "worker/worker.hpp"

#include <csignal>
#include <map>

namespace pymigrate::sync {
namespace {

struct Running {
    worker::WorkerHandle handle;
    int32_t generation;
};

// Manager-process state: handles can only be asked by their starter.
std::map<int32_t, Running> running;
std::map<int32_t, TimestampTz> not_before;

long
backoff_ms(int failures)
{
    if (failures <= 0)
        return 0;
    long ms = 1000L << Min(failures - 1, 20);
    return Min(ms, static_cast<long>(sync_retry_max_ms));
}

} // namespace

long
manager_tick()
{
    std::vector<SubscriptionSummary> subs;
    worker::in_transaction([&] { subs = list_subscriptions(); });
    TimestampTz now = GetCurrentTimestamp();

    // Workers that stopped: when they may start again.
    for (auto it = running.begin(); it != running.end();) {
        if (it->second.handle.pid() != -1) {
            ++it;
            continue;
        }
        it->second.handle.release();
        SubStatus st;
        int failures = read_status(it->first, &st) ? st.failures : 0;
        not_before[it->first] = TimestampTzPlusMilliseconds(now, backoff_ms(failures));
        update_status(it->first, [](SubStatus &s) {
            s.pid = 0; // also when it died without cleaning up
            s.phase = Phase::None;
            s.in_txn = false;
        });
        it = running.erase(it);
    }

    long next_ms = 10000;
    for (const auto &s : subs) {
        auto r = running.find(s.id);
        if (r != running.end()) {
            if (!s.enabled || s.generation != r->second.generation)
                r->second.handle.terminate();
            continue;
        }
        if (!s.enabled)
            continue;
        auto nb = not_before.find(s.id);
        if (nb != not_before.end() && nb->second > now) {
            next_ms = Min(next_ms, static_cast<long>((nb->second - now) / 1000) + 1);
            continue;
        }
        // A worker this manager did not start (it restarted and lost track)
        // still runs: it watches the catalog itself and leaves when unwanted.
        SubStatus st;
        if (read_status(s.id, &st) && st.pid != 0 && kill(st.pid, 0) == 0) {
            next_ms = Min(next_ms, 1000L);
            continue;
        }
        worker::WorkerSpec spec;
        spec.name = "pymigrate apply " + s.name;
        spec.type = "pymigrate apply";
        spec.function = "pymigrate_apply_main";
        spec.arg = s.id;
        try {
            running[s.id] = Running{worker::start_worker(spec), s.generation};
            not_before.erase(s.id);
        } catch (const pg::Error &e) {
            const char *msg = e.what();
            const char *hint = e.hint().c_str();
            pg::pg_call([msg, hint] { ereport(WARNING, (errmsg("pymigrate: %s", msg), errhint("%s", hint))); });
            not_before[s.id] = TimestampTzPlusMilliseconds(now, 5000);
        }
    }
    // Workers of dropped subscriptions.
    for (auto &[id, r] : running) {
        bool known = false;
        for (const auto &s : subs)
            known = known || s.id == id;
        if (!known)
            r.handle.terminate();
    }
    return next_ms;
}

} // namespace pymigrate::sync
