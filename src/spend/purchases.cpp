// Purchases (what an agent bought from a paywall, and the state of its credential) and idempotency keys:
// schema v4 tables of the ledger. Reservation-time checks run inside reserve()'s transaction (see
// purchases_internal.h); everything else goes through Ledger::txn (group-committed, durable on return).
#include <algorithm>

#include "spend/purchases_internal.h"

namespace sw::spend {

namespace {

using detail::Db;
using detail::Stmt;
using detail::db_error;
using detail::kDone;
using detail::kOk;
using detail::kRow;

constexpr size_t kMaxPaths = 32;

constexpr const char* kPurchaseCols =
    "p.id, p.client, p.envelope, p.hosted, p.origin, p.path, p.service, p.protocol, p.challenge, p.binding, p.paths, "
    "p.state, p.valid_until, p.created_at, p.updated_at, COALESCE(p.payment_id, 0), COALESCE(y.payment_hash, ''), "
    "COALESCE(y.amount_msat, 0), COALESCE(y.state, 'settled'), COALESCE(y.preimage, ''), "
    "COALESCE(p.imported_credential, '')";
constexpr const char* kPurchaseFrom = " FROM purchases p LEFT JOIN payments y ON y.id = p.payment_id ";

struct Row {
  Purchase p;
  std::string imported;  // a credential imported from the pre-v4 token file (no payment row)
};

Row read_row(const Stmt& s) {
  Row r;
  Purchase& p = r.p;
  p.id = s.i64(0);
  p.owner = Owner{s.text(1), s.text(2), s.i64(3) != 0};
  p.origin = s.text(4);
  p.path = s.text(5);
  p.service = s.text(6);
  p.protocol = s.text(7);
  p.challenge = s.text(8);
  p.binding = s.text(9);
  json paths = json::parse(s.text(10), nullptr, false);
  if (paths.is_array())
    for (const auto& x : paths)
      if (x.is_string()) p.paths.push_back(x.get<std::string>());
  p.state = parse_purchase_state(s.text(11)).value_or(PurchaseState::failed);
  p.valid_until = s.opt_i64(12);
  p.created_at = s.i64(13);
  p.updated_at = s.i64(14);
  p.payment_id = s.i64(15);
  p.payment_hash = s.text(16);
  p.amount_msat = static_cast<uint64_t>(s.i64(17));
  p.payment_state = parse_state(s.text(18)).value_or(State::unknown);
  p.preimage = s.text(19);
  r.imported = s.text(20);
  return r;
}

Status write_state(Db& d, int64_t id, PurchaseState to, int64_t now) {
  auto st = d.prepare("UPDATE purchases SET state = ?1, live = ?2, updated_at = ?3 WHERE id = ?4");
  if (!st) return db_error(d, "prepare");
  const bool live = to == PurchaseState::pending || to == PurchaseState::usable;
  st->bind(1, std::string(purchase_state_name(to))).bind(2, int64_t{live ? 1 : 0}).bind(3, now).bind(4, id);
  if (int rc = st->run(); rc != kDone) return db_error(d, "update", rc);
  return ok_status();
}

// A pending purchase follows its payment: settled → usable, failed/released → failed. A live one past its
// valid_until is expired. Writes the change; `p` is updated in place.
Status refresh(Db& d, Purchase& p, int64_t now) {
  PurchaseState to = p.state;
  if (p.state == PurchaseState::pending && p.payment_id != 0) {
    if (p.payment_state == State::settled) to = PurchaseState::usable;
    if (p.payment_state == State::failed || p.payment_state == State::released) to = PurchaseState::failed;
  }
  // A pending one does not expire here: its payment may still settle (then it is usable, then expired).
  if (to == PurchaseState::usable && p.valid_until && now >= *p.valid_until) to = PurchaseState::expired;
  if (to == p.state) return ok_status();
  if (auto st = write_state(d, p.id, to, now); !st) return st;
  p.state = to;
  p.updated_at = now;
  return ok_status();
}

Result<std::vector<Row>> select_rows(Db& d, const std::string& where, const std::function<void(Stmt&)>& bind) {
  auto st = d.prepare(std::string("SELECT ") + kPurchaseCols + kPurchaseFrom + "WHERE " + where +
                      " ORDER BY p.id DESC");
  if (!st) return db_error(d, "prepare");
  bind(*st);
  std::vector<Row> out;
  int rc;
  while ((rc = st->step()) == kRow) out.push_back(read_row(*st));
  if (rc != kDone) return db_error(d, "read", rc);
  return out;
}

void bind_owner(Stmt& st, const Owner& o) {
  st.bind(1, o.client).bind(2, o.envelope).bind(3, int64_t{o.hosted ? 1 : 0});
}

bool is_live(PurchaseState s) { return s == PurchaseState::pending || s == PurchaseState::usable; }

}  // namespace

const char* purchase_state_name(PurchaseState s) {
  switch (s) {
    case PurchaseState::pending: return "pending";
    case PurchaseState::usable: return "usable";
    case PurchaseState::refused: return "refused";
    case PurchaseState::expired: return "expired";
    case PurchaseState::failed: return "failed";
    case PurchaseState::consumed: return "consumed";
    case PurchaseState::forgotten: return "forgotten";
  }
  return "failed";
}

std::optional<PurchaseState> parse_purchase_state(std::string_view s) {
  for (auto st : {PurchaseState::pending, PurchaseState::usable, PurchaseState::refused, PurchaseState::expired,
                  PurchaseState::failed, PurchaseState::consumed, PurchaseState::forgotten})
    if (s == purchase_state_name(st)) return st;
  return std::nullopt;
}

bool Purchase::covers(const std::string& at, const std::string& svc) const {
  if (!service.empty() && service == svc) return true;
  if (path == at || path == "*") return true;
  return std::find(paths.begin(), paths.end(), at) != paths.end();
}

json to_json(const Purchase& p) {
  return json{{"id", p.id},
              {"origin", p.origin},
              {"path", p.path},
              {"service", p.service.empty() ? json(nullptr) : json(p.service)},
              {"protocol", p.protocol},
              {"state", purchase_state_name(p.state)},
              {"binding", p.binding.empty() ? json(nullptr) : json(p.binding)},
              {"payment_hash", p.payment_hash.empty() ? json(nullptr) : json(p.payment_hash)},
              {"payment_state", p.payment_id ? json(state_name(p.payment_state)) : json(nullptr)},
              {"amount_sats", msat_to_sat_ceil(p.amount_msat)},
              {"valid_until", p.valid_until ? json(*p.valid_until) : json(nullptr)},
              {"created_at", p.created_at},
              {"updated_at", p.updated_at}};
}

// ---------------------------------------------------------------- inside reserve()'s transaction
namespace detail {

Status check_no_live_purchase(Db& d, const PurchaseDraft& draft, int64_t now) {
  auto rows = select_rows(d, "p.client = ?1 AND p.envelope = ?2 AND p.hosted = ?3 AND p.origin = ?4 AND p.live = 1",
                          [&](Stmt& st) {
                            bind_owner(st, draft.owner);
                            st.bind(4, draft.origin);
                          });
  if (!rows) return rows.error();
  for (auto& r : *rows) {
    if (!r.p.covers(draft.path, draft.service)) continue;
    if (auto st = refresh(d, r.p, now); !st) return st;
    if (!is_live(r.p.state)) continue;
    return make_error("PURCHASE_EXISTS",
                      "this scope already has a " + std::string(purchase_state_name(r.p.state)) + " purchase (id " +
                          std::to_string(r.p.id) + "); nothing was paid",
                      json{{"purchase_id", r.p.id},
                           {"purchase_state", purchase_state_name(r.p.state)},
                           {"payment_hash", r.p.payment_hash},
                           {"payment_state", state_name(r.p.payment_state)},
                           {"since", r.p.created_at}});
  }
  return ok_status();
}

Status insert_purchase(Db& d, const PurchaseDraft& dr, int64_t payment_id, int64_t now) {
  auto st = d.prepare(
      "INSERT INTO purchases(client, envelope, hosted, origin, path, service, protocol, challenge, binding, paths,"
      " payment_id, state, live, valid_until, created_at, updated_at)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending', 1, ?12, ?13, ?13)");
  if (!st) return db_error(d, "prepare");
  bind_owner(*st, dr.owner);
  st->bind(4, dr.origin).bind(5, dr.path).bind(6, dr.service).bind(7, dr.protocol).bind(8, dr.challenge);
  st->bind(9, dr.binding).bind(10, json_dump(json::array({dr.path}))).bind(11, payment_id);
  st->bind_opt(12, dr.valid_until).bind(13, now);
  if (int rc = st->run(); rc != kDone) return db_error(d, "insert purchase", rc);
  return ok_status();
}

Status link_idempotency(Db& d, const IdempotencyRef& ref, int64_t payment_id, int64_t now) {
  auto st = d.prepare(
      "UPDATE idempotency_keys SET payment_id = ?5, updated_at = ?6 WHERE client = ?1 AND envelope = ?2 AND"
      " hosted = ?3 AND key = ?4 AND payment_id IS NULL AND finished = 0");
  if (!st) return db_error(d, "prepare");
  bind_owner(*st, ref.owner);
  st->bind(4, ref.key).bind(5, payment_id).bind(6, now);
  if (int rc = st->run(); rc != kDone) return db_error(d, "idempotency link", rc);
  if (d.changes() != 1)
    return make_error("IDEMPOTENCY_KEY_REUSED",
                      "this idempotency key already belongs to another payment; nothing was paid");
  return ok_status();
}

}  // namespace detail

// ---------------------------------------------------------------- purchases
Result<std::vector<Purchase>> Ledger::live_purchases(const Owner& owner, const std::string& origin) {
  std::vector<Purchase> out;
  const int64_t t = now();
  auto st = txn([&](Db& d) -> Status {
    out.clear();
    auto rows = select_rows(d, "p.client = ?1 AND p.envelope = ?2 AND p.hosted = ?3 AND p.origin = ?4 AND p.live = 1",
                            [&](Stmt& s) {
                              bind_owner(s, owner);
                              s.bind(4, origin);
                            });
    if (!rows) return rows.error();
    for (auto& r : *rows) {
      if (auto s = refresh(d, r.p, t); !s) return s;
      if (!is_live(r.p.state)) continue;
      // An imported credential has no payment row: its "preimage" is inside the header we kept.
      if (!r.imported.empty()) r.p.challenge = r.imported;
      out.push_back(std::move(r.p));
    }
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Result<Purchase> Ledger::get_purchase(int64_t id) {
  std::optional<Purchase> out;
  const int64_t t = now();
  auto st = txn([&](Db& d) -> Status {
    auto rows = select_rows(d, "p.id = ?1", [&](Stmt& s) { s.bind(1, id); });
    if (!rows) return rows.error();
    if (rows->empty()) return make_error("PURCHASE_NOT_FOUND", "no purchase with id " + std::to_string(id));
    Row& r = rows->front();
    if (auto s = refresh(d, r.p, t); !s) return s;
    if (!r.imported.empty()) r.p.challenge = r.imported;
    out = std::move(r.p);
    return ok_status();
  });
  if (!st) return st.error();
  return *out;
}

Result<std::optional<Purchase>> Ledger::purchase_by_payment(const std::string& payment_hash) {
  std::optional<Purchase> out;
  const int64_t t = now();
  const std::string hash = ascii_lower(payment_hash);
  auto st = txn([&](Db& d) -> Status {
    auto rows = select_rows(d, "y.payment_hash = ?1", [&](Stmt& s) { s.bind(1, hash); });
    if (!rows) return rows.error();
    if (rows->empty()) return ok_status();
    Row& r = rows->front();
    if (auto s = refresh(d, r.p, t); !s) return s;
    out = std::move(r.p);
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Status Ledger::set_purchase_state(int64_t id, PurchaseState to) {
  const int64_t t = now();
  return txn([&](Db& d) -> Status {
    auto rows = select_rows(d, "p.id = ?1", [&](Stmt& s) { s.bind(1, id); });
    if (!rows) return rows.error();
    if (rows->empty()) return make_error("PURCHASE_NOT_FOUND", "no purchase with id " + std::to_string(id));
    Purchase& p = rows->front().p;
    if (auto s = refresh(d, p, t); !s) return s;
    if (p.state == to) return ok_status();
    const bool ok = (p.state == PurchaseState::usable &&
                     (to == PurchaseState::refused || to == PurchaseState::consumed ||
                      to == PurchaseState::forgotten || to == PurchaseState::expired));
    if (!ok)
      return make_error("ILLEGAL_TRANSITION", std::string("purchase ") + std::to_string(id) + " cannot go from " +
                                                  purchase_state_name(p.state) + " to " + purchase_state_name(to));
    return write_state(d, id, to, t);
  });
}

Status Ledger::purchase_accepted_at(int64_t id, const std::string& path) {
  const int64_t t = now();
  return txn([&](Db& d) -> Status {
    auto rows = select_rows(d, "p.id = ?1", [&](Stmt& s) { s.bind(1, id); });
    if (!rows) return rows.error();
    if (rows->empty()) return make_error("PURCHASE_NOT_FOUND", "no purchase with id " + std::to_string(id));
    std::vector<std::string> paths = rows->front().p.paths;
    auto it = std::find(paths.begin(), paths.end(), path);
    if (it != paths.end()) paths.erase(it);
    paths.push_back(path);
    while (paths.size() > kMaxPaths) paths.erase(paths.begin());
    auto st = d.prepare("UPDATE purchases SET paths = ?1, updated_at = ?2 WHERE id = ?3");
    if (!st) return db_error(d, "prepare");
    st->bind(1, json_dump(json(paths))).bind(2, t).bind(3, id);
    if (int rc = st->run(); rc != kDone) return db_error(d, "update", rc);
    return ok_status();
  });
}

namespace {
Result<size_t> forget_where(const std::function<Status(const std::function<Status(Db&)>&)>& txn,
                            const std::string& where, const std::function<void(Stmt&)>& bind, int64_t t) {
  size_t n = 0;
  auto st = txn([&](Db& d) -> Status {
    n = 0;
    auto rows = select_rows(d, where, bind);
    if (!rows) return rows.error();
    for (auto& r : *rows) {
      if (auto s = refresh(d, r.p, t); !s) return s;
      if (r.p.state != PurchaseState::usable) continue;  // pending ones stay: they block a second purchase
      if (auto s = write_state(d, r.p.id, PurchaseState::forgotten, t); !s) return s;
      ++n;
    }
    return ok_status();
  });
  if (!st) return st.error();
  return n;
}
}  // namespace

Result<size_t> Ledger::forget_purchases(const Owner& owner, const std::optional<std::string>& origin) {
  auto t = [this](const std::function<Status(Db&)>& f) { return txn(f); };
  if (origin)
    return forget_where(t, "p.client = ?1 AND p.envelope = ?2 AND p.hosted = ?3 AND p.origin = ?4 AND p.live = 1",
                        [&](Stmt& s) {
                          bind_owner(s, owner);
                          s.bind(4, *origin);
                        },
                        now());
  return forget_where(t, "p.client = ?1 AND p.envelope = ?2 AND p.hosted = ?3 AND p.live = 1",
                      [&](Stmt& s) { bind_owner(s, owner); }, now());
}

Result<size_t> Ledger::forget_all_purchases(const std::optional<std::string>& origin) {
  auto t = [this](const std::function<Status(Db&)>& f) { return txn(f); };
  if (origin)
    return forget_where(t, "p.origin = ?1 AND p.live = 1", [&](Stmt& s) { s.bind(1, *origin); }, now());
  return forget_where(t, "p.live = 1", [](Stmt&) {}, now());
}

Result<bool> Ledger::import_credential(const Owner& owner, const std::string& origin,
                                       const std::vector<std::string>& paths, const std::string& header) {
  bool added = false;
  const int64_t t = now();
  auto st = txn([&](Db& d) -> Status {
    added = false;
    auto dup = d.prepare(
        "SELECT 1 FROM purchases WHERE client = ?1 AND envelope = ?2 AND hosted = ?3 AND origin = ?4 AND"
        " imported_credential = ?5");
    if (!dup) return db_error(d, "prepare");
    bind_owner(*dup, owner);
    dup->bind(4, origin).bind(5, header);
    int rc = dup->step();
    if (rc == kRow) return ok_status();
    if (rc != kDone) return db_error(d, "read", rc);
    dup.reset();
    std::vector<std::string> kept(paths.size() > kMaxPaths ? paths.end() - kMaxPaths : paths.begin(), paths.end());
    // No path known (a format-1 entry): it was used origin-wide, and still is ("*", see Purchase::covers) until
    // the server refuses it.
    const std::string first = kept.empty() ? std::string("*") : kept.front();
    if (kept.empty()) kept.push_back(first);
    auto ins = d.prepare(
        "INSERT INTO purchases(client, envelope, hosted, origin, path, service, protocol, challenge, binding, paths,"
        " payment_id, state, live, imported_credential, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, '', 'l402', '', 'imported', ?6, NULL, 'usable', 1, ?7, ?8, ?8)");
    if (!ins) return db_error(d, "prepare");
    bind_owner(*ins, owner);
    ins->bind(4, origin).bind(5, first).bind(6, json_dump(json(kept))).bind(7, header).bind(8, t);
    if (rc = ins->run(); rc != kDone) return db_error(d, "insert", rc);
    added = true;
    return ok_status();
  });
  if (!st) return st.error();
  return added;
}

// ---------------------------------------------------------------- idempotency keys
namespace {
Result<std::optional<IdempotencyRecord>> read_key(Db& d, const IdempotencyRef& ref) {
  auto st = d.prepare(
      "SELECT k.tool, k.params_sha256, k.finished, COALESCE(k.outcome, ''), COALESCE(k.payment_id, 0),"
      " COALESCE(y.payment_hash, ''), k.created_at, k.updated_at FROM idempotency_keys k"
      " LEFT JOIN payments y ON y.id = k.payment_id"
      " WHERE k.client = ?1 AND k.envelope = ?2 AND k.hosted = ?3 AND k.key = ?4");
  if (!st) return db_error(d, "prepare");
  bind_owner(*st, ref.owner);
  st->bind(4, ref.key);
  int rc = st->step();
  if (rc == kDone) return std::optional<IdempotencyRecord>{};
  if (rc != kRow) return db_error(d, "read", rc);
  IdempotencyRecord r;
  r.ref = ref;
  r.tool = st->text(0);
  r.params_sha256 = st->text(1);
  r.finished = st->i64(2) != 0;
  if (r.finished) {
    r.outcome = json::parse(st->text(3), nullptr, false);
    if (r.outcome.is_discarded()) return make_error("LEDGER_ERROR", "a stored idempotent outcome is unreadable");
  }
  r.payment_id = st->i64(4);
  r.payment_hash = st->text(5);
  r.created_at = st->i64(6);
  r.updated_at = st->i64(7);
  return std::optional<IdempotencyRecord>(std::move(r));
}
}  // namespace

Result<IdempotencyBegin> Ledger::begin_idempotent(const IdempotencyRef& ref, const std::string& tool,
                                                  const std::string& params_sha256) {
  if (ref.key.empty() || ref.key.size() > 255)
    return make_error("INVALID_ARGUMENT", "idempotency_key must be 1 to 255 characters; nothing was paid");
  IdempotencyBegin out;
  const int64_t t = now();
  auto st = txn([&](Db& d) -> Status {
    auto existing = read_key(d, ref);
    if (!existing) return existing.error();
    if (*existing) {
      const IdempotencyRecord& r = **existing;
      if (r.tool != tool || r.params_sha256 != params_sha256)
        return make_error("IDEMPOTENCY_KEY_REUSED",
                          "this idempotency_key was first used with " +
                              (r.tool != tool ? "another tool (" + r.tool + ")" : std::string("other parameters")) +
                              "; nothing was paid. Use a new key for a different request",
                          json{{"first_used_at", r.created_at}, {"tool", r.tool}});
      out.kind = IdempotencyBegin::Kind::existing;
      out.record = r;
      return ok_status();
    }
    auto ins = d.prepare(
        "INSERT INTO idempotency_keys(client, envelope, hosted, key, tool, params_sha256, finished, created_at,"
        " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)");
    if (!ins) return db_error(d, "prepare");
    bind_owner(*ins, ref.owner);
    ins->bind(4, ref.key).bind(5, tool).bind(6, params_sha256).bind(7, t);
    if (int rc = ins->run(); rc != kDone) return db_error(d, "insert", rc);
    out.kind = IdempotencyBegin::Kind::fresh;
    out.record.ref = ref;
    out.record.tool = tool;
    out.record.params_sha256 = params_sha256;
    out.record.created_at = out.record.updated_at = t;
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Status Ledger::finish_idempotent(const IdempotencyRef& ref, const json& outcome) {
  const int64_t t = now();
  return txn([&](Db& d) -> Status {
    auto st = d.prepare(
        "UPDATE idempotency_keys SET finished = 1, outcome = ?5, updated_at = ?6 WHERE client = ?1 AND"
        " envelope = ?2 AND hosted = ?3 AND key = ?4");
    if (!st) return db_error(d, "prepare");
    bind_owner(*st, ref.owner);
    st->bind(4, ref.key).bind(5, json_dump(outcome)).bind(6, t);
    if (int rc = st->run(); rc != kDone) return db_error(d, "update", rc);
    return ok_status();
  });
}

Status Ledger::abandon_idempotent(const IdempotencyRef& ref) {
  return txn([&](Db& d) -> Status {
    auto st = d.prepare(
        "DELETE FROM idempotency_keys WHERE client = ?1 AND envelope = ?2 AND hosted = ?3 AND key = ?4 AND"
        " payment_id IS NULL");
    if (!st) return db_error(d, "prepare");
    bind_owner(*st, ref.owner);
    st->bind(4, ref.key);
    if (int rc = st->run(); rc != kDone) return db_error(d, "delete", rc);
    return ok_status();
  });
}

Result<std::optional<IdempotencyRecord>> Ledger::get_idempotent(const IdempotencyRef& ref) {
  std::optional<IdempotencyRecord> out;
  auto st = read_txn([&](Db& d) -> Status {
    auto r = read_key(d, ref);
    if (!r) return r.error();
    out = std::move(*r);
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

Result<size_t> Ledger::prune_idempotency(int64_t before) {
  size_t n = 0;
  auto st = txn([&](Db& d) -> Status {
    // A key whose payment is still unresolved is kept: its replay must keep saying PAYMENT_PENDING.
    auto del = d.prepare(
        "DELETE FROM idempotency_keys WHERE created_at < ?1 AND (payment_id IS NULL OR payment_id NOT IN"
        " (SELECT id FROM payments WHERE state IN ('reserved','in_flight','unknown')))");
    if (!del) return db_error(d, "prepare");
    del->bind(1, before);
    if (int rc = del->run(); rc != kDone) return db_error(d, "prune", rc);
    n = static_cast<size_t>(d.changes());
    return ok_status();
  });
  if (!st) return st.error();
  return n;
}

}  // namespace sw::spend
