// Before PostgreSQL's headers, whose port.h redefines snprintf.
#include <nlohmann/json.hpp>

#include "validate/remote_side.hpp"

#include "pg/guard.hpp"

#include <libpq-fe.h>

#include "peer_info.hpp"
#include "validate/sync_wait.hpp"

namespace pymigrate::validate {

using pg::Error;
namespace enc = pymigrate::rowenc;

namespace {

// Binary results arrive in network byte order.
uint64_t
be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | static_cast<uint8_t>(p[i]);
    return v;
}

uint32_t
be32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v = (v << 8) | static_cast<uint8_t>(p[i]);
    return v;
}

uint16_t
be16(const char *p)
{
    return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

std::string_view
cell(const pq::Result &r, int row, int col)
{
    return r.value(row, col);
}

[[noreturn]] void
bad_reply(const std::string &who, const std::string &what)
{
    throw Error(ERRCODE_PROTOCOL_VIOLATION, "unexpected reply from " + who + ": " + what,
                "The remote pymigrate extension may be a different version.");
}

void
expect_width(const pq::Result &r, int row, int col, size_t n, const std::string &who)
{
    if (r.is_null(row, col) || cell(r, row, col).size() != n)
        bad_reply(who, "column " + std::to_string(col) + " has an unexpected size");
}

} // namespace

RemoteSide::RemoteSide(const std::string &dsn, const std::string &what) : conn_(dsn, what)
{
    std::string info = pg::peer_info_json(conn_);
    nlohmann::json peer;
    try {
        peer = nlohmann::json::parse(info);
    } catch (const std::exception &) {
        bad_reply(description(), "peer_info is not JSON");
    }
    if (!peer.contains("extension_version") || peer["extension_version"].is_null())
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "the pymigrate extension is not installed in the database of " + description(),
                    "Validation computes the remote side's digest inside that server.",
                    "Run CREATE EXTENSION pymigrate in that database.");
    pq::Result v = conn_.exec("SELECT pymigrate._encoding_version()");
    int version = std::stoi(std::string(v.value(0, 0)));
    if (version != enc::kFormatVersion)
        throw Error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "the pymigrate extension of " + description() + " hashes rows with encoding version " +
                        std::to_string(version) + ", this server with version " + std::to_string(enc::kFormatVersion),
                    "Both sides must compute the same row hashes.",
                    "Install the same pymigrate version on both servers.");
    // Keys and values travel as text: fix the settings their text forms
    // depend on, whatever the remote role's defaults are.
    conn_.exec("SET datestyle = 'ISO, YMD'; SET intervalstyle = 'postgres'; SET extra_float_digits = 3; "
               "SET application_name = 'pymigrate validate'");
}

RemoteSide::~RemoteSide()
{
    if (busy_ && conn_.get()) {
        if (PGcancel *cancel = PQgetCancel(conn_.get())) {
            char buf[256];
            PQcancel(cancel, buf, sizeof(buf));
            PQfreeCancel(cancel);
        }
    }
}

void
RemoteSide::send(const std::string &sql, const std::vector<std::optional<std::string>> &params, int binary_param)
{
    if (busy_)
        throw Error(ERRCODE_INTERNAL_ERROR, "pymigrate: a remote request is already in flight");
    std::vector<const char *> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (size_t i = 0; i < params.size(); ++i) {
        values.push_back(params[i] ? params[i]->data() : nullptr);
        lengths.push_back(params[i] ? static_cast<int>(params[i]->size()) : 0);
        formats.push_back(static_cast<int>(i) == binary_param ? 1 : 0);
    }
    if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                           lengths.data(), formats.data(), 1))
        conn_.raise(nullptr, "sending a query");
    conn_.flush();
    busy_ = true;
}

pq::Result
RemoteSide::finish(const char *doing)
{
    busy_ = false;
    return conn_.finish_command(doing);
}

std::optional<std::string>
RemoteSide::begin_snapshot()
{
    conn_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    in_transaction_ = true;
    // The snapshot of a REPEATABLE READ transaction is taken by its first
    // query, before the query reads the WAL position.
    pq::Result r = conn_.exec(kWalPositionSql);
    if (r.rows() != 1 || r.is_null(0, 0))
        return std::nullopt;
    return std::string(r.value(0, 0));
}

void
RemoteSide::end_snapshot()
{
    if (in_transaction_) {
        in_transaction_ = false;
        conn_.exec("COMMIT");
    }
}

