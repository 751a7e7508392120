/*
 * libpymigrate: the functions the shim adds to libpq, for applications that
 * link it (gcc app.c -lpymigrate -lpq) or find them with dlsym when it is
 * preloaded. Every function is safe to call on a connection the shim does not
 * route (it returns -1 or NULL).
 */
#ifndef PYMIGRATE_SHIM_H
#define PYMIGRATE_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pg_conn PGconn;

/*
 * The routing key of this connection's following statements (a user, a
 * tenant ...), until changed; NULL or "" clears it. A sqlcommenter tag in a
 * statement (route_key='...') takes precedence. Without either, each
 * connection has a random key of its own. 0 on success, -1 when the
 * connection is not routed.
 */
int pymigrate_set_route_key(PGconn *conn, const char *key);

/*
 * Where the connection's last statement ran: "monolith" or the service's
 * name. NULL when the connection is not routed. Valid until the next call
 * on the connection.
 */
const char *pymigrate_last_backend(PGconn *conn);

/* The version of the routes in use, or -1 (none loaded, or no routing configured). */
long long pymigrate_route_version(void);

#ifdef __cplusplus
}
#endif

#endif
