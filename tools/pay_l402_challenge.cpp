// pay_l402_challenge — pays the invoice of an L402 (LSAT) or MPP challenge and returns the Authorization header.
#include "challenge/challenge.h"
#include "macaroon/macaroon.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "tools.h"

namespace sw::tools {
namespace {

mcp::ToolOutcome run(Engine& e, const json& args, mcp::CallContext& ctx, const purchase::IdempotentContext& ic) {
  std::string invoice(trim(args.at("invoice").get<std::string>()));
  std::string mac(trim(args.value("macaroon", "")));
  bool l402 = !mac.empty();
  pay::PayRequest rq;
  rq.invoice = invoice;
  rq.max_sats = args.contains("max_sats") ? args["max_sats"].get<uint64_t>() : e.config->default_max_sats;
  rq.client = ctx.client;
  rq.envelope = ctx.envelope;
  rq.tool = "pay_l402_challenge";
  rq.protocol = l402 ? "l402" : "mpp";
  rq.progress = progress_of(ctx, 3);
  rq.cancelled = [&ctx] { return ctx.cancelled(); };
  rq.idempotency = ic.ref;
  rq.resume = ic.resume;
  rq.approval = approval_args(e, args, ctx);

  std::optional<challenge::MppChallenge> mpp;
  std::string binding;
  if (l402) {
    auto m = macaroon::decode(mac);
    if (!m)
      return mcp::ToolOutcome::failure(make_error(
          "INVALID_MACAROON", "the macaroon does not decode: " + m.error().message + "; nothing was paid"));
    // Bound to the invoice by its identifier (every layout in use); an unreadable one follows l402_unbound.
    auto b = purchase::l402_binding(mac, e.config->l402_unbound == "allow" ? purchase::Unbound::allow
                                                                          : purchase::Unbound::refuse);
    if (!b) return mcp::ToolOutcome::failure(b.error());
    rq.required_payment_hash = b->payment_hash;
    binding = b->binding;
    if (auto until = macaroon::earliest_valid_until(*m); until && *until && **until <= e.clock->now_unix())
      return mcp::ToolOutcome::failure(make_error(
          "MACAROON_EXPIRED", "the macaroon's valid_until caveat has passed (" + std::to_string(**until) + "); nothing was paid"));
  } else if (args.contains("challenge_header") && !trim(args["challenge_header"].get<std::string>()).empty()) {
    auto list = challenge::parse_mpp_list({std::string(trim(args["challenge_header"].get<std::string>()))});
    if (!list) {
      Error err = list.error();
      err.message += "; nothing was paid";
      return mcp::ToolOutcome::failure(err);
    }
    for (auto& c : *list) {
      auto charge = challenge::parse_lightning_charge(c);
      if (!charge) continue;
      if (charge->invoice != invoice)
        return mcp::ToolOutcome::failure(make_error(
            "INVALID_CHALLENGE", "the invoice argument differs from the invoice in challenge_header; nothing was paid"));
      if (charge->payment_hash) rq.required_payment_hash = *charge->payment_hash;
      if (c.expires_unix && *c.expires_unix <= e.clock->now_unix())
        return mcp::ToolOutcome::failure(make_error("CHALLENGE_EXPIRED", "the Payment challenge expired (" +
                                                                             *c.expires + "); nothing was paid"));
      mpp = c;
      break;
    }
    if (!mpp)
      return mcp::ToolOutcome::failure(make_error(
          "UNSUPPORTED_CHALLENGE", "challenge_header holds no Payment challenge with a Lightning charge request"));
  }
  if (auto err = wallet_unavailable(e)) return mcp::ToolOutcome::failure(*err);
  if (mpp) {  // the charge's network must agree with the invoice (the invoice is authoritative)
    auto charge = challenge::parse_lightning_charge(*mpp);
    auto inv = bolt11::decode(invoice);
    if (charge && inv && charge->network != inv->network)
      return mcp::ToolOutcome::failure(make_error(
          "INVALID_CHALLENGE", "the challenge says network " + charge->network + " but the invoice is for " + inv->network));
  }

  auto paid = e.payer->pay(rq);
  if (!paid) return mcp::ToolOutcome::failure(paid.error());

  std::string header, token, protocol, description;
  if (l402) {
    auto h = challenge::build_l402_authorization("L402", mac, paid->preimage);
    if (!h) return mcp::ToolOutcome::failure(h.error());
    header = *h;
    token = mac;
    protocol = "L402";
    description = "Send this Authorization header with every request to the same service; the token is reusable "
                  "until the server rejects it.";
  } else {
    auto h = mpp ? challenge::build_mpp_authorization(*mpp, paid->preimage)
                 : challenge::build_mpp_simple_authorization(paid->preimage);
    if (!h) return mcp::ToolOutcome::failure(h.error());
    header = *h;
    token = mpp ? header.substr(std::string("Payment ").size()) : paid->preimage;
    protocol = "MPP";
    description = mpp ? "Send this Authorization header once, on the retried request: an MPP charge credential is "
                        "single-use."
                      : "Simplified MPP credential (no challenge echo): servers implementing the MPP draft need the "
                        "full challenge_header to accept it.";
  }
  uint64_t sats = msat_to_sat_ceil(paid->amount_msat);
  return mcp::ToolOutcome::success(json{
      {"success", true},
      {"preimage", paid->preimage},
      {"payment_hash", paid->payment_hash},
      {"amount_sats", sats},
      {"fee_msat", paid->fee_msat},
      {"protocol", protocol},
      {"token", token},
      {"authorization_header", header},
      {"usage", {{"headerName", "Authorization"}, {"headerValue", header}, {"protocol", protocol}, {"description", description}}},
      {"binding", binding.empty() ? json(nullptr) : json(binding)},
      {"message", "paid " + std::to_string(sats) + " sats; preimage verified" +
                      (binding == "unverified" ? std::string("; the macaroon's binding to the invoice could not be "
                                                             "verified (its identifier is in no known layout)")
                                               : std::string()) +
                      ". Retry the request with the Authorization header."}});
}

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.payer) return std::nullopt;
  Engine* e = &engine;
  mcp::Tool tool = make_tool(
      "pay_l402_challenge", "Pay an L402 / MPP challenge",
      "Pay the invoice from a 402 Payment Required challenge and get the Authorization header to retry with. "
      "L402/LSAT: pass invoice and macaroon (token) from WWW-Authenticate; the macaroon must be bound to the "
      "invoice. MPP: pass the invoice and, ideally, the whole Payment challenge as challenge_header. Refuses "
      "invoices without an amount, expired ones, ones for another network, and amounts above max_sats or the "
      "budget. Never pays the same invoice twice.",
      paying_annotations("Pay an L402 / MPP challenge"),
      [e](const json& args, mcp::CallContext& ctx) {
        return idempotent(*e, args, ctx, "pay_l402_challenge",
                          [&](const purchase::IdempotentContext& ic) { return run(*e, args, ctx, ic); });
      });
  // MCP Apps hosts show the approval card with this tool's calls (a payment may wait for the owner).
  tool.ui = json{{"resourceUri", "ui://satwarden/approval"}};
  return tool;
}

}  // namespace
SW_REGISTER_TOOL(pay_l402_challenge, make);
}  // namespace sw::tools
