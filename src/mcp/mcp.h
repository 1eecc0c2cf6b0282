// sw::mcp — the Model Context Protocol layer, dual-era on one engine.
// Legacy era (2025-11-25; negotiates down to 2025-06-18, 2025-03-26, 2024-11-05) — class Session: JSON-RPC 2.0
// framing, the lifecycle (initialize / initialized / ping), tools/list with cursor pagination, tools/call with input
// validation against the tool's schema (valijson), structuredContent, progress, cancellation, logging/setLevel +
// notifications/message, resources/list + resources/read (when resources exist). Server→client requests:
// elicitation/create in form mode (CallContext::elicit), when the client declared it; the client's JSON-RPC
// responses are matched to the waiting call by id (server ids are strings "sw-e-<n>").
// Modern era (2026-07-28) — class Stateless: a request whose params._meta carries the per-request protocol fields
// (io.modelcontextprotocol/protocolVersion, …/clientCapabilities; is_modern()) is served on its own, with no
// initialize and no session: server/discover, tools/list, tools/call, resources/list, resources/templates/list,
// resources/read. Every result has resultType "complete" and _meta["io.modelcontextprotocol/serverInfo"]; the
// cacheable ones carry ttlMs and cacheScope. Errors of the era: -32602 for a missing required _meta key and for an
// unknown resource, -32022 unsupported version (data.supported/requested), -32020 HTTP header mismatch, -32021
// missing client capability, -32601 (HTTP 404) for every method this era does not serve (initialize, ping,
// logging/setLevel, resources/subscribe, …). Logging only when the request carried …/logLevel. Input-required
// results (MRTR) for tools/call: a tool may answer ToolOutcome::input_required when the request's capabilities
// declare form elicitation; the result is {resultType:"input_required", inputRequests, requestState} and the
// client's retry carries params.inputResponses + params.requestState (verified before the tool runs: -32602 if it
// fails). Not yet: subscriptions/listen, the tasks extension.
// Both eras list tools, resources and run tools through the same code (engine.h) and the same registry and
// handlers; each call gets a CallContext with the client and envelope the transport authenticated.
// Transport-agnostic: a transport feeds raw messages into a Session or a Stateless and receives outgoing messages
// via a Sink.
// Thread-safety: Server and ToolRegistry are immutable after start and shared by all sessions. A Session may be fed
// from several threads; its Sink may be called from any thread (tool calls run on a worker pool) so responses
// can leave out of order. Errors: protocol errors become JSON-RPC errors; tool failures become isError results
// with a stable code. No exception escapes handle(); a throwing tool becomes an INTERNAL isError result.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"

namespace sw::mcp {

inline constexpr const char* kLatestVersion = "2025-11-25";
// Newest first. The server echoes a supported requested version, else answers with kLatestVersion.
const std::vector<std::string>& supported_versions();
std::string negotiate_version(const std::string& requested);
bool version_at_least(const std::string& negotiated, const std::string& min);

// JSON-RPC error codes.
enum RpcCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kResourceNotFound = -32002,        // legacy era only; the modern era answers -32602
  kHeaderMismatch = -32020,          // modern: HTTP headers missing or not matching the body
  kMissingClientCapability = -32021, // modern: the request needs a capability the client did not declare
  kUnsupportedVersion = -32022,      // modern: data {supported: [...], requested}
};

// ---- parsing untrusted messages ----

// How deep a JSON-RPC message may nest (arrays and objects; the message object is level 1, its params 2, a tool's
// arguments 3). Deeper input is refused before it is parsed: nlohmann::json parses iteratively, but copying,
// comparing or dumping a tree recurses once per level, and ~90,000 levels overflow a thread's stack. Real messages
// nest well under 10 levels.
inline constexpr size_t kMaxJsonDepth = 64;

// True when `text` opens more than `max_depth` arrays/objects inside one another: sw::json_nesting_exceeds (common),
// which the other parsers of untrusted JSON use too; named here as well so mcp:: callers keep working.
using sw::json_nesting_exceeds;

// Parses one raw message (a stdio line, an HTTP body) with nesting bounded by kMaxJsonDepth. Errors:
// JSON_TOO_DEEP (nested beyond the limit; nothing was parsed), JSON_INVALID (not JSON). Never throws.
Result<json> parse_message(std::string_view text);
// The JSON-RPC error response (id null) a transport sends for a parse_message error: -32600 Invalid Request for
// JSON_TOO_DEEP (the text may well be JSON; it is not a request this server accepts), -32700 Parse error otherwise.
json parse_failure_response(const Error& e);

