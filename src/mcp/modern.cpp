// The modern era (MCP 2026-07-28): every request stands alone. Its _meta says the protocol version and the
// client's capabilities; nothing is remembered between requests except the cancel flags of those still running.
// What is served comes from engine.h, exactly as for a 2025-era session.
#include <algorithm>
#include <map>

#include "crypto/crypto.h"
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
  return method == "resources/list" || method == "resources/templates/list" || method == "resources/read" ||
         method == "subscriptions/listen";
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

// ---------------------------------------------------------------- requestState

namespace {
std::string args_digest(const json& args) {
  // nlohmann's objects keep their keys sorted, so equal arguments dump to equal text.
  auto h = crypto::sha256(args.dump());
  return hex_encode(h.data(), h.size());
}
std::string mac_of(const Bytes& key, const std::string& text) {
  auto m = crypto::hmac_sha256(key.data(), key.size(), reinterpret_cast<const uint8_t*>(text.data()), text.size());
  return base64_encode(m.data(), m.size(), true, false);
}
}  // namespace

std::string seal_request_state(const Bytes& key, const StateBinding& b, const json& state, int64_t expires_at) {
  json payload{{"v", 1},
               {"tool", b.tool},
               {"args", args_digest(b.args)},
               {"caller", b.client + "\n" + b.envelope},
               {"exp", expires_at},
               {"s", state}};
  const std::string text = payload.dump();
  return base64_encode(reinterpret_cast<const uint8_t*>(text.data()), text.size(), true, false) + "." +
         mac_of(key, text);
}

