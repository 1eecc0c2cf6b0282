// Reservations and the payment state machine: the checks of a reservation (double-pay guard, purchases,
// envelope, protocols, domains, caps, windows) in one transaction, approvals it creates, and every transition.
#include "spend/approvals_internal.h"
#include "spend/purchases_internal.h"

#include "spend/fiat_internal.h"
#include "spend/ledger_impl.h"

namespace sw::spend {

namespace detail::ledger {

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Error codes from wallets are stored and shown; keep them short and boring.
std::string clean_code(std::string_view code) {
  std::string out;
  for (char c : code.substr(0, 64)) {
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') out += c;
    else if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 'A');
    else out += '_';
  }
  return out.empty() ? "UNSPECIFIED" : out;
}

Result<std::string> normalize_domain(std::string_view raw) {
  std::string d = ascii_lower(trim(raw));
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d.size() > 253) return make_error("INVALID_ARGUMENT", "domain is too long");
  for (char c : d)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '*' || c == '/' || static_cast<unsigned char>(c) >= 0x7f)
      return make_error("INVALID_ARGUMENT", "domain has an invalid character");
  return d;
}

uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

Payment read_payment(const Stmt& s) {
  Payment p;
  p.id = s.i64(0);
  p.client = s.text(1);
  p.envelope = s.text(2);
  p.domain = s.text(3);
  p.tool = s.text(4);
  p.protocol = s.text(5);
  p.invoice = s.text(6);
  p.payment_hash = s.text(7);
  p.amount_msat = static_cast<uint64_t>(s.i64(8));
  p.max_fee_msat = static_cast<uint64_t>(s.i64(9));
  if (!s.is_null(10)) p.fee_msat = static_cast<uint64_t>(s.i64(10));
  p.state = parse_state(s.text(11)).value_or(State::unknown);
  p.error_code = s.text(12);
  p.preimage = s.text(13);
  p.created_at = s.i64(14);
  p.updated_at = s.i64(15);
  p.settled_at = s.opt_i64(16);
  p.latency_ms = s.opt_i64(17);
  p.request_expires_at = s.opt_i64(18);
  p.wallet_said = s.text(19);
  p.wallet_said_at = s.opt_i64(20);
  p.resolved_by = s.text(21);
  p.request_id = s.text(22);
  p.fiat_rates = detail::fiat::prices_from_text(s.text(23));
  return p;
}

}  // namespace detail::ledger

