#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <thread>

#include "mcp/engine.h"
#include "mcp/mcp.h"

namespace sw::mcp {

// ---------------------------------------------------------------- versions & JSON-RPC helpers

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> v{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return v;
}

std::string negotiate_version(const std::string& requested) {
  for (const auto& v : supported_versions())
    if (v == requested) return v;
  return kLatestVersion;
}

// Revision strings are ISO dates, so lexical order is chronological order.
bool version_at_least(const std::string& negotiated, const std::string& min) { return negotiated >= min; }

json make_response(const json& id, json result) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json make_error_response(const json& id, int code, const std::string& message, json data) {
  json err{{"code", code}, {"message", message}};
  if (!data.is_null()) err["data"] = std::move(data);
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

Kind classify(const json& msg, json* error_out) {
  auto invalid = [&](const std::string& why, const json& id = nullptr) {
    if (error_out) *error_out = make_error_response(id, kInvalidRequest, "Invalid Request: " + why);
    return Kind::invalid;
  };
  if (msg.is_array()) return invalid("JSON-RPC batches are not supported (removed in MCP 2025-06-18)");
  if (!msg.is_object()) return invalid("a message must be a JSON object");
  auto jv = msg.find("jsonrpc");
  if (jv == msg.end() || !jv->is_string() || *jv != "2.0") return invalid("\"jsonrpc\" must be \"2.0\"");
  auto id = msg.find("id");
  bool has_id = id != msg.end();
  bool valid_id = has_id && (id->is_string() || id->is_number_integer());
  json echo_id = valid_id ? *id : json(nullptr);
  auto method = msg.find("method");
  if (method != msg.end()) {
    if (!method->is_string() || method->get_ref<const std::string&>().empty())
      return invalid("\"method\" must be a non-empty string", echo_id);
    auto params = msg.find("params");
    if (params != msg.end() && !params->is_object() && !params->is_null())
      return invalid("\"params\" must be an object", echo_id);
    if (!has_id) return Kind::notification;
    if (!valid_id) return invalid("\"id\" must be a string or an integer");
    return Kind::request;
  }
  if (valid_id && (msg.contains("result") || msg.contains("error"))) return Kind::response;
  return invalid("neither a request, a notification nor a response", echo_id);
}

// ---------------------------------------------------------------- parsing untrusted messages

Result<json> parse_message(std::string_view text) {
  if (json_nesting_exceeds(text, kMaxJsonDepth))
    return make_error("JSON_TOO_DEEP", "the message nests arrays/objects deeper than " +
                                           std::to_string(kMaxJsonDepth) + " levels");
  try {  // the HTTP module calls this across runtimes: nothing may be thrown back (bad_alloc on a huge body)
    json msg = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (msg.is_discarded()) return make_error("JSON_INVALID", "the message is not valid JSON");
    return msg;
  } catch (...) {
    return make_error("JSON_INVALID", "the message could not be parsed");
  }
}

json parse_failure_response(const Error& e) {
  if (e.code == "JSON_TOO_DEEP") return make_error_response(nullptr, kInvalidRequest, "Invalid Request: " + e.message);
  return make_error_response(nullptr, kParseError, "Parse error: " + e.message);
}

// ---------------------------------------------------------------- worker pool

// Grows on demand so that a slow payment never blocks a fast call; idle workers retire after a while.
struct Server::Pool {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::condition_variable done_cv;
    std::deque<std::function<void()>> q;
    size_t threads = 0;
    size_t idle = 0;
    bool stop = false;
  };
  std::shared_ptr<State> st = std::make_shared<State>();
  static constexpr size_t kMaxThreads = 512;

  static void worker(std::shared_ptr<State> s) {
    std::unique_lock<std::mutex> lk(s->mu);
    for (;;) {
      ++s->idle;
      bool got = s->cv.wait_for(lk, std::chrono::seconds(30), [&] { return s->stop || !s->q.empty(); });
      --s->idle;
      if (s->q.empty() && (s->stop || !got)) break;
      if (s->q.empty()) continue;
      auto fn = std::move(s->q.front());
      s->q.pop_front();
      lk.unlock();
      try {
        fn();
      } catch (...) {
        log(LogLevel::error, "mcp", "worker task threw; dropped");
      }
      lk.lock();
    }
    --s->threads;
    s->done_cv.notify_all();
  }

  void spawn(std::function<void()> fn) {
    std::unique_lock<std::mutex> lk(st->mu);
    st->q.push_back(std::move(fn));
    if (st->idle < st->q.size() && st->threads < kMaxThreads) {
      ++st->threads;
      std::thread(worker, st).detach();
    }
    lk.unlock();
    st->cv.notify_one();
  }

  ~Pool() {
    std::unique_lock<std::mutex> lk(st->mu);
    st->stop = true;
    st->cv.notify_all();
    st->done_cv.wait_for(lk, std::chrono::seconds(5), [&] { return st->threads == 0; });
  }
};

Server::Server(ServerInfo info, std::shared_ptr<ToolRegistry> tools, std::vector<Resource> resources)
    : info_(std::move(info)), tools_(std::move(tools)), resources_(std::move(resources)),
      pool_(std::make_unique<Pool>()) {}
Server::~Server() = default;
void Server::spawn(std::function<void()> fn) { pool_->spawn(std::move(fn)); }

// ---------------------------------------------------------------- session

Session::Session(Server& server, std::string client, std::string envelope, Sink sink)
    : server_(server), client_(std::move(client)), envelope_(std::move(envelope)), sink_(std::move(sink)) {}

Session::~Session() { cancel_all(); }

void Session::send(const json& msg, const std::string& related) {
  try {
    sink_(msg, related);
  } catch (...) {
    log(LogLevel::warning, "mcp", "transport sink failed; message dropped");
  }
}

void Session::reply(const json& id, json result) { send(make_response(id, std::move(result)), id.dump()); }

void Session::reply_error(const json& id, int code, const std::string& message, json data) {
  send(make_error_response(id, code, message, std::move(data)), id.is_null() ? "" : id.dump());
}

void Session::handle_text(std::string_view text) {
  Result<json> msg = parse_message(text);
  if (!msg) {
    send(parse_failure_response(msg.error()), "");
    return;
  }
  handle(*msg);
}

void Session::handle(const json& msg, bool run_inline) {
  static const json kNoParams = json::object();  // params are passed by reference: no copy of the caller's tree
  json err;
  switch (classify(msg, &err)) {
    case Kind::invalid:
      send(err, "");
      return;
    case Kind::response:
      try {
        on_response(msg);
      } catch (...) {  // a response gets no reply; nothing may escape to the transport
        log(LogLevel::error, "mcp", "response handler failed");
      }
      return;
    case Kind::notification: {
      auto p = msg.find("params");
      try {
        on_notification(msg["method"].get<std::string>(), p == msg.end() ? kNoParams : *p);
      } catch (...) {  // a notification gets no reply; nothing may escape to the transport (another runtime)
        log(LogLevel::error, "mcp", "notification handler failed");
      }
      return;
    }
    case Kind::request: {
      auto p = msg.find("params");
      const json& params = (p == msg.end() || p->is_null()) ? kNoParams : *p;
      try {
        on_request(msg["id"], msg["method"].get<std::string>(), params, run_inline);
      } catch (const std::exception& e) {
        log(LogLevel::error, "mcp", std::string("request handler failed: ") + e.what());
        reply_error(msg["id"], kInternalError, "Internal error");
      } catch (...) {
        log(LogLevel::error, "mcp", "request handler failed");
        reply_error(msg["id"], kInternalError, "Internal error");
      }
      return;
    }
  }
}

json Session::initialize(const json& params) {
  std::string requested = params.contains("protocolVersion") && params["protocolVersion"].is_string()
                              ? params["protocolVersion"].get<std::string>()
                              : "";
  version_ = negotiate_version(requested);
  // capabilities.elicitation: {} means form mode (2025-06-18, and 2025-11-25 for compatibility); {form:{}},
  // {url:{}} or both name the modes. Presence counts, as in the reference SDK.
  bool form = false, url = false;
  auto caps_in = params.find("capabilities");
  if (caps_in != params.end() && caps_in->is_object()) {
    auto e = caps_in->find("elicitation");
    if (e != caps_in->end() && e->is_object()) {
      url = e->contains("url");
      form = e->contains("form") || !url;
    }
  }
  elicit_form_.store(form);
  elicit_url_.store(url);
  ui_apps_.store(caps_in != params.end() && declares_ui_apps(*caps_in));
  const auto& info = server_.info();
  json server_info{{"name", info.name}, {"version", info.version}};
  if (version_at_least(version_, "2025-06-18")) server_info["title"] = info.title;
  json caps{{"tools", {{"listChanged", false}}}, {"logging", json::object()}};
  if (!server_.resources().empty()) caps["resources"] = {{"listChanged", false}, {"subscribe", false}};
  json result{{"protocolVersion", version_}, {"capabilities", caps}, {"serverInfo", server_info}};
  if (!info.instructions.empty()) result["instructions"] = info.instructions;
  return result;
}

void Session::on_request(const json& id, const std::string& method, const json& params, bool run_inline) {
  if (method == "initialize") {
    reply(id, initialize(params));
    return;
  }
  if (method == "ping") {
    reply(id, json::object());
    return;
  }
  if (method == "tools/list") {
    auto page = engine::list_tools(server_, version_, params, ui_apps_.load());
    if (!page) reply_error(id, kInvalidParams, "Invalid params: " + page.error().message);
    else reply(id, std::move(*page));
    return;
  }
  if (method == "tools/call") {
    call_tool(id, params, run_inline);
    return;
  }
  if (method == "logging/setLevel") {
    auto lvl = params.contains("level") && params["level"].is_string()
                   ? parse_log_level(params["level"].get<std::string>())
                   : std::nullopt;
    if (!lvl) {
      reply_error(id, kInvalidParams,
                  "Invalid params: level must be one of debug, info, notice, warning, error, critical, alert, emergency");
      return;
    }
    log_threshold_.store(static_cast<int>(*lvl));
    reply(id, json::object());
    return;
  }
  if (!server_.resources().empty()) {
    if (method == "resources/list" || method == "resources/templates/list") {
      reply(id, engine::list_resources(server_, method == "resources/templates/list", version_, ui_apps_.load()));
      return;
    }
    if (method == "resources/read") {
      if (!params.contains("uri") || !params["uri"].is_string()) {
        reply_error(id, kInvalidParams, "Invalid params: uri (string) is required");
        return;
      }
      std::string uri = params["uri"].get<std::string>();
      const Resource* match = engine::find_resource(server_, uri);
      if (!match) {
        reply_error(id, kResourceNotFound, "Resource not found", json{{"uri", uri}});
        return;
      }
      auto self = shared_from_this();
      const Resource* res = match;
      server_.spawn([self, res, id, uri] {
        CallContext ctx;
        ctx.client = self->client_;
        ctx.envelope = self->envelope_;
        auto text = res->read(uri, ctx);
        if (!text) {
          if (text.error().code == "NOT_FOUND")
            self->reply_error(id, kResourceNotFound, "Resource not found: " + text.error().message, json{{"uri", uri}});
          else
            self->reply_error(id, kInternalError, text.error().code + ": " + text.error().message);
          return;
        }
        json content{{"uri", uri}, {"mimeType", res->mime_type}, {"text", *text}};
        if (!res->meta.is_null()) content["_meta"] = res->meta;
        self->reply(id, json{{"contents", json::array({std::move(content)})}});
      });
      return;
    }
  }
  reply_error(id, kMethodNotFound, "Method not found: " + method);
}

void Session::on_notification(const std::string& method, const json& params) {
  if (method == "notifications/initialized") {
    initialized_.store(true);
    return;
  }
  if (method == "notifications/cancelled") {
    if (!params.contains("requestId")) return;
    const auto& rid = params["requestId"];
    if (!rid.is_string() && !rid.is_number_integer()) return;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = in_flight_.find(rid.dump());
    if (it != in_flight_.end()) it->second->store(true);
    reply_cv_.notify_all();  // a tool of that call may be waiting for the client (elicit)
    return;
  }
  // Other notifications (roots/list_changed, progress from the client, …) need no action.
}


void Session::call_tool(const json& id, const json& params, bool run_inline) {
  if (!params.contains("name") || !params["name"].is_string()) {
    reply_error(id, kInvalidParams, "Invalid params: tools/call needs a string \"name\"");
    return;
  }
  std::string name = params["name"].get<std::string>();
  const Tool* tool = server_.tools().find(name);
  // An app-only tool does not exist for other clients, nor a tool outside the server's profile for anyone.
  if (!tool || tool->hidden || (tool->app_only() && !ui_apps_.load())) {
    reply_error(id, kInvalidParams, "Unknown tool: " + name, json{{"name", name}});
    return;
  }
  json args = params.contains("arguments") && !params["arguments"].is_null() ? params["arguments"] : json::object();
  if (!args.is_object()) {
    reply_error(id, kInvalidParams, "Invalid params: \"arguments\" must be an object");
    return;
  }
  std::string key = id.dump();
  auto flag = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (in_flight_.count(key)) {
      reply_error(id, kInvalidRequest, "Invalid Request: request id is already in use");
      return;
    }
    in_flight_[key] = flag;
  }
  json progress_token;
  if (params.contains("_meta") && params["_meta"].is_object() && params["_meta"].contains("progressToken")) {
    const auto& pt = params["_meta"]["progressToken"];
    if (pt.is_string() || pt.is_number_integer()) progress_token = pt;
  }
  auto self = shared_from_this();
  auto task = [self, tool, id, key, args = std::move(args), flag, progress_token]() mutable {
    CallContext ctx;
    ctx.client = self->client_;
    ctx.envelope = self->envelope_;
    ctx.cancel_flag = flag;
    ctx.ui_apps = self->ui_apps_.load();
    auto last = std::make_shared<double>(-1.0);
    ctx.progress = [self, progress_token, key, last, flag](double p, std::optional<double> total, const std::string& m) {
      if (progress_token.is_null() || flag->load() || p <= *last) return;
      *last = p;
      json n{{"progressToken", progress_token}, {"progress", p}};
      if (total) n["total"] = *total;
      if (!m.empty()) n["message"] = m;
      self->send(json{{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", n}}, key);
    };
    ctx.log = [self, key](LogLevel level, const std::string& logger, const json& data) {
      if (static_cast<int>(level) < self->log_threshold_.load()) return;
      self->send(json{{"jsonrpc", "2.0"},
                      {"method", "notifications/message"},
                      {"params", {{"level", log_level_name(level)}, {"logger", logger}, {"data", data}}}},
                 key);
    };
    if (self->elicit_form_.load())
      ctx.elicit = [self, key, flag](const json& p, std::chrono::milliseconds timeout) {
        return self->elicit(p, timeout, nullptr, key, flag);
      };
    if (self->elicit_form_.load())
      ctx.elicit_until = [self, key, flag](const json& p, std::chrono::milliseconds timeout,
                                           const std::shared_ptr<std::atomic<bool>>& withdraw) {
        return self->elicit(p, timeout, withdraw, key, flag);
      };

    ToolOutcome out = engine::run_tool(self->server_, *tool, std::move(args), ctx);
    // A cancelled request gets no response (MCP cancellation) — except when the server drains for shutdown: the
    // client is still there and must learn the outcome (paid, or cancelled before anything was paid).
    if (!flag->load() || self->draining_.load())
      self->reply(id, engine::tool_result(std::move(out), version_at_least(self->version_, "2025-06-18")));
    {
      std::lock_guard<std::mutex> lk(self->mu_);
      self->in_flight_.erase(key);
    }
    self->idle_cv_.notify_all();
  };
  if (run_inline && engine::runs_quickly(*tool)) task();
  else server_.spawn(std::move(task));
}

void Session::drain() {
  draining_ = true;
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [k, f] : in_flight_) f->store(true);
}

void Session::cancel_all() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [k, f] : in_flight_) f->store(true);
  client_gone_ = true;
  reply_cv_.notify_all();
}

