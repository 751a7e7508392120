#include "shim/conn_state.hpp"

#include <shared_mutex>

#include "router/decide.hpp"
#include "shim/backend.hpp"
#include "shim/real_libpq.hpp"

namespace pymigrate::shim
{

Request
Request::query(const char *q)
{
    Request r;
    r.kind = Kind::Query;
    r.text = q ? q : "";
    return r;
}

namespace
{

void
copy_values(Request &r, int n, const char *const *values, const int *lengths, const int *formats)
{
    r.nparams = n;
    for (int i = 0; i < n; ++i) {
        bool binary = formats && formats[i] == 1;
        const char *v = values ? values[i] : nullptr;
        r.nulls.push_back(v == nullptr);
        if (!v)
            r.values.emplace_back();
        else if (binary)
            r.values.emplace_back(v, static_cast<size_t>(lengths ? lengths[i] : 0));
        else
            r.values.emplace_back(v);
        r.lengths.push_back(lengths ? lengths[i] : 0);
        r.formats.push_back(formats ? formats[i] : 0);
    }
}

} // namespace

Request
Request::params(const char *q, int n, const Oid *types, const char *const *values, const int *lengths,
                const int *formats, int result_format)
{
    Request r;
    r.kind = Kind::Params;
    r.text = q ? q : "";
    if (types)
        r.types.assign(types, types + n);
    copy_values(r, n, values, lengths, formats);
    r.result_format = result_format;
    return r;
}

Request
Request::prepared(const char *name, int n, const char *const *values, const int *lengths, const int *formats,
                  int result_format)
{
    Request r;
    r.kind = Kind::Prepared;
    r.text = name ? name : "";
    copy_values(r, n, values, lengths, formats);
    r.result_format = result_format;
    return r;
}

int
Request::send(PGconn *conn) const
{
    const RealLibpq &pq = real();
    int ok = 0;
    if (kind == Kind::Query) {
        ok = pq.PQsendQuery(conn, text.c_str());
    } else {
        std::vector<const char *> v(static_cast<size_t>(nparams));
        for (size_t i = 0; i < v.size(); ++i)
            v[i] = nulls[i] ? nullptr : values[i].data();
        const Oid *t = types.empty() ? nullptr : types.data();
        const int *l = nparams ? lengths.data() : nullptr;
        const int *f = nparams ? formats.data() : nullptr;
        ok = kind == Kind::Params ? pq.PQsendQueryParams(conn, text.c_str(), nparams, t, v.data(), l, f, result_format)
                                  : pq.PQsendQueryPrepared(conn, text.c_str(), nparams, v.data(), l, f, result_format);
    }
    if (ok && single_row)
        (void)pq.PQsetSingleRowMode(conn);
    return ok;
}

CancelShared::~CancelShared()
{
    for (PGcancel *c : owned)
        real().PQfreeCancel(c);
}

void
CancelShared::own(PGcancel *c)
{
    std::lock_guard<std::mutex> lock(mutex);
    owned.push_back(c);
}

ConnState::ConnState(PGconn *c) : app(c), conn_key(router::random_u64()) {}

namespace
{

std::shared_mutex g_mutex;
std::unordered_map<PGconn *, std::unique_ptr<ConnState>> &
registry()
{
    static auto *r = new std::unordered_map<PGconn *, std::unique_ptr<ConnState>>();
    return *r;
}

// Every libpq call looks its connection up (an event loop calls PQsocket,
// PQconsumeInput, PQisBusy, PQgetResult several times per statement). A
// small per-thread cache answers without touching the shared lock, whose
// cache line would otherwise bounce between the application's threads. Any
// unregistration invalidates every thread's cache (a PGconn's address can be
// reused by the next connection).
std::atomic<uint64_t> g_epoch{1};
struct LookupCache {
    uint64_t epoch = 0;
    unsigned next = 0;
    PGconn *conn[4] = {};
    ConnState *state[4] = {};
};
thread_local LookupCache t_lookup __attribute__((tls_model("initial-exec"))); // see entry.hpp

} // namespace

ConnState *
lookup(PGconn *conn) noexcept
{
    if (!conn)
        return nullptr;
    LookupCache &c = t_lookup;
    uint64_t epoch = g_epoch.load(std::memory_order_acquire);
    if (c.epoch != epoch) {
        c = LookupCache{};
        c.epoch = epoch;
    }
    for (int i = 0; i < 4; ++i)
        if (c.conn[i] == conn)
            return c.state[i];
    ConnState *found = nullptr;
    {
        std::shared_lock<std::shared_mutex> lock(g_mutex);
        auto it = registry().find(conn);
        if (it != registry().end())
            found = it->second.get();
    }
    if (found) {
        unsigned slot = c.next++ & 3;
        c.conn[slot] = conn;
        c.state[slot] = found;
    }
    return found;
}

void
register_connection(PGconn *conn)
{
    auto state = std::make_unique<ConnState>(conn);
    std::unique_lock<std::shared_mutex> lock(g_mutex);
    registry()[conn] = std::move(state);
    g_epoch.fetch_add(1, std::memory_order_acq_rel);
}

void
forget_connection(PGconn *conn) noexcept
{
    std::unique_ptr<ConnState> state;
    {
        std::unique_lock<std::shared_mutex> lock(g_mutex);
        auto it = registry().find(conn);
        if (it == registry().end())
            return;
        state = std::move(it->second);
        registry().erase(it);
        g_epoch.fetch_add(1, std::memory_order_acq_rel);
    }
    close_all_backends(*state);
}

size_t
registered_connections() noexcept
{
    std::shared_lock<std::shared_mutex> lock(g_mutex);
    return registry().size();
}

} // namespace pymigrate::shim