Status Ledger::Impl::apply(Db& d, int64_t id, const Change& c, int64_t now, std::optional<State> expect) {
  static const std::string kSel =
      "SELECT state, max_fee_msat, amount_msat, fee_msat, created_at, domain, envelope FROM payments WHERE id = ?1";
  auto sel = d.prepare(kSel);
  if (!sel) return db_error(d, "prepare");
  sel->bind(1, id);
  int rc = sel->step();
  if (rc == kDone) return make_error("PAYMENT_NOT_FOUND", "no payment with id " + std::to_string(id));
  if (rc != kRow) return db_error(d, "read", rc);
  auto from = parse_state(sel->text(0));
  const int64_t max_fee = sel->i64(1), amount = sel->i64(2), created_at = sel->i64(4);
  const std::optional<int64_t> old_fee = sel->opt_i64(3);
  const std::string domain = sel->text(5), envelope = sel->text(6);
  sel.reset();
  if (!from) return make_error("LEDGER_ERROR", "payment has an unrecognised state");
  if (expect && *from != *expect)
    return make_error("ILLEGAL_TRANSITION", "payment changed state meanwhile",
                      {{"id", id}, {"from", state_name(*from)}, {"to", state_name(c.to)}});
  if (!transition_allowed(*from, c.to))
    return make_error("ILLEGAL_TRANSITION",
                      std::string("payment ") + std::to_string(id) + " cannot go from " + state_name(*from) +
                          " to " + state_name(c.to),
                      {{"id", id}, {"from", state_name(*from)}, {"to", state_name(c.to)}});
  if (c.fee_msat && *c.fee_msat > max_fee)
    log(LogLevel::warning, "spend",
        "payment " + std::to_string(id) + " settled with a fee of " + std::to_string(*c.fee_msat) +
            " msat, above its allowance of " + std::to_string(max_fee) + " msat: the excess is booked as spent, "
            "and windows it pushes past their cap refuse payments until they have room again");
  // Assign only the columns this change sets: SQLite rewrites every index that holds (or whose condition
  // names) an assigned column, even when the value stays the same (mark_in_flight then touches 2 pages, not 5).
  const bool counted_changes = counts_against_budget(*from) != counts_against_budget(c.to);
  const unsigned mask = (c.error_code ? 1u : 0u) | (c.fee_msat ? 2u : 0u) | (c.preimage ? 4u : 0u) |
                        (c.settled_at ? 8u : 0u) | (c.latency_ms ? 16u : 0u) | (counted_changes ? 32u : 0u) |
                        (c.request_expires_at ? 64u : 0u) | (c.resolved_by ? 128u : 0u);
  static const std::vector<std::string> kUpdates = [] {
    std::vector<std::string> v;
    for (unsigned m = 0; m < 256; ++m) {
      std::string sql = "UPDATE payments SET state = ?1, updated_at = ?2";
      if (m & 1u) sql += ", error_code = ?3";
      if (m & 2u) sql += ", fee_msat = ?4";
      if (m & 4u) sql += ", preimage = ?5";
      if (m & 8u) sql += ", settled_at = ?6";
      if (m & 16u) sql += ", latency_ms = ?7";
      if (m & 32u) sql += ", counted = ?10";
      if (m & 64u) sql += ", request_expires_at = ?11";
      if (m & 128u) sql += ", resolved_by = ?12";
      v.push_back(sql + " WHERE id = ?8 AND state = ?9");
    }
    return v;
  }();
  auto up = d.prepare(kUpdates[mask]);
  if (!up) return db_error(d, "prepare");
  up->bind(1, std::string(state_name(c.to))).bind(2, now);
  if (c.error_code) up->bind(3, *c.error_code);
  if (c.fee_msat) up->bind(4, *c.fee_msat);
  if (c.preimage) up->bind(5, *c.preimage);
  if (c.settled_at) up->bind(6, *c.settled_at);
  if (c.latency_ms) up->bind(7, *c.latency_ms);
  if (counted_changes) up->bind(10, int64_t{counts_against_budget(c.to) ? 1 : 0});
  if (c.request_expires_at) up->bind(11, *c.request_expires_at);
  if (c.resolved_by) up->bind(12, *c.resolved_by);
  up->bind(8, id).bind(9, std::string(state_name(*from)));
  rc = up->run();
  if (rc != kDone) return db_error(d, "update", rc);
  if (d.changes() != 1) return make_error("LEDGER_ERROR", "payment row did not update");
  const int64_t delta = counted_of(c.to, amount, c.fee_msat ? c.fee_msat : old_fee, max_fee) -
                        counted_of(*from, amount, old_fee, max_fee);
  return add_totals(d, created_at, domain, envelope, delta);
}

Status Ledger::Impl::note_said(Db& d, int64_t id, const std::string& said, int64_t now, bool only_unknown) {
  static const std::string kAny = "UPDATE payments SET wallet_said = ?1, wallet_said_at = ?2 WHERE id = ?3";
  static const std::string kUnknown = kAny + " AND state = 'unknown'";
  auto st = d.prepare(only_unknown ? kUnknown : kAny);
  if (!st) return db_error(d, "prepare");
  st->bind(1, said.substr(0, 120)).bind(2, now).bind(3, id);
  if (int rc = st->run(); rc != kDone) return db_error(d, "update", rc);
  if (only_unknown && d.changes() != 1)
    return make_error("ILLEGAL_TRANSITION", "payment " + std::to_string(id) + " is no longer unknown",
                      {{"id", id}});
  return ok_status();
}

Status Ledger::Impl::transition(int64_t id, const Change& c) {
  int64_t now = clock.now_unix();
  return run_row<Ok>([&](Db& d) -> Status { return apply(d, id, c, now); });
}