// ---- tools ----

// What a running tool can do besides computing its result.
struct CallContext {
  std::string client;    // who is calling: bearer-token label, "stdio", or "http-anonymous"
  std::string envelope;  // hosted budget envelope bound to the caller's token ("" = none)
  // The owner's own faces (the console, MCP Apps' owner actions): the caller sees and acts on everything, as over
  // stdio, even on a listener that requires bearer tokens.
  bool owner = false;
  // The client declared the MCP Apps extension (capabilities.extensions["io.modelcontextprotocol/ui"] with the
  // mcp-app MIME type, 2025 era): results may link UI resources (ToolOutcome::meta "ui").
  bool ui_apps = false;
  // Sends notifications/progress when the caller gave a progressToken; no-op otherwise. `progress` must increase.
  std::function<void(double progress, std::optional<double> total, const std::string& message)> progress;
  // Sends notifications/message to this session when `level` >= the session's logging/setLevel threshold.
  std::function<void(LogLevel level, const std::string& logger, const json& data)> log;
  std::shared_ptr<std::atomic<bool>> cancel_flag;
  bool cancelled() const { return cancel_flag && cancel_flag->load(); }
  // Asks the person at the client (elicitation/create, form mode) and blocks until they answer. Empty when the
  // client did not declare form elicitation in `initialize` (check before calling). `params`: {message (non-empty
  // string), requestedSchema: {type:"object", properties: {name: {type: string|number|integer|boolean, …} or a
  // string-enum array {type:"array", items:{…}}}, required?: [names]}, _meta?}; the session adds mode:"form" when
  // the negotiated protocol is 2025-11-25 or later. The request goes out related to this tools/call (over
  // Streamable HTTP on that POST's stream, which becomes SSE if it was JSON). `timeout` is clamped to 1 ms..24 h.
  // Returns the client's result {action: "accept"|"decline"|"cancel", content?: {name: value}}; with accept, content
  // is checked against requestedSchema (declared names only, declared types and enums, required names present).
  // Errors: ELICITATION_INVALID (bad params; nothing was sent), ELICITATION_FAILED (the client answered with a
  // JSON-RPC error — its code and message in details — or a result of the wrong shape), ELICITATION_TIMEOUT (no
  // answer in time; the server sends notifications/cancelled for it), CANCELLED (this tools/call was cancelled,
  // or the session closed / the client went away), ELICITATION_UNSUPPORTED (client did not declare form mode).
  // Safe to call from the tool's thread only; several tools may elicit at once (each waits for its own answer).
  std::function<Result<json>(const json& params, std::chrono::milliseconds timeout)> elicit;
  // The same, withdrawn when `withdraw` is set (checked every 100 ms): the question was answered elsewhere (e.g.
  // the owner decided an approval from another channel). The client is sent notifications/cancelled for it and
  // the call returns WITHDRAWN. Set exactly when `elicit` is.
  std::function<Result<json>(const json& params, std::chrono::milliseconds timeout,
                             const std::shared_ptr<std::atomic<bool>>& withdraw)>
      elicit_until;
  // Modern era (2026-07-28) only — input-required results (MRTR, basic/patterns/mrtr). True when this request's
  // _meta client capabilities declare form elicitation ({} or {form:{}}): the tool may answer with
  // ToolOutcome::input_required carrying elicitation/create requests, and the client retries the same call.
  bool input_required_form = false;
  // On such a retry: the payload the tool sealed in its requestState, verified (HMAC, this tool, these arguments,
  // this caller, not expired) — null when the retry carried none; a state that fails verification never reaches
  // the tool (-32602). And the client's inputResponses (an object keyed like the inputRequests; null if absent).
  json request_state;
  json input_responses;
};

// A tool's request for input from the person at the client (modern era, MRTR): the inputRequests map (values are
// {method:"elicitation/create", params:{mode:"form", …}}), the payload to seal into requestState (any JSON; handed
// back as CallContext::request_state on the retry) and how long that state is valid.
struct InputRequired {
  json input_requests;
  json state;
  int64_t ttl_s = 300;
};

