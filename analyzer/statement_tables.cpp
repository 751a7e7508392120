#include "analyzer/statement_tables.hpp"

namespace pymigrate::analyzer
{
namespace
{

using nlohmann::json;

StatementTables::Name
range_var_name(const json &rv)
{
    return {rv.value("schemaname", ""), rv.value("relname", "")};
}

class Walker
{
  public:
    explicit Walker(StatementTables &out) : out_(out) {}

    void
    collect_ctes(const json &node)
    {
        if (node.is_object()) {
            for (auto it = node.begin(); it != node.end(); ++it) {
                if (it.key() == "CommonTableExpr" && it->contains("ctename"))
                    ctes_.insert((*it)["ctename"].get<std::string>());
                collect_ctes(*it);
            }
        } else if (node.is_array()) {
            for (const auto &e : node)
                collect_ctes(e);
        }
    }

    void
    walk(const json &node, bool locking)
    {
        if (node.is_array()) {
            for (const auto &e : node)
                walk(e, locking);
            return;
        }
        if (!node.is_object())
            return;
        for (auto it = node.begin(); it != node.end(); ++it) {
            const std::string &k = it.key();
            const json &v = *it;
            if (k == "RangeVar") {
                add(range_var_name(v), locking);
            } else if (k == "InsertStmt" || k == "UpdateStmt" || k == "DeleteStmt" || k == "MergeStmt") {
                if (v.contains("relation"))
                    write(range_var_name(v["relation"]));
                for (auto f = v.begin(); f != v.end(); ++f)
                    if (f.key() != "relation")
                        walk(*f, false);
            } else if (k == "CopyStmt") {
                if (v.contains("relation")) {
                    if (v.value("is_from", false))
                        write(range_var_name(v["relation"]));
                    else
                        add(range_var_name(v["relation"]), false);
                }
                if (v.contains("query"))
                    walk(v["query"], false);
            } else if (k == "TruncateStmt") {
                for (const auto &r : v.value("relations", json::array()))
                    if (r.contains("RangeVar"))
                        write(range_var_name(r["RangeVar"]));
            } else if (k == "SelectStmt") {
                // SELECT ... FOR UPDATE / FOR NO KEY UPDATE locks rows for a write.
                bool locks = false;
                for (const auto &lc : v.value("lockingClause", json::array())) {
                    std::string strength =
                        lc.contains("LockingClause") ? lc["LockingClause"].value("strength", "") : "";
                    if (strength == "LCS_FORUPDATE" || strength == "LCS_FORNOKEYUPDATE")
                        locks = true;
                }
                for (auto f = v.begin(); f != v.end(); ++f)
                    walk(*f, f.key() == "fromClause" ? locks : false);
            } else if (k == "TransactionStmt") {
                std::string kind = v.value("kind", "");
                if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START")
                    out_.control = TransactionControl::Begin;
                else if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_PREPARE")
                    out_.control = TransactionControl::Commit;
                else if (kind == "TRANS_STMT_ROLLBACK")
                    out_.control = TransactionControl::Rollback;
            } else {
                walk(v, locking);
            }
        }
    }

  private:
    bool
    is_cte(const StatementTables::Name &n) const
    {
        return n.first.empty() && ctes_.count(n.second);
    }
    void
    add(const StatementTables::Name &n, bool locking)
    {
        if (n.second.empty() || is_cte(n))
            return;
        if (locking)
            out_.written.insert(n);
        out_.read.insert(n);
    }
    void
    write(const StatementTables::Name &n)
    {
        if (n.second.empty() || is_cte(n))
            return;
        out_.written.insert(n);
    }

    StatementTables &out_;
    std::set<std::string> ctes_;
};

} // namespace

StatementTables
statement_tables(const json &stmt)
{
    StatementTables out;
    Walker w(out);
    w.collect_ctes(stmt);
    w.walk(stmt, false);
    for (const auto &n : out.written)
        out.read.erase(n);
    return out;
}

} // namespace pymigrate::analyzer
