// Cancel requests go to the backend running the statement. PQgetCancel is
// usually called before the statement is sent (psql does it per query), so
// the shim's PGcancel decides at PQcancel time, from a signal handler if need
// be: it reads one atomic pointer and calls libpq's signal-safe PQcancel.
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>

#include "shim/entry.hpp"
#include "shim/routing.hpp"

using namespace pymigrate::shim;

namespace
{

// What the application holds instead of libpq's PGcancel when the
// connection is routed. PQcancel and PQfreeCancel tell the two apart by the
// first eight bytes: libpq's PGcancel starts with a socket address, whose
// family can never spell this.
constexpr uint64_t kMagic = 0x7461726769726d79ULL; // "ymigrat"...

struct ShimCancel {
    uint64_t magic = kMagic;
    PGcancel *monolith = nullptr;
    std::shared_ptr<CancelShared> shared;
};

ShimCancel *
as_shim(PGcancel *c) noexcept
{
    if (!c)
        return nullptr;
    uint64_t first;
    __builtin_memcpy(&first, c, sizeof first);
    return first == kMagic ? reinterpret_cast<ShimCancel *>(c) : nullptr;
}

} // namespace

PYMIGRATE_EXPORT PGcancel *
PQgetCancel(PGconn *conn)
{
    ConnState *s = routed(conn);
    PGcancel *mono = real().PQgetCancel(conn);
    if (!s || !mono)
        return mono;
    Inside in;
    auto *c = new (std::nothrow) ShimCancel();
    if (!c)
        return mono;
    c->monolith = mono;
    c->shared = s->cancel;
    return reinterpret_cast<PGcancel *>(c);
}

PYMIGRATE_EXPORT void
PQfreeCancel(PGcancel *cancel)
{
    if (ShimCancel *c = as_shim(cancel)) {
        real().PQfreeCancel(c->monolith);
        c->magic = 0;
        delete c;
        return;
    }
    real().PQfreeCancel(cancel);
}

PYMIGRATE_EXPORT int
PQcancel(PGcancel *cancel, char *errbuf, int errbufsize)
{
    if (ShimCancel *c = as_shim(cancel)) {
        PGcancel *svc = c->shared->service.load(std::memory_order_acquire);
        return real().PQcancel(svc ? svc : c->monolith, errbuf, errbufsize);
    }
    return real().PQcancel(cancel, errbuf, errbufsize);
}

PYMIGRATE_EXPORT int
PQrequestCancel(PGconn *conn)
{
    ConnState *s = routed(conn);
    return real().PQrequestCancel(s ? io_conn(*s) : conn);
}
