// The DDL source: PostgreSQL's own parser reads the file; tables, keys,
// types and CHECK bounds come out as the catalog would give them.
#include <gtest/gtest.h>

#include "analyzer/sources.hpp"
#include "test/unit/analyzer/test_files.hpp"

using namespace pymigrate::analyzer;
using pymigrate::analyzer::testing::TempFile;

TEST(DdlSource, SampleMonolithHasItsTablesKeysAndConstraints)
{
    TempFile f(".sql", pymigrate::analyzer::testing::sample_ddl());
    Model m = build_model(load_ddl(f.path()), std::nullopt);
    EXPECT_EQ(m.schema.tables.size(), 27u);
    EXPECT_EQ(m.schema.foreign_keys.size(), 34u);
    const Table *users = m.schema.find("users");
    ASSERT_TRUE(users);
    ASSERT_TRUE(users->primary_key);
    EXPECT_EQ(users->primary_key->columns, std::vector<std::string>{"id"});
    EXPECT_EQ(users->column("email")->type.max_length, 255);
    EXPECT_EQ(users->column("id")->type.kind, TypeKind::Uuid);
    EXPECT_EQ(users->column("id")->default_expr, "gen_random_uuid()");
    const Table *reviews = m.schema.find("product_reviews");
    EXPECT_EQ(reviews->column("rating")->bounds.minimum, 1);
    EXPECT_EQ(reviews->column("rating")->bounds.maximum, 5);
    EXPECT_TRUE(reviews->column("id")->identity);
    const Table *addresses = m.schema.find("user_addresses");
    EXPECT_EQ(addresses->column("kind")->type.enum_values, (std::vector<std::string>{"billing", "shipping"}));
    EXPECT_TRUE(addresses->column("country")->type.fixed_length);
    const Table *orders = m.schema.find("orders");
    EXPECT_EQ(orders->column("status")->type.kind, TypeKind::Enum);
    EXPECT_EQ(orders->column("status")->type.enum_values.front(), "pending");
    EXPECT_EQ(orders->column("total")->type.precision, 12);
    EXPECT_EQ(orders->column("total")->type.scale, 2);
    const Table *coupons = m.schema.find("coupons");
    EXPECT_TRUE(coupons->column("percent_off")->bounds.exclusive_minimum);
    EXPECT_EQ(coupons->column("percent_off")->bounds.maximum, 100);
    const Table *stock = m.schema.find("stock_levels");
    EXPECT_EQ(stock->primary_key->columns, (std::vector<std::string>{"warehouse_id", "variant_id"}));
    EXPECT_EQ(m.workload.query_source, "none");
}

TEST(DdlSource, SyntaxErrorNamesFileLineAndColumn)
{
    TempFile f(".sql", "CREATE TABLE a (id int PRIMARY KEY);\n\nCREATE TABEL b (id int);\n");
    try {
        load_ddl(f.path());
        FAIL() << "a DDL file with a syntax error was accepted";
    } catch (const SourceError &e) {
        std::string m = e.what();
        EXPECT_NE(m.find(f.path() + ":3:8: syntax error at or near \"TABEL\""), std::string::npos) << m;
    }
}

TEST(DdlSource, PgDumpOutputWithMetaCommandsSerialsAndPartitions)
{
    TempFile f(".sql", R"SQL(\restrict abc
SET statement_timeout = 0;
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
CREATE DOMAIN public.year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901);
CREATE TABLE public.person (id integer NOT NULL, feeling public.mood, born public.year);
CREATE SEQUENCE public.person_id_seq;
ALTER TABLE ONLY public.person ALTER COLUMN id SET DEFAULT nextval('public.person_id_seq'::regclass);
ALTER TABLE ONLY public.person ADD CONSTRAINT person_pkey PRIMARY KEY (id);
CREATE TABLE public.event (at timestamp(3) with time zone NOT NULL, person_id integer NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.event_2024 (at timestamp(3) with time zone NOT NULL, person_id integer NOT NULL);
ALTER TABLE ONLY public.event ATTACH PARTITION public.event_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE ONLY public.event_2024 ADD CONSTRAINT event_2024_person_fkey FOREIGN KEY (person_id) REFERENCES public.person(id);
CREATE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
\unrestrict abc
)SQL");
    Model m = build_model(load_ddl(f.path()), std::nullopt);
    ASSERT_EQ(m.schema.tables.size(), 2u); // the partition counts in its parent
    const Table *person = m.schema.find("person");
    EXPECT_TRUE(person->column("id")->identity);
    EXPECT_EQ(person->column("feeling")->type.enum_values, (std::vector<std::string>{"sad", "ok"}));
    EXPECT_EQ(person->column("born")->type.kind, TypeKind::Integer); // the domain's base type
    EXPECT_EQ(m.schema.find("event")->column("at")->type.sql, "timestamp(3) with time zone");
    ASSERT_EQ(m.schema.foreign_keys.size(), 1u);
    EXPECT_EQ(m.schema.foreign_keys[0].table, "event");
    EXPECT_EQ(m.schema.foreign_keys[0].ref_table, "person");
}

TEST(DdlSource, OddIdentifiersKeepTheirSpelling)
{
    TempFile f(".sql", R"SQL(CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order Items" ("Id" int PRIMARY KEY, "class" text, "from" date);
CREATE TABLE "user" (id int PRIMARY KEY, "select" int REFERENCES "user");
)SQL");
    Model m = build_model(load_ddl(f.path()), std::nullopt);
    ASSERT_EQ(m.schema.tables.size(), 2u);
    EXPECT_TRUE(m.schema.find("\"Sales Dept\".\"Order Items\""));
    const Table *user = m.schema.find("\"user\"");
    ASSERT_TRUE(user);
    EXPECT_EQ(user->name, "user");
    EXPECT_EQ(m.schema.find("\"Sales Dept\".\"Order Items\"")->primary_key->columns[0], "Id");
}
