// sw::tools — the MCP tools: one file per tool in tools/, its schemas in schemas/<name>.input.json and
// schemas/<name>.output.json. Each file registers itself with SW_REGISTER_TOOL; register_all() adds every tool
// whose factory says it is ready (a factory returns nullopt when its engine part is absent — e.g. no ledger).
// Thread-safety: handlers run concurrently on the MCP worker pool; the Engine parts they use are thread-safe.
// Errors: handlers return mcp::ToolOutcome::failure(Error{code,message}) — never throw, never leak secrets.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "mcp/mcp.h"
#include "pay/pay.h"
#include "wallet/wallet.h"

namespace sw::purchase {
class Paywall;
struct IdempotentContext;
}
namespace sw::spend {
class Ledger;
struct StatusReport;
struct Payment;
struct Policy;
}

namespace sw::lnurl {
class Payments;
}
namespace sw::price {
class Source;
}

namespace sw::tools {

// The services tools are built over. Parts that are not configured are null.
struct Engine {
  const config::Config* config = nullptr;
  const Clock* clock = &Clock::system();
  wallet::Wallet* wallet = nullptr;  // null: no NWC_URL configured (or it was invalid: see wallet_problem)
  std::string wallet_problem;        // why there is no wallet, safe to show (never contains the secret)
  spend::Ledger* ledger = nullptr;   // the crash-safe spend ledger (always present in the server)
  pay::Payer* payer = nullptr;       // check → reserve → pay → verify → settle
  purchase::Paywall* paywall = nullptr;  // paid HTTP resources as purchases (access_l402_resource)
  approve::Hub* approvals = nullptr;     // the owner's approvals (always present in the server)
  lnurl::Payments* lnurl = nullptr;      // Lightning addresses and LNURL-pay
  price::Source* prices = nullptr;       // BTC prices (fiat caps, amounts in the owner's currency); null: none
};
// The owner's currencies (price_currencies + the fiat caps') at their current price, for showing amounts in both
// units; {} without a price source. Never fetches: the last price, if fresh enough (price_max_age_seconds).
spend::Prices display_prices(const Engine& engine);
// {"usd": 1.23, ...}: `msat` in each currency of `prices` (ceil), or null when there are none.
json fiat_equivalent(uint64_t msat, const spend::Prices& prices);

// Who is calling, as far as ledger views and the L402 cache are concerned.
//   hosted: the server runs the HTTP transport with bearer tokens, so every caller is a token holder (its label is
//   `client`, its bound envelope `envelope`). Hosted callers see only their own ledger rows and envelope.
//   Otherwise the caller is the owner — stdio ("stdio"), or tokenless HTTP, which the server only allows on
//   loopback ("http-anonymous") — and sees everything.
// Decided from the configuration, not from the label, so a token labelled "stdio" is still a hosted caller.
struct Caller {
  std::string client;
  std::string envelope;  // "" = none
  bool hosted = false;
};
Caller caller_of(const Engine& engine, const mcp::CallContext& ctx);
// May the person at this caller's MCP client decide the owner's approvals (config approval_elicitation: auto =
// the owner's own clients — stdio, tokenless loopback HTTP; on = every client; off = none)? Elicitation and the
// MCP approval app both ask this.
bool client_may_approve(const Engine& engine, const mcp::CallContext& ctx);

// Runs a paying tool's body under the optional `idempotency_key` argument (purchase::run_idempotent): the same
// key returns the first call's outcome and never pays again. Without a ledger or key, body runs as usual.
mcp::ToolOutcome idempotent(Engine& engine, const json& args, mcp::CallContext& ctx, const char* tool,
                            const std::function<mcp::ToolOutcome(const purchase::IdempotentContext&)>& body);

// The owner-approval arguments of a paying call: approval_wait (default from the config), approval_id, and —
// when the client declared form elicitation and `approval_elicitation` allows it for this caller (auto: the owner's
// own callers, stdio and tokenless loopback HTTP; on: everyone; off: no one) — a question in the MCP client.
// Modern era (MCP 2026-07-28, ctx.input_required_form): the question is asked through an input-required result
// instead — wait is return_now, and register_all's wrapper turns the call's APPROVAL_REQUIRED into
// input_required_for_approval(); on the client's retry (ctx.request_state {approval_id}, verified by the MCP layer,
// and ctx.input_responses["approval"] = {action}) ask_client answers at once with that action, so the Hub decides
// through channel "elicitation" (amount and hash bound) and the same call continues with the same reservation.
pay::ApprovalArgs approval_args(Engine& engine, const json& args, mcp::CallContext& ctx);
// The elicitation (form mode) of approval `public_id` as an input-required outcome: inputRequests {"approval":
// elicitation/create with the approval's summary, accept/decline}, state {approval_id}, valid until the approval
// expires. Error: the ledger's, when the approval cannot be read.
Result<mcp::InputRequired> input_required_for_approval(Engine& engine, const std::string& public_id);

// The caller's approvals (list_approvals and the satwarden://approvals resource): open ones, or the latest in
// any state; a hosted caller's own only.
Result<json> approvals_for(Engine& engine, const mcp::CallContext& ctx, bool open_only, size_t limit);

// What get_budget_status returns for this caller (the owner's view, or a token's own view); also the
// satwarden://spending resource.
Result<json> budget_status_for(Engine& engine, const mcp::CallContext& ctx);

// Progress callback for the payment engine from a tool call context (progress steps 1..total).
std::function<void(double, const std::string&)> progress_of(mcp::CallContext& ctx, double total);

// The isError every wallet tool returns when no wallet is usable: says how to configure NWC_URL.
std::optional<Error> wallet_unavailable(const Engine& engine);

// A NIP-47 transaction object in the tool surface's shape (sats rounded up + exact msat fields).
json transaction_to_json(const json& nip47_tx);

using Factory = std::optional<mcp::Tool> (*)(Engine&);

struct Registrar {
  Registrar(const char* name, Factory factory);
};

#define SW_REGISTER_TOOL(name, factory) static ::sw::tools::Registrar sw_tool_registrar_##name(#name, factory)

// Adds every ready tool, in name order. Fails on a schema problem (a build defect, caught by the unit tests).
// Tools outside the configured profile (Config::tools, mcp::resolve_tool_profile) are registered hidden (for the
// owner's console only); CONFIG_INVALID names an entry that is neither a tool nor a preset. Descriptions pass
// through mcp::for_audience: {hosted} text is kept only when the server serves bearer-token callers.
Status register_all(mcp::ToolRegistry& registry, Engine& engine);

// pay_lightning_address and pay_lnurl: the same flow for their one target argument ("address" | "lnurl").
mcp::ToolOutcome pay_lnurl_target(Engine& engine, const json& args, mcp::CallContext& ctx, const char* tool,
                                  const std::string& target);

// Builds a Tool with its schemas taken from schemas/<name>.{input,output}.json (embedded at build time).
// Throws std::logic_error when a schema file is missing — register_all turns that into an Error.
mcp::Tool make_tool(const std::string& name, const std::string& title, const std::string& description,
                    json annotations, std::function<mcp::ToolOutcome(const json&, mcp::CallContext&)> handler);

// Tool-surface JSON of ledger data (also served as MCP resources satwarden://payments/…).
json payment_json(const spend::Payment& p);

// Annotation sets used by the tools (honest hints).
json read_only_annotations(const std::string& title, bool open_world);
json paying_annotations(const std::string& title);

}  // namespace sw::tools
