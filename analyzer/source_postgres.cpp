// The live-database source: one connection, catalog queries with no
// user input in them, pg_stat_statements when it can be read.
#include <map>

#include "analyzer/check_constraint.hpp"
#include "analyzer/column_type.hpp"
#include "analyzer/sources.hpp"
#include "common/dsn.hpp"
#include "common/pq.hpp"

namespace pymigrate::analyzer
{
namespace
{

// Tables the analysis sees: ordinary and partitioned tables outside the
// system schemas and pymigrate's own, not partitions (they count in their
// parent) and not tables that belong to an extension.
constexpr const char *kTables = R"SQL(
SELECT c.oid, n.nspname, c.relname,
       greatest(coalesce(st.live, 0), c.reltuples)::bigint,
       coalesce(st.bytes, 0)::bigint,
       coalesce(st.writes, -1)::bigint
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (
       SELECT sum(pg_catalog.pg_total_relation_size(p.relid)) AS bytes,
              sum(s.n_live_tup) AS live,
              sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del) AS writes
         FROM (SELECT relid FROM pg_catalog.pg_partition_tree(c.oid) UNION SELECT c.oid) p
         LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = p.relid) st ON true
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pymigrate')
   AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname
)SQL";

// Columns with the element type's internal name (through domains and arrays).
constexpr const char *kColumns = R"SQL(
SELECT a.attrelid, a.attname, a.atttypmod,
       CASE WHEN et.typnamespace = 'pg_catalog'::regnamespace THEN et.typname::text
            ELSE pg_catalog.quote_ident(en.nspname) || '.' || pg_catalog.quote_ident(et.typname) END,
       CASE WHEN t.typcategory = 'A' OR bt.typcategory = 'A' THEN 1 ELSE 0 END,
       a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
  JOIN pg_catalog.pg_type et ON et.oid = CASE
        WHEN t.typcategory = 'A' THEN t.typelem
        WHEN t.typtype = 'd' AND bt.typcategory = 'A' THEN bt.typelem
        WHEN t.typtype = 'd' THEN t.typbasetype
        ELSE t.oid END
  JOIN pg_catalog.pg_namespace en ON en.oid = et.typnamespace
  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
)SQL";

constexpr const char *kConstraints = R"SQL(
SELECT con.conrelid, con.contype, con.conname,
       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ',' ORDER BY k.i)
          FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n),
       con.confrelid,
       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ',' ORDER BY k.i)
          FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n),
       pg_catalog.pg_get_constraintdef(con.oid)
  FROM pg_catalog.pg_constraint con
 WHERE con.conrelid = ANY ($1::oid[]) AND con.contype IN ('p', 'u', 'f', 'c') AND con.conparentid = 0
 ORDER BY con.conrelid, con.contype, con.conname
)SQL";

constexpr const char *kEnums = R"SQL(
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname), e.enumlabel
  FROM pg_catalog.pg_enum e
  JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 ORDER BY 1, e.enumsortorder
)SQL";

// Column lists come back as quote_ident'ed names joined by commas.
std::vector<std::string>
split_idents(std::string_view s)
{
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quoted) {
            if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
                cur += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cur += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!s.empty())
        out.push_back(std::move(cur));
    return out;
}