void Session::client_gone() {
  std::lock_guard<std::mutex> lk(mu_);
  client_gone_ = true;
  reply_cv_.notify_all();
}

size_t Session::pending_client_requests() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pending_.size();
}

// ---------------------------------------------------------------- server → client requests

void Session::on_response(const json& msg) {
  std::string key = msg["id"].dump();
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second->is_null()) {
      *it->second = msg;
      reply_cv_.notify_all();
      return;
    }
  }
  // Late (timed out, cancelled), duplicate, or never ours: nothing waits for it.
  log(LogLevel::debug, "mcp", "response to an unknown request id ignored: " + key.substr(0, 80));
}

Result<json> Session::request_client(const std::string& method, json params, std::chrono::milliseconds timeout,
                                     const std::shared_ptr<std::atomic<bool>>& withdraw,
                                     const std::string& related, const std::shared_ptr<std::atomic<bool>>& cancel) {
  using Clk = std::chrono::steady_clock;
  timeout = std::clamp<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(1), std::chrono::hours(24));
  const auto deadline = Clk::now() + timeout;
  auto slot = std::make_shared<json>();  // null until the response arrives
  std::string id;
  std::string key;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (client_gone_) return make_error("CANCELLED", "the session closed; the client cannot answer " + method);
    if (cancel && cancel->load()) return make_error("CANCELLED", "the call was cancelled before " + method + " was sent");
    // String ids, in a space of their own: a client's ids never matter here (responses go the other way).
    id = "sw-e-" + std::to_string(++next_client_request_);
    key = json(id).dump();
    pending_[key] = slot;
  }
  send(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}}, related);

  enum class Why { answered, gone, cancelled, withdrawn, timed_out } why;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {  // ends by the deadline at the latest; the 100 ms step also notices a cancel flag set by anyone
    if (!slot->is_null()) { why = Why::answered; break; }
    if (client_gone_) { why = Why::gone; break; }
    if (cancel && cancel->load()) { why = Why::cancelled; break; }
    if (withdraw && withdraw->load()) { why = Why::withdrawn; break; }
    auto now = Clk::now();
    if (now >= deadline) { why = Why::timed_out; break; }
    reply_cv_.wait_until(lk, std::min(deadline, now + std::chrono::milliseconds(100)));
  }
  pending_.erase(key);
  json response = std::move(*slot);
  lk.unlock();
  if (why == Why::answered) return response;
  if (why == Why::gone) return make_error("CANCELLED", "the session closed before the client answered " + method);
  // The client may still be showing it: tell it the request is void (MCP cancellation; a late answer is ignored).
  std::string reason = why == Why::cancelled   ? "the tool call was cancelled"
                       : why == Why::withdrawn ? "answered elsewhere; the question is withdrawn"
                                               : "the server stopped waiting (timeout)";
  send(json{{"jsonrpc", "2.0"},
            {"method", "notifications/cancelled"},
            {"params", {{"requestId", id}, {"reason", reason}}}},
       related);
  if (why == Why::cancelled) return make_error("CANCELLED", "the call was cancelled while waiting for the client to answer " + method);
  if (why == Why::withdrawn) return make_error("WITHDRAWN", "the server withdrew " + method + " (answered elsewhere)");
  return make_error("TIMEOUT", "the client did not answer " + method + " within " + std::to_string(timeout.count()) + " ms");
}

