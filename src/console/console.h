// sw::console — the owner's console: a web page on loopback (and its JSON API) that shows what is left, what was
// spent where and what waits for the owner, and lets the owner approve, deny, tighten and undo tightenings.
// What: routes for the HTTP front (transport::SideRoutes, prefix "/") serving the embedded page (index.html,
//   app.js, app.css, icon.svg — no external assets) and /api/*. Every figure comes from the same engine the MCP
//   tools use: the API calls the registered tools (get_budget_status, list_payments, list_approvals,
//   lookup_payment, decode_invoice, configure_budget, get_wallet_info, get_balance) as the owner, and decides
//   approvals through approve::Hub — there is no second copy of the budget arithmetic.
// Access: the owner token (DATA_DIR/console-token, 0600, made on first use) signs one-time login codes (login_code);
//   the page posts the code from the login link's fragment (never sent in a URL to the server) for a session cookie (HttpOnly, SameSite=Strict, Secure behind
//   https) that expires after `session_ttl_s`; every state change carries the session's CSRF token
//   (X-CSRF-Token) and a same-origin Origin; Host must name this console (DNS rebinding); an Authorization header
//   (an agent's bearer token) is refused outright; a strict Content-Security-Policy and no caching of the API.
// Live: GET /api/events is a Server-Sent Events stream ("approvals" when the open approvals change, "ledger" when
//   the ledger committed something), fed by one watcher thread.
// Thread-safety: Console is thread-safe; its routes run on the front's worker threads, precheck on its loop.
// Errors: API answers {"error":{"code","message"}} with 4xx/5xx; the message says whether anything changed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/common.h"
#include "mcp/mcp.h"
#include "transport/transport.h"

namespace sw::tools {
struct Engine;
}

namespace sw::console {

inline constexpr int kDefaultPort = 8403;
inline constexpr const char* kTokenFile = "console-token";

struct Options {
  std::string data_dir;           // where the owner token lives
  // The console's own origin(s). Host must be one of these host[:port] values; Origin (when sent) the same
  // with its scheme. Empty: loopback names for `port` (127.0.0.1, localhost, [::1]).
  std::vector<std::string> hosts;
  int port = kDefaultPort;
  std::string public_url;         // https://… when a TLS reverse proxy fronts the console: its host is accepted too
  int64_t session_ttl_s = 12 * 3600;
};

// The owner token: read from DATA_DIR/console-token, or created (0600, atomically) when missing. Errors:
// CONSOLE_TOKEN_UNUSABLE / CONSOLE_TOKEN_INSECURE (group/other access or another user's file), naming the path.
Result<std::string> owner_token(const std::string& data_dir);

// A one-time login code for the link "<origin>/login#<code>": a fresh nonce, an expiry (`ttl_s` from `now`) and
// an HMAC over both keyed with the owner token — any process that can read the token file can print one (the
// token itself never leaves the file); the console accepts each code once, before it expires.
std::string login_code(const std::string& owner_token, int64_t now, int64_t ttl_s = 900);

// The page and app resources embedded in the binary: path ("/index.html", "/app.js", "/apps/approval.html", …) →
// content; nullptr when there is none.
const std::string* asset(const std::string& path);

// MCP Apps (SEP-1865) — the console's views inside MCP hosts: ui://satwarden/budget (renders get_budget_status),
// ui://satwarden/approval (the approval card: pending approvals, approve/deny through the app-only tool
// decide_approval_in_app) and the template ui://satwarden/approval/{approval_id} (the same card for one approval,
// carrying that approval's nonce; NOT_FOUND for a client whose person may not decide approvals). MIME type
// text/html;profile=mcp-app; self-contained (no external assets).
std::vector<mcp::Resource> app_resources(tools::Engine& engine);

class Console {
 public:
  Console(tools::Engine& engine, const mcp::ToolRegistry& registry, Options opts);
  ~Console();  // ends open event streams and the watcher
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Reads (or creates) the owner token; the routes refuse every login until this succeeded.
  Status init();
  // The routes to serve on a listener of their own (prefix "/").
  transport::SideRoutes routes();
  // Sets the bound port (when Options::port was 0) so Host/Origin checks name the real origin.
  void set_port(int port);
  // A fresh one-time login link for this console's first origin ("http://127.0.0.1:8403/login#<code>").
  std::string login_link() const;
  // Ends the event streams and stops the watcher (the destructor does this too).
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sw::console
