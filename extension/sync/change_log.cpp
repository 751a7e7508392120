// One INSERT into pymigrate.change_log for everything that writes it
// (change_log.hpp).
#include "sync/change_log.hpp"

#include "pg/run_as_owner.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
}

namespace pymigrate::sync {
namespace {

SPIPlanPtr insert_plan = nullptr;

} // namespace

void
change_log_insert(Oid relid, const char *data, int len)
{
    if (insert_plan == nullptr) {
        Oid types[2] = {OIDOID, BYTEAOID};
        SPIPlanPtr plan = SPI_prepare("INSERT INTO pymigrate.change_log (txid, seq, relid, data) VALUES "
                                      "(pg_catalog.pg_current_xact_id(), "
                                      "pg_catalog.nextval('pymigrate.change_log_seq'), $1, $2)",
                                      2, types);
        if (plan == nullptr)
            elog(ERROR, "could not prepare the change log insert: %s", SPI_result_code_string(SPI_result));
        SPI_keepplan(plan);
        insert_plan = plan;
    }
    bytea *bytes = static_cast<bytea *>(palloc(VARHDRSZ + len));
    SET_VARSIZE(bytes, VARHDRSZ + len);
    memcpy(VARDATA(bytes), data, len);
    Datum values[2] = {ObjectIdGetDatum(relid), PointerGetDatum(bytes)};
    Oid log = get_relname_relid("change_log", get_namespace_oid("pymigrate", false));
    pg::SavedUser saved = pg::become_owner_of(log);
    int rc = SPI_execute_plan(insert_plan, values, nullptr, false, 0);
    pg::restore_user(saved);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "could not write pymigrate.change_log: %s", SPI_result_code_string(rc));
    pfree(bytes);
}

} // namespace pymigrate::sync