namespace {

bool is_string_array(const json& a) {
  return a.is_array() && std::all_of(a.begin(), a.end(), [](const json& v) { return v.is_string(); });
}

// [{const: "x", title?}, …] → the consts; false when malformed.
bool titled_consts(const json& a, std::vector<std::string>& out) {
  if (!a.is_array() || a.empty()) return false;
  for (const auto& v : a) {
    if (!v.is_object() || !v.contains("const") || !v["const"].is_string()) return false;
    out.push_back(v["const"].get<std::string>());
  }
  return true;
}

// The values a string (or array item) schema allows: from enum or oneOf/anyOf titled consts. Empty = any string.
// Error text in `problem` when malformed.
std::vector<std::string> allowed_strings(const json& s, const char* titled_key, std::string& problem) {
  std::vector<std::string> out;
  if (s.contains("enum")) {
    if (!is_string_array(s["enum"]) || s["enum"].empty()) problem = "enum must be a non-empty array of strings";
    else
      for (const auto& v : s["enum"]) out.push_back(v.get<std::string>());
  } else if (s.contains(titled_key)) {
    if (!titled_consts(s[titled_key], out)) problem = std::string(titled_key) + " must be [{const: string, title?}, …]";
  }
  return out;
}

// A form-mode requestedSchema: a flat object whose properties are string (optionally enum / oneOf), number,
// integer, boolean, or an array of strings from an enum / anyOf (multi-select). nullopt = fine.
std::optional<std::string> requested_schema_problem(const json& schema) {
  if (!schema.is_object()) return "requestedSchema must be an object";
  if (schema.value("type", json()) != "object") return "requestedSchema.type must be \"object\"";
  auto props = schema.find("properties");
  if (props == schema.end() || !props->is_object()) return "requestedSchema.properties must be an object";
  for (auto it = props->begin(); it != props->end(); ++it) {
    const json& p = it.value();
    std::string where = "requestedSchema.properties." + it.key();
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) return where + " must be an object with a type";
    std::string type = p["type"].get<std::string>();
    std::string problem;
    if (type == "string") {
      allowed_strings(p, "oneOf", problem);
    } else if (type == "array") {
      auto items = p.find("items");
      if (items == p.end() || !items->is_object()) return where + ".items must be an object";
      if (items->contains("type") && (*items)["type"] != "string") return where + ".items.type must be \"string\"";
      if (allowed_strings(*items, "anyOf", problem).empty() && problem.empty())
        problem = "items must list the choices (enum or anyOf)";
    } else if (type != "number" && type != "integer" && type != "boolean") {
      return where + ".type must be string, number, integer, boolean or array (flat, primitive properties only)";
    }
    if (!problem.empty()) return where + ": " + problem;
  }
  if (schema.contains("required")) {
    const json& req = schema["required"];
    if (!is_string_array(req)) return "requestedSchema.required must be an array of strings";
    for (const auto& r : req)
      if (!props->contains(r.get<std::string>()))
        return "requestedSchema.required names an undeclared property: " + r.get<std::string>();
  }
  return std::nullopt;
}

