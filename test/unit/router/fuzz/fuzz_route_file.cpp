// libFuzzer: the route file parser (also what the shim reads from the control
// plane and NOTIFY). Must never crash, leak or hang, and whatever it accepts
// must survive a round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "router/route_json.hpp"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    std::string error;
    auto table = pymigrate::router::parse_route_document(text, error);
    if (!table) {
        if (error.empty())
            std::abort(); // a refusal always says why
        return 0;
    }
    std::string again = pymigrate::router::to_json(*table).dump();
    auto second = pymigrate::router::parse_route_document(again, error);
    if (!second || pymigrate::router::to_json(*second) != pymigrate::router::to_json(*table))
        std::abort();
    for (const auto &rule : table->rules())
        for (const auto &t : rule.tables)
            if (table->owner(t) < 0)
                std::abort();
    return 0;
}
