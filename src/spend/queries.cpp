// The ledger's queries: status per scope, payment lists and pages, reports by domain and UTC day, single payments,
// and the JSON forms of payments, statuses and reports.
#include <ctime>
#include <set>
#include <tuple>

#include "spend/fiat_internal.h"
#include "spend/ledger_impl.h"

namespace sw::spend {

namespace {

// "YYYY-MM-DD" (UTC) of a day number (days since 1970-01-01).
std::string utc_day(int64_t day) {
  const time_t t = static_cast<time_t>(day * 86400);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

json opt_json(const std::optional<uint64_t>& v) { return v ? json(*v) : json(nullptr); }
json opt_json(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

json to_json(const WindowStatus::Fiat& f) {
  json j = {{"amount", fiat_amount_json(f.cap.micros)}, {"currency", f.cap.currency}};
  if (!f.price) {
    j["price_unavailable"] = true;
    return j;
  }
  j["price"] = price_json(f.cap.currency, *f.price);
  if (f.limit_msat) j["limit_sats"] = *f.limit_msat / 1000;
  if (f.spent_micros) {
    j["spent"] = fiat_amount_json(*f.spent_micros);
    j["remaining"] = fiat_amount_json(*f.spent_micros >= f.cap.micros ? 0 : f.cap.micros - *f.spent_micros);
  }
  return j;
}

namespace {

json scope_json(const ScopeStatus& s, StatusFormat format) {
  const bool for_tool = format == StatusFormat::budget_status;
  json w = json::array();
  for (const auto& ws : s.windows) {
    json limit_sats = nullptr;
    if (ws.limit_msat) limit_sats = for_tool ? *ws.limit_msat / 1000 : msat_to_sat_ceil(*ws.limit_msat);
    json x = {{"window", ws.window},
              {"limit_msat", opt_json(ws.limit_msat)},
              {"limit_sats", limit_sats},
              {"spent_msat", ws.spent_msat},
              {"spent_sats", msat_to_sat_ceil(ws.spent_msat)},
              {"remaining_msat", opt_json(ws.remaining_msat)},
              {"remaining_sats", ws.remaining_msat ? json(*ws.remaining_msat / 1000) : json(nullptr)},
              {"next_rolloff", opt_json(ws.next_rolloff)}};
    // Caps in a currency on this window (limit_* above are then the stricter of both, at the current price).
    if (!ws.fiat.empty()) {
      json f = json::array();
      for (const auto& c : ws.fiat) f.push_back(to_json(c));
      x["fiat"] = f;
    }
    w.push_back(std::move(x));
  }
  json j = {{"scope", s.scope}, {"windows", w}};
  if (for_tool)
    j["per_call_sats"] = s.per_call_msat ? json(*s.per_call_msat / 1000) : json(nullptr);
  else
    j["per_call_msat"] = opt_json(s.per_call_msat);
  if (!s.per_call_fiat.empty()) {
    json f = json::array();
    for (const auto& c : s.per_call_fiat) f.push_back(to_json(c));
    j["per_call_fiat"] = f;
  }
  if (s.expires_at || for_tool) j["expires_at"] = opt_json(s.expires_at);
  return j;
}

json bucket_json(const ReportBucket& b) {
  json j = {{"settled_count", b.settled_count},   {"settled_amount_msat", b.settled_amount_msat},
          {"settled_fee_msat", b.settled_fee_msat}, {"settled_total_sats", msat_to_sat_ceil(b.settled_amount_msat + b.settled_fee_msat)},
          {"pending_count", b.pending_count},   {"pending_msat", b.pending_msat},
          {"unknown_count", b.unknown_count},   {"failed_count", b.failed_count},
          {"released_count", b.released_count}};
  if (json f = fiat_json(b); !f.is_null()) j["fiat"] = f;
  return j;
}

}  // namespace

// ---------------------------------------------------------------- free functions
uint64_t Payment::counted_msat() const {
  if (!counts_against_budget(state)) return 0;
  return amount_msat + fee_msat.value_or(max_fee_msat);
}

json to_json(const Payment& p, bool include_preimage) {
  json j = {{"id", p.id},
            {"client", p.client},
            {"envelope", p.envelope},
            {"domain", p.domain},
            {"tool", p.tool},
            {"protocol", p.protocol},
            {"invoice", p.invoice},
            {"payment_hash", p.payment_hash},
            {"amount_msat", p.amount_msat},
            {"amount_sats", msat_to_sat_ceil(p.amount_msat)},
            {"max_fee_msat", p.max_fee_msat},
            {"fee_msat", opt_json(p.fee_msat)},
            {"state", state_name(p.state)},
            {"error_code", p.error_code.empty() ? json(nullptr) : json(p.error_code)},
            {"created_at", p.created_at},
            {"updated_at", p.updated_at},
            {"settled_at", opt_json(p.settled_at)},
            {"latency_ms", opt_json(p.latency_ms)}};
  if (include_preimage) j["preimage"] = p.preimage.empty() ? json(nullptr) : json(p.preimage);
  if (!p.request_id.empty()) j["request_id"] = p.request_id;
  if (json f = fiat_json(p); !f.is_null()) j["fiat"] = f;
  return j;
}

json fiat_json(const Payment& p) {
  if (p.fiat_rates.empty()) return nullptr;
  // The prices known when it was reserved, and its value at them (amount + fee; ceil, like caps).
  json f = json::array();
  for (const auto& [cur, price] : p.fiat_rates) {
    json x = price_json(cur, price);
    x["amount"] = fiat_amount_json(msat_to_fiat_ceil(p.amount_msat + p.fee_msat.value_or(0), price.micros_per_btc));
    f.push_back(std::move(x));
  }
  return f;
}

json fiat_json(const ReportBucket& b) {
  if (b.settled_fiat_micros.empty() && b.settled_without_rate.empty()) return nullptr;
  json f = json::object();
  for (const auto& [cur, micros] : b.settled_fiat_micros) f[cur] = {{"settled_total", fiat_amount_json(micros)}};
  for (const auto& [cur, n] : b.settled_without_rate) f[cur]["settled_without_price"] = n;
  return f;
}

void add_settled_fiat(ReportBucket& b, const Payment& p, const std::vector<std::string>& currencies) {
  if (p.state != State::settled) return;
  for (const auto& cur : currencies) {
    auto it = p.fiat_rates.find(cur);
    if (it == p.fiat_rates.end())
      ++b.settled_without_rate[cur];
    else
      b.settled_fiat_micros[cur] += msat_to_fiat_ceil(p.amount_msat + p.fee_msat.value_or(0), it->second.micros_per_btc);
  }
}

json to_json(const StatusReport& s, StatusFormat format) {
  json d = json::array(), e = json::array();
  for (const auto& x : s.domains) d.push_back(scope_json(x, format));
  for (const auto& x : s.envelopes) e.push_back(scope_json(x, format));
  json out = {{"now", s.now},          {"global", scope_json(s.global, format)}, {"domains", d},
              {"envelopes", e},        {"pending_count", s.pending_count},     {"unknown_count", s.unknown_count},
              {"fee_excess", {{"count", s.fee_excess_count}, {"excess_msat", s.fee_excess_msat},
                              {"last_at", opt_json(s.fee_excess_last_at)}}}};
  if (format == StatusFormat::budget_status)
    out["fee_excess"]["note"] = s.fee_excess_count == 0
                                    ? "no payment in the last 30 days had a routing fee above its reserved allowance"
                                    : "routing fees above the reserved allowance (last 30 days) are booked as spent: a "
                                      "window can end above its cap by that excess and then refuses payments until it "
                                      "has room again";
  return out;
}

json to_json(const SpendReport& r) {
  json d = json::object(), day = json::object();
  for (const auto& [k, b] : r.by_domain) d[k] = bucket_json(b);
  for (const auto& [k, b] : r.by_day) day[k] = bucket_json(b);
  return {{"since", r.since}, {"until", r.until}, {"total", bucket_json(r.total)}, {"by_domain", d}, {"by_day", day}};
}

Result<StatusReport> Ledger::status() { return status(impl_->clock.now_unix()); }

std::vector<std::string> Ledger::fiat_currencies() const {
  std::set<std::string> out;
  std::lock_guard lk(impl_->pol_mu);
  for (const auto& c : impl_->effective->global.fiat) out.insert(c.currency);
  for (const auto& [pat, caps] : impl_->effective->domains)
    for (const auto& c : caps.fiat) out.insert(c.currency);
  for (const auto& e : impl_->envs)
    if (e.fiat_cap) out.insert(e.fiat_cap->currency);
  return {out.begin(), out.end()};
}

namespace {
// Attaches each fiat cap of `caps` to its window (or per-call), converted at `prices` when known; the window's
// limit becomes the stricter of the sat and fiat caps.
void add_fiat(ScopeStatus& s, const Caps& caps, const Prices& prices) {
  for (const auto& c : caps.fiat) {
    WindowStatus::Fiat f;
    f.cap = c;
    auto it = prices.find(c.currency);
    if (it != prices.end() && it->second.micros_per_btc > 0) {
      f.price = it->second;
      f.limit_msat = fiat_to_msat_floor(c.micros, it->second.micros_per_btc);
    }
    if (c.window == "per_call") {
      if (f.limit_msat && (!s.per_call_msat || *f.limit_msat < *s.per_call_msat)) s.per_call_msat = f.limit_msat;
      s.per_call_fiat.push_back(f);
      continue;
    }
    for (auto& ws : s.windows) {
      if (ws.window != c.window) continue;
      if (f.price) f.spent_micros = msat_to_fiat_ceil(ws.spent_msat, f.price->micros_per_btc);
      if (f.limit_msat && (!ws.limit_msat || *f.limit_msat < *ws.limit_msat)) {
        ws.limit_msat = f.limit_msat;
        ws.remaining_msat = ws.spent_msat >= *f.limit_msat ? 0 : *f.limit_msat - ws.spent_msat;
      }
      ws.fiat.push_back(f);
    }
  }
}
}  // namespace

Result<StatusReport> Ledger::status(int64_t now, const Prices& prices) {
  Impl& im = *impl_;
  return im.read<StatusReport>([&](Db& d) -> Result<StatusReport> {
    if (auto s = im.refresh_policy(d); !s) return s.error();
    Policy pol;
    std::vector<Envelope> envs;
    {
      std::lock_guard lk(im.pol_mu);
      pol = *im.effective;
      envs = im.envs;
    }
    StatusReport rep;
    rep.now = now;
    auto g = window_status(d, now, pol.global, Filter{});
    if (!g) return g.error();
    rep.global = {"global", pol.global.per_call_msat, *g, std::nullopt, {}};
    add_fiat(rep.global, pol.global, prices);
    for (const auto& [pat, caps] : pol.domains) {
      auto t = window_status(d, now, caps, domain_filter(pat));
      if (!t) return t.error();
      rep.domains.push_back({"domain:" + pat, caps.per_call_msat, *t, std::nullopt, {}});
      add_fiat(rep.domains.back(), caps, prices);
    }
    for (auto e : envs) {
      auto tight = envelope_tightening(d, e.name);
      if (!tight) return tight.error();
      if (*tight && **tight < e.cap_msat) e.cap_msat = **tight;
      auto t = sum_counted(d, now, Filter{Filter::envelope, e.name}, kLifetimeBit);
      if (!t) return t.error();
      WindowStatus ws;
      ws.window = "lifetime";
      ws.limit_msat = e.cap_msat;
      ws.spent_msat = t->lifetime;
      ws.remaining_msat = t->lifetime >= e.cap_msat ? 0 : e.cap_msat - t->lifetime;
      rep.envelopes.push_back({"envelope:" + e.name, std::nullopt, {ws}, e.expires_at, {}});
      if (e.fiat_cap) {
        Caps c;
        c.fiat = {*e.fiat_cap};
        add_fiat(rep.envelopes.back(), c, prices);
      }
    }
    auto st = d.prepare(
        "SELECT state, COUNT(*) FROM payments WHERE state IN ('reserved','in_flight','unknown') GROUP BY state");
    if (!st) return db_error(d, "prepare");
    int rc;
    while ((rc = st->step()) == kRow) {
      auto n = static_cast<uint64_t>(st->i64(1));
      rep.pending_count += n;
      if (st->text(0) == "unknown") rep.unknown_count = n;
    }
    if (rc != kDone) return db_error(d, "read", rc);
    st.reset();
    auto fx = d.prepare(
        "SELECT COUNT(*), COALESCE(SUM(fee_msat - max_fee_msat), 0), MAX(updated_at) FROM payments"
        " WHERE counted = 1 AND fee_msat > max_fee_msat AND created_at > ?1");
    if (!fx) return db_error(d, "prepare");
    fx->bind(1, now - window_seconds(Window::month));
    if ((rc = fx->step()) != kRow) return db_error(d, "read", rc);
    rep.fee_excess_count = static_cast<uint64_t>(fx->i64(0));
    rep.fee_excess_msat = static_cast<uint64_t>(fx->i64(1));
    rep.fee_excess_last_at = fx->opt_i64(2);
    return rep;
  });
}

Result<Page> Ledger::list_payments(const ListQuery& q) {
  if (q.limit == 0 || q.limit > 500) return make_error("INVALID_ARGUMENT", "limit must be between 1 and 500");
  std::optional<int64_t> before;
  if (q.cursor) {
    const std::string& c = *q.cursor;
    bool ok = c.size() >= 2 && c.size() <= 20 && c[0] == 'p';
    for (size_t i = 1; ok && i < c.size(); ++i) ok = c[i] >= '0' && c[i] <= '9';
    if (!ok) return make_error("INVALID_CURSOR", "cursor is not one this server issued");
    before = std::stoll(c.substr(1));
  }
  std::string sql = std::string("SELECT ") + kCols + " FROM payments WHERE 1 = 1";
  std::vector<std::variant<int64_t, std::string>> args;
  auto add = [&](const char* clause, std::variant<int64_t, std::string> v) {
    args.push_back(std::move(v));
    sql += std::string(" AND ") + clause + " ?" + std::to_string(args.size());
  };
  if (q.since) add("created_at >=", *q.since);
  if (q.until) add("created_at <", *q.until);
  if (q.protocol) add("protocol =", *q.protocol);
  if (q.domain) {
    auto dn = normalize_domain(*q.domain);
    if (!dn) return dn.error();
    add("domain =", *dn);
  }
  if (q.client) add("client =", *q.client);
  if (q.envelope) add("envelope =", *q.envelope);
  if (q.state) add("state =", std::string(state_name(*q.state)));
  if (before) add("id <", *before);
  args.push_back(static_cast<int64_t>(q.limit + 1));
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(args.size());
  return impl_->read<Page>([&](Db& d) -> Result<Page> {
    auto st = d.prepare(sql);
    if (!st) return db_error(d, "prepare");
    for (size_t i = 0; i < args.size(); ++i) {
      if (auto* n = std::get_if<int64_t>(&args[i]))
        st->bind(static_cast<int>(i + 1), *n);
      else
        st->bind(static_cast<int>(i + 1), std::get<std::string>(args[i]));
    }
    Page page;
    int rc;
    while ((rc = st->step()) == kRow) page.items.push_back(read_payment(*st));
    if (rc != kDone) return db_error(d, "read", rc);
    if (page.items.size() > q.limit) {
      page.items.pop_back();
      page.next_cursor = "p" + std::to_string(page.items.back().id);
    }
    return page;
  });
}

Result<SpendReport> Ledger::report(int64_t since, int64_t until) {
  if (until < since) return make_error("INVALID_ARGUMENT", "report range ends before it starts");
  return impl_->read<SpendReport>([&](Db& d) -> Result<SpendReport> {
    SpendReport rep;
    rep.since = since;
    rep.until = until;
    auto add = [](ReportBucket& b, const std::string& state, uint64_t n, uint64_t amount, uint64_t fee,
                  uint64_t counted) {
      if (state == "settled") {
        b.settled_count += n;
        b.settled_amount_msat += amount;
        b.settled_fee_msat += fee;
      } else if (state == "failed") {
        b.failed_count += n;
      } else if (state == "released") {
        b.released_count += n;
      } else {
        b.pending_count += n;
        b.pending_msat += counted;
        if (state == "unknown") b.unknown_count += n;
      }
    };
    for (int pass = 0; pass < 2; ++pass) {
      // Days are grouped by number (created_at / 86400, both dialects) and named here.
      std::string key = pass == 0 ? "domain" : "created_at / 86400";
      auto st = d.prepare("SELECT " + key +
                          ", state, COUNT(*), SUM(amount_msat), SUM(COALESCE(fee_msat, 0)),"
                          " SUM(amount_msat + COALESCE(fee_msat, max_fee_msat)) FROM payments"
                          " WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1, 2");
      if (!st) return db_error(d, "prepare");
      st->bind(1, since).bind(2, until);
      int rc;
      while ((rc = st->step()) == kRow) {
        std::string k = pass == 0 ? st->text(0) : utc_day(st->i64(0)), state = st->text(1);
        auto n = static_cast<uint64_t>(st->i64(2)), amount = static_cast<uint64_t>(st->i64(3)),
             fee = static_cast<uint64_t>(st->i64(4)), counted = static_cast<uint64_t>(st->i64(5));
        add(pass == 0 ? rep.by_domain[k] : rep.by_day[k], state, n, amount, fee, counted);
        if (pass == 0) add(rep.total, state, n, amount, fee, counted);
      }
      if (rc != kDone) return db_error(d, "report", rc);
    }
    // The fiat side: each settled payment valued at the prices recorded with it (rows without prices are counted).
    auto fx = d.prepare(
        "SELECT domain, created_at / 86400, amount_msat + COALESCE(fee_msat, 0), fiat_rates FROM payments"
        " WHERE created_at >= ?1 AND created_at < ?2 AND state = 'settled'");
    if (!fx) return db_error(d, "prepare");
    fx->bind(1, since).bind(2, until);
    std::set<std::string> currencies;
    std::vector<std::tuple<std::string, int64_t, uint64_t, Prices>> rows;
    int rc;
    while ((rc = fx->step()) == kRow) {
      Prices p = detail::fiat::prices_from_text(fx->text(3));
      for (const auto& [cur, v] : p) currencies.insert(cur);
      rows.emplace_back(fx->text(0), fx->i64(1), static_cast<uint64_t>(fx->i64(2)), std::move(p));
    }
    if (rc != kDone) return db_error(d, "report", rc);
    if (!currencies.empty())
      for (const auto& [dom, day, msat, p] : rows)
        for (const auto& cur : currencies) {
          auto it = p.find(cur);
          for (ReportBucket* b : {&rep.total, &rep.by_domain[dom], &rep.by_day[utc_day(day)]}) {
            if (it == p.end())
              ++b->settled_without_rate[cur];
            else
              b->settled_fiat_micros[cur] += msat_to_fiat_ceil(msat, it->second.micros_per_btc);
          }
        }
    return rep;
  });
}

Result<Payment> Ledger::get_payment(const std::string& payment_hash) {
  std::string hash = ascii_lower(payment_hash);
  if (!is_hex64(hash)) return make_error("INVALID_ARGUMENT", "payment_hash must be 64 hex characters");
  Impl& im = *impl_;
  return im.read<Payment>([&](Db& d) {
    return im.one_payment(d, "payment_hash = ?1 ORDER BY id DESC LIMIT 1", [&](Stmt& s) { s.bind(1, hash); });
  });
}

Result<Payment> Ledger::get_payment_by_id(int64_t id) {
  Impl& im = *impl_;
  return im.read<Payment>([&](Db& d) { return im.one_payment(d, "id = ?1", [&](Stmt& s) { s.bind(1, id); }); });
}

}  // namespace sw::spend
