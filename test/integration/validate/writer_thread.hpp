// A writer thread for the live-system tests: runs a body until stop(),
// counts its writes and keeps the error that ended it, if any. A derived
// class whose members the body uses calls stop() in its own destructor.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <string>
#include <thread>

namespace pymigrate::testing {

class WriterThread {
  public:
    WriterThread() = default;
    WriterThread(const WriterThread &) = delete;
    WriterThread &operator=(const WriterThread &) = delete;
    ~WriterThread() { stop(); }
    void stop()
    {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
    }
    int writes() const { return writes_; }
    const std::string &error() const { return error_; }

  protected:
    // Runs `body` on the thread; it loops until stopping() and calls wrote()
    // for each write.
    void start(std::function<void()> body)
    {
        thread_ = std::thread([this, body = std::move(body)] {
            try {
                body();
            } catch (const std::exception &e) {
                error_ = e.what();
            }
        });
    }
    bool stopping() const { return stop_; }
    void wrote() { ++writes_; }

  private:
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> writes_{0};
    std::string error_;
};

} // namespace pymigrate::testing