Result<json> open_request_state(const Bytes& key, std::string_view token, const StateBinding& b, int64_t now) {
  auto bad = [](const std::string& why) {
    return make_error("INVALID_REQUEST_STATE", "requestState " + why + "; nothing was decided");
  };
  if (token.size() > 16384) return bad("malformed");
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return bad("malformed");
  auto raw = base64_decode(token.substr(0, dot));
  if (!raw) return bad("malformed");
  const std::string text = to_string(*raw);
  // The MAC first: nothing of an unauthenticated payload is looked at.
  if (!crypto::ct_equal(mac_of(key, text), token.substr(dot + 1))) return bad("tampered (integrity check failed)");
  if (json_nesting_exceeds(text, kMaxJsonDepth)) return bad("malformed");
  json p = json::parse(text, nullptr, false);
  if (!p.is_object() || p.value("v", 0) != 1 || !p.contains("exp") || !p["exp"].is_number_integer() ||
      !p.contains("tool") || !p["tool"].is_string() || !p.contains("args") || !p["args"].is_string() ||
      !p.contains("caller") || !p["caller"].is_string() || !p.contains("s"))
    return bad("malformed");
  if (p["tool"].get<std::string>() != b.tool) return bad("belongs to another tool");
  if (p["args"].get<std::string>() != args_digest(b.args)) return bad("belongs to a call with other arguments");
  if (p["caller"].get<std::string>() != b.client + "\n" + b.envelope) return bad("belongs to another caller");
  if (now >= p["exp"].get<int64_t>()) return bad("expired");
  return p["s"];
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
  // Open subscriptions/listen streams: not "running" (wait_idle does not wait for them); notifications/cancelled
  // names them by request id like any request.
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> listening;
  std::unique_ptr<Subscriptions> subs;  // created by the first listen
  std::atomic<bool> draining{false};     // cancelled calls still answer (shutdown)

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
    : server_(server), st_(std::make_shared<State>()), state_key_(crypto::random_bytes(32)) {
  st_->cancel_by_notification = cancel_by_notification;
}

Stateless::~Stateless() {
  cancel_all();
  wait_idle(std::chrono::seconds(5));
  std::unique_ptr<Subscriptions> subs;
  {
    std::lock_guard<std::mutex> lk(st_->mu);
    subs = std::move(st_->subs);
  }
}

void Stateless::cancel_all() {
  Subscriptions* subs = nullptr;
  {
    std::lock_guard<std::mutex> lk(st_->mu);
    for (auto& [k, r] : st_->running) r.flag->store(true);
    subs = st_->subs.get();
  }
  // Listen streams end with their result (the subscription ended gracefully), not silently.
  if (subs) subs->end_all();
}

void Stateless::drain() {
  st_->draining = true;
  cancel_all();
}

size_t Stateless::listening() const {
  std::lock_guard<std::mutex> lk(st_->mu);
  return st_->subs ? st_->subs->open_streams() : 0;
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

// subscriptions/listen: params.notifications says what the client opts in to. Only resourceSubscriptions is
// honoured (satwarden's tool and resource lists never change, and it has no prompts), and only for URIs a
// resource serves; the acknowledgement says which.
void Stateless::listen(const json& id, const json& params, const std::string& client, const std::string& envelope,
                       Sink sink, const std::shared_ptr<std::atomic<bool>>& flag) {
  const std::string related = id.dump();
  auto fail = [&](int code, const std::string& message) { sink(make_error_response(id, code, message), related); };
  auto n = params.find("notifications");
  if (n == params.end() || !n->is_object()) {
    fail(kInvalidParams, "Invalid params: subscriptions/listen needs \"notifications\" (object)");
    return;
  }
  for (const char* flag_name : {"toolsListChanged", "resourcesListChanged", "promptsListChanged"})
    if (n->contains(flag_name) && !(*n)[flag_name].is_boolean()) {
      fail(kInvalidParams, std::string("Invalid params: notifications.") + flag_name + " must be a boolean");
      return;
    }
  Subscriptions::Listen l;
  l.id = id;
  l.client = client;
  l.envelope = envelope;
  l.sink = sink;
  l.cancel = flag;
  json honoured = json::object();
  if (auto rs = n->find("resourceSubscriptions"); rs != n->end()) {
    if (!rs->is_array()) {
      fail(kInvalidParams, "Invalid params: notifications.resourceSubscriptions must be an array of URIs");
      return;
    }
    const size_t max_uris = ListenLimits{}.max_uris;
    if (rs->size() > max_uris) {
      fail(kInvalidParams, "Invalid params: at most " + std::to_string(max_uris) +
                               " resourceSubscriptions per stream; open another stream for more");
      return;
    }
    json accepted = json::array();
    for (const auto& u : *rs) {
      if (!u.is_string() || u.get_ref<const std::string&>().empty() || u.get_ref<const std::string&>().size() > 2048) {
        fail(kInvalidParams, "Invalid params: each resourceSubscriptions entry must be a URI (1-2048 characters)");
        return;
      }
      const std::string& uri = u.get_ref<const std::string&>();
      if (!engine::find_resource(server_, uri)) continue;  // not served: left out of the acknowledgement
      if (std::find(l.uris.begin(), l.uris.end(), uri) != l.uris.end()) continue;
      l.uris.push_back(uri);
      accepted.push_back(uri);
    }
    honoured["resourceSubscriptions"] = std::move(accepted);
  }
  Subscriptions* subs = nullptr;
  {
    std::lock_guard<std::mutex> lk(st_->mu);
    if (!st_->subs) st_->subs = std::make_unique<Subscriptions>(server_);
    subs = st_->subs.get();
    if (st_->cancel_by_notification) {
      std::erase_if(st_->listening, [](const auto& e) { return e.second->load(); });
      st_->listening[related] = flag;
    }
  }
  if (auto st = subs->open(std::move(l), honoured); !st) {
    {
      std::lock_guard<std::mutex> lk(st_->mu);
      st_->listening.erase(related);
    }
    fail(kInternalError, st.error().message);
  }
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
      if (auto l = st_->listening.find(rid->dump()); l != st_->listening.end()) {
        l->second->store(true);
        st_->listening.erase(l);
      }
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
    // (The server outlives every request: a pointer, not a copy of its info with the instructions, per call.)
    auto complete = [srv = &server_](json result) {
      const auto& i = srv->info();
      result["resultType"] = "complete";
      json si{{"name", i.name}, {"version", i.version}};
      if (!i.title.empty()) si["title"] = i.title;
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
      // subscribe: resourceSubscriptions on subscriptions/listen (the lists themselves never change).
      if (!server_.resources().empty()) caps["resources"] = {{"listChanged", false}, {"subscribe", true}};
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

    // tools/call, resources/read and subscriptions/listen run with a cancel flag of their own.
    auto flag = cancel ? cancel : std::make_shared<std::atomic<bool>>(false);
    if (method == "subscriptions/listen") {
      listen(id, params, client, envelope, std::move(sink), flag);
      return;
    }
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
          else {
            json content{{"uri", uri}, {"mimeType", res->mime_type}, {"text", *text}};
            if (!res->meta.is_null()) content["_meta"] = res->meta;
            sink(make_response(id, complete(cacheable(json{{"contents", json::array({std::move(content)})}}, 0, "private"))),
                 related);
          }
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
    // MCP Apps are offered in the 2025 era only (they negotiate in initialize): an app-only tool does not exist here.
    if (!tool || tool->hidden || tool->app_only()) {
      fail(kInvalidParams, "Unknown tool: " + name, json{{"name", name}});
      return;
    }
    json args = params.contains("arguments") && !params["arguments"].is_null() ? params["arguments"] : json::object();
    if (!args.is_object()) {
      fail(kInvalidParams, "Invalid params: \"arguments\" must be an object");
      return;
    }
    // MRTR: the client can be asked (form elicitation declared in this request), and a retry's answers.
    bool input_form = false;
    if (const json& caps = meta[kMetaClientCapabilities]; caps.contains("elicitation") && caps["elicitation"].is_object()) {
      const json& e = caps["elicitation"];
      input_form = e.contains("form") || !e.contains("url");
    }
    json input_responses, request_state;
    if (params.contains("inputResponses") && !params["inputResponses"].is_null()) {
      if (!params["inputResponses"].is_object()) {
        fail(kInvalidParams, "Invalid params: \"inputResponses\" must be an object");
        return;
      }
      input_responses = params["inputResponses"];
    }
    StateBinding binding{name, args, client, envelope};
    if (params.contains("requestState") && !params["requestState"].is_null()) {
      if (!params["requestState"].is_string()) {
        fail(kInvalidParams, "Invalid params: \"requestState\" must be a string");
        return;
      }
      auto opened = open_request_state(state_key_, params["requestState"].get<std::string>(), binding, Clock::system().now_unix());
      if (!opened) {
        fail(kInvalidParams, "Invalid params: " + opened.error().message);
        return;
      }
      request_state = std::move(*opened);
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
                 input_form, input_responses, request_state, binding, state_key = state_key_,
                 args = std::move(args)]() mutable {
      CallContext ctx;
      ctx.client = client;
      ctx.envelope = envelope;
      ctx.cancel_flag = flag;
      ctx.input_required_form = input_form;
      ctx.input_responses = std::move(input_responses);
      ctx.request_state = std::move(request_state);
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
      // No elicit function: this era asks through input-required results (MRTR) instead of server requests.
      ToolOutcome out = engine::run_tool(*server, *tool, std::move(args), ctx);
      if (flag->load() && !st->draining.load()) {
      } else if (out.input_required && input_form) {
        json r = complete(json{{"inputRequests", out.input_required->input_requests},
                               {"requestState", seal_request_state(state_key, binding, out.input_required->state,
                                                                   Clock::system().now_unix() + std::max<int64_t>(1, out.input_required->ttl_s))}});
        r["resultType"] = "input_required";
        sink(make_response(id, std::move(r)), related);
      } else {
        if (out.input_required)
          out = ToolOutcome::failure(make_error("INTERNAL", "the tool asked for input the client cannot give"));
        sink(make_response(id, complete(engine::tool_result(std::move(out), true))), related);
      }
      st->leave(key);
    };
    if (run_inline && engine::runs_quickly(*tool)) task();
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
