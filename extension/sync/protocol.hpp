// The wire format of the pymigrate change stream (PROTOCOL.md): message and
// field codes, and the big-endian writers and bounds-checked reader that the
// output plugin, the apply worker and the debug decoder share.
//
// PostgreSQL-style code: the writers append to a StringInfo and the reader
// raises ereport(ERROR) (protocol_violation) on a truncated message. Callers
// run them inside pg_call() or from PostgreSQL callbacks, never with C++
// objects alive in between.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "lib/stringinfo.h"
#include "port/pg_bswap.h"
}

namespace pymigrate::sync::proto {

constexpr int kMinVersion = 1;
constexpr int kMaxVersion = 2; // 2: SEEN messages (PROTOCOL.md)

// Message types: the first byte of each message.
constexpr char kStartup = 'S';
constexpr char kBegin = 'B';
constexpr char kCommit = 'C';
constexpr char kRelation = 'R';
constexpr char kInsert = 'I';
constexpr char kUpdate = 'U';
constexpr char kDelete = 'D';
constexpr char kTruncate = 'T';
constexpr char kSeen = 'V'; // protocol 2: a transaction of another node was applied here

// The prefix of the transactional logical message the apply worker writes
// in every applied transaction (LogLogicalMessage); the output plugin turns
// it into a SEEN message of the other direction's stream.
constexpr const char *kAppliedPrefix = "pymigrate.applied";

// A marker names the slot its subscription reads the provider through; a
// trigger-capture subscription, which reads no slot, names this prefix and
// the provider's database oid instead (slot names cannot hold a ':').
constexpr const char *kCaptureReaderPrefix = "capture:";

// Tuple markers.
constexpr char kNewTuple = 'N';
constexpr char kKeyTuple = 'K';
constexpr char kOldTuple = 'O';

// Value kinds inside a tuple.
constexpr char kNull = 'n';
constexpr char kUnchanged = 'u';
constexpr char kText = 't';
constexpr char kBinary = 'b';

// RELATION column flags.
constexpr uint8 kColumnKey = 1;
constexpr uint8 kColumnBinary = 2;

// STARTUP flags.
constexpr uint8 kStartupBinary = 1;

// The name of a message type, for error messages ("?" if unknown).
inline const char *
message_name(char type)
{
    switch (type) {
    case kStartup:
        return "STARTUP";
    case kBegin:
        return "BEGIN";
    case kCommit:
        return "COMMIT";
    case kRelation:
        return "RELATION";
    case kInsert:
        return "INSERT";
    case kUpdate:
        return "UPDATE";
    case kDelete:
        return "DELETE";
    case kTruncate:
        return "TRUNCATE";
    case kSeen:
        return "SEEN";
    default:
        return "?";
    }
}

// TRUNCATE flags.
constexpr uint8 kTruncateCascade = 1;
constexpr uint8 kTruncateRestartSeqs = 2;

// ---------------------------------------------------------------- writing

inline void
put_u8(StringInfo s, uint8 v)
{
    appendStringInfoCharMacro(s, static_cast<char>(v));
}

// `v` as a big-endian unsigned integer of sizeof(T) bytes.
template <typename T>
inline void
put_be(StringInfo s, T v)
{
    char buf[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i)
        buf[i] = static_cast<char>((v >> (8 * (sizeof(T) - 1 - i))) & 0xff);
    appendBinaryStringInfo(s, buf, sizeof(T));
}

inline void
put_u16(StringInfo s, uint16 v)
{
    put_be(s, v);
}

inline void
put_u32(StringInfo s, uint32 v)
{
    put_be(s, v);
}

inline void
put_u64(StringInfo s, uint64 v)
{
    put_be(s, v);
}

inline void
put_i64(StringInfo s, int64 v)
{
    put_u64(s, static_cast<uint64>(v));
}

inline void
put_bytes(StringInfo s, const char *data, uint32 len)
{
    put_u32(s, len);
    appendBinaryStringInfo(s, data, static_cast<int>(len));
}

inline void
put_str(StringInfo s, const char *str)
{
    put_bytes(s, str ? str : "", str ? static_cast<uint32>(strlen(str)) : 0);
}

// ---------------------------------------------------------------- reading

// A view of one message. `what` names the message in error messages.
struct Reader {
    const char *data;
    uint32 len;
    uint32 pos;
    const char *what;
};

inline Reader
reader(const char *data, uint32 len, const char *what)
{
    return Reader{data, len, 0, what};
}

[[noreturn]] void truncated(const Reader &r, uint32 wanted);

inline const char *
get_raw(Reader &r, uint32 n)
{
    if (n > r.len - r.pos)
        truncated(r, n);
    const char *p = r.data + r.pos;
    r.pos += n;
    return p;
}

inline uint8
get_u8(Reader &r)
{
    return static_cast<uint8>(*get_raw(r, 1));
}

// A big-endian unsigned integer of sizeof(T) bytes.
template <typename T>
inline T
get_be(Reader &r)
{
    const unsigned char *p = reinterpret_cast<const unsigned char *>(get_raw(r, sizeof(T)));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
        v = static_cast<T>((v << 8) | p[i]);
    return v;
}

inline uint16
get_u16(Reader &r)
{
    return get_be<uint16>(r);
}

inline uint32
get_u32(Reader &r)
{
    return get_be<uint32>(r);
}

inline uint64
get_u64(Reader &r)
{
    return get_be<uint64>(r);
}

inline int64
get_i64(Reader &r)
{
    return static_cast<int64>(get_u64(r));
}

inline int32
get_i32(Reader &r)
{
    return static_cast<int32>(get_u32(r));
}

// A length-prefixed byte string: pointer into the message and its length.
inline const char *
get_bytes(Reader &r, uint32 *len)
{
    *len = get_u32(r);
    return get_raw(r, *len);
}

// The next message of a write (each is preceded by its u32 length); false
// at the end of the write.
inline bool
next_message(Reader &frame, const char **msg, uint32 *len)
{
    if (frame.pos == frame.len)
        return false;
    *msg = get_bytes(frame, len);
    return true;
}

// A length-prefixed string as a palloc'd, NUL-terminated copy.
char *get_cstring(Reader &r);

// Raises protocol_violation unless the whole message was read.
void expect_end(const Reader &r);

} // namespace pymigrate::sync::proto
