#include "analyzer/analysis_json.hpp"

#include <map>

namespace pymigrate::analyzer
{
namespace
{

using nlohmann::json;

const std::map<TypeKind, const char *> kKinds = {
    {TypeKind::SmallInt, "smallint"},
    {TypeKind::Integer, "integer"},
    {TypeKind::BigInt, "bigint"},
    {TypeKind::Numeric, "numeric"},
    {TypeKind::Float, "float"},
    {TypeKind::Text, "text"},
    {TypeKind::Boolean, "boolean"},
    {TypeKind::Uuid, "uuid"},
    {TypeKind::Date, "date"},
    {TypeKind::Timestamp, "timestamp"},
    {TypeKind::TimestampTz, "timestamptz"},
    {TypeKind::Time, "time"},
    {TypeKind::Interval, "interval"},
    {TypeKind::Json, "json"},
    {TypeKind::Bytea, "bytea"},
    {TypeKind::Inet, "inet"},
    {TypeKind::Enum, "enum"},
    {TypeKind::Other, "other"},
};

json
column_json(const Column &c)
{
    json j = {{"name", c.name}, {"type", c.type.sql}, {"kind", kKinds.at(c.type.kind)}, {"not_null", c.not_null}};
    if (c.type.array_dims)
        j["array_dims"] = c.type.array_dims;
    if (c.type.max_length)
        j["max_length"] = *c.type.max_length;
    if (c.type.fixed_length)
        j["fixed_length"] = true;
    if (c.type.precision)
        j["precision"] = *c.type.precision;
    if (c.type.scale)
        j["scale"] = *c.type.scale;
    if (!c.type.enum_values.empty())
        j["values"] = c.type.enum_values;
    if (c.default_expr)
        j["default"] = *c.default_expr;
    if (c.identity)
        j["identity"] = true;
    if (c.generated)
        j["generated"] = true;
    if (c.bounds.minimum) {
        j["minimum"] = *c.bounds.minimum;
        if (c.bounds.exclusive_minimum)
            j["exclusive_minimum"] = true;
    }
    if (c.bounds.maximum) {
        j["maximum"] = *c.bounds.maximum;
        if (c.bounds.exclusive_maximum)
            j["exclusive_maximum"] = true;
    }
    return j;
}

json
key_json(const Key &k)
{
    return {{"name", k.name}, {"columns", k.columns}};
}

// Typed reads with the path in the message, so a hand-edited file gets a
// clear error instead of nlohmann's.
template <typename T>
T
get(const json &j, const char *field, const std::string &where)
{
    if (!j.is_object() || !j.contains(field))
        throw AnalysisError(where + ": \"" + field + "\" is missing");
    try {
        return j.at(field).get<T>();
    } catch (const json::exception &) {
        throw AnalysisError(where + ": \"" + field + "\" has the wrong type");
    }
}

template <typename T>
T
get_or(const json &j, const char *field, T fallback, const std::string &where)
{
    return j.is_object() && j.contains(field) && !j[field].is_null() ? get<T>(j, field, where) : fallback;
}

Column
column_from(const json &j, const std::string &where)
{
    Column c;
    c.name = get<std::string>(j, "name", where);
    std::string w = where + " column " + c.name;
    c.type.sql = get<std::string>(j, "type", w);
    std::string kind = get<std::string>(j, "kind", w);
    c.type.kind = TypeKind::Other;
    bool known = false;
    for (const auto &[k, n] : kKinds)
        if (kind == n) {
            c.type.kind = k;
            known = true;
        }
    if (!known)
        throw AnalysisError(w + ": unknown kind \"" + kind + "\"");
    c.not_null = get_or(j, "not_null", false, w);
    c.type.array_dims = get_or(j, "array_dims", 0, w);
    if (j.contains("max_length"))
        c.type.max_length = get<int>(j, "max_length", w);
    c.type.fixed_length = get_or(j, "fixed_length", false, w);
    if (j.contains("precision"))
        c.type.precision = get<int>(j, "precision", w);
    if (j.contains("scale"))
        c.type.scale = get<int>(j, "scale", w);
    c.type.enum_values = get_or(j, "values", std::vector<std::string>{}, w);
    if (j.contains("default"))
        c.default_expr = get<std::string>(j, "default", w);
    c.identity = get_or(j, "identity", false, w);
    c.generated = get_or(j, "generated", false, w);
    if (j.contains("minimum"))
        c.bounds.minimum = get<double>(j, "minimum", w);
    if (j.contains("maximum"))
        c.bounds.maximum = get<double>(j, "maximum", w);
    c.bounds.exclusive_minimum = get_or(j, "exclusive_minimum", false, w);
    c.bounds.exclusive_maximum = get_or(j, "exclusive_maximum", false, w);
    return c;
}

Key
key_from(const json &j, const std::string &where)
{
    return Key{get_or<std::string>(j, "name", "", where), get<std::vector<std::string>>(j, "columns", where)};
}

std::string
fk_text(const ForeignKey &fk)
{
    auto cols = [](const std::vector<std::string> &c) {
        std::string s;
        for (const auto &x : c)
            s += (s.empty() ? "" : ", ") + x;
        return s;
    };
    return fk.table + " (" + cols(fk.columns) + ") -> " + fk.ref_table + " (" + cols(fk.ref_columns) + ")";
}

} // namespace

json
model_to_json(const Model &m)
{
    json tables = json::array();
    for (const auto &t : m.schema.tables) {
        json cols = json::array();
        for (const auto &c : t.columns)
            cols.push_back(column_json(c));
        json tj = {{"key", t.key()}, {"schema", t.schema}, {"name", t.name}, {"columns", cols}};
        if (t.primary_key)
            tj["primary_key"] = key_json(*t.primary_key);
        json uks = json::array();
        for (const auto &k : t.unique_keys)
            uks.push_back(key_json(k));
        tj["unique_keys"] = uks;
        tj["checks"] = t.checks;
        tj["rows"] = t.rows;
        tj["bytes"] = t.bytes;
        tj["writes"] = t.writes;
        tables.push_back(tj);
    }
    json fks = json::array();
    for (const auto &fk : m.schema.foreign_keys)
        fks.push_back({{"name", fk.name},
                       {"table", fk.table},
                       {"columns", fk.columns},
                       {"ref_table", fk.ref_table},
                       {"ref_columns", fk.ref_columns}});
    json queries = json::array();
    for (const auto &q : m.workload.queries)
        queries.push_back({{"fingerprint", q.fingerprint},
                           {"query", q.text},
                           {"calls", q.calls},
                           {"tables", q.tables},
                           {"written", q.written}});
    json txs = json::array();
    for (const auto &t : m.workload.transactions)
        txs.push_back({{"written", t.written}, {"read", t.read}, {"count", t.count}, {"example", t.example}});
    return {{"source", m.source},
            {"warnings", m.warnings},
            {"query_source", m.workload.query_source},
            {"statements_unparsed", m.workload.statements_unparsed},
            {"tables", tables},
            {"foreign_keys", fks},
            {"queries", queries},
            {"transactions", txs}};
}

json
to_json(const Analysis &a)
{
    json services = json::array();
    for (const auto &s : a.services)
        services.push_back(
            {{"name", s.name},
             {"central_table", s.central_table},
             {"tables", s.tables},
             {"size", {{"tables", s.tables.size()}, {"rows", s.rows}, {"bytes", s.bytes}, {"writes", s.writes}}}});
    const Score &sc = a.score;
    json fks = json::array();
    for (const auto &c : sc.foreign_keys)
        fks.push_back({{"name", c.fk->name},
                       {"from", {{"table", c.fk->table}, {"columns", c.fk->columns}, {"service", c.from_service}}},
                       {"to", {{"table", c.fk->ref_table}, {"columns", c.fk->ref_columns}, {"service", c.to_service}}},
                       {"text", fk_text(*c.fk)}});
    json queries = json::array();
    for (const auto &c : sc.queries)
        queries.push_back({{"fingerprint", c.query->fingerprint},
                           {"query", c.query->text},
                           {"calls", c.query->calls},
                           {"tables", c.query->tables},
                           {"services", c.services}});
    json txs = json::array();
    for (const auto &c : sc.transactions)
        txs.push_back({{"written", c.transaction->written},
                       {"read", c.transaction->read},
                       {"count", c.transaction->count},
                       {"services", c.services},
                       {"example", c.transaction->example}});
    json warnings = a.model.warnings;
    for (const auto &w : a.warnings)
        warnings.push_back(w);
    json options = {{"seed", a.options.seed}, {"resolution", a.options.resolution}};
    if (a.options.services)
        options["services"] = *a.options.services;
    if (a.options.min_tables)
        options["min_tables"] = *a.options.min_tables;
    if (a.options.max_tables)
        options["max_tables"] = *a.options.max_tables;
    if (!a.options.pins.empty())
        options["pins"] = a.options.pins;
    return {
        {"pymigrate_analysis", kAnalysisFormat},
        {"source", a.model.source},
        {"query_source", a.model.workload.query_source},
        {"warnings", warnings},
        {"weights",
         {{"foreign_key", a.weights.foreign_key}, {"query", a.weights.query}, {"transaction", a.weights.transaction}}},
        {"options", options},
        {"services", services},
        {"cut",
         {{"modularity", sc.modularity},
          {"coupling", sc.coupling},
          {"foreign_keys", {{"total", sc.foreign_keys_total}, {"cut", sc.foreign_keys.size()}}},
          {"query_calls", {{"total", sc.query_calls_total}, {"cut", sc.query_calls_cut}}},
          {"transactions", {{"total", sc.transactions_total}, {"cut", sc.transactions_cut}}},
          {"cross_service_foreign_keys", fks},
          {"cross_service_queries", queries},
          {"distributed_transactions", txs}}},
        {"model", model_to_json(a.model)}};
}

Model
model_from_json(const json &j)
{
    Model m;
    m.source = get_or<std::string>(j, "source", "analysis file", "model");
    m.warnings = get_or(j, "warnings", std::vector<std::string>{}, "model");
    m.workload.query_source = get_or<std::string>(j, "query_source", "none", "model");
    m.workload.statements_unparsed = get_or<int64_t>(j, "statements_unparsed", 0, "model");
    size_t i = 0;
    for (const auto &tj : get<json>(j, "tables", "model")) {
        std::string where = "model.tables[" + std::to_string(i++) + "]";
        Table t;
        t.schema = get<std::string>(tj, "schema", where);
        t.name = get<std::string>(tj, "name", where);
        where = "table " + t.key();
        for (const auto &cj : get<json>(tj, "columns", where))
            t.columns.push_back(column_from(cj, where));
        if (tj.contains("primary_key") && !tj["primary_key"].is_null())
            t.primary_key = key_from(tj["primary_key"], where + " primary_key");
        for (const auto &k : get_or(tj, "unique_keys", json::array(), where))
            t.unique_keys.push_back(key_from(k, where + " unique_keys"));
        t.checks = get_or(tj, "checks", std::vector<std::string>{}, where);
        t.rows = get_or<int64_t>(tj, "rows", -1, where);
        t.bytes = get_or<int64_t>(tj, "bytes", -1, where);
        t.writes = get_or<int64_t>(tj, "writes", -1, where);
        m.schema.tables.push_back(std::move(t));
    }
    m.schema.sort();
    i = 0;
    for (const auto &fj : get_or(j, "foreign_keys", json::array(), "model")) {
        std::string where = "model.foreign_keys[" + std::to_string(i++) + "]";
        ForeignKey fk{get_or<std::string>(fj, "name", "", where), get<std::string>(fj, "table", where),
                      get<std::vector<std::string>>(fj, "columns", where), get<std::string>(fj, "ref_table", where),
                      get<std::vector<std::string>>(fj, "ref_columns", where)};
        if (!m.schema.find(fk.table) || !m.schema.find(fk.ref_table))
            throw AnalysisError(where + ": table " + (m.schema.find(fk.table) ? fk.ref_table : fk.table) +
                                " is not in model.tables");
        m.schema.foreign_keys.push_back(std::move(fk));
    }
    m.schema.sort();
    i = 0;
    for (const auto &qj : get_or(j, "queries", json::array(), "model")) {
        std::string where = "model.queries[" + std::to_string(i++) + "]";
        m.workload.queries.push_back({get_or<std::string>(qj, "fingerprint", "", where),
                                      get_or<std::string>(qj, "query", "", where), get<double>(qj, "calls", where),
                                      get<std::vector<std::string>>(qj, "tables", where),
                                      get_or(qj, "written", std::vector<std::string>{}, where)});
    }
    i = 0;
    for (const auto &tj : get_or(j, "transactions", json::array(), "model")) {
        std::string where = "model.transactions[" + std::to_string(i++) + "]";
        m.workload.transactions.push_back(
            {get<std::vector<std::string>>(tj, "written", where), get_or(tj, "read", std::vector<std::string>{}, where),
             get<int64_t>(tj, "count", where), get_or<std::string>(tj, "example", "", where)});
    }
    return m;
}

Analysis
analysis_from_json(const json &j)
{
    if (!j.is_object() || !j.contains("pymigrate_analysis"))
        throw AnalysisError("not a pymigrate analysis document (no \"pymigrate_analysis\" field)");
    if (j["pymigrate_analysis"] != kAnalysisFormat)
        throw AnalysisError("analysis format " + j["pymigrate_analysis"].dump() +
                            " is not supported (this pymigrate "
                            "reads format " +
                            std::to_string(kAnalysisFormat) + ")");
    Model m = model_from_json(get<json>(j, "model", "document"));
    Weights w;
    if (j.contains("weights")) {
        w.foreign_key = get_or(j["weights"], "foreign_key", w.foreign_key, "weights");
        w.query = get_or(j["weights"], "query", w.query, "weights");
        w.transaction = get_or(j["weights"], "transaction", w.transaction, "weights");
    }
    std::vector<Service> services;
    size_t i = 0;
    for (const auto &sj : get<json>(j, "services", "document")) {
        std::string where = "services[" + std::to_string(i++) + "]";
        Service s;
        s.name = get<std::string>(sj, "name", where);
        s.central_table = get_or<std::string>(sj, "central_table", "", where);
        s.tables = get<std::vector<std::string>>(sj, "tables", where);
        services.push_back(std::move(s));
    }
    // The model's own warnings only: the cut's are recomputed.
    Analysis a = rescore(std::move(m), w, std::move(services));
    if (j.contains("options") && j["options"].is_object()) {
        a.options.seed = get_or<uint64_t>(j["options"], "seed", a.options.seed, "options");
        a.options.resolution = get_or(j["options"], "resolution", a.options.resolution, "options");
    }
    return a;
}

} // namespace pymigrate::analyzer
