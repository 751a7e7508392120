// The seen set's file (causal_store.hpp).
//
// Layout (host byte order: the file never leaves this server): magic u32,
// version u32, provider sysid u64, reader char[2 * NAMEDATALEN], position
// u64, clean u8, any_seen u8, newest i64, known_after i64, n u32, n x (xid
// u32, commit time i64), then a CRC-32C of everything before it.
#include "sync/causal_store.hpp"

#include "sync/causal.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "common/file_perm.h"
#include "port/pg_crc32c.h"
#include "replication/origin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
}

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pymigrate::sync::apply {
namespace {

constexpr uint32 kMagic = 0x504D534E; // "PMSN"
constexpr uint32 kVersion = 2;
constexpr const char *kDir = "pg_pymigrate";

SeenOwner exit_owner;

char *
path_of(int32 subid, const char *suffix)
{
    return psprintf("%s/seen_%u_%d%s", kDir, MyDatabaseId, subid, suffix);
}

template <typename T>
void
put(StringInfo buf, const T &v)
{
    appendBinaryStringInfo(buf, reinterpret_cast<const char *>(&v), sizeof(v));
}

template <typename T>
bool
get(const char *&p, const char *end, T *v)
{
    if (static_cast<size_t>(end - p) < sizeof(T))
        return false;
    memcpy(v, p, sizeof(T));
    p += sizeof(T);
    return true;
}

// Writes the set with `position`; `clean`: written by a worker that exits,
// so nothing it read is missing from it.
void
write_file(const SeenOwner &owner, XLogRecPtr position, bool clean)
{
    SeenState s = export_seen();
    StringInfoData buf;
    initStringInfo(&buf);
    put(&buf, kMagic);
    put(&buf, kVersion);
    put(&buf, owner.provider_sysid);
    appendBinaryStringInfo(&buf, owner.reader, sizeof(owner.reader));
    put(&buf, position);
    put(&buf, static_cast<uint8>(clean));
    put(&buf, static_cast<uint8>(s.any_seen));
    put(&buf, s.newest);
    put(&buf, s.known_after);
    put(&buf, static_cast<uint32>(s.n));
    for (int i = 0; i < s.n; ++i) {
        put(&buf, s.xids[i]);
        put(&buf, s.times[i]);
    }
    pg_crc32c crc;
    INIT_CRC32C(crc);
    COMP_CRC32C(crc, buf.data, buf.len);
    FIN_CRC32C(crc);
    put(&buf, crc);

    (void)MakePGDirectory(kDir); // EEXIST is fine; anything else shows below
    char *tmp = path_of(owner.subid, ".tmp");
    int fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
    if (fd < 0) {
        ereport(LOG, (errcode_for_file_access(), errmsg("pymigrate: could not write \"%s\": %m", tmp)));
        return;
    }
    bool ok = write(fd, buf.data, buf.len) == buf.len && pg_fsync(fd) == 0;
    if (!ok)
        ereport(LOG, (errcode_for_file_access(), errmsg("pymigrate: could not write \"%s\": %m", tmp)));
    CloseTransientFile(fd);
    if (ok)
        (void)durable_rename(tmp, path_of(owner.subid, ""), LOG);
}

void
save(int, Datum)
{
    // After a FATAL the transaction is not cleaned up yet (ShutdownPostgres
    // runs after this callback): release what it holds first.
    AbortOutOfAnyTransaction();
    // Everything the position below stands for must be on disk before the
    // file says so (synchronous_commit is usually off for apply).
    XLogFlush(XactLastCommitEnd);
    XLogRecPtr position = replorigin_session_origin != InvalidRepOriginId ? replorigin_session_get_progress(false)
                                                                          : InvalidXLogRecPtr;
    write_file(exit_owner, position, true);
}

} // namespace

bool
load_seen_set(const SeenOwner &owner, XLogRecPtr resume_from)
{
    char *path = path_of(owner.subid, "");
    int fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
    if (fd < 0)
        return false; // none yet
    struct stat st;
    StringInfoData buf;
    initStringInfo(&buf);
    bool read_ok = fstat(fd, &st) == 0 && static_cast<Size>(st.st_size) < MaxAllocSize;
    if (read_ok) {
        enlargeStringInfo(&buf, static_cast<int>(st.st_size));
        read_ok = read(fd, buf.data, st.st_size) == st.st_size;
        buf.len = static_cast<int>(st.st_size);
    }
    CloseTransientFile(fd);
    const char *p = buf.data;
    const char *end = buf.data + buf.len;
    // The CRC first: anything torn or foreign is simply not used.
    if (!read_ok || buf.len < static_cast<int>(sizeof(pg_crc32c)))
        return false;
    pg_crc32c crc, stored;
    INIT_CRC32C(crc);
    COMP_CRC32C(crc, buf.data, buf.len - sizeof(pg_crc32c));
    FIN_CRC32C(crc);
    memcpy(&stored, end - sizeof(pg_crc32c), sizeof(pg_crc32c));
    end -= sizeof(pg_crc32c);
    uint32 magic = 0, version = 0, n = 0;
    uint64 sysid = 0;
    char reader[sizeof(owner.reader)];
    XLogRecPtr position = InvalidXLogRecPtr;
    uint8 clean = 0;
    uint8 any = 0;
    SeenState s{};
    if (!EQ_CRC32C(crc, stored) || !get(p, end, &magic) || magic != kMagic || !get(p, end, &version) ||
        version != kVersion || !get(p, end, &sysid) || static_cast<size_t>(end - p) < sizeof(reader))
        return false;
    memcpy(reader, p, sizeof(reader));
    p += sizeof(reader);
    if (!get(p, end, &position) || !get(p, end, &clean) || !get(p, end, &any) || !get(p, end, &s.newest) ||
        !get(p, end, &s.known_after) ||
        !get(p, end, &n) || static_cast<size_t>(end - p) != n * (sizeof(TransactionId) + sizeof(TimestampTz)))
        return false;
    // Another provider or slot (a subscription made again under this id),
    // or a position after the one we resume from (what the file knows was
    // read at positions that will be applied again): not ours to use.
    if (sysid != owner.provider_sysid || strncmp(reader, owner.reader, sizeof(reader)) != 0 ||
        position > resume_from)
        return false;
    s.any_seen = any != 0;
    s.n = static_cast<int>(n);
    s.xids = static_cast<TransactionId *>(palloc(sizeof(TransactionId) * Max(s.n, 1)));
    s.times = static_cast<TimestampTz *>(palloc(sizeof(TimestampTz) * Max(s.n, 1)));
    for (int i = 0; i < s.n; ++i) {
        (void)get(p, end, &s.xids[i]);
        (void)get(p, end, &s.times[i]);
    }
    import_seen(s, clean && position == resume_from);
    // In use: if this worker dies without writing its own, the next one
    // keeps what is known here but must not take the SEENs this one reads
    // (and confirms, so they are not sent again) as never sent.
    write_file(owner, position, false);
    return true;
}

void
save_seen_set_at_exit(const SeenOwner &owner)
{
    static bool registered = false;
    exit_owner = owner;
    if (!registered) {
        before_shmem_exit(save, 0);
        registered = true;
    }
}

void
remove_seen_set(int32 subid)
{
    char *path = path_of(subid, "");
    if (unlink(path) != 0 && errno != ENOENT)
        ereport(WARNING, (errcode_for_file_access(), errmsg("pymigrate: could not remove \"%s\": %m", path)));
}

} // namespace pymigrate::sync::apply
