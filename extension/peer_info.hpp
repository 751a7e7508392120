// What another server offers pymigrate (pymigrate.peer_info), for features
// that check a peer before they start.
#pragma once

#include <string>

namespace pymigrate::pg {
class RemoteConnection;

// The peer_info JSON object (server_version, extension_version, preloaded,
// wal_level, ...) of the server behind `peer`.
std::string peer_info_json(RemoteConnection &peer);
} // namespace pymigrate::pg
