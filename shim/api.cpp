// The shim's own C API (shim/pymigrate_shim.h).
#include "shim/pymigrate_shim.h"

#include "shim/control_plane.hpp"
#include "shim/entry.hpp"

using namespace pymigrate::shim;

PYMIGRATE_EXPORT int
pymigrate_set_route_key(PGconn *conn, const char *key)
{
    ConnState *s = routed(conn);
    if (!s)
        return -1;
    try {
        s->api_key = key ? key : "";
        return 0;
    } catch (...) {
        return -1;
    }
}

PYMIGRATE_EXPORT const char *
pymigrate_last_backend(PGconn *conn)
{
    ConnState *s = routed(conn);
    if (!s)
        return nullptr;
    return s->last ? s->last->service.c_str() : "monolith";
}

PYMIGRATE_EXPORT long long
pymigrate_route_version(void)
{
    if (!g_enabled)
        return -1;
    return ControlPlane::instance().route_version();
}
