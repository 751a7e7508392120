// Change stream encoding shared by the output plugin and the capture trigger
// (encode.hpp).
#include "sync/encode.hpp"

#include "sync/protocol.hpp"
#include "sync/types.hpp"

extern "C" {
#include "access/detoast.h"
#include "access/sysattr.h"
#include "nodes/bitmapset.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
}

namespace pymigrate::sync::encode {

int
columns_of(Relation rel, bool binary, MemoryContext cxt, Column **out)
{
    TupleDesc desc = RelationGetDescr(rel);
    auto *cols = static_cast<Column *>(MemoryContextAllocZero(cxt, sizeof(Column) * Max(desc->natts, 1)));
    int n = 0;
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped || att->attgenerated)
            continue;
        Column &c = cols[n++];
        c.attnum = att->attnum;
        c.binary = binary && binary_portable(att->atttypid);
        Oid fn;
        bool varlena;
        if (c.binary)
            getTypeBinaryOutputInfo(att->atttypid, &fn, &varlena);
        else
            getTypeOutputInfo(att->atttypid, &fn, &varlena);
        fmgr_info_cxt(fn, &c.out, cxt);
    }
    *out = cols;
    return n;
}

int
start_message(StringInfo out, char type)
{
    int at = out->len;
    proto::put_u32(out, 0);
    proto::put_u8(out, static_cast<uint8>(type));
    return at;
}

void
end_message(StringInfo out, int at)
{
    uint32 n = pg_hton32(static_cast<uint32>(out->len - at - 4));
    memcpy(out->data + at, &n, sizeof(n));
}

void
relation_body(StringInfo out, Relation rel, const Column *cols, int ncols)
{
    TupleDesc desc = RelationGetDescr(rel);
    char identity = rel->rd_rel->relreplident;
    Bitmapset *key = identity == REPLICA_IDENTITY_FULL ? nullptr : RelationGetIdentityKeyBitmap(rel);
    proto::put_u32(out, RelationGetRelid(rel));
    proto::put_str(out, get_namespace_name(RelationGetNamespace(rel)));
    proto::put_str(out, RelationGetRelationName(rel));
    proto::put_u8(out, static_cast<uint8>(identity));
    proto::put_u16(out, static_cast<uint16>(ncols));
    for (int i = 0; i < ncols; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, cols[i].attnum - 1);
        uint8 flags = 0;
        if (identity == REPLICA_IDENTITY_FULL || bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, key))
            flags |= proto::kColumnKey;
        if (cols[i].binary)
            flags |= proto::kColumnBinary;
        proto::put_u8(out, flags);
        proto::put_str(out, NameStr(att->attname));
        proto::put_u32(out, att->atttypid);
        proto::put_u32(out, static_cast<uint32>(att->atttypmod));
        proto::put_str(out, qualified_type_name(att->atttypid));
    }
}

void
tuple(StringInfo out, TupleDesc desc, const Column *cols, int ncols, Datum *values, bool *nulls, bool toast_markers)
{
    proto::put_u16(out, static_cast<uint16>(ncols));
    for (int i = 0; i < ncols; ++i) {
        const Column &c = cols[i];
        int idx = c.attnum - 1;
        Form_pg_attribute att = TupleDescAttr(desc, idx);
        if (nulls[idx]) {
            proto::put_u8(out, proto::kNull);
            continue;
        }
        Datum v = values[idx];
        if (att->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(v))) {
            if (toast_markers) {
                // A TOASTed value the change did not touch: WAL does not have it.
                proto::put_u8(out, proto::kUnchanged);
                continue;
            }
            v = PointerGetDatum(detoast_external_attr(reinterpret_cast<struct varlena *>(DatumGetPointer(v))));
        }
        if (c.binary) {
            bytea *b = SendFunctionCall(const_cast<FmgrInfo *>(&c.out), v);
            proto::put_u8(out, proto::kBinary);
            proto::put_bytes(out, VARDATA(b), VARSIZE(b) - VARHDRSZ);
        } else {
            char *text = OutputFunctionCall(const_cast<FmgrInfo *>(&c.out), v);
            proto::put_u8(out, proto::kText);
            proto::put_bytes(out, text, static_cast<uint32>(strlen(text)));
        }
    }
}

} // namespace pymigrate::sync::encode
