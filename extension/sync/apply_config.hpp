// Hands a subscription's configuration to the apply code: per table the
// route (local and provider names, column mapping, conflict rules) for
// apply_relmap.hpp, and the node names for conflict.hpp.
#pragma once

#include <cstdint>

#include "sync/catalog.hpp"

namespace pymigrate::sync {

// `remote_sysid`: the provider's system identifier (ties between equal node
// names); `reader`: how the provider knows what this subscription reads of
// it, named in the applied markers (causal.hpp): the slot, or for trigger
// capture "capture:<provider database oid>". Throws pg::Error naming what
// is wrong in the stored options (or a resolver that no longer exists).
// Call inside a transaction.
void configure_apply(const Subscription &sub, uint64_t remote_sysid, const std::string &reader);

} // namespace pymigrate::sync
