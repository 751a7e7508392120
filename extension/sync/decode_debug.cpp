// pymigrate.decode_changes(messages bytea[], verbose boolean): the change
// stream as readable lines, for regression tests and for people debugging a
// subscription (feed it pg_logical_slot_peek_binary_changes()). It decodes
// with the same reader as the apply worker, so it also checks the wire
// format: a malformed message is a protocol_violation error.
//
// Binary values are read with the receive function of the type oid the
// RELATION message gave, so they decode on the provider itself (or a server
// with the same types). Without `verbose`, positions, xids and timestamps
// are left out so that the output is the same from run to run.
#include "pg/guard.hpp"
#include "sync/protocol.hpp"

extern "C" {
#include "access/xlogdefs.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace pymigrate::sync {
namespace {

using namespace proto;

struct DecodedRelation {
    Oid relid;
    char *schema;
    char *name;
    int ncols;
    char **colnames;
    Oid *types;
    int32 *typmods;
};

struct Decoder {
    bool verbose;
    int nrels;
    int capacity;
    DecodedRelation *rels;
    Tuplestorestate *out;
    TupleDesc desc;
};

void
emit(Decoder &d, const char *line)
{
    Datum value = CStringGetTextDatum(line);
    bool isnull = false;
    tuplestore_putvalues(d.out, d.desc, &value, &isnull);
}

DecodedRelation *
find_relation(Decoder &d, Oid relid, const Reader &r)
{
    for (int i = 0; i < d.nrels; ++i)
        if (d.rels[i].relid == relid)
            return &d.rels[i];
    ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                    errmsg("pymigrate stream: %s message for relation %u before its RELATION message", r.what, relid)));
    pg_unreachable();
}

const char *
lsn_text(XLogRecPtr lsn)
{
    return psprintf("%X/%X", static_cast<uint32>(lsn >> 32), static_cast<uint32>(lsn));
}

void
append_tuple(Decoder &, StringInfo line, Reader &r, DecodedRelation *rel)
{
    uint16 n = get_u16(r);
    if (n != rel->ncols)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: tuple of %s.%s has %u columns, its RELATION %d", rel->schema,
                               rel->name, n, rel->ncols)));
    for (int i = 0; i < n; ++i) {
        char kind = static_cast<char>(get_u8(r));
        appendStringInfo(line, "%s%s=", i ? " " : "", quote_identifier(rel->colnames[i]));
        uint32 len;
        const char *bytes;
        switch (kind) {
        case kNull:
            appendStringInfoString(line, "NULL");
            break;
        case kUnchanged:
            appendStringInfoString(line, "<unchanged toast>");
            break;
        case kText:
            bytes = get_bytes(r, &len);
            appendStringInfoString(line, quote_literal_cstr(pnstrdup(bytes, len)));
            break;
        case kBinary: {
            bytes = get_bytes(r, &len);
            StringInfoData buf;
            initStringInfo(&buf);
            appendBinaryStringInfo(&buf, bytes, static_cast<int>(len));
            Oid recv, ioparam, out;
            bool varlena;
            getTypeBinaryInputInfo(rel->types[i], &recv, &ioparam);
            getTypeOutputInfo(rel->types[i], &out, &varlena);
            Datum v = OidReceiveFunctionCall(recv, &buf, ioparam, rel->typmods[i]);
            if (buf.cursor != buf.len)
                ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                                errmsg("pymigrate stream: binary value of %s.%s.%s has trailing bytes", rel->schema,
                                       rel->name, rel->colnames[i])));
            appendStringInfoString(line, quote_literal_cstr(OidOutputFunctionCall(out, v)));
            break;
        }
        default:
            ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                            errmsg("pymigrate stream: unknown value kind 0x%02x in %s message", kind, r.what)));
        }
    }
}

