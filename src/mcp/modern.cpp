// The modern era (MCP 2026-07-28): every request stands alone. Its _meta says the protocol version and the
// client's capabilities; nothing is remembered between requests except the cancel flags of those still running.
// What is served comes from engine.h, exactly as for a 2025-era session.
#include <algorithm>
#include <map>

#include "mcp/engine.h"
#include "mcp/mcp.h"

namespace sw::mcp {

const std::vector<std::string>& modern_versions() {
  static const std::vector<std::string> v{kModernVersion};
  return v;
}

std::vector<std::string> all_versions() {
  std::vector<std::string> v = modern_versions();
  for (const auto& l : supported_versions()) v.push_back(l);
  return v;
}

namespace {

const json& meta_of(const json& msg) {
  static const json kNone = json::object();
  auto p = msg.find("params");
  if (p == msg.end() || !p->is_object()) return kNone;
  auto m = p->find("_meta");
  return m == p->end() || !m->is_object() ? kNone : *m;
}

// The body value Mcp-Name mirrors, for the methods that require the header ("" otherwise).
const char* name_field(const std::string& method) {
  if (method == "tools/call" || method == "prompts/get") return "name";
  if (method == "resources/read") return "uri";
  return "";
}

Rejection reject(int status, const json& id, int code, const std::string& message, json data = nullptr) {
  return Rejection{status, make_error_response(id, code, message, std::move(data))};
}

bool serves(const Server& server, const std::string& method) {
  if (method == "server/discover" || method == "tools/list" || method == "tools/call") return true;
  if (server.resources().empty()) return false;
  return method == "resources/list" || method == "resources/templates/list" || method == "resources/read";
}

}  // namespace

bool is_modern(const json& msg) {
  if (!msg.is_object()) return false;
  auto m = msg.find("method");
  if (m != msg.end() && m->is_string() && *m == "server/discover") return true;
  const json& meta = meta_of(msg);
  return meta.contains(kMetaProtocolVersion) || meta.contains(kMetaClientCapabilities);
}

Rejection missing_capability(const json& id, json required_capabilities) {
  return reject(400, id, kMissingClientCapability, "Missing required client capability",
                json{{"requiredCapabilities", std::move(required_capabilities)}});
}

std::optional<std::string> decode_header_value(std::string_view value) {
  std::string_view v = value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  constexpr std::string_view kOpen = "=?base64?", kClose = "?=";
  if (v.size() >= kOpen.size() + kClose.size() && v.substr(0, kOpen.size()) == kOpen &&
      v.substr(v.size() - kClose.size()) == kClose) {
    auto raw = base64_decode(v.substr(kOpen.size(), v.size() - kOpen.size() - kClose.size()));
    if (!raw) return std::nullopt;
    return to_string(*raw);
  }
  return std::string(v);
}

// ---------------------------------------------------------------- Stateless

struct Stateless::State {
  std::mutex mu;
  std::condition_variable idle_cv;
  uint64_t next = 0;
  struct Running {
    std::string id;  // dumped request id
    std::shared_ptr<std::atomic<bool>> flag;
  };
  std::map<uint64_t, Running> running;
  bool cancel_by_notification = false;

  uint64_t enter(const json& id, const std::shared_ptr<std::atomic<bool>>& flag) {
    std::lock_guard<std::mutex> lk(mu);
    running[++next] = Running{id.dump(), flag};
    return next;
  }
  void leave(uint64_t key) {
    {
      std::lock_guard<std::mutex> lk(mu);
      running.erase(key);
    }
    idle_cv.notify_all();
  }
};

Stateless::Stateless(Server& server, bool cancel_by_notification)
    : server_(server), st_(std::make_shared<State>()) {
  st_->cancel_by_notification = cancel_by_notification;
}

Stateless::~Stateless() {
  cancel_all();
  wait_idle(std::chrono::seconds(5));
}

void Stateless::cancel_all() {
  std::lock_guard<std::mutex> lk(st_->mu);
  for (auto& [k, r] : st_->running) r.flag->store(true);
}

bool Stateless::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(st_->mu);
  return st_->idle_cv.wait_for(lk, timeout, [&] { return st_->running.empty(); });
}

