// The generated project's own tests: row factories that create valid rows
// (parents first), and per table: the list, filters, order and cursors,
// a create / get / patch / delete round trip, and the bad requests that must
// get a 4xx with a clear body.
#include <functional>
#include <map>
#include <set>

#include "analyzer/api/fastapi_project.hpp"
#include "analyzer/api/openapi.hpp"
#include "analyzer/api/python_code.hpp"

namespace pymigrate::analyzer::api
{
namespace
{

bool
filterable(const Column &c)
{
    for (const char *p : kControlParameters)
        if (c.name == p)
            return false;
    return c.type.kind != TypeKind::Json;
}

bool
typed(const Column &c)
{
    switch (c.type.kind) {
    case TypeKind::SmallInt:
    case TypeKind::Integer:
    case TypeKind::BigInt:
    case TypeKind::Numeric:
    case TypeKind::Uuid:
    case TypeKind::Date:
    case TypeKind::Timestamp:
    case TypeKind::TimestampTz:
        return c.type.array_dims == 0;
    default:
        return false;
    }
}

bool
plain_text(const Column &c)
{
    return c.type.kind == TypeKind::Text && c.type.array_dims == 0 && c.type.enum_values.empty();
}

struct Factory {
    bool creatable = true;
    std::string reason;
    std::string body; // Python statements filling `body`
    std::set<std::string> fk_columns;
};

class FactoryBuilder
{
  public:
    explicit FactoryBuilder(const ServiceApi &api) : api_(api) {}

    const Factory &
    get(const ApiTable &t)
    {
        auto it = done_.find(t.module);
        if (it != done_.end())
            return it->second;
        if (visiting_.count(t.module)) {
            Factory f;
            f.creatable = false;
            f.reason = "its required foreign keys form a cycle";
            return done_[t.module] = f;
        }
        visiting_.insert(t.module);
        Factory f = build(t);
        visiting_.erase(t.module);
        return done_[t.module] = f;
    }

  private:
    Factory
    build(const ApiTable &t)
    {
        Factory f;
        int n = 0;
        for (const auto &r : t.references) {
            bool required = false;
            for (const auto &c : r.columns)
                if (const ApiColumn *ac = t.api_column(c); ac && ac->required)
                    required = true;
            if (!required)
                continue;
            const ApiTable *parent = api_.find(r.ref_table);
            if (!parent || r.ref_table == t.table->key()) {
                f.creatable = false;
                f.reason =
                    "a required foreign key references " + r.ref_table + " (itself or a table without endpoints)";
                return f;
            }
            const Factory &pf = get(*parent);
            if (!pf.creatable) {
                f.creatable = false;
                f.reason = "it references " + r.ref_table + ", whose rows the tests cannot create: " + pf.reason;
                return f;
            }
            std::string var = "parent_" + std::to_string(n++);
            f.body += "    " + var + " = make_" + parent->module + "(client)\n";
            for (size_t i = 0; i < r.columns.size() && i < r.ref_columns.size(); ++i) {
                f.body += "    body[" + py_str(r.columns[i]) + "] = " + var + "[" + py_str(r.ref_columns[i]) + "]\n";
                f.fk_columns.insert(r.columns[i]);
            }
        }
        for (const auto &c : t.columns) {
            if (c.read_only || f.fk_columns.count(c.column->name) ||
                !(c.required || (c.in_key && !c.column->default_expr)))
                continue;
            auto sample = sample_expression(*c.column);
            if (!sample) {
                f.creatable = false;
                f.reason =
                    "column " + c.column->name + " (" + c.column->type.sql + ") has a type the tests cannot fill";
                return f;
            }
            f.body += "    body[" + py_str(c.column->name) + "] = " + *sample + "\n";
        }
        return f;
    }