// A tool's outcome: structured success, or an Error that becomes {isError:true} with code + message.
struct ToolOutcome {
  bool is_error = false;
  json structured;
  Error error;
  // Set (with is_error false) when the tool needs input first: the modern era answers resultType
  // "input_required". Only when CallContext::input_required_form was set.
  std::optional<InputRequired> input_required;
  // The result's _meta (e.g. {"ui":{"resourceUri":"ui://…"}} for an MCP Apps host); null = none.
  json meta;
  static ToolOutcome success(json s) { return ToolOutcome{false, std::move(s), {}, std::nullopt, json()}; }
  static ToolOutcome failure(Error e) { return ToolOutcome{true, json(), std::move(e), std::nullopt, json()}; }
  static ToolOutcome need_input(InputRequired in) { return ToolOutcome{false, json(), {}, std::move(in), json()}; }
};

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  json annotations = json::object();  // readOnlyHint, destructiveHint, idempotentHint, openWorldHint, title
  json input_schema;                   // from schemas/<name>.input.json
  json output_schema;                  // from schemas/<name>.output.json
  std::function<ToolOutcome(const json& args, CallContext& ctx)> handler;
  // MCP Apps (SEP-1865): the tool definition's _meta.ui — {resourceUri: "ui://…"} and/or {visibility: ["app"]} —
  // shown only to clients that declared the extension. An app-only tool (visibility ["app"]) is neither listed
  // to nor callable by any other client, so it never reaches a model through a host without the extension.
  json ui;
  // Outside this server's tool profile (config `tools`): neither listed to nor callable by any MCP client; the
  // owner's own faces (the console) still call it in-process.
  bool hidden = false;
  bool app_only() const { return ui.is_object() && ui.contains("visibility") && ui["visibility"] == json::array({"app"}); }
};

// The MCP Apps extension id and the UI resource MIME type.
inline constexpr const char* kUiExtension = "io.modelcontextprotocol/ui";
inline constexpr const char* kUiMimeType = "text/html;profile=mcp-app";
// True when an initialize `capabilities` object declares the MCP Apps extension with the mcp-app MIME type.
bool declares_ui_apps(const json& capabilities);

// The schemas embedded from schemas/*.json at build time: name without ".json" → its text, and one parsed on
// request (a new document each call; nullopt for an unknown name or a text that is not JSON). Kept as text so
// that the one parsed copy the server holds is its tool's (the parsed documents are most of the start-up heap).
const std::map<std::string_view, std::string_view>& embedded_schema_texts();
std::optional<json> embedded_schema(std::string_view name);

class ToolRegistry {
 public:
  ToolRegistry();
  ~ToolRegistry();
  ToolRegistry(const ToolRegistry&) = delete;
  ToolRegistry& operator=(const ToolRegistry&) = delete;
  // Compiles the input schema; error SCHEMA_INVALID if either schema is missing or does not compile, or the name
  // is taken or not a valid MCP tool name.
  Status add(Tool tool);
  const Tool* find(const std::string& name) const;
  const std::vector<std::string>& names() const { return order_; }
  // The arguments a tool runs on: `args` with every `null` given for an optional property removed, then validated
  // against the tool's input schema. Strict-mode clients (OpenAI's, and the agent frameworks on it) send null for
  // each optional argument they omit; here that means absent, for every tool. Dropped: nulls for properties the
  // schema declares, that are not `required` and whose schema does not admit null, at the top level and in the
  // declared properties and array items of nested objects. A null for a required property stays and fails.
  // Error INVALID_ARGUMENTS, message "invalid arguments: <field>: <problem>" (e.g. "max_sats: expected integer,
  // got string", "invoice: missing required property (expected string)"); details: field (dotted), pointer
  // (RFC 6901), problem, expected (the schema's types, when it names them), got, and every error found.
  Result<json> prepare(const std::string& name, json args) const;
  // prepare() without the result: the same verdict and error.
  Status validate(const std::string& name, const json& args) const;

 private:
  struct Compiled;
  std::map<std::string, std::unique_ptr<Compiled>> tools_;
  std::vector<std::string> order_;
};

// ---- tool profiles (config `tools`; profiles.cpp) ----
// Which registered tools MCP clients see. Presets: pay (the default), wallet, budget, lnurl, l402; "all" is
// everything. resolve_tool_profile combines presets, "all" and tool names (is_tool says which names are tools):
// CONFIG_INVALID names an entry that is neither. A hidden tool (Tool::hidden) stays callable by the owner's faces.
const std::map<std::string, std::vector<std::string>>& tool_presets();
struct ToolProfile {
  bool everything = false;      // "all" (or no configuration)
  std::set<std::string> tools;  // the named and preset tools otherwise
  // Outside the profile; an app-only tool never is (it belongs to the MCP App that calls it, not to a profile).
  bool hides(const Tool& t) const;
};
Result<ToolProfile> resolve_tool_profile(const std::vector<std::string>& entries,
                                         const std::function<bool(const std::string&)>& is_tool);
