// Temporary files for the analyzer's tests, removed with the test.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace pymigrate::analyzer::testing
{

class TempFile
{
  public:
    TempFile(const std::string &suffix, const std::string &content)
    {
        path_ = std::filesystem::temp_directory_path() /
                ("pymigrate-test-" + std::to_string(getpid()) + "-" + std::to_string(counter()++) + suffix);
        std::ofstream(path_) << content;
    }
    ~TempFile() { std::filesystem::remove_all(path_); }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
    std::string
    path() const
    {
        return path_.string();
    }

  private:
    static int &
    counter()
    {
        static int n = 0;
        return n;
    }
    std::filesystem::path path_;
};

// The sample monolith's schema as one DDL text (schema.sql + constraints.sql).
std::string sample_ddl();

} // namespace pymigrate::analyzer::testing
