// Log lines and request ids: the text and JSON formats, the calling thread's request id in each line, scopes that
// nest and end, and threads that do not share ids. stderr is redirected to a pipe for the test.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "common/common.h"

using namespace sw;

namespace {
// Captures what log() writes to stderr while it lives.
struct StderrCapture {
  int saved = -1, fds[2] = {-1, -1};
  StderrCapture() {
    REQUIRE(pipe(fds) == 0);
    fflush(stderr);
    saved = dup(2);
    dup2(fds[1], 2);
  }
  std::string take() {
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, size_t(n));
    close(fds[0]);
    return out;
  }
};
}  // namespace

TEST_CASE("logging: text lines name the request they belong to, scopes nest and end") {
  set_log_format(LogFormat::text);
  CHECK(current_request_id().empty());
  StderrCapture cap;
  log(LogLevel::warning, "t", "outside");
  {
    RequestScope a("req-a");
    CHECK(current_request_id() == "req-a");
    log(LogLevel::warning, "t", "inside a");
    {
      RequestScope b("req-b");
      log(LogLevel::warning, "t", "inside b");
    }
    CHECK(current_request_id() == "req-a");
    std::string other;
    std::thread([&] { other = current_request_id(); }).join();
    CHECK(other.empty());  // per thread
  }
  CHECK(current_request_id().empty());
  const std::string out = cap.take();
  CHECK(out.find("[t] outside\n") != std::string::npos);
  CHECK(out.find("[t] inside a (request req-a)\n") != std::string::npos);
  CHECK(out.find("[t] inside b (request req-b)\n") != std::string::npos);
}

TEST_CASE("logging: JSON lines are one object each, with the request id when there is one") {
  set_log_format(LogFormat::jsonl);
  StderrCapture cap;
  log(LogLevel::warning, "main", "plain \"quoted\"\nnext");
  {
    RequestScope r("0123456789abcdef");
    log(LogLevel::error, "pay", "failed");
  }
  set_log_format(LogFormat::text);
  const std::string out = cap.take();
  size_t nl = out.find('\n');
  REQUIRE(nl != std::string::npos);
  json first = json::parse(out.substr(0, nl));
  json second = json::parse(out.substr(nl + 1, out.find('\n', nl + 1) - nl - 1));
  CHECK(first["level"] == "warning");
  CHECK(first["logger"] == "main");
  CHECK(first["message"] == "plain \"quoted\"\nnext");
  CHECK_FALSE(first.contains("request_id"));
  CHECK(first["ts"].get<std::string>().size() == 20);
  CHECK(second["level"] == "error");
  CHECK(second["request_id"] == "0123456789abcdef");
}