// A tool description for its audience: text between {hosted} and {/hosted} is kept (without the markers) when the
// server serves bearer-token callers, dropped otherwise, with the double and trailing spaces that leaves.
std::string for_audience(const std::string& description, bool hosted);

// ---- resources (optional; served when any exist) ----
struct Resource {
  std::string uri;  // exact URI, or a template with one {var} at the end, e.g. satwarden://payments/{payment_hash}
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type = "application/json";
  bool is_template = false;
  // Returns the resource text, or an Error (NOT_FOUND → -32002). `ctx` says who is reading (client, envelope;
  // no progress, log or cancellation), so a resource can show each caller its own view.
  std::function<Result<std::string>(const std::string& uri, const CallContext& ctx)> read;
  // Optional: what subscribers compare to decide that the resource changed (same errors as read). Needed when
  // the text carries something that changes on every read (a "now"); absent = the text itself.
  std::function<Result<std::string>(const std::string& uri, const CallContext& ctx)> version;
  // Served as _meta on the resource (lists) and on its contents (read), e.g. MCP Apps' {"ui":{"csp":…}}; null = none.
  json meta;
};

// ---- server ----
struct ServerInfo {
  std::string name = "satwarden";
  std::string title = "satwarden — Lightning payments within a budget";
  std::string version;
  std::string instructions;
  size_t tools_page_size = 50;
};

class Server;

// Outgoing message sink. Called from any thread; must be thread-safe and must not block for long.
// `related_request` is the id (dumped JSON) of the request this message belongs to ("" = unrelated).
using Sink = std::function<void(const json& message, const std::string& related_request)>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, std::string client, std::string envelope, Sink sink);
  ~Session();
  // Feeds one raw message (a line on stdio, a POST body on HTTP), parsed with parse_message. Never throws.
  void handle_text(std::string_view text);
  // Feeds a parsed message. Untrusted input must come through parse_message (handle_text does), which bounds its
  // depth: copying a tree recurses once per level.
  // run_inline: execute a tools/call on the calling thread (an HTTP worker that will wait for the answer anyway)
  // instead of handing it to the worker pool; saves two thread switches per call.
  void handle(const json& msg, bool run_inline = false);
  const std::string& protocol_version() const { return version_; }
  bool initialized() const { return initialized_.load(); }
  // From the client's `initialize` capabilities.elicitation: {} and {form:{}} declare form mode (an object without
  // `form` or `url` counts as form, as the 2025-11-25 spec says for {}); {url:{}} declares URL mode only.
  bool client_supports_elicitation_form() const { return elicit_form_.load(); }
  bool client_supports_ui_apps() const { return ui_apps_.load(); }
  bool client_supports_elicitation_url() const { return elicit_url_.load(); }
  // Cancels every in-flight request (session closed); pending server→client requests fail with CANCELLED.
  void cancel_all();
  // Shutdown's first step: cancels every in-flight call (each stops if it has not reached its point of no return)
  // but, unlike cancel_all, every call still answers with its outcome.
  void drain();
  // The client can no longer answer (stdin closed, stream gone): pending server→client requests fail now with
  // CANCELLED and later ones fail at once. In-flight tool calls are NOT cancelled (they may finish and answer).
  void client_gone();
  // Server→client requests waiting for the client's response.
  size_t pending_client_requests() const;
  // Blocks until no request is in flight or the timeout passes (used at shutdown and by tests).
  bool wait_idle(std::chrono::milliseconds timeout);
  size_t in_flight() const;

 private:
  void reply(const json& id, json result);
  void reply_error(const json& id, int code, const std::string& message, json data = nullptr);
  void send(const json& msg, const std::string& related);
  void on_request(const json& id, const std::string& method, const json& params, bool run_inline);
  void on_notification(const std::string& method, const json& params);
  void call_tool(const json& id, const json& params, bool run_inline);
  json initialize(const json& params);
  void on_response(const json& msg);
  // Sends a request to the client related to the in-flight request `related` (dumped id) and waits for its
  // response: the full response message (with result or error), or TIMEOUT / CANCELLED.
  Result<json> request_client(const std::string& method, json params, std::chrono::milliseconds timeout,
                              const std::shared_ptr<std::atomic<bool>>& withdraw,
                              const std::string& related, const std::shared_ptr<std::atomic<bool>>& cancel);
  Result<json> elicit(const json& params, std::chrono::milliseconds timeout,
                      const std::shared_ptr<std::atomic<bool>>& withdraw, const std::string& related,
                      const std::shared_ptr<std::atomic<bool>>& cancel);

  Server& server_;
  std::string client_;
  std::string envelope_;
  Sink sink_;
  std::string version_ = "2025-03-26";  // assumed until initialize (Streamable HTTP default)
  std::atomic<bool> initialized_{false};
  std::atomic<int> log_threshold_{static_cast<int>(LogLevel::info)};
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> in_flight_;  // request id (dumped) → cancel flag
  std::atomic<bool> elicit_form_{false};
  std::atomic<bool> ui_apps_{false};
  std::atomic<bool> elicit_url_{false};
  std::atomic<bool> draining_{false};
  // Server→client requests: id (dumped) → the response once it arrives (null until then). Guarded by mu_;
  // reply_cv_ is notified on every response, cancellation, cancel_all and client_gone.
  std::map<std::string, std::shared_ptr<json>> pending_;
  std::condition_variable reply_cv_;
  uint64_t next_client_request_ = 0;
  bool client_gone_ = false;
};

