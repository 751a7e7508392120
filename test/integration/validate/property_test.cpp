// Property: on random tables with random mutations on either side, the
// discrepancies pymigrate.validate() reports are exactly the true ones.
//
// The truth comes from PostgreSQL itself: the service's table is copied
// next to the monolith's and the two are FULL JOINed on the key, rows
// compared with IS DISTINCT FROM (the types' own equality: 1.0 = 1.00,
// instants across zones, NULL distinct from '').
#include <iostream>
#include <random>

#include "test/integration/validate/validate_fixture.hpp"

using namespace pymigrate::testing;

namespace {

struct ColumnType {
    const char *type;
    const char *value; // a random value of the type
};

// Types and generators; numeric without typmod keeps its scale, so
// "n * 1.000" below is a change of representation that is not a change.
const ColumnType kTypes[] = {
    {"integer", "(random() * 1000)::int"},
    {"bigint", "(random() * 1e12)::bigint"},
    {"numeric(12,3)", "round((random() * 1000)::numeric, 3)"},
    {"numeric", "round((random() * 100)::numeric, (random() * 4)::int)"},
    {"text", "CASE WHEN random() < 0.1 THEN '' ELSE md5(random()::text) END"},
    {"varchar(20)", "left(md5(random()::text), (random() * 20)::int)"},
    {"char(4)", "left(md5(random()::text), (random() * 4)::int)"},
    {"timestamptz", "'2020-01-01 00:00:00+00'::timestamptz + random() * interval '1000 days'"},
    {"date", "'2020-01-01'::date + (random() * 1000)::int"},
    {"boolean", "random() < 0.5"},
    {"uuid", "gen_random_uuid()"},
    {"jsonb", "jsonb_build_object('a', (random() * 10)::int, 'b', md5(random()::text), 'c', round(random()::numeric, 2))"},
    {"bytea", "decode(md5(random()::text), 'hex')"},
    {"text[]", "ARRAY[md5(random()::text), NULL, left(md5(random()::text), 3)]"},
    {"double precision", "random()"},
    {"interval", "random() * interval '10 days'"},
};

struct KeyKind {
    std::vector<std::string> columns; // "name type"
    std::vector<std::string> names;
    std::string row_expr; // the key columns of row i, comma-separated
    std::string new_expr; // a key beyond the generated ones, from an integer n
};

const KeyKind kKeys[] = {
    {{"id integer"}, {"id"}, "i", "n"},
    {{"code text"}, {"code"}, "'k' || i", "'new' || n"},
    {{"id uuid"}, {"id"}, "md5(i::text)::uuid", "md5('new' || n)::uuid"},
    {{"region integer", "seq text"}, {"region", "seq"}, "i % 10, (i / 10)::text", "n % 10, 'new' || n"},
};

std::string
join(const std::vector<std::string> &v, const std::string &sep, const std::string &prefix = "")
{
    std::string out;
    for (size_t i = 0; i < v.size(); ++i)
        out += (i ? sep : "") + prefix + v[i];
    return out;
}

class ValidateProperty : public ValidateSuite {};

} // namespace

