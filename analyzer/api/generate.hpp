// `pymigrate generate`: a service's OpenAPI document (JSON and YAML), its
// database schema, and its FastAPI project, written into one directory.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "analyzer/api/service_api.hpp"

namespace pymigrate::analyzer::api
{

class GenerateError : public std::runtime_error
{
  public:
    using std::runtime_error::runtime_error;
};

struct GenerateResult {
    ServiceApi api;
    std::vector<std::string> files; // relative to the output directory
};

// Writes into `out` (created if needed). A non-empty directory that pymigrate
// did not generate is left alone unless `force`. Throws GenerateError.
GenerateResult generate_service(const Model &model, const std::vector<std::string> &tables, const std::string &service,
                                const std::filesystem::path &out, bool force);

} // namespace pymigrate::analyzer::api
