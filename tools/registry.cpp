#include <map>
#include <stdexcept>

#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {

namespace {
// A server with hosted callers: HTTP with bearer tokens.
bool serves_hosted(const Engine& engine) {
  return engine.config && engine.config->transport == "http" && !engine.config->tokens.empty();
}

std::map<std::string, Factory>& factories() {
  static std::map<std::string, Factory> m;
  return m;
}
}  // namespace

Registrar::Registrar(const char* name, Factory factory) { factories()[name] = factory; }

Caller caller_of(const Engine& engine, const mcp::CallContext& ctx) {
  Caller c;
  c.client = ctx.client;
  c.envelope = ctx.envelope;
  c.hosted = !ctx.owner && serves_hosted(engine);
  return c;
}

mcp::ToolOutcome idempotent(Engine& engine, const json& args, mcp::CallContext& ctx, const char* tool,
                            const std::function<mcp::ToolOutcome(const purchase::IdempotentContext&)>& body) {
  std::optional<std::string> key;
  if (args.contains("idempotency_key") && args["idempotency_key"].is_string())
    key = args["idempotency_key"].get<std::string>();
  if (!engine.ledger || !key) return body(purchase::IdempotentContext{});
  const Caller who = caller_of(engine, ctx);
  auto out = purchase::run_idempotent(
      *engine.ledger, engine.payer, spend::Owner{who.client, who.envelope, who.hosted}, key, tool, args,
      [&](const purchase::IdempotentContext& ic) {
        mcp::ToolOutcome o = body(ic);
        return purchase::CallOutcome{o.is_error, std::move(o.structured), std::move(o.error)};
      });
  return out.is_error ? mcp::ToolOutcome::failure(std::move(out.error)) : mcp::ToolOutcome::success(std::move(out.structured));
}

Status register_all(mcp::ToolRegistry& registry, Engine& engine) {
  const bool hosted = serves_hosted(engine);
  // The profile (config `tools`): which registered tools MCP clients see; without a config (tests), all of them.
  mcp::ToolProfile profile;
  profile.everything = !engine.config;
  if (engine.config) {
    auto p = mcp::resolve_tool_profile(engine.config->tools,
                                       [](const std::string& n) { return factories().count(n) > 0; });
    if (!p) return p.error();
    profile = std::move(*p);
  }
  for (auto& [name, factory] : factories()) {
    std::optional<mcp::Tool> tool;
    try {
      tool = factory(engine);
    } catch (const std::exception& e) {
      return make_error("SCHEMA_INVALID", "tool " + name + ": " + e.what());
    }
    if (!tool) continue;  // not ready in this configuration: not registered
    tool->description = mcp::for_audience(tool->description, hosted);
    tool->hidden = profile.hides(*tool);
    // Modern era: a payment waiting for the owner's approval, in a client that can be asked, becomes an
    // input-required result (the approval stays open, the budget held) instead of APPROVAL_REQUIRED.
    auto inner = std::move(tool->handler);
    Engine* eng = &engine;
    tool->handler = [inner, eng](const json& args, mcp::CallContext& ctx) {
      mcp::ToolOutcome out = inner(args, ctx);
      // MCP Apps: a payment waiting for the owner links the approval's card (which carries the app's nonce).
      if (ctx.ui_apps && out.is_error && out.error.code == "APPROVAL_REQUIRED" && out.error.details.is_object() &&
          out.error.details.contains("approval_id") && out.error.details["approval_id"].is_string())
        out.meta = json{{"ui", {{"resourceUri", "ui://satwarden/approval/" +
                                                   out.error.details["approval_id"].get<std::string>()}}}};
      if (!out.is_error || out.error.code != "APPROVAL_REQUIRED" || !ctx.input_required_form ||
          !client_may_approve(*eng, ctx) || !out.error.details.is_object() ||
          !out.error.details.contains("approval_id") || !out.error.details["approval_id"].is_string())
        return out;
      auto in = input_required_for_approval(*eng, out.error.details["approval_id"].get<std::string>());
      if (!in) return out;
      return mcp::ToolOutcome::need_input(std::move(*in));
    };
    auto st = registry.add(std::move(*tool));
    if (!st) return st;
  }
  return ok_status();
}

mcp::Tool make_tool(const std::string& name, const std::string& title, const std::string& description,
                    json annotations, std::function<mcp::ToolOutcome(const json&, mcp::CallContext&)> handler) {
  auto in = mcp::embedded_schema(name + ".input");
  auto out = mcp::embedded_schema(name + ".output");
  if (!in || !out) throw std::logic_error("schemas/" + name + ".input.json and .output.json are both required, as JSON");
  mcp::Tool t;
  t.name = name;
  t.title = title;
  t.description = description;
  t.annotations = std::move(annotations);
  t.input_schema = std::move(*in);
  t.output_schema = std::move(*out);
  t.handler = std::move(handler);
  return t;
}

json read_only_annotations(const std::string& title, bool open_world) {
  return json{{"title", title},
              {"readOnlyHint", true},
              {"destructiveHint", false},
              {"idempotentHint", true},
              {"openWorldHint", open_world}};
}

json paying_annotations(const std::string& title) {
  return json{{"title", title},
              {"readOnlyHint", false},
              {"destructiveHint", true},
              {"idempotentHint", false},
              {"openWorldHint", true}};
}

std::optional<Error> wallet_unavailable(const Engine& engine) {
  if (engine.wallet) return std::nullopt;
  std::string why = engine.wallet_problem.empty() ? "no wallet is configured" : engine.wallet_problem;
  return make_error("WALLET_NOT_CONFIGURED",
                    why + ". Set NWC_URL to your wallet's Nostr Wallet Connect URI (nostr+walletconnect://…), in the "
                          "environment of the MCP server (e.g. the \"env\" of its Claude Desktop entry) or as "
                          "\"nwc_url\" in the config file, then restart satwarden.");
}

std::function<void(double, const std::string&)> progress_of(mcp::CallContext& ctx, double total) {
  return [&ctx, total](double p, const std::string& m) {
    if (ctx.progress) ctx.progress(p, total, m);
  };
}

}  // namespace sw::tools