TEST_F(ValidateProperty, ReportedDiscrepanciesAreExactlyTheTrueOnes)
{
    auto mono = monolith().connect();
    auto svc = service().connect();
    std::mt19937 rng(20240611);
    auto pick = [&rng](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    int rounds = 40;
    int reported_total = 0;
    long rows_total = 0;
    for (int round = 0; round < rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        std::string t = "prop_" + std::to_string(round);
        const KeyKind &key = kKeys[round % 4];
        std::vector<std::string> cols, col_types;
        int ncols = 1 + pick(6);
        for (int c = 0; c < ncols; ++c) {
            const ColumnType &ct = kTypes[pick(std::size(kTypes))];
            cols.push_back("c" + std::to_string(c));
            col_types.push_back(ct.type);
        }
        std::string ddl = "CREATE TABLE " + t + " (" + join(key.columns, ", ");
        for (int c = 0; c < ncols; ++c)
            ddl += ", " + cols[c] + " " + col_types[c];
        ddl += ", PRIMARY KEY (" + join(key.names, ", ") + "))";
        mono.exec(ddl);
        svc.exec(ddl);
        auto value_of = [&](int c) {
            for (const auto &ct : kTypes)
                if (col_types[c] == ct.type)
                    return "CASE WHEN random() < 0.1 THEN NULL ELSE (" + std::string(ct.value) + ")::" + col_types[c] +
                           " END";
            return std::string("NULL");
        };
        int rows = pick(1500);
        rows_total += rows;
        std::string values;
        for (int c = 0; c < ncols; ++c)
            values += ", " + value_of(c);
        mono.exec("SELECT setseed(" + std::to_string(round / 100.0) + ")");
        mono.exec("INSERT INTO " + t + " SELECT " + key.row_expr + values + " FROM generate_series(1, " +
                  std::to_string(rows) + ") i");
        copy_rows(mono, t, svc, t);

        // Random mutations, mostly on the service side.
        int mutations = pick(25);
        for (int m = 0; m < mutations; ++m) {
            auto &side = pick(4) == 0 ? mono : svc;
            std::string where = " WHERE (" + join(key.names, ", ") + ") IN (SELECT " + join(key.names, ", ") +
                                " FROM " + t + " ORDER BY random() LIMIT 1)";
            int c = pick(ncols);
            switch (pick(6)) {
            case 0:
            case 1: side.exec("UPDATE " + t + " SET " + cols[c] + " = " + value_of(c) + where); break;
            case 2: side.exec("DELETE FROM " + t + where); break;
            case 3: {
                std::string n = std::to_string(100000 + round * 1000 + m);
                side.exec("INSERT INTO " + t + " SELECT " + key.new_expr + values + " FROM (SELECT " + n +
                          " AS n) s ON CONFLICT DO NOTHING");
                break;
            }
            case 4:
                // Not a change: the same values written differently.
                if (col_types[c] == "numeric")
                    side.exec("UPDATE " + t + " SET " + cols[c] + " = " + cols[c] + " * 1.000" + where);
                else if (col_types[c] == "jsonb")
                    side.exec("UPDATE " + t + " SET " + cols[c] + " = (" + cols[c] + "::text)::jsonb" + where);
                break;
            case 5:
                if (col_types[c] == "text")
                    side.exec("UPDATE " + t + " SET " + cols[c] + " = CASE WHEN " + cols[c] + " IS NULL THEN '' END" +
                              where);
                break;
            }
        }

        // The truth, by PostgreSQL's own equality, on a copy of the service table.
        mono.exec("CREATE TABLE " + t + "_svc (LIKE " + t + ")");
        copy_rows(svc, t, mono, t + "_svc");
        std::string on, distinct_l, distinct_r;
        for (const auto &k : key.names)
            on += std::string(on.empty() ? "" : " AND ") + "m." + k + " = s." + k;
        std::string key_json = "jsonb_build_array(";
        for (size_t i = 0; i < key.names.size(); ++i)
            key_json += (i ? ", " : "") + std::string("coalesce(m.") + key.names[i] + ", s." + key.names[i] + ")";
        key_json += ")";
        std::string truth = "SELECT " + key_json + " AS key, CASE WHEN s." + key.names[0] +
                            " IS NULL THEN 'missing' WHEN m." + key.names[0] +
                            " IS NULL THEN 'extra' ELSE 'changed' END AS kind FROM " + t + " m FULL JOIN " + t +
                            "_svc s ON " + on + " WHERE m." + key.names[0] + " IS NULL OR s." + key.names[0] +
                            " IS NULL OR ROW(" + join(cols, ", ", "m.") + ") IS DISTINCT FROM ROW(" +
                            join(cols, ", ", "s.") + ")";

        std::vector<std::string> buckets = {"NULL", "1", "4", "64"};
        std::string options = "buckets => " + buckets[pick(4)] + ", merge_ratio => " + (pick(4) == 0 ? "0" : "0.25") +
                              ", parallel => " + (pick(2) ? "NULL" : "1");
        SCOPED_TRACE(ddl + "; " + std::to_string(rows) + " rows, " + std::to_string(mutations) + " mutations, " +
                     options);
        auto run = mono.scalar("SELECT pymigrate.validate(ARRAY['" + t + "'], $1, recheck => false, " + options + ")",
                               {service().dsn()});
        std::string reported =
            "SELECT key, kind FROM pymigrate.discrepancy WHERE run_id = " + *run + " AND status = 'confirmed'";
        auto wrong = mono.exec("(" + truth + " EXCEPT " + reported + ") UNION ALL (" + reported + " EXCEPT " + truth +
                               ")");
        std::string listing;
        for (int i = 0; i < wrong.rows(); ++i)
            listing += std::string(wrong.value(i, 0)) + " " + std::string(wrong.value(i, 1)) + "\n";
        EXPECT_EQ(wrong.rows(), 0) << "reported and true discrepancies differ:\n" << listing;
        auto counts = mono.exec("SELECT (SELECT count(*) FROM (" + truth + ") x), (SELECT count(*) FROM (" +
                                reported + ") y)");
        EXPECT_EQ(counts.value(0, 0), counts.value(0, 1));
        reported_total += std::stoi(std::string(counts.value(0, 1)));
    }
    std::cout << "property test: " << rounds << " tables, " << rows_total << " rows, " << reported_total
              << " discrepancies, all as PostgreSQL's own comparison says" << std::endl;
    // The mutations did produce differences to find.
    EXPECT_GT(reported_total, rounds);
}
