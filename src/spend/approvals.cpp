// The owner's approvals (schema v6; the contract is in spend.h, "approvals"). Reservation-time SQL runs inside
// reserve()'s / mark_in_flight()'s transactions (approvals_internal.h); the rest goes through Ledger::txn.
#include <algorithm>

#include "crypto/crypto.h"
#include "spend/approvals_internal.h"

namespace sw::spend {

namespace {

using detail::Db;
using detail::Stmt;
using detail::db_error;
using detail::kDone;
using detail::kOk;
using detail::kRow;

// Crockford-style: no 0/O, 1/I/L, U — read aloud or typed on a phone without ambiguity.
constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ";

std::string random_word(size_t n) {
  std::string out;
  while (out.size() < n) {
    uint8_t b[16];
    crypto::random_bytes(b, sizeof b);
    for (uint8_t x : b) {
      // Rejection sampling keeps every character equally likely (240 = 8 * 30).
      if (x >= 240 || out.size() == n) continue;
      out.push_back(kAlphabet[x % kAlphabet.size()]);
    }
  }
  return out;
}

std::string random_token() {
  uint8_t b[32];
  crypto::random_bytes(b, sizeof b);
  return base64_encode(b, sizeof b, true, false);
}

std::string digest(std::string_view s) {
  auto h = crypto::sha256(s);
  return hex_encode(h.data(), h.size());
}

// Codes and public ids are case-insensitive and may be typed with spaces or dashes.
std::string normalize_word(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

// The owner's reason for a denial as stored: at most 300 bytes cut at a character boundary, and valid UTF-8 (other
// bytes become '?'), so every later JSON dump of the approval works (a cut inside a character made them throw).
std::string stored_reason(std::string_view s) {
  std::string r(s.substr(0, 300));
  if (s.size() > 300) {
    size_t start = r.size();
    while (start > 0 && (static_cast<unsigned char>(r[start - 1]) & 0xC0) == 0x80) --start;
    if (start > 0) {
      const unsigned char lead = static_cast<unsigned char>(r[start - 1]);
      const size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (r.size() - (start - 1) < len) r.resize(start - 1);
    }
  }
  if (!crypto::valid_utf8(r))
    for (char& c : r)
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  return r;
}

constexpr const char* kCols =
    "a.id, a.public_id, a.payment_id, a.state, a.reasons, a.payee, a.purpose, a.decided_by, a.reason, a.created_at,"
    " a.expires_at, a.decided_at, p.payment_hash, p.client, p.envelope, p.domain, p.tool, p.protocol,"
    " p.amount_msat, p.max_fee_msat, p.state";
constexpr const char* kFrom = " FROM approvals a JOIN payments p ON p.id = a.payment_id ";

Approval read_row(const Stmt& s) {
  Approval a;
  a.id = s.i64(0);
  a.public_id = s.text(1);
  a.payment_id = s.i64(2);
  a.state = parse_approval_state(s.text(3)).value_or(ApprovalState::expired);
  json r = json::parse(s.text(4), nullptr, false);
  if (r.is_array())
    for (const auto& x : r)
      if (x.is_string()) a.reasons.push_back(x.get<std::string>());
  a.payee = s.text(5);
  a.purpose = s.text(6);
  a.decided_by = s.text(7);
  a.reason = s.text(8);
  a.created_at = s.i64(9);
  a.expires_at = s.i64(10);
  a.decided_at = s.opt_i64(11);
  a.payment_hash = s.text(12);
  a.client = s.text(13);
  a.envelope = s.text(14);
  a.domain = s.text(15);
  a.tool = s.text(16);
  a.protocol = s.text(17);
  a.amount_msat = static_cast<uint64_t>(s.i64(18));
  a.max_fee_msat = static_cast<uint64_t>(s.i64(19));
  a.payment_state = parse_state(s.text(20)).value_or(State::unknown);
  return a;
}

Result<std::optional<Approval>> read_where(Db& d, const std::string& where, const std::function<void(Stmt&)>& bind) {
  auto st = d.prepare(std::string("SELECT ") + kCols + kFrom + "WHERE " + where);
  if (!st) return db_error(d, "prepare");
  bind(*st);
  int rc = st->step();
  if (rc == kDone) return std::optional<Approval>{};
  if (rc != kRow) return db_error(d, "approval read", rc);
  return std::optional<Approval>{read_row(*st)};
}

Status write_state(Db& d, int64_t id, ApprovalState to, const std::string& by, const std::string& reason,
                   int64_t now, std::optional<int64_t> new_expiry = std::nullopt) {
  auto st = d.prepare(
      "UPDATE approvals SET state = ?1, open = ?2, decided_by = CASE WHEN ?3 = '' THEN decided_by ELSE ?3 END,"
      " reason = CASE WHEN ?4 = '' THEN reason ELSE ?4 END, decided_at = COALESCE(decided_at, ?5),"
      " expires_at = COALESCE(?6, expires_at) WHERE id = ?7");
  if (!st) return db_error(d, "prepare");
  const bool open = to == ApprovalState::pending || to == ApprovalState::approved;
  st->bind(1, std::string(approval_state_name(to))).bind(2, int64_t{open ? 1 : 0}).bind(3, by).bind(4, reason);
  st->bind(5, now).bind_opt(6, new_expiry).bind(7, id);
  if (int rc = st->run(); rc != kDone) return db_error(d, "approval update", rc);
  return ok_status();
}

std::string sats_text(uint64_t msat) { return std::to_string(msat_to_sat_ceil(msat)) + " sats"; }

}  // namespace

const char* approval_state_name(ApprovalState s) {
  switch (s) {
    case ApprovalState::pending: return "pending";
    case ApprovalState::approved: return "approved";
    case ApprovalState::denied: return "denied";
    case ApprovalState::expired: return "expired";
    case ApprovalState::used: return "used";
  }
  return "expired";
}

std::optional<ApprovalState> parse_approval_state(std::string_view s) {
  for (auto st : {ApprovalState::pending, ApprovalState::approved, ApprovalState::denied, ApprovalState::expired,
                  ApprovalState::used})
    if (s == approval_state_name(st)) return st;
  return std::nullopt;
}

json to_json(const Approval& a) {
  json j{{"approval_id", a.public_id},
         {"state", approval_state_name(a.state)},
         {"amount_sats", msat_to_sat_ceil(a.amount_msat)},
         {"amount_msat", a.amount_msat},
         {"fee_allowance_msat", a.max_fee_msat},
         {"domain", a.domain},
         {"payee", a.payee},
         {"purpose", a.purpose},
         {"reasons", a.reasons},
         {"payment_hash", a.payment_hash},
         {"tool", a.tool},
         {"protocol", a.protocol},
         {"client", a.client},
         {"envelope", a.envelope},
         {"created_at", a.created_at},
         {"expires_at", a.expires_at},
         {"decided_at", a.decided_at ? json(*a.decided_at) : json(nullptr)},
         {"decided_by", a.decided_by},
         {"payment_state", state_name(a.payment_state)}};
  if (!a.reason.empty()) j["reason"] = a.reason;
  return j;
}

namespace detail {

Result<std::optional<uint64_t>> envelope_threshold(Db& d, const std::string& name,
                                                   std::optional<uint64_t> configured) {
  auto st = d.prepare("SELECT approve_above_msat FROM envelope_tightenings WHERE name = ?1");
  if (!st) return db_error(d, "prepare");
  st->bind(1, name);
  int rc = st->step();
  if (rc == kRow && !st->is_null(0)) {
    const uint64_t t = static_cast<uint64_t>(st->i64(0));
    if (!configured || t < *configured) return std::optional<uint64_t>{t};
  } else if (rc != kRow && rc != kDone) {
    return db_error(d, "read", rc);
  }
  return configured;
}

Result<std::vector<std::string>> approval_reasons(Db& d, const Policy& pol, const std::optional<Envelope>& env,
                                                  const std::string& domain, uint64_t amount_msat) {
  std::vector<std::string> reasons;
  std::optional<uint64_t> threshold = pol.global.approve_above_msat;
  std::string from = "the policy";
  if (!domain.empty())
    for (const auto& [pat, caps] : pol.domains)
      if (caps.approve_above_msat && domain_matches(pat, domain) && (!threshold || *caps.approve_above_msat < *threshold)) {
        threshold = caps.approve_above_msat;
        from = "the policy for " + pat;
      }
  if (env) {
    auto t = envelope_threshold(d, env->name, env->approve_above_msat);
    if (!t) return t.error();
    if (*t && (!threshold || **t < *threshold)) {
      threshold = *t;
      from = "budget envelope '" + env->name + "'";
    }
  }
  if (threshold && amount_msat > *threshold)
    reasons.push_back(*threshold == 0 ? "every payment needs approval (" + from + ")"
                                      : sats_text(amount_msat) + " is above the approval threshold of " +
                                            sats_text(*threshold) + " (" + from + ")");
  if (pol.approve_new_domains && !domain.empty()) {
    auto st = d.prepare("SELECT 1 FROM payments WHERE domain = ?1 AND state = 'settled' LIMIT 1");
    if (!st) return db_error(d, "prepare");
    st->bind(1, domain);
    int rc = st->step();
    if (rc == kDone) reasons.push_back("first payment to " + domain);
    else if (rc != kRow) return db_error(d, "read", rc);
  }
  return reasons;
}

Result<std::pair<int64_t, ApprovalSecrets>> insert_approval(Db& d, int64_t payment_id,
                                                            const std::vector<std::string>& reasons,
                                                            const ApprovalTerms& terms, int64_t now) {
  auto st = d.prepare(
      "INSERT INTO approvals(public_id, payment_id, code_sha256, approve_token_sha256, deny_token_sha256, reasons,"
      " payee, purpose, state, open, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 1,"
      " ?9, ?10) ON CONFLICT DO NOTHING");
  if (!st) return db_error(d, "prepare");
  // A collision of random ids (30^6 public ids) is retried with fresh ones; the UNIQUE constraints decide
  // (DO NOTHING rather than a constraint error, which would abort a PostgreSQL transaction).
  for (int attempt = 0; attempt < 8; ++attempt) {
    ApprovalSecrets sec{random_word(8), random_token(), random_token()};
    const std::string pid = random_word(6);
    st->bind(1, pid).bind(2, payment_id).bind(3, digest(sec.code)).bind(4, digest(sec.approve_token));
    st->bind(5, digest(sec.deny_token)).bind(6, json_dump(json(reasons))).bind(7, terms.payee.substr(0, 200));
    st->bind(8, terms.purpose.substr(0, 500)).bind(9, now).bind(10, now + std::max<int64_t>(1, terms.ttl_s));
    int rc = st->run();
    if (rc != kDone) return db_error(d, "approval insert", rc);
    if (d.changes() == 1) return std::make_pair(d.last_insert_id(), sec);
    st->rewind();
  }
  return make_error("LEDGER_ERROR", "could not draw a unique approval id");
}

Result<Approval> read_approval(Db& d, int64_t id) {
  auto a = read_where(d, "a.id = ?1", [&](Stmt& s) { s.bind(1, id); });
  if (!a) return a.error();
  if (!*a) return make_error("APPROVAL_NOT_FOUND", "no such approval");
  return **a;
}

Status consume_approval(Db& d, int64_t payment_id, int64_t now) {
  auto a = read_where(d, "a.payment_id = ?1", [&](Stmt& s) { s.bind(1, payment_id); });
  if (!a) return a.error();
  if (!*a) return ok_status();
  const Approval& ap = **a;
  json det{{"approval_id", ap.public_id}, {"state", approval_state_name(ap.state)}};
  switch (ap.state) {
    case ApprovalState::approved:
      if (now >= ap.expires_at)
        return make_error("APPROVAL_TIMEOUT", "the approval " + ap.public_id + " expired before the payment was sent",
                          det);
      return write_state(d, ap.id, ApprovalState::used, "", "", now);
    case ApprovalState::pending:
      return make_error("APPROVAL_REQUIRED", "approval " + ap.public_id + " is still waiting for the owner", det);
    case ApprovalState::denied:
      return make_error("APPROVAL_DENIED", "the owner denied approval " + ap.public_id, det);
    case ApprovalState::expired:
      return make_error("APPROVAL_TIMEOUT", "approval " + ap.public_id + " expired", det);
    case ApprovalState::used:
      return make_error("APPROVAL_USED", "approval " + ap.public_id + " was already used", det);
  }
  return ok_status();
}

}  // namespace detail

// ---------------------------------------------------------------- Ledger
Result<Approval> Ledger::get_approval(const std::string& public_id) {
  std::optional<Approval> out;
  const std::string pid = normalize_word(public_id);
  auto st = read_txn([&](Db& d) -> Status {
    auto a = read_where(d, "a.public_id = ?1", [&](Stmt& s) { s.bind(1, pid); });
    if (!a) return a.error();
    out = *a;
    return ok_status();
  });
  if (!st) return st.error();
  if (!out) return make_error("APPROVAL_NOT_FOUND", "no approval with id " + pid, {{"approval_id", pid}});
  return *out;
}

Result<std::optional<Approval>> Ledger::approval_for_payment(int64_t payment_id) {
  std::optional<Approval> out;
  auto st = read_txn([&](Db& d) -> Status {
    auto a = read_where(d, "a.payment_id = ?1", [&](Stmt& s) { s.bind(1, payment_id); });
    if (!a) return a.error();
    out = *a;
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Result<std::vector<Approval>> Ledger::list_approvals(const ApprovalQuery& q) {
  std::vector<Approval> out;
  auto st = read_txn([&](Db& d) -> Status {
    out.clear();
    std::string where = q.pending_only ? "a.open = 1" : "1 = 1";
    if (q.client) where += " AND p.client = ?1";
    if (q.envelope) where += " AND p.envelope = ?2";
    auto s = d.prepare(std::string("SELECT ") + kCols + kFrom + "WHERE " + where + " ORDER BY a.id DESC LIMIT ?3");
    if (!s) return db_error(d, "prepare");
    if (q.client) s->bind(1, *q.client);
    if (q.envelope) s->bind(2, *q.envelope);
    s->bind(3, static_cast<int64_t>(std::clamp<size_t>(q.limit, 1, 500)));
    int rc;
    while ((rc = s->step()) == kRow) out.push_back(read_row(*s));
    if (rc != kDone) return db_error(d, "read", rc);
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Result<Approval> Ledger::decide_approval(const ApprovalDecision& dec) {
  const int names = int(!dec.public_id.empty()) + int(!dec.code.empty()) + int(!dec.token.empty());
  if (names != 1) return make_error("INVALID_ARGUMENT", "a decision names its approval by exactly one of id, code or token");
  if (dec.channel.empty()) return make_error("INVALID_ARGUMENT", "a decision names its channel");
  const int64_t t = now();
  std::optional<Approval> result;
  std::optional<Error> refusal;  // committed as it is (an expiry found here is recorded), then returned
  auto st = txn([&](Db& d) -> Status {
    std::optional<Approval> found;
    bool approve = dec.approve;
    if (!dec.public_id.empty()) {
      auto a = read_where(d, "a.public_id = ?1", [&](Stmt& s) { s.bind(1, normalize_word(dec.public_id)); });
      if (!a) return a.error();
      found = *a;
    } else if (!dec.code.empty()) {
      auto a = read_where(d, "a.code_sha256 = ?1", [&](Stmt& s) { s.bind(1, digest(normalize_word(dec.code))); });
      if (!a) return a.error();
      found = *a;
    } else {
      const std::string h = digest(dec.token);
      auto a = read_where(d, "a.approve_token_sha256 = ?1", [&](Stmt& s) { s.bind(1, h); });
      if (!a) return a.error();
      if (*a) {
        found = *a;
        approve = true;
      } else {
        auto b = read_where(d, "a.deny_token_sha256 = ?1", [&](Stmt& s) { s.bind(1, h); });
        if (!b) return b.error();
        found = *b;
        approve = false;
      }
    }
    if (!found) {
      refusal = make_error("APPROVAL_NOT_FOUND", "no pending approval matches; nothing was decided");
      return ok_status();
    }
    const Approval& a = *found;
    json det{{"approval_id", a.public_id}, {"state", approval_state_name(a.state)}, {"decided_by", a.decided_by}};
    if (a.state != ApprovalState::pending) {
      refusal = make_error("APPROVAL_DECIDED",
                           "approval " + a.public_id + " is already " + approval_state_name(a.state) +
                               (a.decided_by.empty() ? "" : " (" + a.decided_by + ")") + "; nothing changed",
                           det);
      return ok_status();
    }
    if ((dec.amount_msat && *dec.amount_msat != a.amount_msat) ||
        (dec.payment_hash && ascii_lower(*dec.payment_hash) != a.payment_hash) ||
        (dec.payee && ascii_lower(*dec.payee) != ascii_lower(a.payee))) {
      refusal = make_error("APPROVAL_MISMATCH",
                           "this decision is for another amount, invoice or payee than approval " + a.public_id +
                               "; nothing changed",
                           det);
      return ok_status();
    }
    if (t >= a.expires_at || a.payment_state != State::reserved) {
      if (auto w = write_state(d, a.id, ApprovalState::expired, "timeout", "", t); !w) return w;
      if (a.payment_state == State::reserved)
        if (auto r = release_in_txn(d, a.payment_id, "APPROVAL_TIMEOUT", t); !r) return r;
      refusal = make_error("APPROVAL_EXPIRED", "approval " + a.public_id + " has expired; nothing was paid", det);
      return ok_status();
    }
    if (approve) {
      // The paying call proceeds at once; a call that returned (approval_wait: return) has until the original
      // expiry, and at least a minute, to come back for it.
      const int64_t keep = std::max(a.expires_at, t + 60);
      if (auto w = write_state(d, a.id, ApprovalState::approved, dec.channel, "", t, keep); !w) return w;
    } else {
      if (auto w = write_state(d, a.id, ApprovalState::denied, dec.channel, stored_reason(dec.reason), t); !w)
        return w;
      if (auto r = release_in_txn(d, a.payment_id, "APPROVAL_DENIED", t); !r) return r;
    }
    auto after = detail::read_approval(d, a.id);
    if (!after) return after.error();
    result = *after;
    return ok_status();
  });
  if (!st) return st.error();
  if (refusal) return *refusal;
  log(LogLevel::notice, "approve",
      "approval " + result->public_id + " " + approval_state_name(result->state) + " via " + dec.channel);
  return *result;
}

Result<std::pair<Approval, bool>> Ledger::approval_by_token(const std::string& token) {
  std::optional<std::pair<Approval, bool>> out;
  const std::string h = digest(token);
  auto st = read_txn([&](Db& d) -> Status {
    out.reset();
    auto a = read_where(d, "a.approve_token_sha256 = ?1", [&](Stmt& s) { s.bind(1, h); });
    if (!a) return a.error();
    if (*a) {
      out = std::make_pair(**a, true);
      return ok_status();
    }
    auto b = read_where(d, "a.deny_token_sha256 = ?1", [&](Stmt& s) { s.bind(1, h); });
    if (!b) return b.error();
    if (*b) out = std::make_pair(**b, false);
    return ok_status();
  });
  if (!st) return st.error();
  if (!out) return make_error("APPROVAL_NOT_FOUND", "no approval matches this link; nothing was decided");
  return *out;
}

Result<std::map<std::string, uint64_t>> Ledger::envelope_threshold_tightenings() {
  std::map<std::string, uint64_t> out;
  auto st = read_txn([&](Db& d) -> Status {
    out.clear();
    auto s = d.prepare(
        "SELECT name, approve_above_msat FROM envelope_tightenings WHERE approve_above_msat IS NOT NULL ORDER BY name");
    if (!s) return db_error(d, "prepare");
    int rc;
    while ((rc = s->step()) == kRow) out[s->text(0)] = static_cast<uint64_t>(s->i64(1));
    if (rc != kDone) return db_error(d, "read", rc);
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Result<std::vector<Approval>> Ledger::expire_approvals() {
  const int64_t t = now();
  std::vector<Approval> out;
  auto st = txn([&](Db& d) -> Status {
    out.clear();
    // Past their time, or whose payment is no longer waiting (released by a cancelled call or crash recovery).
    auto s = d.prepare(std::string("SELECT ") + kCols + kFrom +
                       "WHERE a.open = 1 AND (a.expires_at <= ?1 OR p.state <> 'reserved')");
    if (!s) return db_error(d, "prepare");
    s->bind(1, t);
    std::vector<Approval> due;
    int rc;
    while ((rc = s->step()) == kRow) due.push_back(read_row(*s));
    if (rc != kDone) return db_error(d, "read", rc);
    s.reset();
    for (const auto& a : due) {
      if (auto w = write_state(d, a.id, ApprovalState::expired, a.decided_by.empty() ? "timeout" : "", "", t); !w)
        return w;
      if (a.payment_state == State::reserved)
        if (auto r = release_in_txn(d, a.payment_id, "APPROVAL_TIMEOUT", t); !r) return r;
      auto after = detail::read_approval(d, a.id);
      if (!after) return after.error();
      out.push_back(*after);
    }
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

}  // namespace sw::spend
