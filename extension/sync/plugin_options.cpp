// Options of the output plugin (PROTOCOL.md, "Session options").
#include "sync/plugin.hpp"

#include "sync/protocol.hpp"

#include <climits>

extern "C" {
#include "nodes/parsenodes.h"
#include "parser/scansup.h"
#include "utils/builtins.h"
}

namespace pymigrate::sync::plugin {
namespace {

const char *
option_value(DefElem *elem)
{
    if (elem->arg == nullptr)
        return nullptr;
    if (!IsA(elem->arg, String))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pymigrate: option \"%s\" must have a string value", elem->defname)));
    return strVal(elem->arg);
}

bool
bool_option(DefElem *elem)
{
    const char *v = option_value(elem);
    bool result = true; // a bare option name means true
    if (v != nullptr && !parse_bool(v, &result))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pymigrate: option \"%s\" must be a boolean, not \"%s\"", elem->defname, v)));
    return result;
}

int
int_option(DefElem *elem)
{
    const char *v = option_value(elem);
    char *end = nullptr;
    long n = v ? strtol(v, &end, 10) : 0;
    if (v == nullptr || *v == '\0' || *end != '\0' || n < 0 || n > INT_MAX)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("pymigrate: option \"%s\" must be a non-negative integer, not \"%s\"", elem->defname,
                               v ? v : "(none)")));
    return static_cast<int>(n);
}

// One identifier at *p: "quoted" (with "" for a quote) or a bare word up to
// '.', ',' or white space. Returns a palloc'd name and advances *p.
char *
read_identifier(const char **p, const char *whole)
{
    const char *s = *p;
    StringInfoData buf;
    initStringInfo(&buf);
    if (*s == '"') {
        ++s;
        for (;;) {
            if (*s == '\0')
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pymigrate: unterminated quoted name in option \"tables\": \"%s\"", whole)));
            if (*s == '"') {
                if (s[1] != '"')
                    break;
                ++s;
            }
            appendStringInfoChar(&buf, *s++);
        }
        ++s;
        if (buf.len == 0)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("pymigrate: empty quoted name in option \"tables\": \"%s\"", whole)));
    } else {
        const char *start = s;
        while (*s && *s != '.' && *s != ',' && !scanner_isspace(*s) && *s != '"')
            ++s;
        if (s == start)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("pymigrate: expected a table name at \"%s\" in option \"tables\"", start)));
        char *folded = downcase_identifier(start, static_cast<int>(s - start), false, false);
        appendStringInfoString(&buf, folded);
    }
    *p = s;
    return buf.data;
}

} // namespace

void
parse_table_list(const char *value, Options *out)
{
    int capacity = 8;
    out->filter_tables = true;
    out->ntables = 0;
    out->tables = static_cast<TableName *>(palloc(sizeof(TableName) * capacity));
    const char *p = value;
    while (scanner_isspace(*p))
        ++p;
    if (*p == '\0')
        return; // an empty list: no table at all
    for (;;) {
        while (scanner_isspace(*p))
            ++p;
        char *first = read_identifier(&p, value);
        if (*p != '.')
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("pymigrate: table \"%s\" in option \"tables\" must be schema-qualified", first),
                            errhint("Write it as schema.table, e.g. public.%s.", first)));
        ++p;
        char *second = read_identifier(&p, value);
        if (out->ntables == capacity) {
            capacity *= 2;
            out->tables = static_cast<TableName *>(repalloc(out->tables, sizeof(TableName) * capacity));
        }
        out->tables[out->ntables++] = TableName{first, second};
        while (scanner_isspace(*p))
            ++p;
        if (*p == '\0')
            break;
        if (*p != ',')
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("pymigrate: unexpected \"%s\" in option \"tables\"", p),
                            errhint("Separate tables with commas: s1.t1,s2.t2.")));
        ++p;
    }
}

void
parse_options(List *defelems, Options *out)
{
    // Every default first (wal2json's rule), then what the client said.
    int min_version = proto::kMinVersion;
    int max_version = proto::kMaxVersion;
    out->proto_version = 0;
    out->binary = true;
    out->forward_all_origins = false;
    out->filter_tables = false;
    out->ntables = 0;
    out->tables = nullptr;

    bool seen_min = false, seen_max = false, seen_binary = false, seen_tables = false, seen_origins = false;
    auto once = [](bool &seen, DefElem *elem) {
        if (seen)
            ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                            errmsg("pymigrate: option \"%s\" given more than once", elem->defname)));
        seen = true;
    };
    ListCell *lc;
    foreach (lc, defelems) {
        DefElem *elem = static_cast<DefElem *>(lfirst(lc));
        const char *name = elem->defname;
        if (strcmp(name, "min_proto_version") == 0) {
            once(seen_min, elem);
            min_version = int_option(elem);
        } else if (strcmp(name, "max_proto_version") == 0) {
            once(seen_max, elem);
            max_version = int_option(elem);
        } else if (strcmp(name, "binary") == 0) {
            once(seen_binary, elem);
            out->binary = bool_option(elem);
        } else if (strcmp(name, "tables") == 0) {
            once(seen_tables, elem);
            const char *v = option_value(elem);
            parse_table_list(v ? v : "", out);
        } else if (strcmp(name, "forward_origins") == 0) {
            once(seen_origins, elem);
            const char *v = option_value(elem);
            if (v && strcmp(v, "none") == 0)
                out->forward_all_origins = false;
            else if (v && strcmp(v, "all") == 0)
                out->forward_all_origins = true;
            else
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("pymigrate: option \"forward_origins\" must be \"none\" or \"all\", not \"%s\"",
                                       v ? v : "(none)")));
        } else {
            const char *v = elem->arg && IsA(elem->arg, String) ? strVal(elem->arg) : "(none)";
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("pymigrate: unknown option \"%s\" (value \"%s\")", name, v),
                            errhint("Options are min_proto_version, max_proto_version, binary, tables, "
                                    "forward_origins.")));
        }
    }
    if (!seen_max)
        max_version = Max(min_version, proto::kMaxVersion);
    if (min_version > max_version)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("pymigrate: min_proto_version %d is above max_proto_version %d", min_version, max_version)));
    int chosen = Min(max_version, proto::kMaxVersion);
    if (chosen < Max(min_version, proto::kMinVersion))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("pymigrate: the client reads protocol versions %d to %d, this provider writes %d to %d",
                               min_version, max_version, proto::kMinVersion, proto::kMaxVersion),
                        errhint("Upgrade pymigrate on the older side.")));
    out->proto_version = chosen;
}

} // namespace pymigrate::sync::plugin
