// Out-of-line parts of the stream reader (protocol.hpp).
#include "sync/protocol.hpp"

namespace pymigrate::sync::proto {

void
truncated(const Reader &r, uint32 wanted)
{
    ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("pymigrate stream: %s message truncated", r.what),
                    errdetail("Wanted %u more bytes at offset %u of a %u-byte message.", wanted, r.pos, r.len)));
    pg_unreachable();
}

char *
get_cstring(Reader &r)
{
    uint32 len;
    const char *p = get_bytes(r, &len);
    if (memchr(p, '\0', len) != nullptr)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: %s message has a string with a zero byte", r.what)));
    return pnstrdup(p, len);
}

void
expect_end(const Reader &r)
{
    if (r.pos != r.len)
        ereport(ERROR,
                (errcode(ERRCODE_PROTOCOL_VIOLATION),
                 errmsg("pymigrate stream: %s message has %u unexpected trailing bytes", r.what, r.len - r.pos)));
}

} // namespace pymigrate::sync::proto
