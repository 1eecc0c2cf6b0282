// Internal to src/console: the Console's state, shared by console.cpp (access, sessions, assets, events) and
// api.cpp (the JSON API over the engine).
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "console/console.h"
#include "tools.h"

namespace sw::console {

using transport::SideRequest;
using transport::SideResponse;

struct Session {
  std::string csrf;
  int64_t created_at = 0, expires_at = 0;
};

// An API answer: JSON with a status, or an error ({"error":{"code","message"}}).
SideResponse json_response(int status, const json& body);
SideResponse error_response(int status, const std::string& code, const std::string& message);
// Adds the console's security headers (CSP, nosniff, no framing, no caching, no referrer) to an answer.
void secure(SideResponse& r);

struct Console::Impl {
  Impl(tools::Engine& e, const mcp::ToolRegistry& r, Options o) : engine(e), registry(r), opts(std::move(o)) {}
  tools::Engine& engine;
  const mcp::ToolRegistry& registry;
  Options opts;

  mutable std::mutex mu;
  std::string token;                          // the owner token ("" until init succeeded)
  std::map<std::string, Session> sessions;    // hex SHA-256 of the cookie value → session
  std::map<std::string, int64_t> used_codes;  // login code nonces already used → their expiry
  std::vector<std::string> hosts, origins;    // accepted Host values and Origins
  bool secure_cookie = false;

  // Live events.
  std::vector<std::shared_ptr<transport::SideStream>> streams;
  std::condition_variable cv;
  bool stopping = false;
  std::thread watcher;
  std::string approvals_seen, ledger_seen;  // last fingerprints sent
  uint64_t ledger_changes = 0;

  // The wallet's identity and balance, cached briefly (each is a round trip to the wallet).
  std::optional<json> wallet_cache;
  int64_t wallet_cached_at = 0;

  void set_origins(int port);
  std::optional<SideResponse> guard(const SideRequest& rq, bool with_body) const;
  SideResponse handle(const SideRequest& rq);
  // The session of this request (cookie), or nullopt.
  std::optional<Session> session_of(const SideRequest& rq);
  SideResponse login(const SideRequest& rq);
  SideResponse events(const SideRequest& rq);
  void watch();

  // api.cpp: the JSON API.
  SideResponse api(const SideRequest& rq, const std::string& path);
  // Runs a registered tool as the owner: its structured result, or its error.
  Result<json> call(const std::string& tool, json args) const;
  json open_approvals() const;
  std::string ledger_fingerprint() const;
};

}  // namespace sw::console
