// One version of every route: the rules, and which service owns each table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "router/rule.hpp"

namespace pymigrate::router
{

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept;
};

class RouteTable
{
  public:
    RouteTable() = default;
    // Checks every rule and that no table belongs to two services; on a
    // problem returns false with one sentence per problem in `problems`.
    [[nodiscard]] static bool build(std::vector<RouteRule> rules, int64_t version, RouteTable &out,
                                    std::vector<std::string> &problems);

    int64_t
    version() const noexcept
    {
        return version_;
    }
    const std::vector<RouteRule> &
    rules() const noexcept
    {
        return rules_;
    }
    // The index in rules() of the service owning `table` ("schema.table"), or -1.
    [[nodiscard]] int owner(std::string_view table) const noexcept;
    // salt_seed(effective_salt(rules()[i])), computed once per version.
    uint64_t
    seed(int i) const noexcept
    {
        return seeds_[static_cast<size_t>(i)];
    }
    [[nodiscard]] const RouteRule *find(std::string_view service) const noexcept;
    // True when no statement can go anywhere but the monolith.
    [[nodiscard]] bool
    routes_nothing() const noexcept
    {
        return routes_nothing_;
    }

  private:
    int64_t version_ = 0;
    std::vector<RouteRule> rules_;
    std::vector<uint64_t> seeds_;
    std::unordered_map<std::string, int, StringHash, std::equal_to<>> owner_;
    bool routes_nothing_ = true;
};

} // namespace pymigrate::router