// Accepted content against the requestedSchema (already checked well-formed): declared names only, declared
// types, enum choices, required names present. nullopt = fine.
std::optional<std::string> content_problem(const json& content, const json& schema) {
  const json& props = schema["properties"];
  for (auto it = content.begin(); it != content.end(); ++it) {
    auto p = props.find(it.key());
    if (p == props.end()) return "content." + it.key() + " is not in requestedSchema";
    const json& v = it.value();
    std::string type = (*p)["type"].get<std::string>();
    std::string ignored;
    bool good = false;
    if (type == "string") {
      auto allowed = allowed_strings(*p, "oneOf", ignored);
      good = v.is_string() &&
             (allowed.empty() || std::find(allowed.begin(), allowed.end(), v.get<std::string>()) != allowed.end());
    } else if (type == "number") {
      good = v.is_number();
    } else if (type == "integer") {
      good = v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                        std::floor(v.get<double>()) == v.get<double>());
    } else if (type == "boolean") {
      good = v.is_boolean();
    } else if (type == "array") {
      auto allowed = allowed_strings((*p)["items"], "anyOf", ignored);
      good = is_string_array(v) && std::all_of(v.begin(), v.end(), [&](const json& x) {
               return std::find(allowed.begin(), allowed.end(), x.get<std::string>()) != allowed.end();
             });
    }
    if (!good) return "content." + it.key() + " does not match its schema (" + type + ")";
  }
  if (schema.contains("required"))
    for (const auto& r : schema["required"])
      if (!content.contains(r.get<std::string>())) return "content lacks required " + r.get<std::string>();
  return std::nullopt;
}

}  // namespace

