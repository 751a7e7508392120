// The FastAPI project of a service: a router and pydantic models per table,
// a psycopg 3 pool, settings from the environment, and its own pytest tests.
// Runs with Debian 12's python3-fastapi 0.92 / pydantic 1.10.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "analyzer/api/service_api.hpp"

namespace pymigrate::analyzer::api
{

// Path (relative to the project) -> content, for every file of the project.
using ProjectFiles = std::map<std::string, std::string>;

ProjectFiles fastapi_project(const ServiceApi &api, const std::string &openapi_json);

// The generated tests (tests/conftest.py, tests/test_<table>.py).
void add_python_tests(const ServiceApi &api, ProjectFiles &files);

// The static modules (query.py, crud.py, ...) embedded at build time.
const std::map<std::string, std::string> &fastapi_templates();

} // namespace pymigrate::analyzer::api
