#include "mcp/engine.h"

#include <algorithm>
#include <chrono>

#include "crypto/crypto.h"
#include "metrics/metrics.h"

namespace sw::mcp {

bool declares_ui_apps(const json& capabilities) {
  if (!capabilities.is_object() || !capabilities.contains("extensions") || !capabilities["extensions"].is_object())
    return false;
  const json& ext = capabilities["extensions"];
  auto it = ext.find(kUiExtension);
  if (it == ext.end() || !it->is_object()) return false;
  auto mt = it->find("mimeTypes");
  if (mt == it->end() || !mt->is_array()) return false;
  for (const auto& m : *mt)
    if (m.is_string() && m.get<std::string>() == kUiMimeType) return true;
  return false;
}

namespace engine {

Result<json> list_tools(const Server& server, const std::string& version, const json& params, bool ui_apps) {
  // The tools this client sees (an app-only tool exists for MCP Apps clients only); pages count these.
  std::vector<const Tool*> visible;
  for (const auto& n : server.tools().names())
    if (const Tool* t = server.tools().find(n); t && !t->hidden && (ui_apps || !t->app_only())) visible.push_back(t);
  const auto& names = visible;
  size_t start = 0;
  if (params.contains("cursor") && !params["cursor"].is_null()) {
    const auto& c = params["cursor"];
    bool okc = false;
    if (c.is_string()) {
      auto raw = base64_decode(c.get<std::string>());
      std::string s = raw ? to_string(*raw) : "";
      if (s.rfind("tools:", 0) == 0 && s.size() > 6 && s.size() < 16 &&
          std::all_of(s.begin() + 6, s.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        start = std::stoul(s.substr(6));
        okc = start > 0 && start < names.size();
      }
    }
    if (!okc) return make_error("INVALID_CURSOR", "unknown or expired cursor");
  }
  size_t page = std::max<size_t>(1, server.info().tools_page_size);
  json tools = json::array();
  bool structured = version_at_least(version, "2025-06-18");
  for (size_t i = start; i < names.size() && i < start + page; ++i) {
    const Tool* t = names[i];
    json jt{{"name", t->name}, {"description", t->description}, {"inputSchema", t->input_schema}};
    if (ui_apps && t->ui.is_object()) {
      jt["_meta"] = {{"ui", t->ui}};
      if (t->ui.contains("resourceUri")) jt["_meta"]["ui/resourceUri"] = t->ui["resourceUri"];  // hosts before the rename
    }
    if (structured) {
      jt["title"] = t->title;
      jt["outputSchema"] = t->output_schema;
    }
    if (version_at_least(version, "2025-03-26")) jt["annotations"] = t->annotations;
    tools.push_back(std::move(jt));
  }
  json result{{"tools", std::move(tools)}};
  if (start + page < names.size()) result["nextCursor"] = base64_encode(to_bytes("tools:" + std::to_string(start + page)));
  return result;
}

json list_resources(const Server& server, bool templates, const std::string& version, bool ui_apps) {
  json list = json::array();
  for (const auto& r : server.resources()) {
    if (r.is_template != templates) continue;
    if (r.mime_type == kUiMimeType && !ui_apps) continue;  // MCP Apps' views: for clients that render them
    json jr{{"name", r.name}, {"description", r.description}, {"mimeType", r.mime_type}};
    jr[templates ? "uriTemplate" : "uri"] = r.uri;
    if (version_at_least(version, "2025-06-18")) jr["title"] = r.title;
    if (!r.meta.is_null()) jr["_meta"] = r.meta;
    list.push_back(std::move(jr));
  }
  return json{{templates ? "resourceTemplates" : "resources", std::move(list)}};
}

const Resource* find_resource(const Server& server, const std::string& uri) {
  const Resource* match = nullptr;
  for (const auto& r : server.resources()) {
    if (!r.is_template && r.uri == uri) match = &r;
    if (r.is_template) {
      auto brace = r.uri.find('{');
      if (brace != std::string::npos && uri.size() > brace && uri.compare(0, brace, r.uri, 0, brace) == 0 &&
          uri.find('/', brace) == std::string::npos)
        match = match ? match : &r;
    }
  }
  return match;
}

ToolOutcome run_tool(const Server& server, const Tool& tool, json args, CallContext& ctx) {
  // The caller's fair share first (hosted callers: calls running, calls per minute): refused before anything runs.
  // The call's request id: in every log line written on its behalf and in the ledger rows it reserves.
  RequestScope request(hex_encode(crypto::random_bytes(8)));
  server.call_started();
  struct Finished {
    const Server& s;
    ~Finished() { s.call_finished(); }
  } finished{server};
  const auto started = std::chrono::steady_clock::now();
  // Every call's duration and outcome (ok, or the error code) for /metrics.
  auto measured = [&](ToolOutcome out) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics::process().tool_calls.observe({{"tool", tool.name}, {"outcome", out.is_error ? out.error.code : "ok"}}, s);
    if (out.is_error && server.error_advice()) {
      json step = server.error_advice()(out.error);
      if (!step.is_null()) {
        if (!out.error.details.is_object()) out.error.details = json::object();
        out.error.details["next_step"] = std::move(step);
      }
    }
    return out;
  };
  auto slot = server.admit_call(ctx.client);
  if (!slot) return measured(ToolOutcome::failure(slot.error()));
  // Nulls for optional arguments become absent here, once for every tool, before validation.
  auto prepared = server.tools().prepare(tool.name, std::move(args));
  if (!prepared) return measured(ToolOutcome::failure(prepared.error()));
  try {
    return measured(tool.handler(*prepared, ctx));
  } catch (const std::exception& e) {
    log(LogLevel::error, "mcp", "tool " + tool.name + " threw: " + e.what());
  } catch (...) {
    log(LogLevel::error, "mcp", "tool " + tool.name + " threw");
  }
  return measured(
      ToolOutcome::failure(make_error("INTERNAL", "the tool failed unexpectedly; nothing was paid by this step")));
}

json tool_result(ToolOutcome out, bool structured) {
  if (out.is_error) {
    json body{{"error", {{"code", out.error.code}, {"message", out.error.message}}}};
    if (out.error.details.is_object() && out.error.details.contains("next_step")) {  // Server::set_error_advice
      body["error"]["next_step"] = out.error.details["next_step"];
      out.error.details.erase("next_step");
    }
    if (out.error.details.is_object() && !out.error.details.empty()) body["error"]["details"] = out.error.details;
    json result{{"content", json::array({{{"type", "text"}, {"text", json_dump(body)}}})}, {"isError", true}};
    if (!out.meta.is_null()) result["_meta"] = std::move(out.meta);
    return result;
  }
  json result{{"content", json::array({{{"type", "text"}, {"text", json_dump(out.structured)}}})}};
  if (structured) result["structuredContent"] = std::move(out.structured);
  if (!out.meta.is_null()) result["_meta"] = std::move(out.meta);
  return result;
}

bool runs_quickly(const Tool& tool) {
  auto it = tool.annotations.find("openWorldHint");
  return it != tool.annotations.end() && it->is_boolean() && !it->get<bool>();
}

}  // namespace engine
}  // namespace sw::mcp
