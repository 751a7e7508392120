// pymigrate.peer_info(dsn): what another server offers pymigrate, asked
// from inside this one. Sync and validation check a peer with it before
// they start, so that a missing extension or a wrong wal_level is reported
// up front, by name, instead of as a failure halfway through.
#include "peer_info.hpp"

#include "pg/guard.hpp"
#include "pg/remote.hpp"

extern "C" {
#include "utils/jsonb.h"
}

std::string
pymigrate::pg::peer_info_json(RemoteConnection &peer)
{
    pymigrate::pq::Result r = peer.exec(
        "SELECT pg_catalog.jsonb_build_object("
        " 'server_version', pg_catalog.current_setting('server_version'),"
        " 'server_version_num', pg_catalog.current_setting('server_version_num')::int,"
        " 'database', pg_catalog.current_database(),"
        " 'extension_version', (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pymigrate'),"
        " 'preloaded', pg_catalog.current_setting('shared_preload_libraries') ~ '(^|[ ,])pymigrate($|[ ,])',"
        " 'wal_level', pg_catalog.current_setting('wal_level'),"
        " 'track_commit_timestamp', pg_catalog.current_setting('track_commit_timestamp') = 'on',"
        " 'is_superuser', (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),"
        " 'in_recovery', pg_catalog.pg_is_in_recovery())::text");
    return std::string(r.value(0, 0));
}

PYMIGRATE_FUNCTION(pymigrate_peer_info)
{
    std::string dsn = text_to_cstring(PG_GETARG_TEXT_PP(0));
    pymigrate::pg::RemoteConnection peer(dsn, "peer");
    std::string json = pymigrate::pg::peer_info_json(peer);
    return pymigrate::pg::pg_call(
        [&json] { return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
}
