#include "router/route_table.hpp"

#include "router/decide.hpp"

#include <xxhash.h>

#include <algorithm>
#include <set>

namespace pymigrate::router
{

size_t
StringHash::operator()(std::string_view s) const noexcept
{
    return static_cast<size_t>(XXH3_64bits(s.data(), s.size()));
}

bool
RouteTable::build(std::vector<RouteRule> rules, int64_t version, RouteTable &out, std::vector<std::string> &problems)
{
    RouteTable t;
    t.version_ = version;
    std::set<std::string_view> names;
    for (const auto &r : rules) {
        for (auto &p : validate(r))
            problems.push_back(std::move(p));
        if (!names.insert(r.service).second)
            problems.push_back("service \"" + r.service + "\" is defined twice");
    }
    for (size_t i = 0; i < rules.size(); ++i)
        for (const auto &table : rules[i].tables) {
            auto [it, inserted] = t.owner_.emplace(table, static_cast<int>(i));
            if (!inserted && it->second != static_cast<int>(i))
                problems.push_back("table \"" + table + "\" belongs to two services: \"" +
                                   rules[static_cast<size_t>(it->second)].service + "\" and \"" + rules[i].service +
                                   "\"");
        }
    if (!problems.empty())
        return false;
    t.routes_nothing_ = std::all_of(rules.begin(), rules.end(), [](const RouteRule &r) { return r.routes_nothing(); });
    for (const auto &r : rules)
        t.seeds_.push_back(salt_seed(effective_salt(r)));
    t.rules_ = std::move(rules);
    out = std::move(t);
    return true;
}

int
RouteTable::owner(std::string_view table) const noexcept
{
    auto it = owner_.find(table);
    return it == owner_.end() ? -1 : it->second;
}

const RouteRule *
RouteTable::find(std::string_view service) const noexcept
{
    for (const auto &r : rules_)
        if (r.service == service)
            return &r;
    return nullptr;
}

} // namespace pymigrate::router
