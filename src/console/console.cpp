// The console's routes: who may reach it (Host, Origin, no bearer tokens), the owner's login and sessions, the
// embedded page, and the live event stream. The JSON API itself is api.cpp.
#include <algorithm>

#include "console/internal.h"
#include "crypto/crypto.h"
#include "fetch/fetch.h"
#include <cstring>

namespace sw::console {

// Generated from src/console/web (embed_assets.cmake): path → content.
const std::map<std::string, std::string>& embedded_assets();

namespace {

constexpr const char* kCookie = "sw_console";
constexpr size_t kMaxSessions = 64;

const char* content_type_of(const std::string& path) {
  auto ends = [&](const char* ext) {
    const size_t n = std::strlen(ext);
    return path.size() >= n && path.compare(path.size() - n, n, ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

// Headers on every answer: nothing here may be framed, sniffed, cached or leak its address; scripts and styles
// come from this origin only (no inline code anywhere in the page).
void secure(SideResponse& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                         "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  r.headers.emplace_back("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()");
  r.headers.emplace_back("Cache-Control", "no-store");
}

namespace {

std::string random_token() {
  Bytes b = crypto::random_bytes(32);
  return base64_encode(b, /*url=*/true, /*pad=*/false);
}

std::string cookie_key(const std::string& value) {
  auto h = crypto::sha256(value);
  return hex_encode(h.data(), h.size());
}

// The value of cookie `name` in the request's Cookie header(s), "" when absent.
std::string cookie_value(const SideRequest& rq, std::string_view name) {
  for (const auto& [k, v] : rq.headers) {
    if (!ascii_iequals(k, "Cookie")) continue;
    std::string_view s = v;
    while (!s.empty()) {
      size_t semi = s.find(';');
      std::string_view part = trim(s.substr(0, semi));
      s = semi == std::string_view::npos ? std::string_view() : s.substr(semi + 1);
      size_t eq = part.find('=');
      if (eq != std::string_view::npos && trim(part.substr(0, eq)) == name)
        return std::string(trim(part.substr(eq + 1)));
    }
  }
  return "";
}

bool is_api(const std::string& path) { return path.rfind("/api/", 0) == 0; }

}  // namespace

SideResponse json_response(int status, const json& body) {
  SideResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = json_dump(body);
  secure(r);
  return r;
}

SideResponse error_response(int status, const std::string& code, const std::string& message) {
  return json_response(status, json{{"error", {{"code", code}, {"message", message}}}});
}

namespace {
std::string code_mac(const std::string& token, const std::string& nonce, const std::string& exp) {
  const std::string msg = "satwarden console login\n" + nonce + "\n" + exp;
  auto mac = crypto::hmac_sha256(reinterpret_cast<const uint8_t*>(token.data()), token.size(),
                                 reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  return base64_encode(mac.data(), mac.size(), /*url=*/true, /*pad=*/false);
}
}  // namespace

std::string login_code(const std::string& owner_token, int64_t now, int64_t ttl_s) {
  Bytes n = crypto::random_bytes(16);
  const std::string nonce = base64_encode(n, /*url=*/true, /*pad=*/false);
  const std::string exp = std::to_string(now + ttl_s);
  return nonce + "." + exp + "." + code_mac(owner_token, nonce, exp);
}

const std::string* asset(const std::string& path) {
  const auto& m = embedded_assets();
  auto it = m.find(path);
  return it == m.end() ? nullptr : &it->second;
}

void Console::Impl::set_origins(int port) {
  std::lock_guard<std::mutex> lk(mu);
  opts.port = port;
  hosts.clear();
  origins.clear();
  if (opts.hosts.empty()) {
    for (const char* h : {"127.0.0.1", "localhost", "[::1]"}) hosts.push_back(std::string(h) + ":" + std::to_string(port));
  } else {
    hosts = opts.hosts;
  }
  for (const auto& h : hosts) origins.push_back("http://" + h);
  secure_cookie = false;
  if (!opts.public_url.empty()) {
    if (auto u = fetch::parse_url(opts.public_url)) {
      const bool default_port = (u->scheme == "http" && u->port == 80) || (u->scheme == "https" && u->port == 443);
      std::string host = (u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host) +
                         (default_port ? "" : ":" + std::to_string(u->port));
      origins.insert(origins.begin(), u->scheme + "://" + host);  // the link names the public origin
      hosts.push_back(host);
      secure_cookie = u->scheme == "https";
    }
  }
}

// Who may talk to the console at all, decided from the header block: never with an agent's bearer token; only
// under this console's own Host name (a page on another site that resolves its name to 127.0.0.1 — DNS
// rebinding — is refused); an Origin, when sent, must be this console's own; a state change must carry one (or
// Sec-Fetch-Site: same-origin); the API is never reachable from another site.
std::optional<SideResponse> Console::Impl::guard(const SideRequest& rq, bool) const {
  if (!rq.header("Authorization").empty())
    return error_response(403, "CONSOLE_BEARER_REFUSED",
                          "an agent's bearer token never opens the owner's console: open the one-time login link "
                          "that `satwarden console` prints");
  std::lock_guard<std::mutex> lk(mu);
  const std::string host = ascii_lower(rq.header("Host"));
  if (std::find(hosts.begin(), hosts.end(), host) == hosts.end())
    return error_response(403, "CONSOLE_HOST_REFUSED",
                          "this console answers only at " + (origins.empty() ? std::string("its own address")
                                                                              : origins.front()) +
                              " (Host " + (host.empty() ? std::string("missing") : "not recognised") + ")");
  const std::string origin = rq.header("Origin");
  if (!origin.empty() && std::find(origins.begin(), origins.end(), ascii_lower(origin)) == origins.end())
    return error_response(403, "CONSOLE_ORIGIN_REFUSED",
                          "requests from another site are refused; nothing was changed");
  const std::string site = rq.header("Sec-Fetch-Site");
  if (is_api(rq.path) && !site.empty() && site != "same-origin" && site != "none")
    return error_response(403, "CONSOLE_ORIGIN_REFUSED", "the console's API answers its own page only; nothing was changed");
  const bool changes = rq.method != "GET" && rq.method != "HEAD";
  if (changes && origin.empty() && site != "same-origin")
    return error_response(403, "CONSOLE_ORIGIN_REQUIRED",
                          "a change must come from the console's own page (Origin missing); nothing was changed");
  return std::nullopt;
}

std::optional<Session> Console::Impl::session_of(const SideRequest& rq) {
  const std::string v = cookie_value(rq, kCookie);
  if (v.empty() || v.size() > 100) return std::nullopt;
  const std::string key = cookie_key(v);
  const int64_t now = engine.clock->now_unix();
  std::lock_guard<std::mutex> lk(mu);
  auto it = sessions.find(key);
  if (it == sessions.end()) return std::nullopt;
  if (it->second.expires_at <= now) {
    sessions.erase(it);
    return std::nullopt;
  }
  return it->second;
}

SideResponse Console::Impl::login(const SideRequest& rq) {
  json body = json::parse(rq.body, nullptr, false);
  std::string given;
  if (body.is_object() && body.contains("token") && body["token"].is_string()) given = body["token"].get<std::string>();
  // nonce.expiry.mac (login_code): the MAC must check out under the owner token, the code must not have expired,
  // and its nonce must not have been used before.
  const int64_t now = engine.clock->now_unix();
  std::string refusal;
  {
    const size_t d1 = given.find('.'), d2 = d1 == std::string::npos ? d1 : given.find('.', d1 + 1);
    const std::string nonce = d2 == std::string::npos ? "" : given.substr(0, d1);
    const std::string exp = d2 == std::string::npos ? "" : given.substr(d1 + 1, d2 - d1 - 1);
    const std::string mac = d2 == std::string::npos ? "" : given.substr(d2 + 1);
    std::lock_guard<std::mutex> lk(mu);
    const bool exp_ok = !exp.empty() && exp.size() <= 12 && exp.find_first_not_of("0123456789") == std::string::npos;
    if (token.empty() || nonce.empty() || nonce.size() > 64 || !exp_ok ||
        !crypto::ct_equal(mac, code_mac(token, nonce, exp)))
      refusal = "this login link is not valid for this console: run `satwarden console` (or `satwarden console "
                "--print-link`) and open the link it prints";
    else if (std::stoll(exp) <= now)
      refusal = "this login link has expired (links are valid for 15 minutes): print a new one with `satwarden "
                "console --print-link`";
    else if (used_codes.count(nonce))
      refusal = "this login link was already used (each link logs in once): print a new one with `satwarden console "
                "--print-link`";
    else {
      for (auto it = used_codes.begin(); it != used_codes.end();) it = it->second <= now ? used_codes.erase(it) : std::next(it);
      if (used_codes.size() < 10000) used_codes[nonce] = std::stoll(exp);
      else refusal = "too many login links in use; try again in a few minutes";
    }
  }
  crypto::wipe(given);
  if (!refusal.empty()) return error_response(401, "CONSOLE_LOGIN_INVALID", refusal);
  const std::string cookie = random_token();
  Session s;
  s.csrf = random_token();
  s.created_at = engine.clock->now_unix();
  s.expires_at = s.created_at + opts.session_ttl_s;
  {
    std::lock_guard<std::mutex> lk(mu);
    for (auto it = sessions.begin(); it != sessions.end();)
      it = it->second.expires_at <= s.created_at ? sessions.erase(it) : std::next(it);
    while (sessions.size() >= kMaxSessions) {  // the oldest session goes
      auto oldest = std::min_element(sessions.begin(), sessions.end(), [](const auto& a, const auto& b) {
        return a.second.created_at < b.second.created_at;
      });
      sessions.erase(oldest);
    }
    sessions[cookie_key(cookie)] = s;
  }
  SideResponse r = json_response(200, json{{"csrf", s.csrf}, {"expires_at", s.expires_at}});
  r.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=" + cookie + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                           std::to_string(opts.session_ttl_s) + (secure_cookie ? "; Secure" : ""));
  sw::log(LogLevel::info, "console", "owner logged in from " + rq.peer);
  return r;
}

SideResponse Console::Impl::handle(const SideRequest& rq) {
  if (auto refused = guard(rq, true)) return *refused;
  const std::string& p = rq.path;
  if (!is_api(p)) {
    // What is not here is 404 whatever the method (e.g. POST /mcp: the console serves no MCP); what is here
    // answers GET and HEAD only.
    const std::string name = p == "/" || p == "/login" ? "/index.html" : p;
    const std::string* body = name.rfind("/apps/", 0) == 0 ? nullptr : asset(name);
    if (!body) return error_response(404, "NOT_FOUND", "no such page");
    if (rq.method != "GET" && rq.method != "HEAD") {
      SideResponse r = error_response(405, "METHOD_NOT_ALLOWED", "only GET here");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    SideResponse r;
    r.content_type = content_type_of(name);
    r.body = rq.method == "HEAD" ? std::string() : *body;
    secure(r);
    return r;
  }
  if (p == "/api/login") {
    if (rq.method != "POST") return error_response(405, "METHOD_NOT_ALLOWED", "POST the token from the login link");
    return login(rq);
  }
  auto s = session_of(rq);
  if (!s)
    return error_response(401, "CONSOLE_LOGIN_REQUIRED",
                          "log in first: open the one-time login link that `satwarden console` printed (run it again "
                          "for a new one)");
  if (rq.method != "GET" && rq.method != "HEAD") {
    if (!crypto::ct_equal(rq.header("X-CSRF-Token"), s->csrf))
      return error_response(403, "CONSOLE_CSRF_REFUSED",
                            "this change did not come from the console page (CSRF token missing or wrong); nothing "
                            "was changed: reload the page and try again");
  }
  if (p == "/api/session") {
    if (rq.method != "GET") return error_response(405, "METHOD_NOT_ALLOWED", "GET only");
    return json_response(200, json{{"csrf", s->csrf}, {"expires_at", s->expires_at}});
  }
  if (p == "/api/logout") {
    if (rq.method != "POST") return error_response(405, "METHOD_NOT_ALLOWED", "POST only");
    {
      std::lock_guard<std::mutex> lk(mu);
      sessions.erase(cookie_key(cookie_value(rq, kCookie)));
    }
    SideResponse r = json_response(200, json::object());
    r.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" +
                                             (secure_cookie ? "; Secure" : ""));
    return r;
  }
  if (p == "/api/events") {
    if (rq.method != "GET") return error_response(405, "METHOD_NOT_ALLOWED", "GET only");
    return events(rq);
  }
  return api(rq, p);
}

// ---- live events

SideResponse Console::Impl::events(const SideRequest&) {
  SideResponse r;
  r.content_type = "text/event-stream";
  secure(r);
  const json approvals = open_approvals();
  r.stream = [this, approvals](std::shared_ptr<transport::SideStream> st) {
    st->write("retry: 3000\n\nevent: approvals\ndata: " + json_dump(approvals) + "\n\n");
    std::lock_guard<std::mutex> lk(mu);
    if (stopping) {
      st->end();
      return;
    }
    streams.push_back(std::move(st));
    if (!watcher.joinable()) watcher = std::thread([this] { watch(); });
  };
  return r;
}

// One thread for all streams: once a second, looks at the ledger (changes by any process on the same data
// directory, or any instance of a fleet) and at the open approvals; sends what changed; a comment every 15 s
// keeps proxies from closing an idle stream. It ends with the last stream.
void Console::Impl::watch() {
  int64_t beat = 0;
  std::unique_lock<std::mutex> lk(mu);
  while (!stopping) {
    streams.erase(std::remove_if(streams.begin(), streams.end(), [](const auto& s) { return !s->open(); }),
                  streams.end());
    if (streams.empty()) break;
    lk.unlock();
    const std::string fp = ledger_fingerprint();
    const json approvals = open_approvals();
    std::string ap = json_dump(approvals);
    std::vector<std::string> out;
    lk.lock();
    if (fp != ledger_seen) {
      if (!ledger_seen.empty()) ++ledger_changes;
      ledger_seen = fp;
      out.push_back("event: ledger\ndata: " + json_dump(json{{"commits", ledger_changes}}) + "\n\n");
    }
    if (ap != approvals_seen) {
      approvals_seen = ap;
      out.push_back("event: approvals\ndata: " + ap + "\n\n");
    }
    if (++beat % 15 == 0) out.push_back(": keep-alive\n\n");
    for (auto& s : streams)
      for (const auto& e : out) s->write(e);
    cv.wait_for(lk, std::chrono::seconds(1), [this] { return stopping; });
  }
  // The next stream starts a fresh one. stop() may have taken the handle already (it joins this thread then).
  if (watcher.joinable() && watcher.get_id() == std::this_thread::get_id()) watcher.detach();
}

// ---- Console

Console::Console(tools::Engine& engine, const mcp::ToolRegistry& registry, Options opts)
    : impl_(std::make_unique<Impl>(engine, registry, std::move(opts))) {
  impl_->set_origins(impl_->opts.port);
}

Console::~Console() { stop(); }

Status Console::init() {
  auto t = owner_token(impl_->opts.data_dir);
  if (!t) return t.error();
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->token = std::move(*t);
  return ok_status();
}

void Console::set_port(int port) { impl_->set_origins(port); }

std::string Console::login_link() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return (impl_->origins.empty() ? std::string("http://127.0.0.1:" + std::to_string(impl_->opts.port))
                                 : impl_->origins.front()) +
         "/login#" + login_code(impl_->token, impl_->engine.clock->now_unix());
}

void Console::stop() {
  std::vector<std::shared_ptr<transport::SideStream>> streams;
  std::thread w;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stopping = true;
    streams.swap(impl_->streams);
    if (impl_->watcher.joinable()) w = std::move(impl_->watcher);
  }
  impl_->cv.notify_all();
  for (auto& s : streams) s->end();
  if (w.joinable()) w.join();
}

transport::SideRoutes Console::routes() {
  transport::SideRoutes r;
  r.prefix = "/";
  Impl* impl = impl_.get();
  r.handle = [impl](const SideRequest& rq) { return impl->handle(rq); };
  r.precheck = [impl](const SideRequest& rq) { return impl->guard(rq, false); };
  r.max_body_bytes = 16 * 1024;
  // A page load is a handful of requests and the page refreshes on changes: generous for one owner, still a
  // bound for anyone else who can reach the port.
  r.per_client_per_minute = 1200;
  r.per_minute = 3000;
  return r;
}

}  // namespace sw::console
