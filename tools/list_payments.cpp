// list_payments — satwarden's own ledger of payment attempts (newest first, paginated).
#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {

json payment_json(const spend::Payment& p) {
  return json{{"id", p.id},
              {"created_at", p.created_at},
              {"updated_at", p.updated_at},
              {"client", p.client},
              {"envelope", p.envelope},
              {"domain", p.domain},
              {"tool", p.tool},
              {"protocol", p.protocol},
              {"payment_hash", p.payment_hash},
              {"invoice", p.invoice},
              {"amount_sats", msat_to_sat_ceil(p.amount_msat)},
              {"amount_msat", p.amount_msat},
              {"fee_msat", p.fee_msat ? json(*p.fee_msat) : json(nullptr)},
              {"state", spend::state_name(p.state)},
              {"error_code", p.error_code.empty() ? json(nullptr) : json(p.error_code)},
              {"settled_at", p.settled_at ? json(*p.settled_at) : json(nullptr)},
              {"latency_ms", p.latency_ms ? json(*p.latency_ms) : json(nullptr)}};
}

namespace {
std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  return make_tool(
      "list_payments", "List payments",
      "List the payments satwarden has made or attempted (newest first): amount, fee, state (settled, failed, "
      "unknown, …), domain, protocol, tool, and which client (token label) and budget envelope paid. Filter by "
      "since, until, domain, state, protocol, client or envelope; pass next_cursor to get the next page.{hosted} A "
      "caller authenticated with a bearer token (hosted HTTP) sees only its own payments (scope \"client:<label>\"; "
      "other filters narrow that further); stdio and tokenless loopback HTTP are the owner and see every client's "
      "payments (scope \"all\").{/hosted} Read-only.",
      read_only_annotations("List payments", false), [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        const Caller who = caller_of(*e, ctx);
        spend::ListQuery q;
        if (args.contains("since")) q.since = args["since"].get<int64_t>();
        if (args.contains("until")) q.until = args["until"].get<int64_t>();
        if (args.contains("protocol")) q.protocol = args["protocol"].get<std::string>();
        if (args.contains("domain")) q.domain = args["domain"].get<std::string>();
        if (args.contains("state")) q.state = spend::parse_state(args["state"].get<std::string>());
        if (args.contains("client")) q.client = args["client"].get<std::string>();
        if (args.contains("envelope")) q.envelope = args["envelope"].get<std::string>();
        q.limit = args.value("limit", 50);
        if (args.contains("cursor")) q.cursor = args["cursor"].get<std::string>();
        json items = json::array();
        json next = nullptr;
        // A hosted caller's own rows only: a client filter naming someone else matches nothing.
        if (!(who.hosted && q.client && *q.client != who.client)) {
          if (who.hosted) q.client = who.client;
          auto page = e->ledger->list_payments(q);
          if (!page) return mcp::ToolOutcome::failure(page.error());
          for (const auto& p : page->items) items.push_back(payment_json(p));
          if (page->next_cursor) next = *page->next_cursor;
        }
        return mcp::ToolOutcome::success(json{{"payments", items},
                                              {"next_cursor", next},
                                              {"scope", who.hosted ? "client:" + who.client : std::string("all")}});
      });
}
}  // namespace
SW_REGISTER_TOOL(list_payments, make);
}  // namespace sw::tools
