// The service database's schema: its tables as in the monolith (types,
// defaults, keys, CHECKs), enum types they use, and the foreign keys between
// its own tables. Foreign keys to other services are left out, listed in a comment.
#pragma once

#include <string>

#include "analyzer/api/service_api.hpp"

namespace pymigrate::analyzer::api
{

std::string service_ddl(const ServiceApi &api);

} // namespace pymigrate::analyzer::api