size_t Stateless::in_flight() const {
  std::lock_guard<std::mutex> lk(st_->mu);
  return st_->running.size();
}

std::optional<Rejection> Stateless::check(const json& msg, const ModernHeaders* http) const {
  if (classify(msg, nullptr) != Kind::request) return std::nullopt;
  const json& id = msg["id"];
  const std::string method = msg["method"].get<std::string>();
  auto p = msg.find("params");
  const json* meta = nullptr;
  if (p != msg.end() && p->is_object()) {
    auto m = p->find("_meta");
    if (m != p->end() && m->is_object()) meta = &*m;
  }
  // 1. The per-request protocol fields (basic/index "Per-request protocol fields"): -32602, HTTP 400.
  if (!meta) return reject(400, id, kInvalidParams, "Invalid params: params._meta with the per-request protocol fields is required");
  auto pv = meta->find(kMetaProtocolVersion);
  if (pv == meta->end() || !pv->is_string())
    return reject(400, id, kInvalidParams, std::string("Invalid params: _meta[\"") + kMetaProtocolVersion + "\"] (string) is required");
  auto caps = meta->find(kMetaClientCapabilities);
  if (caps == meta->end() || !caps->is_object())
    return reject(400, id, kInvalidParams, std::string("Invalid params: _meta[\"") + kMetaClientCapabilities + "\"] (object) is required");
  if (auto ll = meta->find(kMetaLogLevel); ll != meta->end() && !(ll->is_string() && parse_log_level(ll->get<std::string>())))
    return reject(400, id, kInvalidParams, std::string("Invalid params: _meta[\"") + kMetaLogLevel + "\"] must be a log level");
  if (auto ci = meta->find(kMetaClientInfo); ci != meta->end() && !ci->is_object())
    return reject(400, id, kInvalidParams, std::string("Invalid params: _meta[\"") + kMetaClientInfo + "\"] must be an object");
  const std::string version = pv->get<std::string>();
  // 2. Streamable HTTP: the mirrored headers must be there and agree with the body (-32020, HTTP 400).
  if (http) {
    if (!http->protocol_version)
      return reject(400, id, kHeaderMismatch, "Header mismatch: the MCP-Protocol-Version header is required");
    if (*http->protocol_version != version)
      return reject(400, id, kHeaderMismatch, "Header mismatch: MCP-Protocol-Version '" + *http->protocol_version +
                                                  "' does not match _meta protocolVersion '" + version + "'");
    if (!http->method) return reject(400, id, kHeaderMismatch, "Header mismatch: the Mcp-Method header is required");
    if (*http->method != method)
      return reject(400, id, kHeaderMismatch, "Header mismatch: Mcp-Method '" + *http->method +
                                                  "' does not match the body's method '" + method + "'");
    const char* field = name_field(method);
    if (*field) {
      const json* body_value = nullptr;
      if (p != msg.end() && p->is_object() && p->contains(field) && (*p)[field].is_string()) body_value = &(*p)[field];
      if (!http->name && body_value)
        return reject(400, id, kHeaderMismatch, std::string("Header mismatch: the Mcp-Name header is required for ") + method);
      if (http->name) {
        auto decoded = decode_header_value(*http->name);
        if (!decoded) return reject(400, id, kHeaderMismatch, "Header mismatch: Mcp-Name is not valid base64");
        if (!body_value || *decoded != body_value->get<std::string>())
          return reject(400, id, kHeaderMismatch, std::string("Header mismatch: Mcp-Name does not match params.") + field);
      }
    }
  }
  // 3. The version (basic/versioning): -32022 with what is supported, HTTP 400.
  const auto& mv = modern_versions();
  if (std::find(mv.begin(), mv.end(), version) == mv.end()) {
    bool legacy = std::find(supported_versions().begin(), supported_versions().end(), version) != supported_versions().end();
    return reject(400, id, kUnsupportedVersion,
                  legacy ? "Unsupported protocol version: " + version + " is served only after initialize (legacy era)"
                         : "Unsupported protocol version",
                  json{{"supported", all_versions()}, {"requested", version}});
  }
  // 4. The method: removed ones (initialize, ping, logging/setLevel, resources/subscribe, …) and unknown ones.
  if (!serves(server_, method)) return reject(404, id, kMethodNotFound, "Method not found: " + method);
  return std::nullopt;
}