bool
RemoteSide::table_exists(const std::string &name)
{
    pq::Result r = conn_.exec("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {name});
    return r.value(0, 0) == "t";
}

RemoteTableInfo
RemoteSide::table_info(const RemoteTable &t)
{
    pq::Result r = conn_.exec("SELECT pymigrate._table_info($1::regclass, $2::text[], $3::text[]) ->> 'estimated_rows'",
                              {t.name, pq::array_literal(t.columns), pq::array_literal(t.key)});
    RemoteTableInfo info;
    info.estimated_rows = std::stod(std::string(r.value(0, 0)));
    return info;
}

void
RemoteSide::send_digest(const RemoteTable &t, uint32_t buckets, std::optional<int> parallel)
{
    send("SELECT pymigrate._digest_packed($1::regclass, $2::text[], $3::text[], $4::int, $5::int)",
         {t.name, pq::array_literal(t.columns), pq::array_literal(t.key), std::to_string(buckets),
          parallel ? std::optional<std::string>(std::to_string(*parallel)) : std::nullopt});
}

std::vector<enc::BucketDigest>
RemoteSide::finish_digest(uint32_t buckets)
{
    pq::Result r = finish("computing the table digest");
    if (r.rows() != 1 || r.is_null(0, 0))
        bad_reply(description(), "no digest");
    std::string_view bytes = cell(r, 0, 0);
    auto *p = reinterpret_cast<const uint8_t *>(bytes.data());
    if (bytes.size() != enc::kPackedDigestHeader + enc::kPackedBucket * static_cast<size_t>(buckets) ||
        enc::load_u32(p) != static_cast<uint32_t>(enc::kFormatVersion) || enc::load_u32(p + 4) != buckets)
        bad_reply(description(), "a digest of the wrong size or version");
    std::vector<enc::BucketDigest> out(buckets);
    p += enc::kPackedDigestHeader;
    for (auto &d : out) {
        d.count = enc::load_u64(p);
        d.sum = enc::load_u64(p + 8);
        d.xor_ = enc::load_u64(p + 16);
        p += enc::kPackedBucket;
    }
    return out;
}

void
RemoteSide::send_bucket_rows(const RemoteTable &t, uint32_t buckets, const std::vector<int32_t> &which)
{
    std::string list = "{";
    for (size_t i = 0; i < which.size(); ++i)
        list += (i ? "," : "") + std::to_string(which[i]);
    list += "}";
    send("SELECT pymigrate._bucket_rows_packed($1::regclass, $2::text[], $3::text[], $4::int, $5::int[])",
         {t.name, pq::array_literal(t.columns), pq::array_literal(t.key), std::to_string(buckets), list});
}

std::vector<RowRef>
RemoteSide::finish_bucket_rows()
{
    pq::Result r = finish("reading the rows of differing buckets");
    if (r.rows() != 1 || r.is_null(0, 0))
        bad_reply(description(), "no bucket rows");
    std::string_view bytes = cell(r, 0, 0);
    std::vector<RowRef> out;
    if (!unpack_row_refs(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), out))
        bad_reply(description(), "bucket rows of the wrong size");
    return out;
}

namespace {

constexpr const char *kRowColumns =
    "ordinal, key::text, key_enc, row_hash, image::text, pg_catalog.array_to_json(vals)::text, row_xmin";

} // namespace

void
RemoteSide::send_rows_at(const RemoteTable &t, const std::vector<RowRef> &refs, bool with_image)
{
    std::string packed;
    pack_row_refs(refs, packed);
    send(std::string("SELECT ") + kRowColumns +
             " FROM pymigrate._rows_at($1::regclass, $2::text[], $3::text[], $4::bytea, $5::boolean)",
         {t.name, pq::array_literal(t.columns), pq::array_literal(t.key), packed, with_image ? "t" : "f"}, 3);
}

void
RemoteSide::send_rows_by_key(const RemoteTable &t, const std::vector<std::string> &keys, bool with_image,
                             bool with_values)
{
    std::string array = "[";
    for (size_t i = 0; i < keys.size(); ++i)
        array += (i ? "," : "") + keys[i];
    array += "]";
    send(std::string("SELECT ") + kRowColumns +
             " FROM pymigrate._rows_by_key($1::regclass, $2::text[], $3::text[], $4::jsonb, $5::boolean, $6::boolean)",
         {t.name, pq::array_literal(t.columns), pq::array_literal(t.key), array, with_image ? "t" : "f",
          with_values ? "t" : "f"});
}

