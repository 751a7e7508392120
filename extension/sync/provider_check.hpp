// Checks that a provider can serve a subscription, so that a wrong setup is
// reported by name (create_subscription up front, the apply worker at every
// start) instead of as an obscure failure halfway through.
#pragma once

#include <string>
#include <vector>

#include "pg/remote.hpp"
#include "sync/catalog.hpp"

namespace pymigrate::sync {

struct ProviderFacts {
    bool superuser = false;
    // Debian's PostgreSQL 15.20+ only lets listed libraries act as output
    // plugins; empty when the server has no such setting.
    std::string plugin_libraries;
    bool plugin_listed = true;
};

// Throws pg::Error (object_not_in_prerequisite_state, undefined_table, ...)
// when the provider cannot serve `tables`: not reachable, a standby,
// wal_level below logical, no pymigrate extension, the plugin not allowed
// for a non-superuser, a table missing or not an ordinary table.
// With `logical` false (trigger capture), wal_level and the output plugin
// do not matter.
ProviderFacts check_provider(pg::RemoteConnection &conn, const std::vector<SubscribedTable> &tables,
                             bool logical = true);

// When the provider's output_plugin_libraries does not list pymigrate and we
// connect as a superuser, allows it for this session only (SET).
void allow_plugin_for_session(pg::RemoteConnection &conn, const ProviderFacts &facts);

} // namespace pymigrate::sync
