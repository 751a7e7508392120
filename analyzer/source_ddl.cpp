// The DDL-file source: the file is parsed by libpg_query as a whole (as
// PostgreSQL would), then CREATE TABLE / TYPE / DOMAIN / INDEX and ALTER
// TABLE statements are read from the tree. pg_dump output works as is.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "analyzer/check_constraint.hpp"
#include "analyzer/column_type.hpp"
#include "analyzer/sources.hpp"
#include "analyzer/sql_parser.hpp"

namespace pymigrate::analyzer
{
namespace
{

using nlohmann::json;
using Name = std::pair<std::string, std::string>; // schema ("" when unqualified), name

Name
range_var(const json &rv)
{
    const json &r = rv.contains("RangeVar") ? rv["RangeVar"] : rv;
    return {r.value("schemaname", ""), r.value("relname", "")};
}

std::vector<std::string>
strings(const json &list)
{
    std::vector<std::string> out;
    for (const auto &n : list) {
        if (n.contains("IndexElem")) {
            if (!n["IndexElem"].contains("name"))
                return {}; // an expression index: not a key of columns
            out.push_back(n["IndexElem"]["name"]);
        } else {
            out.push_back(node_string(n));
        }
    }
    return out;
}

struct PendingFk {
    std::string name;
    Name table;
    std::vector<std::string> columns;
    Name ref;
    std::vector<std::string> ref_columns; // empty: the referenced table's primary key
};

class DdlReader
{
  public:
    DdlReader(const std::string &text, const std::string &path) : text_(text), path_(path) {}

    Source
    read()
    {
        json tree;
        try {
            tree = parse_sql(text_);
        } catch (const SqlSyntaxError &e) {
            TextPosition p = text_position(text_, e.position());
            throw SourceError(path_ + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " + e.what() +
                              " (the DDL file does not parse as PostgreSQL SQL)");
        }
        for (const auto &s : tree.value("stmts", json::array())) {
            size_t begin = s.value("stmt_location", 0);
            size_t end = s.contains("stmt_len") && s["stmt_len"].get<size_t>() > 0 ? begin + s["stmt_len"].get<size_t>()
                                                                                   : text_.size();
            statement(s["stmt"], begin, end);
        }
        return finish();
    }

  private:
    void
    statement(const json &stmt, size_t begin, size_t end)
    {
        if (stmt.contains("CreateEnumStmt")) {
            const auto &e = stmt["CreateEnumStmt"];
            auto names = strings(e["typeName"]);
            std::vector<std::string> values = strings(e.value("vals", json::array()));
            std::string schema = names.size() > 1 ? names[0] : "public";
            enums_[quote_ident_if_needed(schema) + "." + quote_ident_if_needed(names.back())] = values;
        } else if (stmt.contains("CreateDomainStmt")) {
            const auto &d = stmt["CreateDomainStmt"];
            auto names = strings(d["domainname"]);
            domains_[names.back()] = d["typeName"];
        } else if (stmt.contains("CreateStmt")) {
            create_table(stmt["CreateStmt"], end);
        } else if (stmt.contains("AlterTableStmt")) {
            alter_table(stmt["AlterTableStmt"], begin, end);
        } else if (stmt.contains("IndexStmt")) {
            const auto &ix = stmt["IndexStmt"];
            if (ix.value("unique", false) && !ix.contains("whereClause")) {
                auto cols = strings(ix.value("indexParams", json::array()));
                if (!cols.empty())
                    keys_.push_back(
                        {range_var(ix["relation"]), ix.value("primary", false), Key{ix.value("idxname", ""), cols}});
            }
        }
    }

    ColumnType
    type_of(const json &type_name, bool &serial)
    {
        auto names = strings(type_name.value("names", json::array()));
        // A domain is its base type here (its CHECK stays in the database).
        if (names.size() >= 1 && domains_.count(names.back()) && names.front() != "pg_catalog")
            return type_of(domains_[names.back()], serial);
        std::string name;
        if (names.size() == 2 && names[0] == "pg_catalog")
            name = names[1];
        else if (names.size() >= 2)
            name = quote_ident_if_needed(names[names.size() - 2]) + "." + quote_ident_if_needed(names.back());
        else if (!names.empty())
            name = names[0];
        serial = is_serial(name);
        std::vector<int> mods;
        for (const auto &m : type_name.value("typmods", json::array()))
            if (auto v = node_number(m))
                mods.push_back(static_cast<int>(*v));
        int dims = static_cast<int>(type_name.value("arrayBounds", json::array()).size());
        if (!enums_.count(name) && name.find('.') == std::string::npos && enums_.count("public." + name))
            name = "public." + quote_ident_if_needed(name);
        return column_type(name, mods, dims, enums_);
    }

