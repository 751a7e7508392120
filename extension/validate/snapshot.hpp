// Snapshots a validation reads this server in, held (registered) for as
// long as the object lives, and an interruptible sleep.
#pragma once

#include "validate/column_plan.hpp"

namespace pymigrate::validate {

class HeldSnapshot {
  public:
    // The transaction snapshot: a new one in READ COMMITTED, the
    // transaction's own in REPEATABLE READ and SERIALIZABLE.
    static HeldSnapshot transaction();
    // The newest committed state, whatever the isolation level (re-checks).
    static HeldSnapshot latest();
    ~HeldSnapshot();
    HeldSnapshot(HeldSnapshot &&other) noexcept : snapshot_(other.snapshot_) { other.snapshot_ = nullptr; }
    HeldSnapshot(const HeldSnapshot &) = delete;
    HeldSnapshot &operator=(const HeldSnapshot &) = delete;
    Snapshot get() const { return snapshot_; }

  private:
    explicit HeldSnapshot(Snapshot s) : snapshot_(s) {}
    Snapshot snapshot_;
};

// Sleeps on the latch; a cancel or terminate interrupts it with an error.
void sleep_interruptibly(double seconds);

} // namespace pymigrate::validate
