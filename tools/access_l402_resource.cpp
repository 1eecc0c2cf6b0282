// access_l402_resource — the MCP face of purchase::Paywall (fetch → 402 → one purchase per scope → pay → retry):
// argument mapping and the result's shape.
#include "crypto/crypto.h"
#include "fetch/fetch.h"
#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {
namespace {

constexpr double kSteps = 5;

bool is_texty(const std::string& ctype) {
  const std::string c = ascii_lower(ctype);
  return c.empty() || c.rfind("text/", 0) == 0 || c.find("json") != std::string::npos ||
         c.find("xml") != std::string::npos || c.find("javascript") != std::string::npos ||
         c.find("x-www-form-urlencoded") != std::string::npos;
}


json result_json(const fetch::Response& r, bool used_cached) {
  static const char* kKeep[] = {"content-type", "content-length", "location", "www-authenticate", "payment-receipt",
                                "cache-control", "retry-after", "etag", "last-modified", "content-encoding"};
  json headers = json::object();
  for (const auto& [k, v] : r.headers)
    for (auto* keep : kKeep)
      if (k == keep) headers[k] = headers.contains(k) ? headers[k].get<std::string>() + ", " + v : v;
  bool text = is_texty(r.content_type) && crypto::valid_utf8(r.body);
  return json{{"status", r.status},
              {"content_type", r.content_type},
              {"headers", headers},
              {"body", text ? r.body : base64_encode(to_bytes(r.body))},
              {"body_encoding", text ? "text" : "base64"},
              {"truncated", r.truncated},
              {"paid", false},
              {"amount_sats", 0},
              {"fee_msat", 0},
              {"protocol", nullptr},
              {"payment_hash", nullptr},
              {"preimage", nullptr},
              {"credential", nullptr},
              {"used_cached_token", used_cached},
              {"purchase_id", nullptr},
              {"binding", nullptr},
              {"message", ""}};
}

mcp::ToolOutcome run(Engine& e, const json& args, mcp::CallContext& ctx, const purchase::IdempotentContext& ic) {
  purchase::AccessRequest rq;
  rq.url = args.at("url").get<std::string>();
  rq.method = args.value("method", "GET");
  if (args.contains("headers"))
    for (auto& [k, v] : args["headers"].items()) rq.headers.emplace_back(k, v.get<std::string>());
  rq.body = args.value("body", "");
  rq.max_sats = args.contains("max_sats") ? args["max_sats"].get<uint64_t>() : e.config->default_max_sats;
  const Caller who = caller_of(e, ctx);
  rq.owner = spend::Owner{who.client, who.envelope, who.hosted};
  rq.idempotency = ic.ref;
  rq.never_pay = ic.replay;
  rq.approval = approval_args(e, args, ctx);
  rq.progress = [&ctx](double step, const std::string& m) {
    if (ctx.progress) ctx.progress(step, kSteps, m);
  };
  rq.cancelled = [&ctx] { return ctx.cancelled(); };
  if (auto url = fetch::parse_url(rq.url); !url) return mcp::ToolOutcome::failure(url.error());
  auto r = e.paywall->access(rq);
  if (!r) {
    Error err = r.error();
    // A paywall issues its own invoices: "ask for a new invoice" means calling this tool again.
    if (err.code == "INVOICE_EXPIRED")
      err.message = "the invoice in the 402 challenge had already expired; nothing was paid. Call "
                    "access_l402_resource again: the server issues a fresh invoice with each 402";
    return mcp::ToolOutcome::failure(err);
  }
  json out = result_json(r->response, r->used_credential);
  if (r->paid) {
    out["paid"] = true;
    out["amount_sats"] = msat_to_sat_ceil(r->amount_msat);
    out["fee_msat"] = r->fee_msat;
    out["protocol"] = r->protocol;
    out["payment_hash"] = r->payment_hash;
    // Lean by default: the proof and the credential only when asked for (the ledger keeps both either way, and
    // calling this tool again presents the credential by itself).
    if (args.value("include_credential", false)) {
      out["preimage"] = r->preimage;
      if (r->protocol == "L402")
        out["credential"] = json{{"headerName", "Authorization"}, {"headerValue", r->authorization}};
    }
    out["binding"] = r->binding.empty() ? json(nullptr) : json(r->binding);
  }
  out["purchase_id"] = r->purchase_id ? json(r->purchase_id) : json(nullptr);
  out["message"] = r->message;
  return mcp::ToolOutcome::success(out);
}

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.payer || !engine.paywall) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "access_l402_resource", "Fetch a paid (L402/MPP) resource",
      "Fetch an HTTP(S) URL; if it answers 402 Payment Required with an L402 (or LSAT) or MPP Lightning challenge, "
      "check the invoice, pay it within max_sats and the budget, retry with the credential and return the "
      "response (status, selected headers, body as text or base64). Each purchase is recorded per caller and scope "
      "(origin + path, or the L402 service): calling again reuses what was bought and never buys the same scope "
      "twice — while an earlier payment's outcome is unknown it answers PAYMENT_PENDING (nothing paid) until the "
      "wallet settles it. Credentials are sent only where they worked; MPP ones are single-use. Redirects are "
      "returned, not followed. Private and loopback addresses are refused. The preimage and credential are "
      "returned only with include_credential: true.",
      paying_annotations("Fetch a paid (L402/MPP) resource"), [e](const json& args, mcp::CallContext& ctx) {
        return idempotent(*e, args, ctx, "access_l402_resource",
                          [&](const purchase::IdempotentContext& ic) { return run(*e, args, ctx, ic); });
      });
  // MCP Apps hosts show the approval card with this tool's calls (a payment may wait for the owner).
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}};
  return tool;
}

}  // namespace
SW_REGISTER_TOOL(access_l402_resource, make);
}  // namespace sw::tools