// Fair sharing of tool calls between callers (hosted HTTP: bearer-token labels; the owner — stdio, tokenless
// loopback — is never limited). 0 = no limit. A call over a limit is refused before it runs: RATE_LIMITED (nothing
// was paid by it), details.retry_after_s when waiting helps. Both eras, every transport (engine::run_tool).
struct CallQuota {
  size_t in_flight = 0;   // tool calls of one caller running at once
  size_t per_minute = 0;  // tool calls one caller may start in any 60-second span (sliding)
};

class Server {
 public:
  Server(ServerInfo info, std::shared_ptr<ToolRegistry> tools, std::vector<Resource> resources = {});
  ~Server();
  const ServerInfo& info() const { return info_; }
  const ToolRegistry& tools() const { return *tools_; }
  const std::vector<Resource>& resources() const { return resources_; }
  // Runs `fn` on the worker pool (grows on demand up to a cap; idle workers retire).
  void spawn(std::function<void()> fn);
  // A counter that moves when what the resources show may have changed (satwarden: the ledger's commits), read
  // by resource subscriptions every 100 ms. Set before serving; without one they re-read once a second only.
  void set_change_hint(std::function<uint64_t()> hint) { change_hint_ = std::move(hint); }
  // What the caller can do next after an error (set before serving): its value is added to every tool error as
  // error.next_step (whether to retry and when, whom to ask, which setting would allow it; satwarden: next_step
  // below). Empty = none.
  void set_error_advice(std::function<json(const Error&)> advice) { error_advice_ = std::move(advice); }
  const std::function<json(const Error&)>& error_advice() const { return error_advice_; }
  const std::function<uint64_t()>& change_hint() const { return change_hint_; }
  // The per-caller limits and the callers they apply to. Set before serving.
  void set_call_quota(CallQuota quota, std::vector<std::string> limited_callers);
  // Takes a slot for one tool call of `caller` (released when the returned handle is destroyed), or RATE_LIMITED.
  // Thread-safe.
  Result<std::shared_ptr<void>> admit_call(const std::string& caller) const;
  // Tool calls running now, every transport and era together (a draining shutdown waits for 0).
  size_t calls_running() const { return calls_running_.load(); }
  // engine::run_tool's bookkeeping of calls_running().
  void call_started() const { ++calls_running_; }
  void call_finished() const { --calls_running_; }

 private:
  struct Pool;
  struct Quotas;
  ServerInfo info_;
  std::function<uint64_t()> change_hint_;
  std::function<json(const Error&)> error_advice_;
  std::shared_ptr<Quotas> quotas_;
  mutable std::atomic<size_t> calls_running_{0};
  std::shared_ptr<ToolRegistry> tools_;
  std::vector<Resource> resources_;
  std::unique_ptr<Pool> pool_;
};