Result<json> Session::elicit(const json& params, std::chrono::milliseconds timeout,
                             const std::shared_ptr<std::atomic<bool>>& withdraw, const std::string& related,
                             const std::shared_ptr<std::atomic<bool>>& cancel) {
  if (!elicit_form_.load())
    return make_error("ELICITATION_UNSUPPORTED", "the client did not declare form-mode elicitation");
  auto invalid = [](const std::string& why) { return make_error("ELICITATION_INVALID", "elicitation request: " + why); };
  if (!params.is_object()) return invalid("params must be an object");
  for (auto it = params.begin(); it != params.end(); ++it)
    if (it.key() != "message" && it.key() != "requestedSchema" && it.key() != "mode" && it.key() != "_meta")
      return invalid("unexpected parameter " + it.key());
  if (params.contains("mode") && params["mode"] != "form") return invalid("only mode \"form\" is supported");
  if (!params.contains("message") || !params["message"].is_string() || params["message"].get_ref<const std::string&>().empty())
    return invalid("message must be a non-empty string");
  if (!params.contains("requestedSchema")) return invalid("requestedSchema is required");
  const json& schema = params["requestedSchema"];
  if (auto problem = requested_schema_problem(schema)) return invalid(*problem);
  if (params.contains("_meta") && !params["_meta"].is_object()) return invalid("_meta must be an object");

  json out{{"message", params["message"]}, {"requestedSchema", schema}};
  if (version_at_least(version_, "2025-11-25")) out["mode"] = "form";  // earlier revisions have no mode field
  if (params.contains("_meta")) out["_meta"] = params["_meta"];

  auto r = request_client("elicitation/create", std::move(out), timeout, withdraw, related, cancel);
  if (!r) {
    if (r.error().code == "TIMEOUT") return make_error("ELICITATION_TIMEOUT", r.error().message);
    return r.error();
  }
  const json& response = *r;
  if (auto e = response.find("error"); e != response.end()) {
    json code = e->is_object() && e->contains("code") ? (*e)["code"] : json();
    std::string message = e->is_object() && e->contains("message") && (*e)["message"].is_string()
                              ? (*e)["message"].get<std::string>()
                              : "";
    return make_error("ELICITATION_FAILED", "the client answered elicitation/create with an error: " + message,
                      json{{"rpc_code", code}, {"rpc_message", message}});
  }
  auto res_it = response.find("result");
  const json& result = res_it == response.end() ? response : *res_it;  // classify() saw result or error
  auto bad = [](const std::string& why) {
    return make_error("ELICITATION_FAILED", "the client's elicitation result is malformed: " + why);
  };
  if (!result.is_object()) return bad("not an object");
  auto action = result.find("action");
  if (action == result.end() || !action->is_string() ||
      (*action != "accept" && *action != "decline" && *action != "cancel"))
    return bad("action must be accept, decline or cancel");
  json answer{{"action", *action}};
  if (*action == "accept") {
    json content = result.contains("content") && !result["content"].is_null() ? result["content"] : json::object();
    if (!content.is_object()) return bad("content must be an object");
    if (auto problem = content_problem(content, schema)) return bad(*problem);
    answer["content"] = std::move(content);
  }
  return answer;
}

bool Session::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  return idle_cv_.wait_for(lk, timeout, [&] { return in_flight_.empty(); });
}

size_t Session::in_flight() const {
  std::lock_guard<std::mutex> lk(mu_);
  return in_flight_.size();
}

}  // namespace sw::mcp