std::vector<int>
typmods_of(const std::string &base, int typmod)
{
    if (typmod < 0)
        return {};
    if (base == "varchar" || base == "bpchar")
        return {typmod - 4};
    if (base == "numeric")
        return {((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff};
    if (base == "timestamp" || base == "timestamptz" || base == "time" || base == "timetz")
        return {typmod};
    return {};
}

void
load_statements(pq::Connection &c, Source &src)
{
    Model &m = src.model;
    auto schema = c.scalar("SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension "
                           "WHERE extname = 'pg_stat_statements'");
    if (!schema) {
        m.warnings.push_back("pg_stat_statements is not installed in this database: no query patterns, the "
                             "analysis uses foreign keys (and the statement log, if given) only. To add them: "
                             "shared_preload_libraries = 'pg_stat_statements', CREATE EXTENSION pg_stat_statements, "
                             "let the application run, analyze again");
        return;
    }
    try {
        auto r = c.exec("SELECT query, calls FROM " + *schema +
                        ".pg_stat_statements WHERE dbid = (SELECT oid FROM pg_catalog.pg_database "
                        "WHERE datname = pg_catalog.current_database())");
        int64_t hidden = 0;
        for (int i = 0; i < r.rows(); ++i) {
            auto q = r.optional(i, 0);
            if (!q || *q == "<insufficient privilege>") {
                ++hidden;
                continue;
            }
            src.queries.emplace_back(*q, std::stod(std::string(r.value(i, 1))));
        }
        src.query_source = "pg_stat_statements";
        if (hidden)
            m.warnings.push_back(std::to_string(hidden) +
                                 " pg_stat_statements entries of other roles are hidden from this role: the "
                                 "analysis goes on without them (grant it pg_read_all_stats to see them)");
    } catch (const pq::Error &e) {
        m.warnings.push_back("cannot read pg_stat_statements (" + std::string(e.what()).substr(0, 200) +
                             "): the analysis goes on without query patterns. Grant the role SELECT on " + *schema +
                             ".pg_stat_statements (and pg_read_all_stats), or load it in shared_preload_libraries");
    }
}

} // namespace

Source
load_postgres(const std::string &dsn)
{
    Source src;
    Model &m = src.model;
    pq::Connection c(dsn);
    m.source = "postgres: " + redact_dsn(dsn);

    EnumTypes enums;
    {
        auto r = c.exec(kEnums);
        for (int i = 0; i < r.rows(); ++i)
            enums[std::string(r.value(i, 0))].emplace_back(r.value(i, 1));
    }

    std::map<std::string, size_t> by_oid;
    std::string oids = "{";
    {
        auto r = c.exec(kTables);
        for (int i = 0; i < r.rows(); ++i) {
            Table t;
            t.schema = r.value(i, 1);
            t.name = r.value(i, 2);
            t.rows = std::stoll(std::string(r.value(i, 3)));
            t.bytes = std::stoll(std::string(r.value(i, 4)));
            t.writes = std::stoll(std::string(r.value(i, 5)));
            by_oid[std::string(r.value(i, 0))] = m.schema.tables.size();
            oids += (i ? "," : "") + std::string(r.value(i, 0));
            m.schema.tables.push_back(std::move(t));
        }
    }
    oids += "}";
    {
        auto r = c.exec(kColumns, {oids});
        for (int i = 0; i < r.rows(); ++i) {
            Table &t = m.schema.tables[by_oid.at(std::string(r.value(i, 0)))];
            Column col;
            col.name = r.value(i, 1);
            std::string base(r.value(i, 3));
            int typmod = std::stoi(std::string(r.value(i, 9)));
            col.type = column_type(base, typmods_of(base, typmod), std::stoi(std::string(r.value(i, 4))), enums);
            col.not_null = r.value(i, 5) == "t";
            col.default_expr = r.optional(i, 6);
            col.identity = !r.value(i, 7).empty() || (col.default_expr && col.default_expr->rfind("nextval(", 0) == 0);
            col.generated = !r.value(i, 8).empty();
            t.columns.push_back(std::move(col));
        }
    }
    std::map<std::string, std::string> key_by_oid;
    for (const auto &[oid, i] : by_oid)
        key_by_oid[oid] = m.schema.tables[i].key();
    {
        auto r = c.exec(kConstraints, {oids});
        for (int i = 0; i < r.rows(); ++i) {
            Table &t = m.schema.tables[by_oid.at(std::string(r.value(i, 0)))];
            std::string type(r.value(i, 1));
            Key k{std::string(r.value(i, 2)), split_idents(r.value(i, 3))};
            if (type == "p") {
                t.primary_key = k;
            } else if (type == "u") {
                t.unique_keys.push_back(k);
            } else if (type == "c") {
                std::string def(r.value(i, 6));
                t.checks.push_back(def);
                apply_check_text(t, def);
            } else if (type == "f") {
                auto ref = key_by_oid.find(std::string(r.value(i, 4)));
                if (ref == key_by_oid.end())
                    continue; // references a table outside the analysis (an extension's)
                m.schema.foreign_keys.push_back({k.name, t.key(), k.columns, ref->second, split_idents(r.value(i, 5))});
            }
        }
    }
    m.schema.sort();
    if (m.schema.tables.empty())
        m.warnings.push_back("the database has no tables outside the system schemas");
    load_statements(c, src);
    return src;
}

} // namespace pymigrate::analyzer