std::vector<KeyedRow>
RemoteSide::finish_rows()
{
    pq::Result r = finish("reading rows");
    std::vector<KeyedRow> out;
    for (int i = 0; i < r.rows(); ++i) {
        KeyedRow k;
        expect_width(r, i, 0, 4, description());
        expect_width(r, i, 3, 8, description());
        expect_width(r, i, 6, 4, description());
        k.index = static_cast<size_t>(static_cast<int32_t>(be32(cell(r, i, 0).data()))) - 1;
        k.row.key_json = std::string(cell(r, i, 1));
        k.row.key_enc = std::string(cell(r, i, 2));
        k.row.row_hash = be64(cell(r, i, 3).data());
        k.row.xmin = be32(cell(r, i, 6).data());
        if (!r.is_null(i, 4))
            k.row.image = std::string(cell(r, i, 4));
        if (!r.is_null(i, 5)) {
            try {
                for (const auto &v : nlohmann::json::parse(cell(r, i, 5)))
                    k.values.push_back(v.is_null() ? std::nullopt : std::optional<std::string>(v.get<std::string>()));
            } catch (const nlohmann::json::exception &) {
                bad_reply(description(), "row values that are not a JSON array of strings");
            }
        }
        out.push_back(std::move(k));
    }
    return out;
}

void
RemoteSide::open_merge(const RemoteTable &t)
{
    auto lit = [this](const std::string &s) {
        char *q = PQescapeLiteral(conn_.get(), s.data(), s.size());
        if (!q)
            conn_.raise(nullptr, "quoting a literal");
        std::string out(q);
        PQfreemem(q);
        return out;
    };
    conn_.exec("DECLARE pymigrate_merge NO SCROLL CURSOR FOR SELECT key_hash, row_hash, rel, tid FROM "
               "pymigrate._row_refs(" +
               lit(t.name) + "::regclass, " + lit(pq::array_literal(t.columns)) + "::text[], " +
               lit(pq::array_literal(t.key)) + "::text[]) ORDER BY key_hash");
}

void
RemoteSide::send_merge_fetch(int rows)
{
    send("FETCH " + std::to_string(rows) + " FROM pymigrate_merge", {});
}

std::vector<RowRef>
RemoteSide::finish_merge_fetch()
{
    pq::Result r = finish("reading the sorted row hashes");
    std::vector<RowRef> out;
    out.reserve(r.rows());
    for (int i = 0; i < r.rows(); ++i) {
        expect_width(r, i, 0, 8, description());
        expect_width(r, i, 1, 8, description());
        expect_width(r, i, 2, 4, description());
        expect_width(r, i, 3, 6, description());
        const char *tid = cell(r, i, 3).data();
        out.push_back(RowRef{be64(cell(r, i, 0).data()), be64(cell(r, i, 1).data()), be32(cell(r, i, 2).data()),
                             be32(tid), be16(tid + 4)});
    }
    return out;
}

void
RemoteSide::close_merge()
{
    conn_.exec("CLOSE pymigrate_merge");
}

pq::Result
RemoteSide::query(const std::string &sql, const std::vector<pq::Param> &params)
{
    return conn_.exec(sql, params);
}

std::string
RemoteSide::canonical_name(const std::string &table)
{
    return std::string(conn_
                           .exec("SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) "
                                 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE c.oid = $1::regclass",
                                 {table})
                           .value(0, 0));
}

void
RemoteSide::column_flags(const std::string &table, std::vector<std::string> &generated,
                         std::vector<std::string> &identity_always)
{
    pq::Result r = conn_.exec("SELECT attname, attgenerated <> '', attidentity = 'a' FROM pg_catalog.pg_attribute "
                              "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                              {table});
    for (int i = 0; i < r.rows(); ++i) {
        if (r.value(i, 1) == "t")
            generated.emplace_back(r.value(i, 0));
        if (r.value(i, 2) == "t")
            identity_always.emplace_back(r.value(i, 0));
    }
}

void
RemoteSide::apply(const std::vector<std::string> &statements)
{
    conn_.exec("BEGIN");
    try {
        for (const auto &s : statements)
            conn_.exec(s);
        conn_.exec("COMMIT");
    } catch (...) {
        try {
            conn_.exec("ROLLBACK");
        } catch (...) {
            // The connection is gone: the server rolls back by itself.
        }
        throw;
    }
}

} // namespace pymigrate::validate
