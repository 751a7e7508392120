// What the shim keeps per application connection (the PGconn the
// application holds is the monolith's; the service connections are the
// shim's own, made lazily per service).
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "router/classify.hpp"
#include "router/route_table.hpp"
#include "shim/service_stats.hpp"

namespace pymigrate::shim
{

struct RealLibpq;

// One request as the application sent it, copied (the application's buffers
// only live for the call) so it can be sent again on the monolith when the
// service fails before answering.
struct Request {
    enum class Kind : uint8_t { Query, Params, Prepared };
    Kind kind = Kind::Query;
    std::string text; // query text, or the statement name for Prepared
    int nparams = 0;
    std::vector<Oid> types;
    std::vector<std::string> values;
    std::vector<char> nulls;
    std::vector<int> lengths, formats;
    int result_format = 0;
    bool single_row = false;

    static Request query(const char *q);
    static Request params(const char *q, int n, const Oid *types, const char *const *values, const int *lengths,
                          const int *formats, int result_format);
    static Request prepared(const char *name, int n, const char *const *values, const int *lengths, const int *formats,
                            int result_format);
    [[nodiscard]] int send(PGconn *conn) const;
};

struct PreparedStatement {
    std::string text;
    int nparams = 0;
    std::vector<Oid> types;
    std::shared_ptr<const router::Classification> cls; // null until first needed
    std::string route_key;                             // from its sqlcommenter tag
};

// Where PQcancel sends the cancel request: the service connection while a
// statement runs there, else the monolith. Read from signal handlers, so
// only atomics on that path; cancel objects are freed with the last owner.
struct CancelShared {
    std::atomic<PGcancel *> service{nullptr};
    std::mutex mutex;
    std::vector<PGcancel *> owned;
    ~CancelShared();
    void own(PGcancel *c);
};

struct ServiceBackend {
    std::string service;
    std::string dsn;
    uint64_t epoch = 0;
    ServiceStats *stats = nullptr;
    PGconn *conn = nullptr;
    PGcancel *cancel = nullptr;
    std::unordered_set<std::string> prepared; // statement names prepared on this connection
    size_t sets_applied = 0;                  // session SETs replayed here
};

// The statement in flight (sent, results not all read).
struct Op {
    bool active = false;
    ServiceBackend *svc = nullptr; // null: the monolith
    ServiceStats *stats = nullptr; // the service the route chose, if any (counted even after a fallback)
    bool retryable = false;        // not inside a transaction already on the service
    bool pinning = false;          // the statement that moved a fresh transaction to the service
    bool write = false;
    bool failed = false; // an error result reached the application
    bool error_counted = false;
    bool lost = false;     // the service session ended under it
    bool was_idle = false; // the monolith was outside a transaction when it was sent
    int delivered = 0;     // results handed to the application
    int64_t start_ns = 0;  // sent to a service: when (its latency is counted)
    std::shared_ptr<const router::Classification> cls;
    PGresult *held = nullptr; // the service's error, read early, for the next PQgetResult
    std::string text;         // Begin / SessionSet text, recorded after success
    Request req;              // service statements only
};

struct ConnState {
    explicit ConnState(PGconn *c);
    PGconn *app;
    uint64_t conn_key;   // one random routing key per connection
    std::string api_key; // pymigrate_set_route_key()
    std::vector<std::unique_ptr<ServiceBackend>> backends;
    ServiceBackend *pinned_svc = nullptr; // an explicit transaction running on a service
    bool txn_fresh = false;               // the monolith ran BEGIN and nothing since
    std::string begin_text;
    Op op;
    ServiceBackend *last = nullptr; // whose PQerrorMessage the application sees (null: monolith)
    std::unordered_map<std::string, PreparedStatement> prepared;
    std::vector<std::string> session_sets;
    bool pipeline = false;
    int nonblocking = 0;
    PQnoticeReceiver notice_receiver = nullptr;
    void *notice_receiver_arg = nullptr;
    PQnoticeProcessor notice_processor = nullptr;
    void *notice_processor_arg = nullptr;
    std::shared_ptr<CancelShared> cancel = std::make_shared<CancelShared>();
    // The routes this connection decides with, refreshed when the control
    // plane's generation moves.
    uint64_t routes_generation = ~uint64_t{0};
    std::shared_ptr<const router::RouteTable> routes;
    // Per rule of `routes`, what each statement routed by it needs, looked
    // up once per route change rather than per statement.
    struct RuleState {
        ServiceStats *stats;
        std::string dsn; // PYMIGRATE_SERVICE_DSN_<SERVICE>, else the route's
    };
    std::vector<RuleState> by_rule;
    bool passthrough = false; // routing gave up on this connection (an internal error): libpq only
};

// The registry of routed application connections.
ConnState *lookup(PGconn *conn) noexcept;
void register_connection(PGconn *conn);
void forget_connection(PGconn *conn) noexcept; // closes its service connections
size_t registered_connections() noexcept;

} // namespace pymigrate::shim
