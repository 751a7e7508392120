// libpq's handle types, declared without libpq-fe.h so public headers stay
// free of it (as libpqxx does).
#pragma once

extern "C" {
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
}
