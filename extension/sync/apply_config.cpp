// Subscription configuration into the apply code's plain structures
// (apply_config.hpp).
#include "sync/apply_config.hpp"

#include "pg/guard.hpp"
#include "sync/apply_relmap.hpp"
#include "sync/causal.hpp"
#include "sync/conflict.hpp"
#include "sync/options.hpp"

extern "C" {
#include "access/xlog.h"
#include "replication/origin.h"
}

#include <deque>

namespace pymigrate::sync {
namespace {

// Owns the strings and arrays the plain structures point into until the
// apply code has copied them.
struct Strings {
    std::deque<std::string> text;
    std::deque<std::vector<char *>> arrays;

    char *
    keep(const std::string &s)
    {
        return text.emplace_back(s).data();
    }
    char **
    keep(const std::vector<std::string> &list)
    {
        auto &a = arrays.emplace_back();
        for (const auto &s : list)
            a.push_back(keep(s));
        a.push_back(nullptr);
        return a.data();
    }
};

} // namespace

void
configure_apply(const Subscription &sub, uint64_t remote_sysid, const std::string &reader)
{
    SubscriptionOptions so = parse_subscription_options(sub.options);
    Strings keep;
    std::vector<apply::TableRoute> routes;
    for (const auto &t : sub.tables) {
        std::string where = "table_options of " + qualified_name(t.local_schema, t.local_table);
        TableOptions to = parse_table_options(t.options, where);
        ConflictRules rules = effective_rules(so.conflict, to.conflict, where);
        apply::TableRoute r{};
        r.remote_schema = keep.keep(t.remote_schema);
        r.remote_table = keep.keep(t.remote_table);
        r.local_schema = keep.keep(t.local_schema);
        r.local_table = keep.keep(t.local_table);
        r.state = t.state;
        r.sync_lsn = t.sync_lsn;
        std::vector<std::string> ml, mr;
        for (const auto &[l, rem] : to.columns) {
            ml.push_back(l);
            mr.push_back(rem);
        }
        r.ncolmap = static_cast<int>(ml.size());
        r.map_local = keep.keep(ml);
        r.map_remote = keep.keep(mr);
        r.nignore = static_cast<int>(to.ignore.size());
        r.ignore = keep.keep(to.ignore);
        apply::ApplyRules &a = r.rules;
        a.strategy = static_cast<int>(rules.strategy);
        a.strategy_name = keep.keep(strategy_name(rules.strategy));
        a.npriority = static_cast<int>(rules.priority.size());
        a.priority = keep.keep(rules.priority);
        std::vector<std::string> cc, cn;
        for (const auto &[col, node] : rules.column_priority) {
            cc.push_back(col);
            cn.push_back(node);
        }
        a.ncolprio = static_cast<int>(cc.size());
        a.colprio_column = keep.keep(cc);
        a.colprio_node = keep.keep(cn);
        a.resolver = rules.resolver.empty() ? nullptr : keep.keep(rules.resolver);
        a.update_missing = rules.update_missing ? static_cast<int>(*rules.update_missing) : -1;
        a.delete_missing = static_cast<int>(rules.delete_missing);
        routes.push_back(r);
    }

    std::vector<OriginNode> others = origin_nodes();
    std::vector<RepOriginId> ids;
    std::vector<const char *> names;
    for (const auto &o : others) {
        const char *n = o.origin_name.c_str();
        RepOriginId id = pg::pg_call([n] { return replorigin_by_name(n, true); });
        if (id != InvalidRepOriginId) {
            ids.push_back(id);
            names.push_back(o.remote_node.c_str());
        }
    }
    const char *mine = sub.origin_name.c_str();
    apply::NodeContext ctx{};
    ctx.subscription = sub.name.c_str();
    ctx.local_node = so.local_node.empty() ? "local" : so.local_node.c_str();
    ctx.remote_node = so.remote_node.empty() ? sub.name.c_str() : so.remote_node.c_str();
    ctx.my_origin = pg::pg_call([mine] { return replorigin_by_name(mine, false); });
    ctx.norigins = static_cast<int>(ids.size());
    ctx.origin_ids = ids.data();
    ctx.origin_nodes = names.data();
    ctx.local_sysid = pg::pg_call([] { return GetSystemIdentifier(); });
    ctx.remote_sysid = remote_sysid;
    pg::pg_call([&] {
        apply::set_routes(routes.data(), static_cast<int>(routes.size()));
        apply::set_node_context(ctx);
        apply::set_applied_marker(remote_sysid, reader.c_str());
    });
}

} // namespace pymigrate::sync