    // From the constraint keyword at `loc` to the end of the element, without
    // a leading CONSTRAINT name.
    std::string
    constraint_text(size_t loc, size_t limit, const char *keyword)
    {
        std::string t = element_text(text_, loc, limit);
        std::string upper = t;
        for (auto &c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        auto p = upper.find(keyword);
        return p == std::string::npos ? t : t.substr(p);
    }

    void
    table_constraint(Table &t, const json &c, size_t limit, const std::vector<std::string> &column)
    {
        std::string type = c.value("contype", "");
        std::string name = c.value("conname", "");
        if (type == "CONSTR_PRIMARY") {
            auto cols = c.contains("keys") ? strings(c["keys"]) : column;
            t.primary_key = Key{name.empty() ? t.name + "_pkey" : name, cols};
        } else if (type == "CONSTR_UNIQUE") {
            auto cols = c.contains("keys") ? strings(c["keys"]) : column;
            t.unique_keys.push_back(Key{name, cols});
        } else if (type == "CONSTR_FOREIGN") {
            PendingFk fk;
            fk.name = name;
            fk.table = {t.schema, t.name};
            fk.columns = c.contains("fk_attrs") ? strings(c["fk_attrs"]) : column;
            fk.ref = range_var(c["pktable"]);
            fk.ref_columns = strings(c.value("pk_attrs", json::array()));
            fks_.push_back(fk);
        } else if (type == "CONSTR_CHECK") {
            if (c.contains("raw_expr"))
                apply_check(t, c["raw_expr"]);
            t.checks.push_back(constraint_text(c.value("location", 0), limit, "CHECK"));
        }
    }

    void
    create_table(const json &cs, size_t end)
    {
        Name name = range_var(cs["relation"]);
        if (cs.contains("partbound")) {
            // CREATE TABLE child PARTITION OF parent: its rows count in the parent.
            if (cs.contains("inhRelations") && !cs["inhRelations"].empty())
                partition_of_[name] = range_var(cs["inhRelations"][0]);
            return;
        }
        Table t;
        t.schema = name.first.empty() ? "public" : name.first;
        t.name = name.second;
        const auto elts = cs.value("tableElts", json::array());
        auto location_of = [&](size_t i) {
            if (i >= elts.size())
                return end;
            const auto &e = elts[i];
            const json &inner = e.contains("ColumnDef")    ? e["ColumnDef"]
                                : e.contains("Constraint") ? e["Constraint"]
                                                           : e;
            return static_cast<size_t>(inner.value("location", static_cast<int>(end)));
        };
        for (size_t i = 0; i < elts.size(); ++i) {
            const auto &e = elts[i];
            size_t limit = location_of(i + 1);
            if (e.contains("ColumnDef")) {
                const auto &cd = e["ColumnDef"];
                Column col;
                col.name = cd.value("colname", "");
                bool serial = false;
                col.type = type_of(cd["typeName"], serial);
                if (serial) {
                    col.identity = true;
                    col.not_null = true;
                    col.default_expr = "nextval(...)"; // a sequence of the serial's own
                }
                t.columns.push_back(col);
                const auto cons = cd.value("constraints", json::array());
                for (size_t j = 0; j < cons.size(); ++j) {
                    const auto &c = cons[j]["Constraint"];
                    size_t climit = j + 1 < cons.size() ? cons[j + 1]["Constraint"].value("location", limit) : limit;
                    Column &cc = t.columns.back();
                    std::string type = c.value("contype", "");
                    if (type == "CONSTR_NOTNULL") {
                        cc.not_null = true;
                    } else if (type == "CONSTR_DEFAULT") {
                        std::string d = constraint_text(c.value("location", 0), climit, "DEFAULT");
                        d = d.size() > 7 ? d.substr(7) : d;
                        auto b = d.find_first_not_of(" \t\n");
                        cc.default_expr = b == std::string::npos ? d : d.substr(b);
                        if (cc.default_expr->rfind("nextval(", 0) == 0)
                            cc.identity = true;
                    } else if (type == "CONSTR_IDENTITY") {
                        cc.identity = true;
                        cc.not_null = true;
                    } else if (type == "CONSTR_GENERATED") {
                        cc.generated = true;
                    } else if (type == "CONSTR_PRIMARY") {
                        cc.not_null = true;
                        table_constraint(t, c, climit, {cc.name});
                    } else {
                        table_constraint(t, c, climit, {cc.name});
                    }
                }
            } else if (e.contains("Constraint")) {
                table_constraint(t, e["Constraint"], limit, {});
            }
        }
        index_[{t.schema, t.name}] = tables_.size();
        tables_.push_back(std::move(t));
    }

    Table *
    table(const Name &n)
    {
        auto it = index_.find({n.first.empty() ? "public" : n.first, n.second});
        return it == index_.end() ? nullptr : &tables_[it->second];
    }

    void
    alter_table(const json &at, size_t begin, size_t end)
    {
        Name name = range_var(at["relation"]);
        for (const auto &cmd : at.value("cmds", json::array())) {
            const auto &c = cmd["AlterTableCmd"];
            std::string sub = c.value("subtype", "");
            if (sub == "AT_AttachPartition" && c.contains("def") && c["def"].contains("PartitionCmd")) {
                partition_of_[range_var(c["def"]["PartitionCmd"]["name"])] = name;
                continue;
            }
            Table *t = table(name);
            if (!t)
                continue;
            Column *col = nullptr;
            for (auto &cc : t->columns)
                if (cc.name == c.value("name", ""))
                    col = &cc;
            if (sub == "AT_AddConstraint" && c.contains("def")) {
                table_constraint(*t, c["def"]["Constraint"], end, {});
                if (c["def"]["Constraint"].value("contype", "") == "CONSTR_PRIMARY")
                    for (const auto &k : t->primary_key->columns)
                        for (auto &cc : t->columns)
                            if (cc.name == k)
                                cc.not_null = true;
            } else if (sub == "AT_ColumnDefault" && col && c.contains("def")) {
                std::string stmt = text_.substr(begin, end - begin);
                std::string upper = stmt;
                for (auto &ch : upper)
                    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                auto p = upper.find("DEFAULT ");
                if (p != std::string::npos) {
                    col->default_expr = element_text(stmt, p + 8, stmt.size());
                    if (col->default_expr->rfind("nextval(", 0) == 0)
                        col->identity = true;
                }
            } else if (sub == "AT_AddIdentity" && col) {
                col->identity = true;
                col->not_null = true;
            } else if (sub == "AT_SetNotNull" && col) {
                col->not_null = true;
            }
        }
    }

    Source
    finish()
    {
        Source src;
        Model &m = src.model;
        m.source = "ddl: " + path_;
        auto root = [&](Name n) {
            if (n.first.empty())
                n.first = "public";
            for (int guard = 0; guard < 16; ++guard) {
                auto it = partition_of_.find(n);
                if (it == partition_of_.end())
                    it = partition_of_.find({"", n.second});
                if (it == partition_of_.end())
                    break;
                n = it->second;
                if (n.first.empty())
                    n.first = "public";
            }
            return n;
        };
        for (const auto &pk : keys_)
            if (Table *t = table(pk.table)) {
                if (pk.primary)
                    t->primary_key = pk.key;
                else
                    t->unique_keys.push_back(pk.key);
            }
        std::set<std::pair<std::string, std::string>> partitions;
        for (const auto &[child, parent] : partition_of_)
            partitions.insert({child.first.empty() ? "public" : child.first, child.second});
        int merged = 0;
        for (auto &t : tables_) {
            if (partitions.count({t.schema, t.name})) {
                ++merged;
                continue;
            }
            m.schema.tables.push_back(t);
        }
        if (merged)
            m.warnings.push_back(std::to_string(merged) + " partitions are analyzed as part of their parent table");
        m.schema.sort();
        std::set<std::tuple<std::string, std::vector<std::string>, std::string>> seen;
        for (auto &fk : fks_) {
            const Table *from = m.schema.resolve(root(fk.table).first, root(fk.table).second);
            Name r = root(fk.ref);
            const Table *to = m.schema.resolve(fk.ref.first.empty() ? "" : r.first, r.second);
            if (!to)
                to = m.schema.resolve(r.first, r.second);
            if (!from || !to) {
                m.warnings.push_back("foreign key " + fk.name + " references table " +
                                     table_key(fk.ref.first, fk.ref.second) +
                                     ", which the DDL file does not create: left out");
                continue;
            }
            if (fk.ref_columns.empty() && to->primary_key)
                fk.ref_columns = to->primary_key->columns;
            if (!seen.insert({from->key(), fk.columns, to->key()}).second)
                continue; // the same key declared on each partition
            m.schema.foreign_keys.push_back({fk.name, from->key(), fk.columns, to->key(), fk.ref_columns});
        }
        m.schema.sort();
        if (m.schema.tables.empty())
            m.warnings.push_back(path_ + " creates no tables");
        return src;
    }

    struct PendingKey {
        Name table;
        bool primary;
        Key key;
    };

    const std::string &text_;
    std::string path_;
    EnumTypes enums_;
    std::map<std::string, json> domains_;
    std::vector<Table> tables_;
    std::map<Name, size_t> index_;
    std::vector<PendingFk> fks_;
    std::vector<PendingKey> keys_;
    std::map<Name, Name> partition_of_;
};

// psql meta-commands (\connect, \restrict in newer pg_dump output) are not
// SQL: blank them, keeping every offset so error lines stay right.
void
blank_meta_commands(std::string &text)
{
    size_t i = 0;
    while (i < text.size()) {
        size_t eol = text.find('\n', i);
        if (eol == std::string::npos)
            eol = text.size();
        size_t first = text.find_first_not_of(" \t", i);
        if (first < eol && text[first] == '\\')
            for (size_t k = first; k < eol; ++k)
                text[k] = ' ';
        i = eol + 1;
    }
}

} // namespace

Source
load_ddl(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw SourceError("cannot open DDL file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    blank_meta_commands(text);
    return DdlReader(text, path).read();
}

} // namespace pymigrate::analyzer