    const ServiceApi &api_;
    std::map<std::string, Factory> done_;
    std::set<std::string> visiting_;
};

std::string
factories_py(const ServiceApi &api, FactoryBuilder &fb)
{
    std::string o =
        "\"\"\"Row factories for the tests: body_<table>(client) is a valid new row for the create endpoint\n"
        "(rows it must reference are created first), make_<table>(client) creates one.\"\"\"\n"
        "import random\n"
        "import string\n"
        "import uuid  # noqa: F401\n\n"
        "import pytest\n\n\n"
        "def random_text(n):\n"
        "    return \"\".join(random.choice(string.ascii_lowercase) for _ in range(n))\n";
    for (const auto &t : api.tables) {
        const Factory &f = fb.get(t);
        o += "\n\ndef body_" + t.module + "(client):\n";
        if (!f.creatable) {
            o += "    pytest.skip(" + py_str("the tests cannot create rows of " + t.table->key() + ": " + f.reason) +
                 ")\n";
        } else {
            o += "    body = {}\n" + f.body + "    return body\n";
        }
        o += "\n\ndef make_" + t.module +
             "(client):\n"
             "    r = client.post(" +
             py_str("/" + t.path) + ", json=body_" + t.module +
             "(client))\n"
             "    assert r.status_code == 201, r.text\n"
             "    return r.json()\n";
    }
    return o;
}

std::string
conftest_py()
{
    return "\"\"\"The client the generated tests use: FastAPI's TestClient on the app (DATABASE_URL must point at\n"
           "the service database), or a running service when API_URL is set.\"\"\"\n"
           "import os\n\n"
           "import pytest\n\n\n"
           "@pytest.fixture(scope=\"session\")\n"
           "def client():\n"
           "    url = os.environ.get(\"API_URL\")\n"
           "    if url:\n"
           "        import httpx\n\n"
           "        with httpx.Client(base_url=url, timeout=30) as c:\n"
           "            yield c\n"
           "    else:\n"
           "        from fastapi.testclient import TestClient\n\n"
           "        from app.main import app\n\n"
           "        with TestClient(app) as c:\n"
           "            yield c\n";
}

std::string
table_tests_py(const ApiTable &t, const Factory &f)
{
    const Column *filter = nullptr, *typed_col = nullptr, *text_col = nullptr;
    for (const auto &k : t.key)
        if (const ApiColumn *c = t.api_column(k); c && filterable(*c->column) && !filter)
            filter = c->column;
    for (const auto &c : t.columns) {
        const Column &col = *c.column;
        if (!filterable(col))
            continue;
        if (!filter)
            filter = &col;
        if (!typed_col && typed(col))
            typed_col = &col;
        if (!text_col && plain_text(col))
            text_col = &col;
    }
    const ApiColumn *patch = nullptr, *too_long = nullptr, *wrong = nullptr;
    std::set<std::string> reference_columns = f.fk_columns;
    for (const auto &r : t.references)
        reference_columns.insert(r.columns.begin(), r.columns.end());
    for (const auto &c : t.columns) {
        if (c.read_only)
            continue;
        const Column &col = *c.column;
        bool fk = reference_columns.count(col.name) > 0;
        if (!patch && !c.in_key && !fk && plain_text(col) && sample_expression(col))
            patch = &c;
        if (!too_long && plain_text(col) && col.type.max_length && !fk)
            too_long = &c;
        if (!wrong && wrong_type_expression(col) && !fk)
            wrong = &c;
    }
    std::string key_names;
    for (const auto &k : t.key)
        key_names += py_str(k) + ", ";
    std::string o = "\"\"\"Tests of /" + t.path + " (table " + py_str(t.table->key()).substr(1, std::string::npos);
    o.pop_back();
    o += "), generated by pymigrate.\"\"\"\n"
         "import random  # noqa: F401\n"
         "import uuid  # noqa: F401\n"
         "from urllib.parse import quote\n\n"
         "from factories import body_" +
         t.module + ", make_" + t.module +
         ", random_text  # noqa: F401\n\n"
         "PATH = " +
         py_str("/" + t.path) +
         "\n"
         "KEY = (" +
         key_names +
         ")\n\n\n"
         "def key_path(row):\n"
         "    return PATH + \"\".join(\"/\" + quote(str(row[k]), safe=\"\") for k in KEY)\n\n\n"
         "def test_list_returns_a_page(client):\n"
         "    r = client.get(PATH, params={\"limit\": 2})\n"
         "    assert r.status_code == 200, r.text\n"
         "    page = r.json()\n"
         "    assert isinstance(page[\"items\"], list) and len(page[\"items\"]) <= 2 and page[\"limit\"] == 2\n\n\n"
         "def test_unknown_column_is_rejected(client):\n"
         "    r = client.get(PATH, params={\"no_such_column\": \"eq.1\"})\n"
         "    assert r.status_code == 400, r.text\n"
         "    assert r.json()[\"code\"] == \"unknown_parameter\" and \"no_such_column\" in r.json()[\"message\"]\n\n\n"
         "def test_bad_paging_and_order_are_rejected(client):\n"
         "    for params in ({\"limit\": \"0\"}, {\"limit\": \"abc\"}, {\"offset\": \"-1\"}, {\"cursor\": "
         "\"not-a-cursor\"}):\n"
         "        r = client.get(PATH, params=params)\n"
         "        assert r.status_code == 400, (params, r.text)\n"
         "    r = client.get(PATH, params={\"order\": \"no_such_column.desc\"})\n"
         "    assert r.status_code == 400 and r.json()[\"code\"] == \"unknown_column\", r.text\n";
    if (filter)
        o += "\n\ndef test_unknown_operator_is_rejected(client):\n"
             "    r = client.get(PATH, params={" +
             py_str(filter->name) +
             ": \"zz.1\"})\n"
             "    assert r.status_code == 400 and r.json()[\"code\"] == \"invalid_filter\", r.text\n";
    if (typed_col)
        o += "\n\ndef test_wrong_type_in_filter_is_rejected(client):\n"
             "    r = client.get(PATH, params={" +
             py_str(typed_col->name) +
             ": \"eq.1; DROP TABLE x\"})\n"
             "    assert r.status_code == 400 and r.json()[\"code\"] == \"invalid_value\", r.text\n";
    if (text_col)
        o += "\n\ndef test_filter_value_is_data_not_sql(client):\n"
             "    r = client.get(PATH, params={" +
             py_str(text_col->name) +
             ": \"eq.' OR '1'='1\"})\n"
             "    assert r.status_code == 200, r.text\n"
             "    assert r.json()[\"items\"] == []\n";
    o += "\n\ndef test_crud_round_trip(client):\n"
         "    row = make_" +
         t.module +
         "(client)\n"
         "    r = client.get(key_path(row))\n"
         "    assert r.status_code == 200, r.text\n"
         "    assert r.json() == row\n";
    if (t.key.size() == 1 && filter && filter->name == t.key[0])
        o += "    r = client.get(PATH, params={KEY[0]: \"eq.\" + str(row[KEY[0]])})\n"
             "    assert r.status_code == 200, r.text\n"
             "    assert r.json()[\"items\"] == [row]\n"
             "    r = client.get(PATH, params={KEY[0]: \"in.(\" + str(row[KEY[0]]) + \")\"})\n"
             "    assert r.json()[\"items\"] == [row], r.text\n";
    if (patch)
        o += "    new = " + *sample_expression(*patch->column) +
             "\n"
             "    r = client.patch(key_path(row), json={" +
             py_str(patch->column->name) +
             ": new})\n"
             "    assert r.status_code == 200, r.text\n"
             "    assert r.json()[" +
             py_str(patch->column->name) + "] == new\n";
    o += "    r = client.delete(key_path(row))\n"
         "    assert r.status_code == 204, r.text\n"
         "    r = client.get(key_path(row))\n"
         "    assert r.status_code == 404 and r.json()[\"code\"] == \"not_found\", r.text\n";
    o += "\n\ndef test_unknown_field_is_rejected(client):\n"
         "    body = body_" +
         t.module +
         "(client)\n"
         "    body[\"no_such_column\"] = 1\n"
         "    r = client.post(PATH, json=body)\n"
         "    assert r.status_code == 422 and r.json()[\"code\"] == \"invalid_body\", r.text\n";
    if (too_long)
        o += "\n\ndef test_too_long_string_is_rejected(client):\n"
             "    body = body_" +
             t.module +
             "(client)\n"
             "    body[" +
             py_str(too_long->column->name) + "] = \"x\" * " + std::to_string(*too_long->column->type.max_length + 1) +
             "\n"
             "    r = client.post(PATH, json=body)\n"
             "    assert r.status_code == 422 and r.json()[\"code\"] == \"invalid_body\", r.text\n"
             "    assert " +
             py_str(too_long->column->name) + " in r.json()[\"message\"]\n";
    if (wrong)
        o += "\n\ndef test_wrong_type_in_body_is_rejected(client):\n"
             "    body = body_" +
             t.module +
             "(client)\n"
             "    body[" +
             py_str(wrong->column->name) + "] = " + *wrong_type_expression(*wrong->column) +
             "\n"
             "    r = client.post(PATH, json=body)\n"
             "    assert r.status_code == 422 and r.json()[\"code\"] == \"invalid_body\", r.text\n";
    o += "\n\ndef test_keyset_pagination(client):\n"
         "    first = client.get(PATH, params={\"limit\": 1})\n"
         "    if first.json()[\"next_cursor\"] is None:\n"
         "        make_" +
         t.module +
         "(client)\n"
         "        make_" +
         t.module +
         "(client)\n"
         "        first = client.get(PATH, params={\"limit\": 1})\n"
         "    assert first.status_code == 200, first.text\n"
         "    cursor = first.json()[\"next_cursor\"]\n"
         "    assert cursor, first.text\n"
         "    second = client.get(PATH, params={\"limit\": 1, \"cursor\": cursor})\n"
         "    assert second.status_code == 200, second.text\n"
         "    a, b = first.json()[\"items\"][0], second.json()[\"items\"][0]\n"
         "    assert [a[k] for k in KEY] != [b[k] for k in KEY]\n";
    return o;
}

} // namespace

void
add_python_tests(const ServiceApi &api, ProjectFiles &files)
{
    FactoryBuilder fb(api);
    files["tests/conftest.py"] = conftest_py();
    files["tests/factories.py"] = factories_py(api, fb);
    for (const auto &t : api.tables)
        files["tests/test_" + t.module + ".py"] = table_tests_py(t, fb.get(t));
}

} // namespace pymigrate::analyzer::api
