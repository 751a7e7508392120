// C++ exceptions that cross the boundary back into PostgreSQL (guard.hpp).
#pragma once

#include <stdexcept>
#include <string>

#include "pg/pg_fwd.hpp"

namespace pymigrate::pg {

// An error pymigrate raises itself: what was wrong, with which input.
// `sqlstate` is a PostgreSQL error code (ERRCODE_* from utils/errcodes.h).
class Error : public std::runtime_error {
  public:
    Error(int sqlstate, const std::string &message, std::string detail = {}, std::string hint = {})
        : std::runtime_error(message), sqlstate_(sqlstate), detail_(std::move(detail)), hint_(std::move(hint))
    {
    }
    int sqlstate() const noexcept { return sqlstate_; }
    const std::string &detail() const noexcept { return detail_; }
    const std::string &hint() const noexcept { return hint_; }

  private:
    int sqlstate_;
    std::string detail_;
    std::string hint_;
};

// An ERROR that PostgreSQL raised inside pg_call(), turned into a C++
// exception so that destructors run. The fields are owned here (not by a
// memory context that unwinding might reset) and are raised again, SQLSTATE
// and all, by the boundary. A PgError must reach the boundary, or the
// transaction must be aborted: the state PostgreSQL left behind is only
// cleaned up by (sub)transaction abort.
class PgError : public Error {
  public:
    PgError(int sqlstate, const std::string &message, std::string detail, std::string hint, std::string context)
        : Error(sqlstate, message, std::move(detail), std::move(hint)), context_(std::move(context))
    {
    }
    const std::string &context() const noexcept { return context_; }

  private:
    std::string context_;
};

} // namespace pymigrate::pg
