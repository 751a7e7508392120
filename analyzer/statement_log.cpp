#include "analyzer/statement_log.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "analyzer/sql_parser.hpp"
#include "analyzer/statement_tables.hpp"

namespace pymigrate::analyzer
{
namespace
{

// csvlog columns (PostgreSQL 13+; 15 appends backend_type, leader_pid, query_id).
constexpr size_t kCsvSessionId = 5, kCsvVxid = 9, kCsvXid = 10, kCsvSeverity = 11, kCsvMessage = 13;
constexpr size_t kCsvMinFields = 23;

// The statement in a log message, or "" when the message carries none
// ("statement: ...", "duration: 1.2 ms  statement: ...", "execute S_1: ...").
std::string
statement_of(const std::string &message)
{
    std::string m = message;
    if (m.rfind("duration: ", 0) == 0) {
        auto p = m.find(" ms  ");
        if (p == std::string::npos)
            return "";
        m = m.substr(p + 5);
    }
    if (m.rfind("statement: ", 0) == 0)
        return m.substr(11);
    if (m.rfind("execute ", 0) == 0) {
        auto p = m.find(": ");
        return p == std::string::npos ? "" : m.substr(p + 2);
    }
    return "";
}

// One CSV record (RFC 4180 quoting, fields may span lines); false at EOF.
bool
read_csv_record(std::istream &in, std::vector<std::string> &fields)
{
    fields.clear();
    std::string field;
    bool quoted = false, any = false, field_started = false;
    char c;
    while (in.get(c)) {
        any = true;
        if (quoted) {
            if (c == '"') {
                if (in.peek() == '"') {
                    in.get(c);
                    field += '"';
                } else {
                    quoted = false;
                }
            } else {
                field += c;
            }
        } else if (c == '"' && !field_started) {
            quoted = true;
            field_started = true;
        } else if (c == ',') {
            fields.push_back(std::move(field));
            field.clear();
            field_started = false;
        } else if (c == '\n') {
            break;
        } else if (c != '\r') {
            field += c;
            field_started = true;
        }
    }
    if (!any)
        return false;
    fields.push_back(std::move(field));
    return true;
}

bool
looks_like_timestamp(const std::string &s)
{
    static const std::regex ts(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)");
    return std::regex_search(s, ts);
}

// log_line_prefix as a regex, with capture groups for %c, %x and %v.
struct PrefixPattern {
    std::regex re;
    int session = 0, xid = 0, vxid = 0;
};

PrefixPattern
compile_prefix(const std::string &prefix)
{
    PrefixPattern p;
    std::string re = "^";
    int group = 0;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char c = prefix[i];
        if (c != '%') {
            if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos)
                re += '\\';
            re += c;
            continue;
        }
        ++i;
        while (i < prefix.size() && (prefix[i] == '-' || std::isdigit(static_cast<unsigned char>(prefix[i]))))
            ++i; // padding (%-10u): the value is padded with spaces, matched below
        if (i >= prefix.size())
            break;
        switch (prefix[i]) {
        case '%':
            re += "%";
            break;
        case 'c':
            re += "\\s*([0-9a-f]+\\.[0-9a-f]+)\\s*";
            p.session = ++group;
            break;
        case 'x':
            re += "\\s*(\\d+)\\s*";
            p.xid = ++group;
            break;
        case 'v':
            re += "\\s*(\\d+/\\d+|)\\s*";
            p.vxid = ++group;
            break;
        case 'p':
        case 'P':
        case 'l':
        case 'Q':
            re += "\\s*-?\\d*\\s*";
            break;
        case 't':
        case 'm':
        case 's':
            re += "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)? ?[A-Za-z0-9+:-]*";
            break;
        case 'n':
            re += "\\d+(?:\\.\\d+)?";
            break;
        case 'e':
            re += "[0-9A-Z]{5}";
            break;
        case 'q':
            break;
        default:
            re += ".*?";
            break; // %a %u %d %r %h %b %i: free text
        }
    }
    re += "(LOG|STATEMENT|DETAIL|HINT|CONTEXT|ERROR|WARNING|NOTICE|INFO|FATAL|PANIC|DEBUG\\d?):  (.*)$";
    p.re = std::regex(re);
    return p;
}

StatementLog
read_csvlog(std::istream &in, const std::string &path)
{
    StatementLog log;
    log.format = "csvlog";
    std::vector<std::string> f;
    size_t record = 0;
    while (read_csv_record(in, f)) {
        ++record;
        if (f.size() == 1 && f[0].empty())
            continue;
        if (f.size() < kCsvMinFields || !looks_like_timestamp(f[0]))
            throw LogFormatError(path + ": record " + std::to_string(record) + " is not a csvlog record (" +
                                 std::to_string(f.size()) + " fields, csvlog has at least " +
                                 std::to_string(kCsvMinFields) + ")");
        if (f[kCsvSeverity] != "LOG")
            continue;
        std::string text = statement_of(f[kCsvMessage]);
        if (!text.empty())
            log.statements.push_back({f[kCsvSessionId], f[kCsvVxid], f[kCsvXid], text});
    }
    return log;
}

StatementLog
read_jsonlog(std::istream &in, const std::string &path)
{
    StatementLog log;
    log.format = "jsonlog";
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty())
            continue;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("message"))
            throw LogFormatError(path + ":" + std::to_string(n) + ": not a jsonlog line");
        if (j.value("error_severity", "") != "LOG")
            continue;
        std::string text = statement_of(j.value("message", ""));
        if (text.empty())
            continue;
        auto str = [&](const char *k) {
            if (!j.contains(k))
                return std::string();
            return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
        };
        log.statements.push_back({str("session_id"), str("vxid"), str("txid"), text});
    }
    return log;
}