Result<Reservation> Ledger::Impl::reserve_in_txn(Db& d, const ReserveRequest& rq, const std::string& domain,
                                   const std::string& hash, int64_t now) {
  if (auto s = refresh_policy(d); !s) return s.error();
  std::shared_ptr<const Policy> pol_snap;
  std::optional<Envelope> env;
  {
    std::lock_guard lk(pol_mu);
    pol_snap = effective;
    if (rq.envelope) {
      for (const auto& e : envs)
        if (e.name == *rq.envelope) env = e;
    }
  }
  const Policy& pol = *pol_snap;
  // 1. Double-pay guard.
  static const std::string kGuard =
      std::string("SELECT id, state FROM payments WHERE payment_hash = ?1 AND ") + kCounted +
      " ORDER BY id DESC LIMIT 1";
  auto g = d.prepare(kGuard);
  if (!g) return db_error(d, "prepare");
  g->bind(1, hash);
  int rc = g->step();
  if (rc == kRow) {
    int64_t pid = g->i64(0);
    std::string st = g->text(1);
    json det = {{"payment_id", pid}, {"state", st}};
    if (st == "settled")
      return make_error("ALREADY_PAID", "this invoice (payment hash) has already been paid", det);
    if (st == "unknown")
      return make_error("PAYMENT_STATE_UNKNOWN",
                        "an earlier attempt to pay this invoice has an unknown outcome; it will be reconciled "
                        "before any retry",
                        det);
    return make_error("PAYMENT_IN_PROGRESS", "a payment of this invoice is already in progress", det);
  }
  if (rc != kDone) return db_error(d, "double-pay check", rc);
  g.reset();
  // 1b. One purchase per scope while one is pending or usable (same transaction as the reservation).
  if (rq.purchase)
    if (auto st = detail::check_no_live_purchase(d, *rq.purchase, now); !st) return st.error();

  // 2. Envelope existence, expiry, protocol (its cap as tightened at run time, if it was).
  if (env) {
    auto t = envelope_tightening(d, env->name);
    if (!t) return t.error();
    if (*t && **t < env->cap_msat) env->cap_msat = **t;
  }
  if (rq.envelope) {
    if (!env)
      return make_error("ENVELOPE_UNKNOWN", "no budget envelope named '" + *rq.envelope + "'",
                        {{"envelope", *rq.envelope}});
    if (env->expires_at && now >= *env->expires_at)
      return make_error("ENVELOPE_EXPIRED", "budget envelope '" + env->name + "' has expired",
                        {{"envelope", env->name}, {"expired_at", *env->expires_at}});
    if (env->protocols &&
        std::find(env->protocols->begin(), env->protocols->end(), rq.protocol) == env->protocols->end())
      return make_error("PROTOCOL_NOT_ALLOWED",
                        "protocol " + rq.protocol + " is not allowed in budget envelope '" + env->name + "'",
                        {{"scope", "envelope:" + env->name}, {"protocol", rq.protocol}});
  }
  // 3. Protocol and domain lists.
  if (std::find(pol.protocols.begin(), pol.protocols.end(), rq.protocol) == pol.protocols.end())
    return make_error("PROTOCOL_NOT_ALLOWED", "protocol " + rq.protocol + " is not allowed by the spend policy",
                      {{"scope", "global"}, {"protocol", rq.protocol}, {"allowed", pol.protocols}});
  if (!domain.empty()) {
    for (const auto& p : pol.deny_domains)
      if (domain_matches(p, domain))
        return make_error("DOMAIN_NOT_ALLOWED", "payments to " + domain + " are denied by the spend policy",
                          {{"domain", domain}, {"reason", "denied"}, {"pattern", p}});
    if (pol.allow_domains &&
        std::none_of(pol.allow_domains->begin(), pol.allow_domains->end(),
                     [&](const std::string& p) { return domain_matches(p, domain); }))
      return make_error("DOMAIN_NOT_ALLOWED", domain + " is not in the spend policy's allowed domains",
                        {{"domain", domain}, {"reason", "not_allowed"}});
  }
  // 4. Fiat caps at the caller's prices, each folded into its sat counterpart (the lower wins); a fiat cap that
  // applies to this payment with no price for its currency refuses it (PRICE_UNAVAILABLE).
  auto global_caps = detail::fiat::apply(pol.global, rq.prices, "global");
  if (!global_caps) return global_caps.error();
  std::vector<std::pair<std::string, detail::fiat::Applied>> domain_caps;
  if (!domain.empty())
    for (const auto& [pat, caps] : pol.domains)
      if (domain_matches(pat, domain)) {
        auto a = detail::fiat::apply(caps, rq.prices, "domain:" + pat);
        if (!a) return a.error();
        domain_caps.emplace_back(pat, std::move(*a));
      }
  detail::fiat::Applied env_caps;
  if (env && env->fiat_cap) {
    Caps c;
    c.per_call_msat.reset();
    c.lifetime_msat = env->cap_msat;
    c.fiat = {*env->fiat_cap};
    auto a = detail::fiat::apply(c, rq.prices, "envelope:" + env->name);
    if (!a) return a.error();
    env_caps = std::move(*a);
    env->cap_msat = env_caps.caps.lifetime_msat.value_or(env->cap_msat);
  }
  auto explained = [](Error e, const detail::fiat::Applied& a) {
    detail::fiat::explain(e, a);
    return e;
  };
  // 5. Per-call caps.
  const uint64_t fee = pol.fee.for_amount(rq.amount_msat);
  const uint64_t requested = rq.amount_msat + fee;
  const Caps& global = global_caps->caps;
  if (global.per_call_msat && rq.amount_msat > *global.per_call_msat)
    return explained(budget_error("global", "per_call", *global.per_call_msat, 0, rq.amount_msat, rq.amount_msat,
                                  fee, std::nullopt),
                     *global_caps);
  for (const auto& [pat, a] : domain_caps)
    if (a.caps.per_call_msat && rq.amount_msat > *a.caps.per_call_msat)
      return explained(budget_error("domain:" + pat, "per_call", *a.caps.per_call_msat, 0, rq.amount_msat,
                                    rq.amount_msat, fee, std::nullopt),
                       a);
  // 6. Windows and lifetime: global, then each matching domain entry, then the envelope.
  if (auto c = check_scope(d, now, global, Filter{}, "global", requested, rq.amount_msat, fee); !c)
    return explained(c.error(), *global_caps);
  for (const auto& [pat, a] : domain_caps)
    if (auto c = check_scope(d, now, a.caps, domain_filter(pat), "domain:" + pat, requested, rq.amount_msat, fee);
        !c)
      return explained(c.error(), a);
  if (env) {
    auto t = sum_counted(d, now, Filter{Filter::envelope, env->name}, kLifetimeBit);
    if (!t) return t.error();
    if (sat_add(t->lifetime, requested) > env->cap_msat)
      return explained(budget_error("envelope:" + env->name, "lifetime", env->cap_msat, t->lifetime, requested,
                                    rq.amount_msat, fee, std::nullopt),
                       env_caps);
  }
  // 7. Insert (with the prices known now: the payment's fiat value is computed with them).
  static const std::string kInsert =
      "INSERT INTO payments(client, envelope, domain, tool, protocol, invoice, payment_hash, amount_msat,"
      " max_fee_msat, state, created_at, updated_at, counted, request_id, instance, fiat_rates) VALUES (?1, ?2, ?3,"
      " ?4, ?5, ?6, ?7, ?8, ?9, 'reserved', ?10, ?10, 1, ?11, ?12, ?13)";
  auto ins = d.prepare(kInsert);
  if (!ins) return db_error(d, "prepare");
  ins->bind(1, rq.client).bind(2, rq.envelope.value_or("")).bind(3, domain).bind(4, rq.tool).bind(5, rq.protocol);
  ins->bind(6, rq.invoice).bind(7, hash).bind(8, static_cast<int64_t>(rq.amount_msat));
  ins->bind(9, static_cast<int64_t>(fee)).bind(10, now).bind(11, rq.request_id).bind(12, instance);
  ins->bind(13, rq.prices.empty() ? std::string() : detail::fiat::prices_to_json(rq.prices).dump());
  rc = ins->run();
  if (rc != kDone) return db_error(d, "insert", rc);
  const int64_t new_id = d.last_insert_id();
  if (auto t = add_totals(d, now, domain, rq.envelope.value_or(""), static_cast<int64_t>(requested)); !t)
    return t.error();
  if (rq.purchase)
    if (auto st = detail::insert_purchase(d, *rq.purchase, new_id, now); !st) return st.error();
  if (rq.idempotency)
    if (auto st = detail::link_idempotency(d, *rq.idempotency, new_id, now); !st) return st.error();
  Reservation r;
  r.id = new_id;
  r.payment_hash = hash;
  r.amount_msat = rq.amount_msat;
  r.max_fee_msat = fee;
  // 8. The owner's approval, when the policy asks for it (bound to this row, same transaction).
  auto reasons = detail::approval_reasons(d, pol, env, domain, rq.amount_msat);
  if (!reasons) return reasons.error();
  if (!reasons->empty()) {
    if (!rq.approval)
      return make_error("APPROVAL_UNAVAILABLE",
                        "this payment needs the owner's approval (" + (*reasons)[0] +
                            "), but no approval channel is running; nothing was paid",
                        {{"reasons", *reasons}});
    auto made = detail::insert_approval(d, new_id, *reasons, *rq.approval, now);
    if (!made) return made.error();
    r.approval_secrets = made->second;
    auto a = detail::read_approval(d, made->first);
    if (!a) return a.error();
    r.approval = *a;
  }
  return r;
}

