// The other server of a validation, over libpq (pg/remote.hpp: every wait is
// on the latch, so a cancel interrupts it and cancels the remote query).
// Requests are sent first and collected later, so the remote server works
// while this one scans its own side.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/row_encoding.hpp"
#include "pg/remote.hpp"
#include "validate/classify.hpp"
#include "validate/row_fetch.hpp"

namespace pymigrate::validate {

// A table on the remote side, as the mapping names it.
struct RemoteTable {
    std::string name; // regclass input syntax
    std::vector<std::string> key;
    std::vector<std::string> columns;
};

struct RemoteTableInfo {
    double estimated_rows = 0;
};

class RemoteSide {
  public:
    // Connects, checks with peer_info that the server has the pymigrate
    // extension with the same row encoding, and fixes the session settings
    // that text forms depend on.
    RemoteSide(const std::string &dsn, const std::string &what);
    // Cancels a request still in flight (an error on this side interrupted
    // the run), so the remote server does not finish work nobody reads.
    ~RemoteSide();
    RemoteSide(const RemoteSide &) = delete;
    RemoteSide &operator=(const RemoteSide &) = delete;
    const std::string &description() const { return conn_.description(); }

    // A REPEATABLE READ, READ ONLY transaction whose snapshot is taken now;
    // returns the WAL position read right after it (sync_wait.hpp), nullopt
    // on a standby.
    std::optional<std::string> begin_snapshot();
    // Ends the transaction begin_snapshot() opened (if any).
    void end_snapshot();

    [[nodiscard]] bool table_exists(const std::string &name);
    RemoteTableInfo table_info(const RemoteTable &t);

    void send_digest(const RemoteTable &t, uint32_t buckets, std::optional<int> parallel);
    std::vector<rowenc::BucketDigest> finish_digest(uint32_t buckets);

    void send_bucket_rows(const RemoteTable &t, uint32_t buckets, const std::vector<int32_t> &which);
    std::vector<RowRef> finish_bucket_rows();

    void send_rows_at(const RemoteTable &t, const std::vector<RowRef> &refs, bool with_image);
    void send_rows_by_key(const RemoteTable &t, const std::vector<std::string> &keys, bool with_image,
                          bool with_values);
    std::vector<KeyedRow> finish_rows();

    // The sorted (key hash) stream of all rows, for the merge mode.
    void open_merge(const RemoteTable &t);
    void send_merge_fetch(int rows);
    std::vector<RowRef> finish_merge_fetch();
    void close_merge();

    // A small query (sync positions), in the open transaction if any.
    pq::Result query(const std::string &sql, const std::vector<pq::Param> &params = {});

    // The table's name as the remote server quotes it, and its columns that an
    // INSERT must not or cannot set: generated ones, and identity ALWAYS ones.
    std::string canonical_name(const std::string &table);
    void column_flags(const std::string &table, std::vector<std::string> &generated,
                      std::vector<std::string> &identity_always);

    // Statements in one transaction (reconcile); rolled back if one fails.
    void apply(const std::vector<std::string> &statements);

  private:
    void send(const std::string &sql, const std::vector<std::optional<std::string>> &params, int binary_param = -1);
    pq::Result finish(const char *doing);
    pg::RemoteConnection conn_;
    bool in_transaction_ = false;
    bool busy_ = false;
};

} // namespace pymigrate::validate