StatementLog
read_stderr(std::istream &in, const std::string &path, const std::string &prefix)
{
    if (prefix.find("%c") == std::string::npos ||
        (prefix.find("%x") == std::string::npos && prefix.find("%v") == std::string::npos))
        throw LogFormatError("log_line_prefix '" + prefix +
                             "' lacks %c (session id) and %x (transaction id), which transactions are recovered "
                             "from: set log_line_prefix = '%m [%p] %c %x ' (or use csvlog) and log again");
    PrefixPattern p = compile_prefix(prefix);
    StatementLog log;
    log.format = "stderr";
    std::string line;
    size_t n = 0, matched = 0;
    LoggedStatement *open = nullptr; // the statement continuation lines extend
    std::smatch m;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line[0] == '\t') {
            if (open)
                open->text += "\n" + line.substr(1);
            continue;
        }
        open = nullptr;
        if (line.empty())
            continue;
        if (!std::regex_match(line, m, p.re)) {
            if (matched == 0 && n <= 5)
                throw LogFormatError(path + ":" + std::to_string(n) + ": line does not match log_line_prefix '" +
                                     prefix + "': " + line.substr(0, 120));
            continue;
        }
        ++matched;
        if (m[m.size() - 2] != "LOG")
            continue;
        std::string text = statement_of(m[m.size() - 1]);
        if (text.empty())
            continue;
        log.statements.push_back({m[p.session], p.vxid ? m[p.vxid].str() : "", p.xid ? m[p.xid].str() : "", text});
        open = &log.statements.back();
    }
    return log;
}

} // namespace

StatementLog
read_statement_log(const std::string &path, const LogOptions &options)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open statement log " + path);
    std::string format = options.format;
    if (format == "auto") {
        std::string first;
        while (first.empty() && std::getline(in, first)) {
        }
        in.clear();
        in.seekg(0);
        std::istringstream probe(first);
        std::vector<std::string> f;
        if (!first.empty() && first[0] == '{' && nlohmann::json::accept(first))
            format = "jsonlog";
        else if (read_csv_record(probe, f) && f.size() >= kCsvMinFields && looks_like_timestamp(f[0]))
            format = "csvlog";
        else if (!options.line_prefix.empty())
            format = "stderr";
        else
            throw LogFormatError("cannot tell the format of statement log " + path +
                                 ": its first line is neither csvlog nor jsonlog (" + first.substr(0, 80) +
                                 "); for a stderr log give the server's log_line_prefix (--log-line-prefix), which "
                                 "must contain %c and %x");
    }
    StatementLog log;
    if (format == "csvlog")
        log = read_csvlog(in, path);
    else if (format == "jsonlog")
        log = read_jsonlog(in, path);
    else if (format == "stderr")
        log = read_stderr(in, path, options.line_prefix);
    else
        throw LogFormatError("unknown log format '" + format + "' (known: auto, csvlog, jsonlog, stderr)");
    log.transactions = group_transactions(log.statements);
    return log;
}

std::vector<std::vector<std::string>>
group_transactions(const std::vector<LoggedStatement> &statements)
{
    std::vector<std::vector<std::string>> out;
    struct Session {
        long block = -1;   // index in `out` of the open BEGIN block
        std::string vxid;  // vxid of the transaction `current` collects
        long current = -1; // index in `out` of the transaction by vxid
        std::map<std::string, long> by_xid;
    };
    std::map<std::string, Session> sessions;
    for (const auto &s : statements) {
        Session &ss = sessions[s.session];
        if (!s.vxid.empty()) {
            // The log names the transaction itself.
            if (ss.current < 0 || ss.vxid != s.vxid) {
                out.emplace_back();
                ss.current = static_cast<long>(out.size()) - 1;
                ss.vxid = s.vxid;
            }
            out[ss.current].push_back(s.text);
            continue;
        }
        TransactionControl control = TransactionControl::None;
        try {
            auto tree = parse_sql(s.text);
            if (tree.contains("stmts") && tree["stmts"].size() == 1)
                control = statement_tables(tree["stmts"][0]).control;
        } catch (const SqlSyntaxError &) {
        }
        if (control == TransactionControl::Begin) {
            out.emplace_back();
            ss.block = static_cast<long>(out.size()) - 1;
            continue;
        }
        if (control == TransactionControl::Commit || control == TransactionControl::Rollback) {
            ss.block = -1;
            ss.by_xid.clear();
            continue;
        }
        if (ss.block >= 0) {
            out[ss.block].push_back(s.text);
            if (!s.xid.empty() && s.xid != "0")
                ss.by_xid[s.xid] = ss.block;
        } else if (!s.xid.empty() && s.xid != "0") {
            // log_statement = 'mod' logs no BEGIN: the transaction id ties the writes together.
            auto it = ss.by_xid.find(s.xid);
            if (it == ss.by_xid.end()) {
                out.emplace_back();
                it = ss.by_xid.emplace(s.xid, static_cast<long>(out.size()) - 1).first;
            }
            out[it->second].push_back(s.text);
        } else {
            out.push_back({s.text});
        }
    }
    std::erase_if(out, [](const auto &t) { return t.empty(); });
    return out;
}

} // namespace pymigrate::analyzer
