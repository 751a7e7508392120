#include "router/route_json.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

namespace pymigrate::router
{

using nlohmann::json;

namespace
{

[[noreturn]] void
fail(const std::string &where, const std::string &what)
{
    throw RouteFormatError(where + ": " + what);
}

std::string
type_name(const json &j)
{
    return j.type_name();
}

const std::string &
as_string(const json &j, const std::string &where)
{
    if (!j.is_string())
        fail(where, "expected a string, found " + type_name(j));
    return j.get_ref<const std::string &>();
}

bool
as_bool(const json &j, const std::string &where)
{
    if (!j.is_boolean())
        fail(where, "expected true or false, found " + type_name(j));
    return j.get<bool>();
}

std::vector<std::string>
as_strings(const json &j, const std::string &where)
{
    if (!j.is_array())
        fail(where, "expected an array of strings, found " + type_name(j));
    std::vector<std::string> out;
    for (size_t i = 0; i < j.size(); ++i)
        out.push_back(as_string(j[i], where + "[" + std::to_string(i) + "]"));
    return out;
}

void
reject_unknown(const json &obj, const std::string &where, std::initializer_list<std::string_view> known)
{
    for (const auto &[key, value] : obj.items()) {
        bool ok = false;
        for (auto k : known)
            ok = ok || key == k;
        if (!ok) {
            std::string list;
            for (auto k : known)
                list += (list.empty() ? "" : ", ") + std::string(k);
            fail(where, "unknown key \"" + key + "\" (known: " + list + ")");
        }
    }
}

FeatureFlag
flag_from_json(const json &j, const std::string &where)
{
    if (!j.is_object())
        fail(where, "expected an object, found " + type_name(j));
    reject_unknown(j, where, {"name", "enabled", "overrides"});
    FeatureFlag f;
    if (j.contains("name"))
        f.name = as_string(j["name"], where + ".name");
    if (j.contains("enabled"))
        f.enabled = as_bool(j["enabled"], where + ".enabled");
    if (j.contains("overrides")) {
        const json &o = j["overrides"];
        if (!o.is_object())
            fail(where + ".overrides", "expected an object of key: true/false, found " + type_name(o));
        for (const auto &[key, value] : o.items()) {
            if (key.empty())
                fail(where + ".overrides", "empty key");
            f.overrides[key] = as_bool(value, where + ".overrides[\"" + key + "\"]");
        }
    }
    return f;
}

} // namespace

std::optional<int>
percent_to_basis_points(double percent) noexcept
{
    if (!std::isfinite(percent) || percent < 0 || percent > 100)
        return std::nullopt;
    double bp = percent * 100.0;
    double rounded = std::round(bp);
    if (std::fabs(bp - rounded) > 1e-6)
        return std::nullopt; // finer than 0.01 %
    return static_cast<int>(rounded);
}

double
basis_points_to_percent(int bp) noexcept
{
    return bp / 100.0;
}

RouteRule
rule_from_json(const json &j, const std::string &where)
{
    if (!j.is_object())
        fail(where, "expected an object, found " + type_name(j));
    reject_unknown(j, where,
                   {"name", "tables", "dsn", "strategy", "percent", "canary_keys", "active", "flag", "sticky", "salt",
                    "transactions", "enabled", "version"});
    RouteRule r;
    if (!j.contains("name"))
        fail(where, "missing \"name\"");
    r.service = as_string(j["name"], where + ".name");
    if (!valid_service_name(r.service))
        fail(where + ".name", "\"" + r.service + "\" is not a valid service name (a-z, 0-9, _; starts with a letter)");
    if (!j.contains("tables"))
        fail(where, "missing \"tables\"");
    r.tables = as_strings(j["tables"], where + ".tables");
    if (!j.contains("dsn"))
        fail(where, "missing \"dsn\"");
    r.dsn = as_string(j["dsn"], where + ".dsn");
    if (j.contains("strategy")) {
        const std::string &s = as_string(j["strategy"], where + ".strategy");
        if (!parse_strategy(s, r.strategy))
            fail(where + ".strategy", "unknown strategy \"" + s + "\" (percentage, canary, blue_green, feature_flag)");
    }
    if (j.contains("percent")) {
        const json &p = j["percent"];
        if (!p.is_number())
            fail(where + ".percent", "expected a number, found " + type_name(p));
        double v = p.get<double>();
        auto bp = percent_to_basis_points(v);
        if (!bp)
            fail(where + ".percent", json(v).dump() + " is out of range 0..100 or finer than 0.01");
        r.basis_points = *bp;
    }
    if (j.contains("canary_keys"))
        r.canary_keys = as_strings(j["canary_keys"], where + ".canary_keys");
    if (j.contains("active")) {
        const std::string &a = as_string(j["active"], where + ".active");
        if (!parse_target(a, r.active))
            fail(where + ".active", "unknown target \"" + a + "\" (monolith, service)");
    }
    if (j.contains("flag"))
        r.flag = flag_from_json(j["flag"], where + ".flag");
    if (j.contains("sticky"))
        r.sticky = as_bool(j["sticky"], where + ".sticky");
    if (j.contains("salt"))
        r.salt = as_string(j["salt"], where + ".salt");
    if (r.salt.empty())
        r.salt = r.service;
    if (j.contains("transactions")) {
        const std::string &t = as_string(j["transactions"], where + ".transactions");
        if (!parse_transaction_policy(t, r.transactions))
            fail(where + ".transactions", "unknown policy \"" + t + "\" (first_statement, monolith)");
    }
    if (j.contains("enabled"))
        r.enabled = as_bool(j["enabled"], where + ".enabled");
    if (j.contains("version")) {
        if (!j["version"].is_number_integer())
            fail(where + ".version", "expected an integer, found " + type_name(j["version"]));
        r.version = j["version"].get<int64_t>();
    }
    auto problems = validate(r);
    if (!problems.empty())
        fail(where, problems.front());
    return r;
}

json
to_json(const RouteRule &r)
{
    json flag = {{"name", r.flag.name}, {"enabled", r.flag.enabled}, {"overrides", json::object()}};
    for (const auto &[k, v] : r.flag.overrides)
        flag["overrides"][k] = v;
    return {{"name", r.service},
            {"tables", r.tables},
            {"dsn", r.dsn},
            {"strategy", std::string(to_string(r.strategy))},
            {"percent", basis_points_to_percent(r.basis_points)},
            {"canary_keys", r.canary_keys},
            {"active", std::string(to_string(r.active))},
            {"flag", flag},
            {"sticky", r.sticky},
            {"salt", effective_salt(r)},
            {"transactions", std::string(to_string(r.transactions))},
            {"enabled", r.enabled},
            {"version", r.version}};
}

json
to_json(const RouteTable &t)
{
    json services = json::array();
    for (const auto &r : t.rules())
        services.push_back(to_json(r));
    return {{"format", kRouteFormat}, {"version", t.version()}, {"services", services}};
}

std::optional<RouteTable>
parse_route_document(std::string_view text, std::string &error) noexcept
{
    try {
        if (text.size() > kMaxRouteDocument) {
            error = "route document is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                    std::to_string(kMaxRouteDocument);
            return std::nullopt;
        }
        json doc;
        try {
            doc = json::parse(text.begin(), text.end());
        } catch (const json::parse_error &e) {
            error = std::string("not valid JSON: ") + e.what();
            return std::nullopt;
        }
        if (!doc.is_object())
            fail("document", "expected an object, found " + type_name(doc));
        reject_unknown(doc, "document", {"format", "version", "services"});
        if (!doc.contains("format") || !doc["format"].is_number_integer())
            fail("format", "missing or not an integer (this build reads format " + std::to_string(kRouteFormat) + ")");
        if (doc["format"].get<int64_t>() != kRouteFormat)
            fail("format", doc["format"].dump() + " is not supported (this build reads format " +
                               std::to_string(kRouteFormat) + ")");
        int64_t version = 0;
        if (doc.contains("version")) {
            if (!doc["version"].is_number_integer())
                fail("version", "expected an integer, found " + type_name(doc["version"]));
            version = doc["version"].get<int64_t>();
        }
        std::vector<RouteRule> rules;
        if (doc.contains("services")) {
            const json &s = doc["services"];
            if (!s.is_array())
                fail("services", "expected an array, found " + type_name(s));
            for (size_t i = 0; i < s.size(); ++i)
                rules.push_back(rule_from_json(s[i], "services[" + std::to_string(i) + "]"));
        }
        RouteTable table;
        std::vector<std::string> problems;
        if (!RouteTable::build(std::move(rules), version, table, problems)) {
            error = problems.front();
            return std::nullopt;
        }
        return table;
    } catch (const RouteFormatError &e) {
        error = e.what();
    } catch (const std::exception &e) {
        error = std::string("cannot read route document: ") + e.what();
    } catch (...) {
        error = "cannot read route document";
    }
    return std::nullopt;
}

} // namespace pymigrate::router
