// The SQLite source reads tables, keys and foreign keys from SQLite's pragmas.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "analyzer/analysis.hpp"
#include "analyzer/sources.hpp"
#include "test/unit/analyzer/test_files.hpp"

using namespace pymigrate::analyzer;
using pymigrate::analyzer::testing::TempFile;

TEST(SqliteSource, TablesKeysForeignKeysAndRows)
{
    TempFile f(".db", "");
    std::filesystem::remove(f.path());
    sqlite3 *db = nullptr;
    ASSERT_EQ(sqlite3_open(f.path().c_str(), &db), SQLITE_OK);
    const char *ddl = "CREATE TABLE author (id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL UNIQUE, born DATE);"
                      "CREATE TABLE book (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES author, "
                      "  title TEXT NOT NULL, price DECIMAL(8,2), added DATETIME);"
                      "CREATE TABLE tag (book_id INTEGER REFERENCES book(id), tag TEXT, PRIMARY KEY (book_id, tag));"
                      "INSERT INTO author (name) VALUES ('Le Guin'), ('Borges');"
                      "INSERT INTO book (author_id, title) VALUES (1, 'The Dispossessed');";
    ASSERT_EQ(sqlite3_exec(db, ddl, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);

    Model m = build_model(load_sqlite(f.path()), std::nullopt);
    ASSERT_EQ(m.schema.tables.size(), 3u);
    const Table *author = m.schema.find("author");
    EXPECT_EQ(author->rows, 2);
    EXPECT_TRUE(author->column("id")->identity);
    EXPECT_EQ(author->column("name")->type.max_length, 80);
    EXPECT_EQ(author->unique_keys.size(), 1u);
    EXPECT_EQ(author->column("born")->type.kind, TypeKind::Date);
    const Table *book = m.schema.find("book");
    EXPECT_EQ(book->column("price")->type.precision, 8);
    EXPECT_EQ(book->column("added")->type.kind, TypeKind::Timestamp);
    EXPECT_EQ(m.schema.find("tag")->primary_key->columns, (std::vector<std::string>{"book_id", "tag"}));
    ASSERT_EQ(m.schema.foreign_keys.size(), 2u);
    Analysis a = analyze(std::move(m), {}, {});
    EXPECT_EQ(a.services.size(), 1u);

    TempFile junk(".db", "this is not a database, it is text that is long enough to have a header of sorts......");
    EXPECT_THROW(load_sqlite(junk.path()), SourceError);
}