// ---- error advice ----
// satwarden's advice for Server::set_error_advice (next_steps.cpp): what the caller can do after error `e`, as
// {action, text[, retry_after_s, retry_at][, approval_id]}; action is retry | retry_later | fix_arguments |
// ask_owner | check_payment | stop, and the budget window's roll-off, details.retry_after_s (from `now`, unix
// seconds) and details.approval_id make it precise. An unknown code gets a generic step; has_next_step: `code` has
// its own (every code the sources produce must: tests/unit/mcp/test_next_steps.cpp).
json next_step(const Error& e, int64_t now);
bool has_next_step(const std::string& code);

// ---- modern era (2026-07-28): stateless requests ----

inline constexpr const char* kModernVersion = "2026-07-28";
inline constexpr const char* kMetaProtocolVersion = "io.modelcontextprotocol/protocolVersion";
inline constexpr const char* kMetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr const char* kMetaClientInfo = "io.modelcontextprotocol/clientInfo";
inline constexpr const char* kMetaLogLevel = "io.modelcontextprotocol/logLevel";
inline constexpr const char* kMetaServerInfo = "io.modelcontextprotocol/serverInfo";
// Served statelessly, newest first.
const std::vector<std::string>& modern_versions();
// Every version this server speaks, modern first then legacy (those need initialize): server/discover's
// supportedVersions and -32022's data.supported.
std::vector<std::string> all_versions();
// Cache hints (SEP-2549): what does not change while the process runs (discover, the tool and resource lists) is
// public for kListTtlMs; a resource's content is per caller and live: private, 0 ms.
inline constexpr int64_t kListTtlMs = 300000;

// True for a request or notification whose params._meta carries io.modelcontextprotocol/protocolVersion or
// …/clientCapabilities, and for server/discover (modern only). Such a message is served by Stateless whatever
// else came before on the connection.
bool is_modern(const json& msg);

// A request refused before it runs: the JSON-RPC error response (with the request's id) and the HTTP status a
// transport answers it with (400 for _meta, header and version errors, 404 for an unknown method).
struct Rejection {
  int http_status = 400;
  json response;
};
Rejection missing_capability(const json& id, json required_capabilities);  // -32021, data.requiredCapabilities

// The Streamable HTTP request headers of the modern era, as received (nullopt = absent; values trimmed).
struct ModernHeaders {
  std::optional<std::string> protocol_version;  // MCP-Protocol-Version
  std::optional<std::string> method;            // Mcp-Method
  std::optional<std::string> name;              // Mcp-Name (tools/call, resources/read, prompts/get)
};
// A header value as the sender meant it: "=?base64?…?=" decoded (standard base64 of UTF-8), anything else as it
// is; surrounding spaces/tabs ignored. nullopt for a sentinel whose base64 is invalid.
std::optional<std::string> decode_header_value(std::string_view value);

// requestState of an input-required result: base64url(JSON payload) "." base64url(HMAC-SHA256(key, that JSON)).
// The payload binds the tool's state to the call: {v:1, tool, args: hex SHA-256 of the arguments' JSON (keys
// sorted), caller: client + "\n" + envelope, exp: unix seconds, s: the tool's state}. The key is per Stateless
// (random, per process): a state outlives neither the process nor its expiry.
struct StateBinding {
  std::string tool;
  json args;
  std::string client, envelope;
};
std::string seal_request_state(const Bytes& key, const StateBinding& b, const json& state, int64_t expires_at);
// The tool's state, or INVALID_REQUEST_STATE with what failed: "malformed", "tampered" (MAC), "another tool",
// "other arguments", "another caller", "expired" (now >= exp).
Result<json> open_request_state(const Bytes& key, std::string_view token, const StateBinding& b, int64_t now);