Result<Payment> Ledger::Impl::one_payment(Db& d, const std::string& where, const std::function<void(Stmt&)>& binder) {
  auto st = d.prepare(std::string("SELECT ") + kCols + " FROM payments WHERE " + where);
  if (!st) return db_error(d, "prepare");
  binder(*st);
  int rc = st->step();
  if (rc == kDone) return make_error("PAYMENT_NOT_FOUND", "no such payment in the ledger");
  if (rc != kRow) return db_error(d, "read", rc);
  return read_payment(*st);
}

Result<Reservation> Ledger::reserve(const ReserveRequest& request) {
  ReserveRequest rq = request;
  if (rq.request_id.empty()) rq.request_id = current_request_id();  // read here, on the calling thread
  rq.protocol = ascii_lower(rq.protocol);
  if (std::find(all_protocols().begin(), all_protocols().end(), rq.protocol) == all_protocols().end())
    return make_error("INVALID_ARGUMENT", "unknown protocol (expected bolt11, keysend, l402 or mpp)");
  std::string hash = ascii_lower(rq.payment_hash);
  if (!is_hex64(hash)) return make_error("INVALID_ARGUMENT", "payment_hash must be 64 hex characters");
  if (rq.amount_msat == 0) return make_error("INVALID_ARGUMENT", "amount must be positive");
  if (rq.amount_msat > kMaxMsat) return make_error("INVALID_ARGUMENT", "amount is larger than 21 million BTC");
  if (rq.envelope && rq.envelope->empty()) return make_error("INVALID_ARGUMENT", "envelope name is empty");
  auto domain = normalize_domain(rq.domain);
  if (!domain) return domain.error();
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  return im.run<Reservation>([&](Db& d) { return im.reserve_in_txn(d, rq, *domain, hash, now); });
}

