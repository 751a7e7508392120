#include "test/unit/analyzer/test_files.hpp"

#include <sstream>

#include "test/harness/datasets.hpp"

namespace pymigrate::analyzer::testing
{
std::string
sample_ddl()
{
    std::stringstream ss;
    for (const char *f : {"schema.sql", "constraints.sql"})
        ss << std::ifstream(pymigrate::testing::source_dir() / "sample" / f).rdbuf() << "\n";
    return ss.str();
}
} // namespace pymigrate::analyzer::testing