// ---- resource subscriptions (2026-07-28 subscriptions/listen) ----
// One stream per listen request: notifications/subscriptions/acknowledged first (with the filter the server
// honours), then notifications/resources/updated {uri} for each subscribed resource whose content changed as the
// subscriber sees it (its client and envelope: a bearer-token caller learns nothing about other callers'
// payments, not even their timing), each with _meta[kMetaSubscriptionId] = the listen request's id. A change is
// found by re-reading (Resource::version, else read) and comparing a SHA-256 of the text — when the server's
// change hint moves (checked every hint_check) and at least every full_check (changes by other processes, like
// the CLI deciding an approval, and rolling budget windows). A stream ends silently when its cancel flag is set
// (the client closed it), and with a SubscriptionsListenResult from end_all() (shutdown).
// Thread-safety: every method may be called from any thread; one watcher thread (started by the first open)
// reads the resources and sends the notifications through the streams' sinks.
inline constexpr const char* kMetaSubscriptionId = "io.modelcontextprotocol/subscriptionId";
struct ListenLimits {
  size_t max_streams = 64;  // open listen streams per Subscriptions (per transport)
  size_t max_uris = 32;     // resourceSubscriptions per stream
  std::chrono::milliseconds hint_check{100};
  std::chrono::milliseconds full_check{1000};
};
class Subscriptions {
 public:
  explicit Subscriptions(Server& server, ListenLimits limits = {});
  ~Subscriptions();  // end_all(), then the watcher stops
  Subscriptions(const Subscriptions&) = delete;
  Subscriptions& operator=(const Subscriptions&) = delete;
  struct Listen {
    json id;                        // the subscriptions/listen request's id (= the subscription id)
    std::string client, envelope;   // who reads
    std::vector<std::string> uris;  // honoured resourceSubscriptions (each served by a Resource)
    Sink sink;
    std::shared_ptr<std::atomic<bool>> cancel;  // set by the transport when the client closed the stream
  };
  // Takes the baseline, sends the acknowledgement (`honoured` = its params.notifications) and starts watching.
  // RESOURCE_EXHAUSTED (nothing sent) when max_streams are open.
  Status open(Listen l, const json& honoured);
  // Ends every open stream with its result ({resultType: complete, _meta: subscriptionId, serverInfo}).
  void end_all();
  size_t open_streams() const;
  const ListenLimits& limits() const { return limits_; }

 private:
  struct Impl;
  ListenLimits limits_;
  std::shared_ptr<Impl> impl_;
};

class Stateless {
 public:
  // cancel_by_notification: notifications/cancelled {requestId} cancels the running request with that id (stdio,
  // one client per process). Off on HTTP, where closing the response stream is the cancellation.
  explicit Stateless(Server& server, bool cancel_by_notification = false);
  ~Stateless();  // cancels what still runs and waits for it (bounded)
  Stateless(const Stateless&) = delete;
  Stateless& operator=(const Stateless&) = delete;
  // Validates a modern request, in the order the spec's errors need: the required _meta keys (-32602), then the
  // HTTP headers when `http` is given (-32020: MCP-Protocol-Version present and equal to the _meta version,
  // Mcp-Method equal to method, Mcp-Name equal to params.name / params.uri where required, base64 sentinels
  // decoded), then the version (-32022), then the method (-32601, HTTP 404). nullopt = serve it. Notifications
  // and anything that is not a request pass (serve() ignores what it cannot use).
  std::optional<Rejection> check(const json& msg, const ModernHeaders* http = nullptr) const;
  // Serves one modern message from `client` (bearer-token label or "stdio") with its hosted `envelope`: check()
  // without headers (a transport checks those first), then the method. The response and the request's
  // notifications (progress; log messages only at or above the request's logLevel) go to `sink`, related to the
  // request's id. `cancel` is the transport's own cancellation flag (HTTP: the response stream closed); a
  // cancelled request gets no response. run_inline: run tools/call and resources/read on this thread.
  void serve(const json& msg, const std::string& client, const std::string& envelope, Sink sink,
             bool run_inline = false, std::shared_ptr<std::atomic<bool>> cancel = nullptr);
  // Requests still running (open listen streams are not counted: they run until the client closes them).
  bool wait_idle(std::chrono::milliseconds timeout);
  size_t in_flight() const;
  size_t listening() const;  // open subscriptions/listen streams
  // Cancels what runs and ends every listen stream with its result (shutdown).
  void cancel_all();
  // Like cancel_all, but running calls still answer with their outcome (a draining shutdown).
  void drain();

 private:
  void listen(const json& id, const json& params, const std::string& client, const std::string& envelope, Sink sink,
              const std::shared_ptr<std::atomic<bool>>& flag);
  struct State;
  Server& server_;
  std::shared_ptr<State> st_;
  Bytes state_key_;  // 32 random bytes: the HMAC key of requestState
};

// JSON-RPC helpers (exposed for tests and transports).
json make_response(const json& id, json result);
json make_error_response(const json& id, int code, const std::string& message, json data = nullptr);
// Classifies a parsed message. Returns an error response for invalid ones.
enum class Kind { request, notification, response, invalid };
Kind classify(const json& msg, json* error_out);

}  // namespace sw::mcp