Status Ledger::mark_in_flight(int64_t id, std::optional<int64_t> request_expires_at) {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  return im.run<Ok>([&](Db& d) -> Status {
    if (auto st = detail::consume_approval(d, id, now); !st) return st.error();
    return im.apply(d, id, {State::in_flight, {}, {}, {}, {}, {}, request_expires_at}, now);
  });
}

Status Ledger::release_if_reserved(int64_t id, const std::string& error_code) {
  const int64_t now = impl_->clock.now_unix();
  return impl_->run<Ok>([&](Db& d) { return release_in_txn(d, id, error_code, now); });
}

Status Ledger::release_in_txn(Db& d, int64_t id, const std::string& error_code, int64_t now) {
  return impl_->apply(d, id, {State::released, clean_code(error_code), {}, {}, {}, {}}, now, State::reserved);
}

Status Ledger::resolve_by_owner(int64_t id, bool paid, std::optional<uint64_t> fee_msat) {
  Impl& im = *impl_;
  const int64_t now = im.clock.now_unix();
  if (fee_msat && *fee_msat > kMaxMsat) return make_error("INVALID_ARGUMENT", "fee is too large");
  return im.run<Ok>([&](Db& d) -> Status {
    Impl::Change c{paid ? State::settled : State::failed, {}, {}, {}, {}, {}, std::nullopt, std::string("owner")};
    if (paid) {
      std::optional<int64_t> fee;
      if (fee_msat) fee = static_cast<int64_t>(*fee_msat);
      if (!fee) {  // not known: the reserved allowance stays booked (never under-count)
        auto st = d.prepare("SELECT max_fee_msat FROM payments WHERE id = ?1");
        if (!st) return db_error(d, "prepare");
        st->bind(1, id);
        if (st->step() != kRow) return make_error("PAYMENT_NOT_FOUND", "no payment with id " + std::to_string(id));
        fee = st->i64(0);
      }
      c.fee_msat = fee;
      c.settled_at = now;
    } else {
      c.error_code = std::string("OWNER_RESOLVED");
    }
    return im.apply(d, id, c, now, State::unknown);
  });
}

Status Ledger::settle(int64_t id, uint64_t fee_msat, const std::string& preimage_hex, int64_t latency_ms) {
  std::string pre = ascii_lower(preimage_hex);
  if (!pre.empty() && !is_hex64(pre)) return make_error("INVALID_ARGUMENT", "preimage must be 64 hex characters");
  if (fee_msat > kMaxMsat) return make_error("INVALID_ARGUMENT", "fee is too large");
  Impl::Change c{State::settled, {}, static_cast<int64_t>(fee_msat), {}, impl_->clock.now_unix(), latency_ms};
  if (!pre.empty()) c.preimage = pre;
  return impl_->transition(id, c);
}

Status Ledger::fail(int64_t id, const std::string& error_code, std::optional<int64_t> latency_ms) {
  return impl_->transition(id, {State::failed, clean_code(error_code), {}, {}, {}, latency_ms});
}

Status Ledger::release(int64_t id) { return impl_->transition(id, {State::released, {}, {}, {}, {}, {}}); }

Status Ledger::mark_unknown(int64_t id, const std::string& error_code) {
  return impl_->transition(id, {State::unknown, clean_code(error_code), {}, {}, {}, {}});
}

}  // namespace sw::spend
