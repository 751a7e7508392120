#include "router/rule.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace pymigrate::router
{

std::string_view
to_string(Strategy s) noexcept
{
    switch (s) {
    case Strategy::Percentage:
        return "percentage";
    case Strategy::Canary:
        return "canary";
    case Strategy::BlueGreen:
        return "blue_green";
    case Strategy::FeatureFlag:
        return "feature_flag";
    }
    return "percentage";
}

std::string_view
to_string(Target t) noexcept
{
    return t == Target::Service ? "service" : "monolith";
}

std::string_view
to_string(TransactionPolicy p) noexcept
{
    return p == TransactionPolicy::Monolith ? "monolith" : "first_statement";
}

namespace
{

// "blue-green" and "blue_green" are the same name.
bool
same_name(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i] == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
        if (x != b[i])
            return false;
    }
    return true;
}

} // namespace

bool
parse_strategy(std::string_view text, Strategy &out) noexcept
{
    for (Strategy s : {Strategy::Percentage, Strategy::Canary, Strategy::BlueGreen, Strategy::FeatureFlag})
        if (same_name(text, to_string(s))) {
            out = s;
            return true;
        }
    return false;
}

bool
parse_target(std::string_view text, Target &out) noexcept
{
    for (Target t : {Target::Monolith, Target::Service})
        if (same_name(text, to_string(t))) {
            out = t;
            return true;
        }
    return false;
}

bool
parse_transaction_policy(std::string_view text, TransactionPolicy &out) noexcept
{
    for (TransactionPolicy p : {TransactionPolicy::FirstStatement, TransactionPolicy::Monolith})
        if (same_name(text, to_string(p))) {
            out = p;
            return true;
        }
    return false;
}

bool
valid_service_name(std::string_view name) noexcept
{
    if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z')
        return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool
dsn_has_password(std::string_view dsn) noexcept
{
    // URI form: postgresql://user:secret@host/...
    for (std::string_view scheme : {"postgresql://", "postgres://"}) {
        if (dsn.substr(0, scheme.size()) == scheme) {
            std::string_view rest = dsn.substr(scheme.size());
            size_t at = rest.find('@');
            std::string_view userinfo = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at);
            if (userinfo.find(':') != std::string_view::npos)
                return true;
            return rest.find("password=") != std::string_view::npos;
        }
    }
    // keyword=value form: a "password" keyword at the start of a word.
    for (size_t pos = dsn.find("password"); pos != std::string_view::npos; pos = dsn.find("password", pos + 1)) {
        bool word_start = pos == 0 || std::isspace(static_cast<unsigned char>(dsn[pos - 1]));
        size_t after = pos + 8;
        while (after < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[after])))
            ++after;
        if (word_start && after < dsn.size() && dsn[after] == '=')
            return true;
    }
    return false;
}

std::string
service_dsn_variable(std::string_view service)
{
    std::string name = "PYMIGRATE_SERVICE_DSN_";
    for (char c : service)
        name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

bool
RouteRule::routes_nothing() const noexcept
{
    if (!enabled)
        return true;
    switch (strategy) {
    case Strategy::Percentage:
        return basis_points == 0;
    case Strategy::Canary:
        return basis_points == 0 && canary_keys.empty();
    case Strategy::BlueGreen:
        return active == Target::Monolith;
    case Strategy::FeatureFlag:
        return !flag.enabled &&
               std::none_of(flag.overrides.begin(), flag.overrides.end(), [](const auto &o) { return o.second; });
    }
    return true;
}

std::vector<std::string>
validate(const RouteRule &rule)
{
    std::vector<std::string> problems;
    if (!valid_service_name(rule.service))
        problems.push_back("service name \"" + rule.service +
                           "\" must start with a lower-case letter and hold only a-z, 0-9 and _ (at most 63)");
    if (rule.tables.empty())
        problems.push_back("service \"" + rule.service + "\" owns no tables");
    std::set<std::string> seen;
    for (const auto &t : rule.tables) {
        // Rules hold canonical keys ("schema.table", names exact); the CLI
        // turns what a person types into them with parse_qualified_name.
        size_t dot = t.find('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == t.size() || t.find('.', dot + 1) != std::string::npos)
            problems.push_back("table \"" + t + "\" must be written schema.table");
        if (!seen.insert(t).second)
            problems.push_back("table \"" + t + "\" is listed twice");
    }
    if (rule.dsn.empty())
        problems.push_back("service \"" + rule.service + "\" has no connection string (dsn)");
    else if (dsn_has_password(rule.dsn))
        problems.push_back("the connection string of service \"" + rule.service +
                           "\" holds a password; route rules are readable by every application: use a password "
                           "file (~/.pgpass, PGPASSFILE) or " +
                           service_dsn_variable(rule.service) + " in the application's environment");
    if (rule.basis_points < 0 || rule.basis_points > kBuckets)
        problems.push_back("percent " + std::to_string(rule.basis_points / 100.0) + " is out of range 0..100");
    if (rule.strategy == Strategy::FeatureFlag && rule.flag.name.empty())
        problems.push_back("strategy feature_flag needs a flag name");
    for (const auto &k : rule.canary_keys)
        if (k.empty())
            problems.push_back("canary keys must not be empty");
    return problems;
}

} // namespace pymigrate::router
