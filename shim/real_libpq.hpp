// The real libpq's entry points, found with dlsym(RTLD_NEXT) once.
//
// Everything the shim does with libpq (its own service and control
// connections, and forwarding the application's calls) goes through this
// table, never through the exported names, which resolve to the shim itself.
#pragma once

#include <libpq-fe.h>

#define PYMIGRATE_LIBPQ_FUNCTIONS(X)                                                                                   \
    X(PQconnectdb)                                                                                                     \
    X(PQconnectdbParams)                                                                                               \
    X(PQsetdbLogin)                                                                                                    \
    X(PQconnectStart)                                                                                                  \
    X(PQconnectStartParams)                                                                                            \
    X(PQconnectPoll)                                                                                                   \
    X(PQfinish)                                                                                                        \
    X(PQreset)                                                                                                         \
    X(PQresetStart)                                                                                                    \
    X(PQstatus)                                                                                                        \
    X(PQdb)                                                                                                            \
    X(PQparameterStatus)                                                                                               \
    X(PQtransactionStatus)                                                                                             \
    X(PQerrorMessage)                                                                                                  \
    X(PQsocket)                                                                                                        \
    X(PQexec)                                                                                                          \
    X(PQexecParams)                                                                                                    \
    X(PQprepare)                                                                                                       \
    X(PQexecPrepared)                                                                                                  \
    X(PQdescribePrepared)                                                                                              \
    X(PQdescribePortal)                                                                                                \
    X(PQsendQuery)                                                                                                     \
    X(PQsendQueryParams)                                                                                               \
    X(PQsendPrepare)                                                                                                   \
    X(PQsendQueryPrepared)                                                                                             \
    X(PQsendDescribePrepared)                                                                                          \
    X(PQsendDescribePortal)                                                                                            \
    X(PQgetResult)                                                                                                     \
    X(PQconsumeInput)                                                                                                  \
    X(PQisBusy)                                                                                                        \
    X(PQflush)                                                                                                         \
    X(PQsetnonblocking)                                                                                                \
    X(PQisnonblocking)                                                                                                 \
    X(PQsetSingleRowMode)                                                                                              \
    X(PQnotifies)                                                                                                      \
    X(PQputCopyData)                                                                                                   \
    X(PQputCopyEnd)                                                                                                    \
    X(PQgetCopyData)                                                                                                   \
    X(PQgetline)                                                                                                       \
    X(PQgetlineAsync)                                                                                                  \
    X(PQputline)                                                                                                       \
    X(PQputnbytes)                                                                                                     \
    X(PQendcopy)                                                                                                       \
    X(PQenterPipelineMode)                                                                                             \
    X(PQexitPipelineMode)                                                                                              \
    X(PQpipelineStatus)                                                                                                \
    X(PQsetNoticeReceiver)                                                                                             \
    X(PQsetNoticeProcessor)                                                                                            \
    X(PQgetCancel)                                                                                                     \
    X(PQfreeCancel)                                                                                                    \
    X(PQcancel)                                                                                                        \
    X(PQrequestCancel)                                                                                                 \
    X(PQresultStatus)                                                                                                  \
    X(PQresultErrorField)                                                                                              \
    X(PQresultErrorMessage)                                                                                            \
    X(PQgetvalue)                                                                                                      \
    X(PQgetisnull)                                                                                                     \
    X(PQntuples)                                                                                                       \
    X(PQclear)                                                                                                         \
    X(PQfreemem)                                                                                                       \
    X(PQmakeEmptyPGresult)

namespace pymigrate::shim
{

struct RealLibpq {
#define PYMIGRATE_DECLARE(name) decltype(&::name) name = nullptr;
    PYMIGRATE_LIBPQ_FUNCTIONS(PYMIGRATE_DECLARE)
#undef PYMIGRATE_DECLARE
};

// The table, loaded on first use (and by the library's constructor). If the
// real libpq cannot be found (a process that does not use it), the entries
// stay null and nothing calls them.
const RealLibpq &real() noexcept;

} // namespace pymigrate::shim
