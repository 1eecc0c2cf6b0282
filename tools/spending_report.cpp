// spending_report — totals by domain and by UTC day, with fees, over a time range; per client when scoped.
#include <ctime>
#include <set>

#include "spend/spend.h"
#include "tools.h"

namespace sw::tools {
namespace {

json bucket_json(const spend::ReportBucket& b) {
  json j{{"settled_count", b.settled_count},     {"settled_sats", msat_to_sat_ceil(b.settled_amount_msat)},
         {"settled_amount_msat", b.settled_amount_msat}, {"settled_fee_msat", b.settled_fee_msat},
         {"pending_count", b.pending_count},     {"pending_msat", b.pending_msat},
         {"unknown_count", b.unknown_count},     {"failed_count", b.failed_count},
         {"released_count", b.released_count}};
  // Settled amounts in the owner's currencies, each payment at the BTC price recorded with it.
  if (json f = spend::fiat_json(b); !f.is_null()) j["fiat"] = f;
  return j;
}

std::string utc_day(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// The same buckets as Ledger::report, over one client's rows (read page by page from list_payments): settled
// rows count amount and actual fee; reserved/in_flight/unknown count as pending with amount + (fee, else the
// reserved fee allowance); failed and released are only counted.
Result<spend::SpendReport> client_report(spend::Ledger& ledger, const std::string& client, int64_t since,
                                         int64_t until) {
  spend::SpendReport rep;
  rep.since = since;
  rep.until = until;
  auto add = [](spend::ReportBucket& b, const spend::Payment& p) {
    switch (p.state) {
      case spend::State::settled:
        ++b.settled_count;
        b.settled_amount_msat += p.amount_msat;
        b.settled_fee_msat += p.fee_msat.value_or(0);
        break;
      case spend::State::failed: ++b.failed_count; break;
      case spend::State::released: ++b.released_count; break;
      default:
        ++b.pending_count;
        b.pending_msat += p.amount_msat + p.fee_msat.value_or(p.max_fee_msat);
        if (p.state == spend::State::unknown) ++b.unknown_count;
    }
  };
  spend::ListQuery q;
  q.since = since;
  q.client = client;
  q.limit = 500;
  std::vector<spend::Payment> settled;
  for (;;) {
    auto page = ledger.list_payments(q);
    if (!page) return page.error();
    for (const auto& p : page->items) {
      if (p.created_at < since || p.created_at >= until) continue;
      add(rep.total, p);
      add(rep.by_domain[p.domain], p);
      add(rep.by_day[utc_day(p.created_at)], p);
      if (p.state == spend::State::settled) settled.push_back(p);
    }
    if (!page->next_cursor) break;
    q.cursor = page->next_cursor;
  }
  std::set<std::string> currencies;
  for (const auto& p : settled)
    for (const auto& [cur, price] : p.fiat_rates) currencies.insert(cur);
  const std::vector<std::string> curs(currencies.begin(), currencies.end());
  for (const auto& p : settled)
    for (spend::ReportBucket* b : {&rep.total, &rep.by_domain[p.domain], &rep.by_day[utc_day(p.created_at)]})
      spend::add_settled_fiat(*b, p, curs);
  return rep;
}

std::optional<mcp::Tool> make(Engine& engine) {
  if (!engine.ledger) return std::nullopt;
  Engine* e = &engine;
  return make_tool(
      "spending_report", "Spending report",
      "Report what was spent between since and until (default: the last 30 days): totals, per domain and per UTC "
      "day, with fees and counts of pending, unknown and failed payments.{hosted} The owner (stdio, tokenless "
      "loopback HTTP) gets every client's spending, or one client's with the client argument; a caller "
      "authenticated with a bearer token (hosted HTTP) always gets only its own (scope \"client:<label>\").{/hosted} "
      "Read-only.",
      read_only_annotations("Spending report", false), [e](const json& args, mcp::CallContext& ctx) -> mcp::ToolOutcome {
        const Caller who = caller_of(*e, ctx);
        int64_t now = e->clock->now_unix();
        int64_t until = args.contains("until") ? args["until"].get<int64_t>() : now + 1;
        int64_t since = args.contains("since") ? args["since"].get<int64_t>() : now - 30 * 86400;
        if (since >= until)
          return mcp::ToolOutcome::failure(make_error("INVALID_ARGUMENTS", "since must be before until", json{{"field", "since"}}));
        std::optional<std::string> client;
        if (args.contains("client")) client = args["client"].get<std::string>();
        std::string scope = "all";
        Result<spend::SpendReport> r = make_error("INTERNAL", "unreachable");
        if (who.hosted) {
          scope = "client:" + who.client;
          if (client && *client != who.client) {  // someone else's spending: nothing this caller may see
            spend::SpendReport empty;
            empty.since = since;
            empty.until = until;
            r = empty;
          } else {
            r = client_report(*e->ledger, who.client, since, until);
          }
        } else if (client) {
          scope = "client:" + *client;
          r = client_report(*e->ledger, *client, since, until);
        } else {
          r = e->ledger->report(since, until);
        }
        if (!r) return mcp::ToolOutcome::failure(r.error());
        json by_domain = json::array(), by_day = json::array();
        for (const auto& [d, b] : r->by_domain) {
          json j = bucket_json(b);
          j["domain"] = d;
          by_domain.push_back(j);
        }
        for (const auto& [d, b] : r->by_day) {
          json j = bucket_json(b);
          j["day"] = d;
          by_day.push_back(j);
        }
        return mcp::ToolOutcome::success(json{{"since", r->since},
                                              {"until", r->until},
                                              {"scope", scope},
                                              {"total", bucket_json(r->total)},
                                              {"by_domain", by_domain},
                                              {"by_day", by_day}});
      });
}

}  // namespace
SW_REGISTER_TOOL(spending_report, make);
}  // namespace sw::tools
