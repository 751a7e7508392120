// Background work of the extension: one supervisor, one manager per
// database, and the workers that features start from their manager.
//
//   supervisor  static bgworker (needs shared_preload_libraries), connected to
//               no database: keeps one manager running per database that has
//               the extension, restarting a failed one with backoff.
//   manager     "pymigrate manager" in one database: calls every registered
//               task's tick (sync starts its apply workers there, validation
//               runs its schedules), sleeps until the earliest next tick or a
//               wake-up, and exits when the extension is dropped.
//   workers     dynamic bgworkers started with start_worker() and declared
//               with PYMIGRATE_WORKER, connected to the starter's database.
//
// The layout follows pglogical's supervisor/manager/worker split. DROP
// DATABASE of a database we are connected to stops our processes there first
// (a utility hook), so that our workers never block it.
#pragma once

#include <cstdint>
#include <string>

#include "pg/pg_fwd.hpp"

extern "C" {
struct BackgroundWorkerHandle;
}

namespace pymigrate::worker {

// A feature's periodic work in each database's manager. `tick` runs outside
// any transaction (use in_transaction() for catalog access) inside the error
// boundary; an error is logged with the task's name and the task is called
// again after a back-off, the manager goes on. Returns the milliseconds until
// it wants to run again (it also runs at every wake-up).
struct Task {
    const char *name;
    long (*tick)();
};

// From _PG_init (every process that loads the library runs it), at most 16.
void register_task(const Task &task);

// Runs `body` in a transaction with a snapshot (SPI usable), then commits.
// For manager ticks and worker bodies, which start outside a transaction.
template <typename F> void in_transaction(F &&body);

// What start_worker() starts.
struct WorkerSpec {
    std::string name;     // bgw_name: shown in pg_stat_activity.backend_type's row
    std::string type;     // bgw_type, e.g. "pymigrate apply"
    std::string function; // an entry point declared with PYMIGRATE_WORKER
    int64_t arg = 0;      // passed to the body
    std::string extra;    // up to 120 bytes passed to the body
};

// A dynamic worker started from this process. Only the starting process can
// ask a handle about its worker (PostgreSQL's rule); the handle lives in
// TopMemoryContext until release().
class WorkerHandle {
  public:
    WorkerHandle() = default;
    explicit WorkerHandle(BackgroundWorkerHandle *h) : handle_(h) {}
    bool valid() const noexcept { return handle_ != nullptr; }
    // The worker's pid; 0 when not started yet; -1 when it has stopped (or
    // never could start).
    int pid() const;
    void terminate() const;
    void release();

  private:
    BackgroundWorkerHandle *handle_ = nullptr;
};

// Starts a worker in the current database, to be notified (latch set) to
// this process when it starts and stops. Throws pg::Error with a hint to
// raise max_worker_processes when no slot is free.
WorkerHandle start_worker(const WorkerSpec &spec);

// Sets the latch of the manager of `database` (this database by default):
// it runs its ticks now instead of at their next time.
void wake_manager(Oid database = 0);
// The same, once the current transaction commits (so the manager sees what
// the transaction wrote); also asks the supervisor to start a manager for
// this database if there is none (CREATE EXTENSION calls this).
void wake_manager_at_commit();

// Inside a worker body: true once SIGTERM asked it to stop. Bodies that
// loop check it (or CHECK_FOR_INTERRUPTS, which exits) at each iteration.
bool stop_requested();

// Waits on the process latch up to `timeout_ms` (and on `socket` when >= 0,
// for `socket_events` WL_SOCKET_*), resets it, handles interrupts and
// configuration reloads. Returns the WaitLatchOrSocket result bits.
int wait_latch(long timeout_ms, int socket = -1, int socket_events = 0);

// What wait_latch does without waiting: handles interrupts and
// configuration reloads (the latch stays set for the next wait). For a loop
// that has work at hand: a zero-timeout wait costs an epoll set's creation
// each time (five system calls).
void handle_interrupts();

// Library entry points, registered in _PG_init.
void init();

namespace detail {
// Called by PYMIGRATE_WORKER before the body: signals, database connection.
void worker_prologue();
// The extra bytes given to start_worker().
std::string worker_extra();
void start_transaction();
void commit_transaction();
} // namespace detail

template <typename F>
void
in_transaction(F &&body)
{
    detail::start_transaction();
    body();
    detail::commit_transaction();
}

} // namespace pymigrate::worker

// Declares the entry point of a dynamic worker: runs in the database of the
// process that started it, body in the error boundary (an exception ends the
// worker with an ERROR in the log, naming it). Write the body after the macro:
//
//     PYMIGRATE_WORKER(pymigrate_apply_main)
//     {
//         ... uses `arg` (int64_t) and worker::detail::worker_extra() ...
//     }
#define PYMIGRATE_WORKER(name)                                                                                         \
    static void name##_body(int64_t arg);                                                                              \
    extern "C" PGDLLEXPORT void name(Datum main_arg);                                                                  \
    extern "C" void name(Datum main_arg)                                                                               \
    {                                                                                                                  \
        pymigrate::worker::detail::worker_prologue();                                                                  \
        pymigrate::pg::boundary(#name, [main_arg] { name##_body(static_cast<int64_t>(main_arg)); });                  \
    }                                                                                                                  \
    static void name##_body(int64_t arg)
