// libFuzzer: the sqlcommenter tag parser and the statement scanner that finds
// the tag in the shim's hot path (both see every statement an application
// sends). Must never crash or read out of bounds; a value it returns is
// within the size limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "router/sql_scan.hpp"
#include "router/sqlcommenter.hpp"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    std::vector<std::pair<std::string, std::string>> pairs;
    (void)pymigrate::router::parse_sqlcommenter(text, pairs);
    for (const auto &[k, v] : pairs)
        if (k.empty() || v.size() > pymigrate::router::kMaxTagValue)
            std::abort();
    std::string shape;
    auto scan = pymigrate::router::scan_statement(text, shape);
    if (!scan.route_comment.empty()) {
        // The comment lies within the text it came from.
        if (scan.route_comment.data() < text.data() ||
            scan.route_comment.data() + scan.route_comment.size() > text.data() + text.size())
            std::abort();
        std::string value;
        (void)pymigrate::router::sqlcommenter_value(scan.route_comment, "route_key", value);
    }
    if (shape.size() > 2 * size + 1)
        std::abort(); // the shape never grows beyond the text
    return 0;
}
