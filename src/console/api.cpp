// The console's JSON API (console.h): each view is assembled from the tools the agent uses (called as the owner)
// and the ledger's own queries — the page shows what get_budget_status, list_payments, list_approvals and
// lookup_payment return, with no arithmetic of its own beyond adding up a chart.
#include <algorithm>
#include <ctime>

#include "approve/approve.h"
#include "console/internal.h"
#include "spend/spend.h"

namespace sw::console {
namespace {

// Percent-decoded value of `name` in a query string ("" when absent; '+' is a space).
std::optional<std::string> query_param(const std::string& query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string_view part = std::string_view(query).substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == name) {
      std::string out;
      std::string_view v = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '+') {
          out += ' ';
        } else if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
          out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          out += v[i];
        }
      }
      return out;
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return std::nullopt;
}

std::optional<int64_t> to_int(const std::string& s) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoll(s);
}

// An API error from an engine error: 4xx for what the owner can fix, 503 when the ledger or wallet is away.
SideResponse from_error(const Error& e) {
  int status = 400;
  if (e.code == "NOT_FOUND" || e.code == "PAYMENT_NOT_FOUND" || e.code == "APPROVAL_NOT_FOUND") status = 404;
  else if (e.code == "APPROVAL_DECIDED" || e.code == "APPROVAL_EXPIRED" || e.code == "ILLEGAL_TRANSITION") status = 409;
  else if (e.code.rfind("LEDGER_", 0) == 0 || e.code.rfind("WALLET_", 0) == 0 || e.code == "NWC_TIMEOUT") status = 503;
  return error_response(status, e.code, e.message);
}

