// Reads and writes of the subscription catalog (catalog.hpp).
#include "sync/catalog.hpp"

#include "pg/guard.hpp"
#include "pg/spi.hpp"

#include "common/pq.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
}

#include <cinttypes>

namespace pymigrate::sync {

using pg::Spi;
using pg::SpiParam;

namespace {

const char *kSubscriptionColumns =
    "id, name, provider_dsn, enabled, slot_name, origin_name, copy_data, synchronous_commit, forward_origins, "
    "generation, options";

Subscription
subscription_from_row(const pg::SpiRow &r)
{
    Subscription s;
    s.id = std::stoi(*r[0]);
    s.name = *r[1];
    s.provider_dsn = *r[2];
    s.enabled = *r[3] == "t";
    s.slot_name = *r[4];
    s.origin_name = *r[5];
    s.copy_data = *r[6] == "t";
    s.synchronous_commit = *r[7];
    s.forward_origins = *r[8];
    s.generation = std::stoi(*r[9]);
    s.options = *r[10];
    return s;
}

std::optional<Subscription>
load_where(const std::string &where, const std::vector<SpiParam> &params)
{
    Spi spi;
    auto rows = spi.query(std::string("SELECT ") + kSubscriptionColumns + " FROM pymigrate.subscription WHERE " + where,
                          params);
    if (rows.empty())
        return std::nullopt;
    Subscription s = subscription_from_row(rows[0]);
    auto tables = spi.query("SELECT local_schema, local_table, remote_schema, remote_table, state, sync_lsn, options, "
                            "sync_snapshot FROM pymigrate.subscription_table WHERE subscription_id = $1 "
                            "ORDER BY local_schema, local_table",
                            {{INT4OID, std::to_string(s.id)}});
    for (const auto &t : tables) {
        SubscribedTable st;
        st.local_schema = *t[0];
        st.local_table = *t[1];
        st.remote_schema = *t[2];
        st.remote_table = *t[3];
        st.state = (*t[4])[0];
        st.sync_lsn = t[5] ? lsn_from_string(*t[5]) : 0;
        st.options = *t[6];
        st.sync_snapshot = t[7].value_or("");
        s.tables.push_back(std::move(st));
    }
    return s;
}

} // namespace

std::vector<SubscriptionSummary>
list_subscriptions()
{
    Spi spi;
    std::vector<SubscriptionSummary> out;
    for (const auto &r : spi.query("SELECT id, name, enabled, generation FROM pymigrate.subscription", {}, true))
        out.push_back({std::stoi(*r[0]), *r[1], *r[2] == "t", std::stoi(*r[3])});
    return out;
}

std::optional<Subscription>
load_subscription(int32_t id)
{
    return load_where("id = $1", {{INT4OID, std::to_string(id)}});
}

std::optional<Subscription>
load_subscription(const std::string &name)
{
    return load_where("name = $1", {{TEXTOID, name}});
}

bool
subscription_still_wanted(int32_t id, int32_t generation)
{
    if (!pg::pg_call([] { return OidIsValid(get_extension_oid("pymigrate", true)); }))
        return false;
    auto now = load_subscription(id);
    return now && now->enabled && now->generation == generation;
}

std::vector<OriginNode>
origin_nodes()
{
    Spi spi;
    std::vector<OriginNode> out;
    for (const auto &r : spi.query("SELECT origin_name, coalesce(options->>'remote_node', name) FROM "
                                   "pymigrate.subscription",
                                   {}, true))
        out.push_back({*r[0], *r[1]});
    return out;
}

void
mark_tables_ready(int32_t subid, const std::vector<SubscribedTable> &tables, uint64_t sync_lsn,
                  const std::vector<int64_t> &rows_copied, const std::string &snapshot)
{
    Spi spi;
    for (size_t i = 0; i < tables.size(); ++i) {
        std::optional<std::string> rows;
        if (i < rows_copied.size() && rows_copied[i] >= 0)
            rows = std::to_string(rows_copied[i]);
        spi.execute("UPDATE pymigrate.subscription_table SET state = 'r', sync_lsn = $4, rows_copied = $5, "
                    "copied_at = CASE WHEN $5 IS NULL THEN NULL ELSE now() END, sync_snapshot = $6 "
                    "WHERE subscription_id = $1 AND local_schema = $2 AND local_table = $3",
                    {{INT4OID, std::to_string(subid)},
                     {NAMEOID, tables[i].local_schema},
                     {NAMEOID, tables[i].local_table},
                     {PG_LSNOID, lsn_to_string(sync_lsn)},
                     {INT8OID, rows},
                     {PG_SNAPSHOTOID, snapshot.empty() ? std::nullopt : std::optional<std::string>(snapshot)}});
    }
}

Oid
subscription_class_oid()
{
    return pg::pg_call([] {
        Oid nsp = get_namespace_oid("pymigrate", false);
        Oid rel = get_relname_relid("subscription", nsp);
        if (!OidIsValid(rel))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("pymigrate.subscription is missing"),
                            errhint("Re-create the extension.")));
        return rel;
    });
}

std::string
qualified_name(const std::string &schema, const std::string &table)
{
    return pq::quote_ident(schema) + "." + pq::quote_ident(table);
}

std::string
lsn_to_string(uint64_t lsn)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn));
    return buf;
}

uint64_t
lsn_from_string(const std::string &text)
{
    unsigned hi = 0, lo = 0;
    if (sscanf(text.c_str(), "%X/%X", &hi, &lo) != 2)
        throw pg::Error(ERRCODE_INVALID_TEXT_REPRESENTATION, "invalid WAL position \"" + text + "\"");
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

} // namespace pymigrate::sync
