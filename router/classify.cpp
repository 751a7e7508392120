#include "router/classify.hpp"

#include <nlohmann/json.hpp>
#include <pg_query.h>
#include <xxhash.h>

#include <algorithm>
#include <set>

#include "router/qualified_name.hpp"

namespace pymigrate::router
{

using nlohmann::json;

namespace
{

// Every table (RangeVar: an object with "relname") under `root`, minus the
// names of CTEs, and whether a data-modifying statement or row lock appears.
// Iterative: the tree can be as deep as the parser allows.
void
collect(const json &root, std::set<std::string> &tables, bool &write)
{
    std::set<std::string> ctes;
    std::vector<std::pair<std::string, std::string>> relations; // schema, name
    std::vector<const json *> stack{&root};
    while (!stack.empty()) {
        const json *j = stack.back();
        stack.pop_back();
        if (j->is_array()) {
            for (const auto &e : *j)
                stack.push_back(&e);
            continue;
        }
        if (!j->is_object())
            continue;
        auto rel = j->find("relname");
        if (rel != j->end() && rel->is_string()) {
            auto schema = j->find("schemaname");
            relations.emplace_back(schema != j->end() && schema->is_string() ? schema->get<std::string>() : "",
                                   rel->get<std::string>());
        }
        auto cte = j->find("ctename");
        if (cte != j->end() && cte->is_string())
            ctes.insert(cte->get<std::string>());
        for (auto it = j->begin(); it != j->end(); ++it) {
            const std::string &k = it.key();
            if (k == "InsertStmt" || k == "UpdateStmt" || k == "DeleteStmt" || k == "MergeStmt" || k == "lockingClause")
                write = true;
            if (it->is_structured())
                stack.push_back(&*it);
        }
    }
    for (auto &[schema, name] : relations)
        if (!(schema.empty() && ctes.count(name)))
            tables.insert(table_key(schema, name));
}

// One top-level statement: what it contributes to the text's classification.
enum class Part { Data, Begin, Transaction, SessionSet, Deallocate, Other };

Part
classify_statement(const json &stmt, std::set<std::string> &tables, bool &write, Classification &c)
{
    if (!stmt.is_object() || stmt.size() != 1)
        return Part::Other;
    const std::string &type = stmt.begin().key();
    const json &body = stmt.begin().value();
    if (type == "SelectStmt") {
        if (body.contains("intoClause"))
            return Part::Other; // SELECT INTO creates a table
        collect(body, tables, write);
        return Part::Data;
    }
    if (type == "InsertStmt" || type == "UpdateStmt" || type == "DeleteStmt" || type == "MergeStmt") {
        write = true;
        collect(body, tables, write);
        return Part::Data;
    }
    if (type == "TruncateStmt") {
        write = true;
        collect(body, tables, write);
        return Part::Data;
    }
    if (type == "CopyStmt") {
        // Only COPY over the connection follows its table; a server-side file
        // or program names a path on the monolith's machine.
        if (body.contains("filename") || body.value("is_program", false))
            return Part::Other;
        if (body.value("is_from", false))
            write = true;
        collect(body, tables, write);
        return Part::Data;
    }
    if (type == "ExplainStmt") {
        auto q = body.find("query");
        if (q == body.end())
            return Part::Other;
        std::set<std::string> inner;
        Part p = classify_statement(*q, inner, write, c);
        if (p != Part::Data)
            return Part::Other;
        tables.insert(inner.begin(), inner.end());
        return Part::Data;
    }
    if (type == "TransactionStmt") {
        std::string kind = body.value("kind", "");
        return kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START" ? Part::Begin : Part::Transaction;
    }
    if (type == "VariableSetStmt") {
        if (body.value("is_local", false))
            return Part::Other;
        if (body.value("kind", "") == "VAR_RESET_ALL")
            c.resets_session = true;
        return Part::SessionSet;
    }
    if (type == "DiscardStmt") {
        // DISCARD ALL also deallocates every prepared statement.
        if (body.value("target", "") == "DISCARD_ALL")
            c.resets_session = c.discards_prepared = true;
        return Part::SessionSet;
    }
    if (type == "DeallocateStmt") {
        c.deallocate_name = body.value("name", "");
        return Part::Deallocate;
    }
    return Part::Other;
}

} // namespace

Classification
classify_parse_tree(std::string_view text)
{
    Classification c;
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return c;
    c.parsed = true;
    auto stmts = doc.find("stmts");
    if (stmts == doc.end() || !stmts->is_array() || stmts->empty())
        return c; // empty query: the monolith answers it
    std::set<std::string> tables;
    int data = 0, begin = 0, transaction = 0, set = 0, dealloc = 0, other = 0;
    for (const auto &s : *stmts) {
        auto stmt = s.find("stmt");
        if (stmt == s.end()) {
            ++other;
            continue;
        }
        switch (classify_statement(*stmt, tables, c.write, c)) {
        case Part::Data:
            ++data;
            break;
        case Part::Begin:
            ++begin;
            break;
        case Part::Transaction:
            ++transaction;
            break;
        case Part::SessionSet:
            ++set;
            break;
        case Part::Deallocate:
            ++dealloc;
            break;
        case Part::Other:
            ++other;
            break;
        }
    }
    c.has_transaction_control = begin + transaction > 0;
    size_t n = stmts->size();
    if (data > 0 && other == 0 && set == 0 && dealloc == 0)
        c.kind = StatementKind::Data;
    else if (begin > 0 && static_cast<size_t>(begin) == n)
        c.kind = StatementKind::Begin;
    else if (set > 0 && static_cast<size_t>(set) == n)
        c.kind = StatementKind::SessionSet;
    else if (dealloc == 1 && n == 1)
        c.kind = StatementKind::Deallocate;
    else
        c.kind = StatementKind::Other;
    if (c.kind == StatementKind::Data)
        c.tables.assign(tables.begin(), tables.end());
    return c;
}

Classification
classify_sql(const char *sql) noexcept
{
    try {
        PgQueryParseResult r = pg_query_parse(sql);
        Classification c;
        if (!r.error && r.parse_tree)
            c = classify_parse_tree(r.parse_tree);
        pg_query_free_parse_result(r);
        return c;
    } catch (...) {
        return Classification{};
    }
}

int
resolve_service(const Classification &c, const RouteTable &table) noexcept
{
    if (c.kind != StatementKind::Data || c.tables.empty())
        return -1;
    int owner = -2;
    for (const auto &t : c.tables) {
        int o = table.owner(t);
        if (o < 0 || (owner != -2 && o != owner))
            return -1;
        owner = o;
    }
    return owner;
}

const std::shared_ptr<const Classification> &
ClassifierCache::classify(const char *sql, size_t len, ScanResult &scan)
{
    scan = scan_statement(std::string_view(sql, len), shape_);
    XXH128_hash_t h = XXH3_128bits(shape_.data(), shape_.size());
    Key key{h.low64, h.high64};
    auto it = entries_.find(key);
    if (it != entries_.end())
        return it->second;
    ++misses_;
    if (entries_.size() >= capacity_)
        entries_.clear();
    auto c = std::make_shared<const Classification>(classify_sql(sql));
    return entries_.emplace(key, std::move(c)).first->second;
}

} // namespace pymigrate::router
