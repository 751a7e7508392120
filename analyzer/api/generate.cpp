#include "analyzer/api/generate.hpp"

#include <fstream>

#include "analyzer/api/fastapi_project.hpp"
#include "analyzer/api/openapi.hpp"
#include "analyzer/api/service_ddl.hpp"

namespace fs = std::filesystem;

namespace pymigrate::analyzer::api
{
namespace
{

constexpr const char *kMarker = ".pymigrate-generated";

} // namespace

GenerateResult
generate_service(const Model &model, const std::vector<std::string> &tables, const std::string &service,
                 const fs::path &out, bool force)
{
    GenerateResult r;
    try {
        r.api = build_service_api(model, tables, service);
    } catch (const std::invalid_argument &e) {
        throw GenerateError(e.what());
    }
    if (r.api.tables.empty())
        throw GenerateError(
            "no table of " + service + " can get endpoints: " +
            (r.api.skipped.empty() ? std::string("none") : r.api.skipped[0].table + ": " + r.api.skipped[0].reason));
    std::error_code ec;
    if (fs::exists(out, ec) && !fs::is_empty(out, ec) && !fs::exists(out / kMarker) && !force)
        throw GenerateError(out.string() + " exists and was not written by pymigrate generate: choose another --out, "
                                           "or --force to write into it");
    auto doc = openapi_document(r.api);
    std::string json = doc.dump(2) + "\n";
    ProjectFiles files = fastapi_project(r.api, json);
    files["openapi.json"] = json;
    files["openapi.yaml"] = to_yaml(doc);
    files["schema.sql"] = service_ddl(r.api);
    files[kMarker] = "This directory was written by `pymigrate generate`; running it again overwrites it.\n";
    for (const auto &[rel, content] : files) {
        fs::path p = out / rel;
        fs::create_directories(p.parent_path(), ec);
        if (ec)
            throw GenerateError("cannot create " + p.parent_path().string() + ": " + ec.message());
        std::ofstream f(p, std::ios::binary | std::ios::trunc);
        f << content;
        if (!f.flush())
            throw GenerateError("cannot write " + p.string());
        if (rel != kMarker)
            r.files.push_back(rel);
    }
    return r;
}

} // namespace pymigrate::analyzer::api
