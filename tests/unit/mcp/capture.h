// A test Sink that collects everything a session sends (shared by the MCP unit tests).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mcp/mcp.h"

namespace mcp_test {

struct Capture {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<sw::json> msgs;
  sw::mcp::Sink sink() {
    return [this](const sw::json& m, const std::string&) {
      std::lock_guard<std::mutex> lk(mu);
      msgs.push_back(m);
      // Notified under the lock: a test that saw the message may destroy this Capture at once, while a worker
      // would still be inside notify_all (ThreadSanitizer: data race on the condition variable).
      cv.notify_all();
    };
  }
  // Waits (bounded) for the response with this id.
  std::optional<sw::json> response(const sw::json& id, int ms = 3000) {
    std::unique_lock<std::mutex> lk(mu);
    std::optional<sw::json> out;
    cv.wait_for(lk, std::chrono::milliseconds(ms), [&] {
      for (auto& m : msgs)
        if (m.contains("id") && m["id"] == id && (m.contains("result") || m.contains("error"))) {
          out = m;
          return true;
        }
      return false;
    });
    return out;
  }
  std::vector<sw::json> with_method(const std::string& method) {
    std::lock_guard<std::mutex> lk(mu);
    std::vector<sw::json> out;
    for (auto& m : msgs)
      if (m.value("method", "") == method) out.push_back(m);
    return out;
  }
  size_t count_method(const std::string& method) { return with_method(method).size(); }
};

}  // namespace mcp_test