void Stateless::serve(const json& msg, const std::string& client, const std::string& envelope, Sink sink,
                      bool run_inline, std::shared_ptr<std::atomic<bool>> cancel) {
  try {
    json err;
    Kind kind = classify(msg, &err);
    if (kind == Kind::invalid) {
      sink(err, "");
      return;
    }
    if (kind == Kind::response) return;  // this era sends the client no requests: nothing can be answered
    if (kind == Kind::notification) {
      if (!st_->cancel_by_notification || msg["method"] != "notifications/cancelled") return;
      const json& meta_params = msg.contains("params") && msg["params"].is_object() ? msg["params"] : json::object();
      auto rid = meta_params.find("requestId");
      if (rid == meta_params.end() || !(rid->is_string() || rid->is_number_integer())) return;
      std::lock_guard<std::mutex> lk(st_->mu);
      for (auto& [k, r] : st_->running)
        if (r.id == rid->dump()) r.flag->store(true);
      return;
    }
    const json id = msg["id"];
    const std::string related = id.dump();
    if (auto rejected = check(msg)) {
      sink(rejected->response, related);
      return;
    }
    const std::string method = msg["method"].get<std::string>();
    static const json kNoParams = json::object();
    auto pit = msg.find("params");
    const json& params = pit == msg.end() || !pit->is_object() ? kNoParams : *pit;
    const json& meta = params["_meta"];
    const auto& info = server_.info();
    // Every result of this era: resultType, and who answered (basic/index "Per-response protocol fields").
    auto complete = [info](json result) {
      result["resultType"] = "complete";
      json si{{"name", info.name}, {"version", info.version}};
      if (!info.title.empty()) si["title"] = info.title;
      result["_meta"][kMetaServerInfo] = std::move(si);
      return result;
    };
    auto cacheable = [](json result, int64_t ttl_ms, const char* scope) {
      result["ttlMs"] = ttl_ms;
      result["cacheScope"] = scope;
      return result;
    };
    auto answer = [&sink, related, id](json result) { sink(make_response(id, std::move(result)), related); };
    auto fail = [&sink, related, id](int code, const std::string& message, json data = nullptr) {
      sink(make_error_response(id, code, message, std::move(data)), related);
    };

    if (method == "server/discover") {
      json caps{{"tools", {{"listChanged", false}}}, {"logging", json::object()}};
      if (!server_.resources().empty()) caps["resources"] = {{"listChanged", false}, {"subscribe", false}};
      json r{{"supportedVersions", all_versions()}, {"capabilities", std::move(caps)}};
      if (!info.instructions.empty()) r["instructions"] = info.instructions;
      answer(complete(cacheable(std::move(r), kListTtlMs, "public")));
      return;
    }
    if (method == "tools/list") {
      // The same list for every caller and connection, in registry order: per-caller differences (hosted
      // envelopes) show in results, never in the list.
      auto page = engine::list_tools(server_, kLatestVersion, params);
      if (!page) fail(kInvalidParams, "Invalid params: " + page.error().message);
      else answer(complete(cacheable(std::move(*page), kListTtlMs, "public")));
      return;
    }
    if (method == "resources/list" || method == "resources/templates/list") {
      answer(complete(cacheable(engine::list_resources(server_, method == "resources/templates/list", kLatestVersion),
                                kListTtlMs, "public")));
      return;
    }

    // tools/call and resources/read run the engine with a CallContext of their own.
    auto flag = cancel ? cancel : std::make_shared<std::atomic<bool>>(false);
    if (method == "resources/read") {
      if (!params.contains("uri") || !params["uri"].is_string()) {
        fail(kInvalidParams, "Invalid params: uri (string) is required");
        return;
      }
      std::string uri = params["uri"].get<std::string>();
      const Resource* res = engine::find_resource(server_, uri);
      if (!res) {  // SEP-2164: -32602 with the uri (the legacy era's -32002 is not emitted in this era)
        fail(kInvalidParams, "Resource not found", json{{"uri", uri}});
        return;
      }
      auto st = st_;
      uint64_t key = st->enter(id, flag);
      auto task = [st, key, res, uri, id, related, sink, client, envelope, flag, complete, cacheable] {
        CallContext ctx;
        ctx.client = client;
        ctx.envelope = envelope;
        ctx.cancel_flag = flag;
        Result<std::string> text = make_error("INTERNAL", "not read");
        try {
          text = res->read(uri, ctx);
        } catch (...) {
          text = make_error("INTERNAL", "the resource could not be read");
        }
        if (!flag->load()) {
          if (!text && text.error().code == "NOT_FOUND")
            sink(make_error_response(id, kInvalidParams, "Resource not found: " + text.error().message, json{{"uri", uri}}), related);
          else if (!text)
            sink(make_error_response(id, kInternalError, text.error().code + ": " + text.error().message), related);
          else
            sink(make_response(id, complete(cacheable(json{{"contents", json::array({{{"uri", uri}, {"mimeType", res->mime_type}, {"text", *text}}})}},
                                                      0, "private"))),
                 related);
        }
        st->leave(key);
      };
      if (run_inline) task();
      else server_.spawn(std::move(task));
      return;
    }

    // tools/call
    if (!params.contains("name") || !params["name"].is_string()) {
      fail(kInvalidParams, "Invalid params: tools/call needs a string \"name\"");
      return;
    }
    std::string name = params["name"].get<std::string>();
    const Tool* tool = server_.tools().find(name);
    if (!tool) {
      fail(kInvalidParams, "Unknown tool: " + name, json{{"name", name}});
      return;
    }
    json args = params.contains("arguments") && !params["arguments"].is_null() ? params["arguments"] : json::object();
    if (!args.is_object()) {
      fail(kInvalidParams, "Invalid params: \"arguments\" must be an object");
      return;
    }
    json progress_token;
    if (meta.contains("progressToken") && (meta["progressToken"].is_string() || meta["progressToken"].is_number_integer()))
      progress_token = meta["progressToken"];
    // Logging is opt-in per request: no notifications/message unless the request named a level.
    std::optional<LogLevel> log_level;
    if (meta.contains(kMetaLogLevel)) log_level = parse_log_level(meta[kMetaLogLevel].get<std::string>());
    auto st = st_;
    uint64_t key = st->enter(id, flag);
    Server* server = &server_;
    auto task = [st, key, server, tool, id, related, sink, client, envelope, flag, progress_token, log_level, complete,
                 args = std::move(args)]() mutable {
      CallContext ctx;
      ctx.client = client;
      ctx.envelope = envelope;
      ctx.cancel_flag = flag;
      auto last = std::make_shared<double>(-1.0);
      ctx.progress = [sink, related, progress_token, last, flag](double p, std::optional<double> total, const std::string& m) {
        if (progress_token.is_null() || flag->load() || p <= *last) return;
        *last = p;
        json n{{"progressToken", progress_token}, {"progress", p}};
        if (total) n["total"] = *total;
        if (!m.empty()) n["message"] = m;
        sink(json{{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", n}}, related);
      };
      ctx.log = [sink, related, log_level, flag](LogLevel level, const std::string& logger, const json& data) {
        if (!log_level || level < *log_level || flag->load()) return;
        sink(json{{"jsonrpc", "2.0"},
                  {"method", "notifications/message"},
                  {"params", {{"level", log_level_name(level)}, {"logger", logger}, {"data", data}}}},
             related);
      };
      // No elicit: input-required results (MRTR) are not implemented yet, so a tool sees a client that cannot
      // be asked, as for a 2025-era client that did not declare elicitation.
      ToolOutcome out = engine::run_tool(*server, *tool, std::move(args), ctx);
      if (!flag->load()) sink(make_response(id, complete(engine::tool_result(std::move(out), true))), related);
      st->leave(key);
    };
    if (run_inline) task();
    else server_.spawn(std::move(task));
  } catch (const std::exception& e) {
    log(LogLevel::error, "mcp", std::string("stateless request failed: ") + e.what());
    if (msg.is_object() && msg.contains("id") && msg.contains("method"))
      sink(make_error_response(msg["id"], kInternalError, "Internal error"), msg["id"].dump());
  } catch (...) {
    log(LogLevel::error, "mcp", "stateless request failed");
  }
}

}  // namespace sw::mcp
