#include <map>
#include <stdexcept>

#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {

namespace {
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
  c.hosted = !ctx.owner && engine.config && engine.config->transport == "http" && !engine.config->tokens.empty();
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

bool client_may_approve(const Engine& engine, const mcp::CallContext& ctx) {
  const std::string mode = engine.config ? engine.config->approval_elicitation : "auto";
  return mode == "on" || (mode == "auto" && !caller_of(engine, ctx).hosted);
}


Result<mcp::InputRequired> input_required_for_approval(Engine& engine, const std::string& public_id) {
  if (!engine.ledger) return make_error("APPROVAL_UNAVAILABLE", "no ledger");
  auto ap = engine.ledger->get_approval(public_id);
  if (!ap) return ap.error();
  json params = approve::client_question(*ap);
  params["mode"] = "form";
  mcp::InputRequired in;
  in.input_requests = json{{"approval", {{"method", "elicitation/create"}, {"params", std::move(params)}}}};
  in.state = json{{"approval_id", ap->public_id}};
  const int64_t now = engine.clock ? engine.clock->now_unix() : Clock::system().now_unix();
  in.ttl_s = std::max<int64_t>(1, ap->expires_at - now);
  return in;
}

pay::ApprovalArgs approval_args(Engine& engine, const json& args, mcp::CallContext& ctx) {
  pay::ApprovalArgs a;
  std::string wait = engine.config ? engine.config->approval_wait : "wait";
  if (args.contains("approval_wait") && args["approval_wait"].is_string()) wait = args["approval_wait"].get<std::string>();
  a.wait = wait == "return" ? pay::ApprovalArgs::Wait::return_now : pay::ApprovalArgs::Wait::wait;
  if (args.contains("approval_id") && args["approval_id"].is_string()) a.approval_id = args["approval_id"].get<std::string>();
  const bool allowed = client_may_approve(engine, ctx);
  if (allowed && ctx.input_required_form) {
    // Modern era: the question goes out as an input-required result (see register_all); its retry answers here.
    a.wait = pay::ApprovalArgs::Wait::return_now;
    const json& st = ctx.request_state;
    if (!st.is_object() || !st.contains("approval_id") || !st["approval_id"].is_string()) return a;
    a.approval_id = st["approval_id"].get<std::string>();  // bound to these arguments; checked by the Payer too
    const json& resp = ctx.input_responses;
    if (!resp.is_object() || !resp.contains("approval") || !resp["approval"].is_object()) return a;  // ask again
    const json& r = resp["approval"];
    if (!r.contains("action") || !r["action"].is_string()) return a;
    const approve::ClientAnswer answer = approve::client_answer(r["action"].get<std::string>());
    a.wait = pay::ApprovalArgs::Wait::wait;  // decided at once: the ask below answers immediately
    a.ask_client = [answer](const spend::Approval&, const std::shared_ptr<std::atomic<bool>>&) -> Result<approve::ClientAnswer> {
      return answer;
    };
    return a;
  }
  if (!allowed || !ctx.elicit_until) return a;
  auto elicit = ctx.elicit_until;
  const Clock* clock = engine.clock;
  a.ask_client = [elicit, clock](const spend::Approval& ap,
                                 const std::shared_ptr<std::atomic<bool>>& stop) -> Result<approve::ClientAnswer> {
    const int64_t left = std::max<int64_t>(1, ap.expires_at - clock->now_unix());
    auto r = elicit(approve::client_question(ap), std::chrono::seconds(left), stop);
    if (!r) return r.error();
    return approve::client_answer(r->value("action", ""));
  };
  return a;
}

Status register_all(mcp::ToolRegistry& registry, Engine& engine) {
  const bool hosted = engine.config && engine.config->transport == "http" && !engine.config->tokens.empty();
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

json transaction_to_json(const json& tx) {
  auto str = [&](const char* k) -> json {
    auto it = tx.find(k);
    return it != tx.end() && it->is_string() ? *it : json(nullptr);
  };
  auto num = [&](const char* k) -> json {
    auto it = tx.find(k);
    return it != tx.end() && it->is_number_integer() && it->get<int64_t>() >= 0 ? *it : json(nullptr);
  };
  json amount = num("amount"), fees = num("fees_paid");
  return json{{"type", str("type")},
              {"state", str("state")},
              {"payment_hash", str("payment_hash")},
              {"invoice", str("invoice")},
              {"description", str("description")},
              {"preimage", str("preimage")},
              {"amount_msat", amount},
              {"amount_sats", amount.is_null() ? json(nullptr) : json(msat_to_sat_ceil(amount.get<uint64_t>()))},
              {"fees_paid_msat", fees},
              {"created_at", num("created_at")},
              {"settled_at", num("settled_at")},
              {"expires_at", num("expires_at")}};
}

}  // namespace sw::tools