void
decode_relation(Decoder &d, Reader &r)
{
    Oid relid = get_u32(r);
    DecodedRelation *rel = nullptr;
    for (int i = 0; i < d.nrels; ++i)
        if (d.rels[i].relid == relid)
            rel = &d.rels[i];
    if (rel == nullptr) {
        if (d.nrels == d.capacity) {
            d.capacity *= 2;
            d.rels = static_cast<DecodedRelation *>(repalloc(d.rels, sizeof(DecodedRelation) * d.capacity));
        }
        rel = &d.rels[d.nrels++];
    }
    rel->relid = relid;
    rel->schema = get_cstring(r);
    rel->name = get_cstring(r);
    char identity = static_cast<char>(get_u8(r));
    rel->ncols = get_u16(r);
    rel->colnames = static_cast<char **>(palloc(sizeof(char *) * Max(rel->ncols, 1)));
    rel->types = static_cast<Oid *>(palloc(sizeof(Oid) * Max(rel->ncols, 1)));
    rel->typmods = static_cast<int32 *>(palloc(sizeof(int32) * Max(rel->ncols, 1)));
    StringInfoData line;
    initStringInfo(&line);
    appendStringInfo(&line, "RELATION %s.%s replica identity %c:", quote_identifier(rel->schema),
                     quote_identifier(rel->name), identity);
    for (int i = 0; i < rel->ncols; ++i) {
        uint8 flags = get_u8(r);
        rel->colnames[i] = get_cstring(r);
        rel->types[i] = get_u32(r);
        rel->typmods[i] = get_i32(r);
        char *type_name = get_cstring(r);
        appendStringInfo(&line, "%s %s %s%s%s", i ? "," : "", quote_identifier(rel->colnames[i]), type_name,
                         (flags & kColumnKey) ? " key" : "", (flags & kColumnBinary) ? " binary" : " text");
        if (d.verbose)
            appendStringInfo(&line, " (oid %u, typmod %d)", rel->types[i], rel->typmods[i]);
    }
    expect_end(r);
    emit(d, line.data);
}