// One CSV cell: quoted when needed; a text that a spreadsheet would run as a formula (= + - @ at the start) is
// prefixed with ' (domains and clients come from outside).
std::string csv_cell(const std::string& v, bool text) {
  std::string s = v;
  if (text && !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r'))
    s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

json opt_json(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

Result<json> Console::Impl::call(const std::string& tool, json args) const {
  const mcp::Tool* t = registry.find(tool);
  if (!t) return make_error("CONSOLE_UNAVAILABLE", tool + " is not available in this configuration");
  auto prepared = registry.prepare(tool, std::move(args));
  if (!prepared) return prepared.error();
  mcp::CallContext ctx;
  ctx.client = "console";
  ctx.owner = true;
  ctx.cancel_flag = std::make_shared<std::atomic<bool>>(false);
  ctx.progress = [](double, std::optional<double>, const std::string&) {};
  ctx.log = [](LogLevel, const std::string&, const json&) {};
  mcp::ToolOutcome out = t->handler(*prepared, ctx);
  if (out.is_error) return out.error;
  return std::move(out.structured);
}

json Console::Impl::open_approvals() const {
  auto r = call("list_approvals", json{{"state", "open"}, {"limit", 100}});
  if (!r) return json{{"approvals", json::array()}, {"channels", json::array()}, {"message", r.error().message}};
  return *r;
}

// Changes anywhere in the ledger (any process, any fleet instance) show in these totals: a new payment, a state
// change, a purchase, an approval.
std::string Console::Impl::ledger_fingerprint() const {
  auto m = engine.ledger->metrics();
  if (!m) return "error:" + m.error().code;
  std::string fp;
  for (const auto& p : m->payments)
    fp += p.protocol + "/" + p.state + "/" + std::to_string(p.count) + "/" + std::to_string(p.amount_msat) + "/" +
          std::to_string(p.fee_msat) + ";";
  fp += std::to_string(m->purchases_pending) + "/" + std::to_string(m->purchases_usable) + "/" +
        std::to_string(m->approvals_waiting);
  return fp;
}

SideResponse Console::Impl::api(const SideRequest& rq, const std::string& p) {
  const bool get = rq.method == "GET" || rq.method == "HEAD";
  const int64_t now = engine.clock->now_unix();
  auto param = [&](const char* n) { return query_param(rq.query, n); };

  if (p == "/api/overview" && get) {
    json wallet;
    {
      std::lock_guard<std::mutex> lk(mu);
      if (wallet_cache && now - wallet_cached_at < 20) wallet = *wallet_cache;
    }
    if (wallet.is_null()) {
      wallet = json{{"connected", false}, {"alias", ""}, {"network", ""}, {"encryption", ""},
                    {"methods", json::array()}, {"balance_sats", nullptr}, {"error", nullptr}};
      if (!engine.wallet) {
        wallet["error"] = engine.wallet_problem.empty() ? "no wallet connected: set NWC_URL (see README)" : engine.wallet_problem;
      } else if (auto info = call("get_wallet_info", json::object()); !info) {
        wallet["error"] = info.error().message;
      } else {
        wallet["connected"] = true;
        for (const char* k : {"alias", "network", "encryption", "methods"})
          if (info->contains(k)) wallet[k] = (*info)[k];
        if (auto bal = call("get_balance", json::object())) wallet["balance_sats"] = (*bal)["balance_sats"];
        else wallet["error"] = "balance: " + bal.error().message;
      }
      std::lock_guard<std::mutex> lk(mu);
      wallet_cache = wallet;
      wallet_cached_at = now;
    }
    auto budget = call("get_budget_status", json::object());
    if (!budget) return from_error(budget.error());
    auto unknown = call("list_payments", json{{"state", "unknown"}, {"limit", 50}});
    if (!unknown) return from_error(unknown.error());
    return json_response(200, json{{"now", now},
                                   {"wallet", wallet},
                                   {"budget", *budget},
                                   {"approvals", open_approvals()},
                                   {"unknown", *unknown}});
  }

  if (p == "/api/spend" && get) {
    int64_t days = to_int(param("days").value_or("7")).value_or(0);
    if (days < 1 || days > 90) return error_response(400, "INVALID_ARGUMENTS", "days must be 1 to 90");
    const std::string bucket = param("bucket").value_or(days <= 2 ? "hour" : "day");
    if (bucket != "hour" && bucket != "day") return error_response(400, "INVALID_ARGUMENTS", "bucket must be hour or day");
    if (bucket == "hour" && days > 7) return error_response(400, "INVALID_ARGUMENTS", "hourly buckets cover at most 7 days");
    const int64_t step = bucket == "hour" ? 3600 : 86400;
    const int64_t until = (now / step + 1) * step;
    const int64_t since = until - days * 86400;
    std::map<int64_t, std::map<std::string, uint64_t>> msat;  // bucket start → domain → msat
    std::map<std::string, uint64_t> domain_total;
    spend::ListQuery q;
    q.state = spend::State::settled;
    q.since = since;
    q.limit = 500;
    for (int page = 0; page < 40; ++page) {  // at most 20,000 payments per chart
      auto r = engine.ledger->list_payments(q);
      if (!r) return from_error(r.error());
      for (const auto& pay : r->items) {
        const std::string d = pay.domain.empty() ? "(invoice)" : pay.domain;
        const int64_t at = pay.settled_at.value_or(pay.created_at);
        msat[since + (at - since) / step * step][d] += pay.amount_msat + pay.fee_msat.value_or(0);
        domain_total[d] += pay.amount_msat + pay.fee_msat.value_or(0);
      }
      if (!r->next_cursor) break;
      q.cursor = r->next_cursor;
    }
    json buckets = json::array();
    for (int64_t t = since; t < until; t += step) {
      json by = json::object();
      uint64_t total = 0;
      if (auto it = msat.find(t); it != msat.end())
        for (const auto& [d, m] : it->second) {
          by[d] = msat_to_sat_ceil(m);
          total += m;
        }
      buckets.push_back(json{{"start", t}, {"total_sats", msat_to_sat_ceil(total)}, {"by_domain", by}});
    }
    std::vector<std::pair<std::string, uint64_t>> ds(domain_total.begin(), domain_total.end());
    std::sort(ds.begin(), ds.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    json names = json::array();
    for (const auto& [d, m] : ds) names.push_back(d);
    return json_response(200, json{{"bucket", bucket}, {"since", since}, {"until", until}, {"buckets", buckets},
                                   {"domains", names}, {"includes", "settled payments with their routing fees"}});
  }

  if (p == "/api/payments" && get) {
    json args = json::object();
    for (const char* k : {"state", "domain", "client", "protocol", "cursor"})
      if (auto v = param(k); v && !v->empty()) args[k] = *v;
    for (const char* k : {"since", "until", "limit"})
      if (auto v = param(k); v && !v->empty()) {
        auto n = to_int(*v);
        if (!n) return error_response(400, "INVALID_ARGUMENTS", std::string(k) + " must be a whole number");
        args[k] = *n;
      }
    auto r = call("list_payments", args);
    if (!r) return from_error(r.error());
    return json_response(200, *r);
  }

  if (p.rfind("/api/payments/", 0) == 0 && get) {
    auto id = to_int(p.substr(14));
    if (!id) return error_response(404, "NOT_FOUND", "no such payment");
    auto pay = engine.ledger->get_payment_by_id(*id);
    if (!pay) return from_error(pay.error());
    json payment = tools::payment_json(*pay);
    json out{{"payment", payment}, {"invoice", nullptr}, {"approval", nullptr}, {"credential", nullptr},
             {"transaction", nullptr}};
    if (auto look = call("lookup_payment", json{{"payment_hash", pay->payment_hash}}); look) {
      if (look->contains("ledger"))
        for (const auto& [k, v] : (*look)["ledger"].items())
          if (!out["payment"].contains(k)) out["payment"][k] = v;
      if (look->contains("transaction")) {
        json tx = (*look)["transaction"];
        tx.erase("preimage");  // the proof stays in the ledger; the page says whether it was verified
        out["transaction"] = tx;
      }
    } else {
      out["payment"]["what_next"] = "could not be looked up now: " + look.error().message;
    }
    out["payment"]["preimage_verified"] = pay->state == spend::State::settled && !pay->preimage.empty();
    if (!pay->invoice.empty())
      if (auto inv = call("decode_invoice", json{{"invoice", pay->invoice}})) out["invoice"] = *inv;
    json timeline = json::array();
    auto add = [&](int64_t at, const std::string& state, const std::string& note) {
      timeline.push_back(json{{"at", at}, {"state", state}, {"note", note}});
    };
    add(pay->created_at, "reserved",
        "budget reserved by " + pay->client + (pay->tool.empty() ? "" : " (" + pay->tool + ")"));
    if (auto ap = engine.ledger->approval_for_payment(*id); ap && *ap) {
      const spend::Approval& a = **ap;
      add(a.created_at, "approval asked", approve::describe(a));
      if (a.decided_at)
        add(*a.decided_at, spend::approval_state_name(a.state),
            a.decided_by.empty() ? std::string() : "by " + a.decided_by + (a.reason.empty() ? "" : ": " + a.reason));
      out["approval"] = spend::to_json(a);
    }
    if (pay->wallet_said_at) add(*pay->wallet_said_at, "wallet asked", "the wallet said: " + pay->wallet_said);
    if (pay->settled_at) add(*pay->settled_at, "settled", "paid; preimage checked against the payment hash");
    else if (pay->state != spend::State::reserved && pay->state != spend::State::in_flight)
      add(pay->updated_at, spend::state_name(pay->state),
          pay->error_code.empty() ? std::string() : "code " + pay->error_code);
    else if (pay->state == spend::State::in_flight)
      add(pay->updated_at, "in_flight", "sent to the wallet; waiting for its answer");
    std::stable_sort(timeline.begin(), timeline.end(),
                     [](const json& a, const json& b) { return a["at"].get<int64_t>() < b["at"].get<int64_t>(); });
    out["timeline"] = timeline;
    if (auto pu = engine.ledger->purchase_by_payment(pay->payment_hash); pu && *pu) {
      const spend::Purchase& c = **pu;
      out["credential"] = json{{"state", spend::purchase_state_name(c.state)},
                               {"origin", c.origin},
                               {"expires_at", opt_json(c.valid_until)}};
    }
    return json_response(200, out);
  }

  if (p == "/api/policy" && get) {
    const spend::Policy eff = engine.ledger->policy(), conf = engine.ledger->configured_policy();
    auto sats = [](const std::optional<uint64_t>& m) { return m ? json(msat_to_sat_ceil(*m)) : json(nullptr); };
    json limits = json::array();
    auto source = [&](const char* f) {
      if (!engine.config) return std::string("default");
      auto it = engine.config->policy_sources.find(f);
      return it == engine.config->policy_sources.end() ? std::string("default") : it->second;
    };
    auto row = [&](const char* field, const char* label, const std::optional<uint64_t>& e,
                   const std::optional<uint64_t>& c) {
      const bool tightened = e != c;
      limits.push_back(json{{"field", field},
                            {"label", label},
                            {"effective_sats", sats(e)},
                            {"configured_sats", sats(c)},
                            {"source", tightened ? "run-time tightening (over " + source(field) + ")" : source(field)},
                            {"tightened", tightened}});
    };
    row("per_call", "Per payment", eff.global.per_call_msat, conf.global.per_call_msat);
    row("hour", "Any hour", eff.global.hour_msat, conf.global.hour_msat);
    row("day", "Any 24 hours", eff.global.day_msat, conf.global.day_msat);
    row("week", "Any 7 days", eff.global.week_msat, conf.global.week_msat);
    row("month", "Any 30 days", eff.global.month_msat, conf.global.month_msat);
    row("lifetime", "Lifetime", eff.global.lifetime_msat, conf.global.lifetime_msat);
    row("approve_above", "Ask the owner above", eff.global.approve_above_msat, conf.global.approve_above_msat);
    json env = json::object();
    if (auto t = engine.ledger->envelope_tightenings())
      for (const auto& [name, cap] : *t) env[name]["cap_sats"] = msat_to_sat_ceil(cap);
    if (auto t = engine.ledger->envelope_threshold_tightenings())
      for (const auto& [name, th] : *t) env[name]["approve_above_sats"] = msat_to_sat_ceil(th);
    json lists{{"allow_domains", eff.allow_domains ? json(*eff.allow_domains) : json(nullptr)},
               {"deny_domains", eff.deny_domains},
               {"protocols", eff.protocols},
               {"approve_new_domains", eff.approve_new_domains},
               {"sources", {{"allow_domains", source("allow_domains")},
                            {"deny_domains", eff.deny_domains != conf.deny_domains ? std::string("run-time tightening")
                                                                                   : source("deny_domains")},
                            {"protocols", source("protocols")},
                            {"approve_new_domains", eff.approve_new_domains != conf.approve_new_domains
                                                        ? std::string("run-time tightening")
                                                        : source("approve_new_domains")}}}};
    return json_response(200, json{{"effective", spend::policy_to_json(eff)},
                                   {"configured", spend::policy_to_json(conf)},
                                   {"limits", limits},
                                   {"lists", lists},
                                   {"envelope_tightenings", env}});
  }

  if (p == "/api/policy/tighten" && rq.method == "POST") {
    json body = json::parse(rq.body, nullptr, false);
    if (!body.is_object() || body.empty())
      return error_response(400, "INVALID_ARGUMENTS", "give at least one limit to lower; nothing was changed");
    auto r = call("configure_budget", body);
    if (!r) return from_error(r.error());
    sw::log(LogLevel::notice, "console", "the owner tightened the policy from the console");
    return json_response(200, *r);
  }

  if (p == "/api/policy/reset" && rq.method == "POST") {
    if (auto st = engine.ledger->reset_policy_overrides(); !st) return from_error(st.error());
    sw::log(LogLevel::notice, "console", "the owner undid every run-time tightening from the console");
    return json_response(200, json{{"message", "run-time tightenings undone: the configured policy applies again"}});
  }

  if (p.rfind("/api/approvals/", 0) == 0 && rq.method == "POST") {
    std::string rest = p.substr(15);
    size_t slash = rest.find('/');
    if (slash == std::string::npos) return error_response(404, "NOT_FOUND", "no such action");
    const std::string id = rest.substr(0, slash), action = rest.substr(slash + 1);
    if (action != "approve" && action != "deny") return error_response(404, "NOT_FOUND", "approve or deny");
    if (!engine.approvals) return error_response(503, "CONSOLE_UNAVAILABLE", "approvals are not available");
    spend::ApprovalDecision d;
    d.public_id = id;
    d.approve = action == "approve";
    d.channel = "console";
    json body = json::parse(rq.body, nullptr, false);
    if (body.is_object() && body.contains("reason") && body["reason"].is_string())
      d.reason = body["reason"].get<std::string>().substr(0, 500);
    auto a = engine.approvals->decide(d);
    if (!a) return from_error(a.error());
    return json_response(200, json{{"approval", spend::to_json(*a)},
                                   {"message", d.approve ? "approved: the waiting call pays now (once)"
                                                         : "denied: nothing is paid and the budget is released"}});
  }

  if (p == "/api/export.csv" && get) {
    std::string csv =
        "id,created_at,client,envelope,domain,tool,protocol,payment_hash,amount_msat,amount_sats,fee_msat,state,"
        "error_code,settled_at\r\n";
    spend::ListQuery q;
    q.limit = 500;
    for (int page = 0; page < 400; ++page) {  // at most 200,000 rows
      auto r = engine.ledger->list_payments(q);
      if (!r) return from_error(r.error());
      for (const auto& x : r->items) {
        csv += std::to_string(x.id) + "," + iso8601_utc(x.created_at) + "," + csv_cell(x.client, true) + "," +
               csv_cell(x.envelope, true) + "," + csv_cell(x.domain, true) + "," + csv_cell(x.tool, true) + "," +
               csv_cell(x.protocol, true) + "," + x.payment_hash + "," + std::to_string(x.amount_msat) + "," +
               std::to_string(msat_to_sat_ceil(x.amount_msat)) + "," +
               (x.fee_msat ? std::to_string(*x.fee_msat) : std::string()) + "," + spend::state_name(x.state) + "," +
               csv_cell(x.error_code, true) + "," + (x.settled_at ? iso8601_utc(*x.settled_at) : std::string()) + "\r\n";
      }
      if (!r->next_cursor) break;
      q.cursor = r->next_cursor;
    }
    SideResponse r;
    r.content_type = "text/csv; charset=utf-8";
    r.body = std::move(csv);
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"satwarden-payments.csv\"");
    secure(r);
    return r;
  }

  return error_response(get ? 404 : 405, get ? "NOT_FOUND" : "METHOD_NOT_ALLOWED", "no such console endpoint");
}

}  // namespace sw::console