void
decode_one(Decoder &d, const char *data, uint32 len)
{
    if (len == 0)
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("pymigrate stream: empty message")));
    char type = data[0];
    StringInfoData line;
    initStringInfo(&line);
    Reader r = reader(data + 1, len - 1, message_name(type));
    switch (type) {
    case kStartup: {
        uint8 version = get_u8(r);
        uint32 server = get_u32(r);
        char *plugin = get_cstring(r);
        uint8 flags = get_u8(r);
        char *database = get_cstring(r);
        appendStringInfo(&line, "STARTUP protocol %u, binary %s", version, (flags & kStartupBinary) ? "on" : "off");
        if (d.verbose)
            appendStringInfo(&line, ", server %u, pymigrate %s, database %s", server, plugin, database);
        break;
    }
    case kBegin: {
        XLogRecPtr final_lsn = get_u64(r);
        TimestampTz commit_time = get_i64(r);
        uint32 xid = get_u32(r);
        uint16 origin_id = get_u16(r);
        char *origin = get_cstring(r);
        XLogRecPtr origin_lsn = get_u64(r);
        appendStringInfoString(&line, "BEGIN");
        if (origin_id != 0)
            appendStringInfo(&line, " origin %s", quote_identifier(origin));
        if (d.verbose)
            appendStringInfo(&line, " xid %u, commit lsn %s, commit time %s, origin id %u, origin lsn %s", xid,
                             lsn_text(final_lsn), timestamptz_to_str(commit_time), origin_id, lsn_text(origin_lsn));
        break;
    }
    case kCommit: {
        (void)get_u8(r);
        XLogRecPtr commit_lsn = get_u64(r);
        XLogRecPtr end_lsn = get_u64(r);
        TimestampTz commit_time = get_i64(r);
        appendStringInfoString(&line, "COMMIT");
        if (d.verbose)
            appendStringInfo(&line, " lsn %s, end %s, time %s", lsn_text(commit_lsn), lsn_text(end_lsn),
                             timestamptz_to_str(commit_time));
        break;
    }
    case kSeen: {
        XLogRecPtr applied_lsn = get_u64(r);
        uint64 sysid = get_u64(r);
        char *slot = get_cstring(r);
        uint32 xid = get_u32(r);
        TimestampTz commit_time = get_i64(r);
        XLogRecPtr commit_lsn = get_u64(r);
        appendStringInfo(&line, "SEEN slot %s", quote_identifier(slot));
        if (d.verbose)
            appendStringInfo(&line, " xid %u, commit lsn %s, commit time %s, system %llu, applied at %s", xid,
                             lsn_text(commit_lsn), timestamptz_to_str(commit_time),
                             static_cast<unsigned long long>(sysid), lsn_text(applied_lsn));
        break;
    }
    case kRelation:
        decode_relation(d, r);
        return;
    case kInsert:
    case kUpdate:
    case kDelete: {
        DecodedRelation *rel = find_relation(d, get_u32(r), r);
        appendStringInfo(&line, "%s %s.%s:", r.what, quote_identifier(rel->schema), quote_identifier(rel->name));
        char marker = static_cast<char>(get_u8(r));
        if (marker == kKeyTuple || marker == kOldTuple) {
            appendStringInfoString(&line, marker == kKeyTuple ? " key(" : " old(");
            append_tuple(d, &line, r, rel);
            appendStringInfoChar(&line, ')');
            if (type != kDelete)
                marker = static_cast<char>(get_u8(r));
        } else if (type == kDelete) {
            ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                            errmsg("pymigrate stream: DELETE message without an old key or row")));
        }
        if (type != kDelete) {
            if (marker != kNewTuple)
                ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                                errmsg("pymigrate stream: %s message without a new tuple", r.what)));
            appendStringInfoString(&line, type == kInsert ? " " : " new(");
            append_tuple(d, &line, r, rel);
            if (type == kUpdate)
                appendStringInfoChar(&line, ')');
        }
        break;
    }
    case kTruncate: {
        uint8 flags = get_u8(r);
        uint32 n = get_u32(r);
        appendStringInfoString(&line, "TRUNCATE");
        for (uint32 i = 0; i < n; ++i) {
            DecodedRelation *rel = find_relation(d, get_u32(r), r);
            appendStringInfo(&line, "%s %s.%s", i ? "," : "", quote_identifier(rel->schema),
                             quote_identifier(rel->name));
        }
        if (flags & kTruncateCascade)
            appendStringInfoString(&line, " CASCADE");
        if (flags & kTruncateRestartSeqs)
            appendStringInfoString(&line, " RESTART IDENTITY");
        break;
    }
    default:
        ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("pymigrate stream: unknown message type 0x%02x", static_cast<unsigned char>(type))));
    }
    expect_end(r);
    emit(d, line.data);
}

Datum
decode_changes(FunctionCallInfo fcinfo)
{
    ArrayType *messages = PG_GETARG_ARRAYTYPE_P(0);
    bool verbose = PG_GETARG_BOOL(1);
    if (ARR_NDIM(messages) > 1)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("pymigrate.decode_changes: messages must be a one-dimensional bytea[]")));
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    Decoder d{verbose, 0, 8, nullptr, rsinfo->setResult, rsinfo->setDesc};
    d.rels = static_cast<DecodedRelation *>(palloc(sizeof(DecodedRelation) * d.capacity));
    Datum *elems;
    bool *nulls;
    int n;
    deconstruct_array(messages, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    for (int i = 0; i < n; ++i) {
        if (nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("pymigrate.decode_changes: message %d is NULL", i + 1)));
        bytea *m = DatumGetByteaPP(elems[i]);
        Reader frame = reader(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m), "write");
        const char *msg;
        uint32 len;
        while (next_message(frame, &msg, &len))
            decode_one(d, msg, len);
    }
    return static_cast<Datum>(0);
}

} // namespace
} // namespace pymigrate::sync

PYMIGRATE_FUNCTION(pymigrate_decode_changes)
{
    // All PostgreSQL-style inside: no C++ object lives across its calls.
    return pymigrate::pg::pg_call([fcinfo] { return pymigrate::sync::decode_changes(fcinfo); });
}
