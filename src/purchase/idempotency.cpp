// Idempotent paying calls (purchase.h): one outcome per (owner, idempotency key), persisted in the ledger.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "crypto/crypto.h"
#include "purchase/purchase.h"

namespace sw::purchase {

namespace {

// Keys whose first call runs in this process right now: a second call with the same key waits for it.
struct Running {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> keys;  // key id → running count
};
Running& running() {
  static Running r;
  return r;
}
std::string key_id(const spend::IdempotencyRef& ref) {
  return ref.owner.client + '\n' + ref.owner.envelope + '\n' + (ref.owner.hosted ? "1" : "0") + '\n' + ref.key;
}

json to_stored(const CallOutcome& o) {
  if (!o.is_error) return json{{"isError", false}, {"structured", o.structured}};
  return json{{"isError", true},
              {"error", {{"code", o.error.code}, {"message", o.error.message}, {"details", o.error.details}}}};
}

CallOutcome from_stored(const json& j) {
  CallOutcome o;
  o.is_error = j.value("isError", true);
  if (!o.is_error) {
    o.structured = j.contains("structured") ? j["structured"] : json::object();
    return o;
  }
  const json& e = j.contains("error") && j["error"].is_object() ? j["error"] : json::object();
  o.error.code = e.value("code", "INTERNAL_ERROR");
  o.error.message = e.value("message", "");
  o.error.details = e.contains("details") ? e["details"] : json::object();
  return o;
}

CallOutcome failure(Error e) {
  CallOutcome o;
  o.is_error = true;
  o.error = std::move(e);
  return o;
}

bool outcome_open(const CallOutcome& o) {
  return o.is_error && (o.error.code == "PAYMENT_OUTCOME_UNKNOWN" || o.error.code == "WALLET_INVALID_PREIMAGE" ||
                        o.error.code == "PAYMENT_PENDING" || o.error.code == "APPROVAL_REQUIRED" ||
                        o.error.code == "CANCELLED");
}

}  // namespace

CallOutcome run_idempotent(spend::Ledger& ledger, pay::Payer* payer, const spend::Owner& owner,
                           const std::optional<std::string>& key, const std::string& tool, const json& args,
                           const std::function<CallOutcome(const IdempotentContext&)>& body) {
  if (!key) return body(IdempotentContext{});
  spend::IdempotencyRef ref{owner, *key};
  json hashed = args;
  if (hashed.is_object()) hashed.erase("idempotency_key");
  const auto digest = crypto::sha256(json_dump(hashed));  // object keys are sorted: a canonical form
  const std::string params = hex_encode(digest.data(), digest.size());
  const std::string id = key_id(ref);
  Running& run = running();
  const int64_t wait_s = (payer ? payer->options().pay_timeout_s : 60) + 30;
  const int64_t stale_s = (payer ? payer->options().pay_timeout_s : 60) + 15;

  auto begun = ledger.begin_idempotent(ref, tool, params);
  if (!begun) return failure(begun.error());

  auto execute = [&]() -> CallOutcome {
    {
      std::lock_guard lk(run.mu);
      ++run.keys[id];
    }
    CallOutcome out = body(IdempotentContext{ref, std::nullopt, false});
    auto rec = ledger.get_idempotent(ref);
    if (rec && *rec && (*rec)->payment_id == 0)
      (void)ledger.abandon_idempotent(ref);  // nothing reserved: the key stays free
    else
      (void)ledger.finish_idempotent(ref, to_stored(out));
    {
      std::lock_guard lk(run.mu);
      if (--run.keys[id] == 0) run.keys.erase(id);
    }
    run.cv.notify_all();
    return out;
  };

  if (begun->kind == spend::IdempotencyBegin::Kind::fresh) return execute();

  // The key was used before. A first call still running here: wait for it (bounded).
  {
    std::unique_lock lk(run.mu);
    run.cv.wait_for(lk, std::chrono::seconds(wait_s), [&] { return run.keys.find(id) == run.keys.end(); });
  }
  auto rec = ledger.get_idempotent(ref);
  if (!rec) return failure(rec.error());
  if (!*rec) {  // the first call ended before reserving anything: the key is free again
    auto again = ledger.begin_idempotent(ref, tool, params);
    if (!again) return failure(again.error());
    if (again->kind == spend::IdempotencyBegin::Kind::fresh) return execute();
    rec = ledger.get_idempotent(ref);
    if (!rec) return failure(rec.error());
    if (!*rec) return failure(make_error("IDEMPOTENCY_KEY_IN_USE", "this idempotency_key is in use by another "
                                                                   "call right now; nothing was paid by this call"));
  }
  const spend::IdempotencyRecord& r = **rec;
  if (r.finished) {
    CallOutcome stored = from_stored(r.outcome);
    if (!outcome_open(stored) || r.payment_id == 0) return stored;
  }
  if (r.payment_id == 0) {
    bool here;
    {
      std::lock_guard lk(run.mu);
      here = run.keys.count(id) > 0;
    }
    if (here || ledger.now_unix() - r.updated_at < stale_s)
      return failure(make_error("IDEMPOTENCY_KEY_IN_USE",
                                "another call with this idempotency_key is still running; nothing was paid by this "
                                "call. Call again in a moment to get its outcome"));
    return execute();  // left by a crash before anything was reserved: run it now
  }
  // The first call's payment decides: look it up (asks the wallet when its outcome is unknown).
  auto row = payer ? payer->refresh(r.payment_hash) : ledger.get_payment(r.payment_hash);
  if (!row) return failure(row.error());
  CallOutcome out;
  switch (row->state) {
    case spend::State::settled:
      out = body(IdempotentContext{ref, *row, true});
      break;
    case spend::State::reserved: {
      // Reserved and waiting for the owner's approval (the first call returned APPROVAL_REQUIRED or was
      // cancelled while waiting): run the call again — it continues that approval, never a second payment.
      auto ap = ledger.approval_for_payment(r.payment_id);
      if (ap && *ap && ((*ap)->state == spend::ApprovalState::pending || (*ap)->state == spend::ApprovalState::approved))
        return execute();
      return failure(payment_pending(*row, ledger.now_unix()));
    }
    case spend::State::released:
      if (row->error_code == "APPROVAL_DENIED" || row->error_code == "APPROVAL_TIMEOUT") {
        out = failure(make_error(row->error_code,
                                 std::string(row->error_code == "APPROVAL_DENIED"
                                                 ? "the owner denied the payment made under this idempotency_key"
                                                 : "the owner did not approve the payment under this idempotency_key "
                                                   "in time") +
                                     "; nothing was paid. Ask the user before trying again with a new idempotency_key",
                                 json{{"payment_hash", row->payment_hash}}));
        break;
      }
      [[fallthrough]];
    case spend::State::failed:
      out = failure(make_error("PAYMENT_FAILED",
                               "the payment made under this idempotency_key did not go through (" +
                                   (row->error_code.empty() ? std::string("released") : row->error_code) +
                                   "); nothing was paid. Use a new idempotency_key to try again",
                               json{{"payment_hash", row->payment_hash}}));
      break;
    default:
      return failure(payment_pending(*row, ledger.now_unix()));
  }
  (void)ledger.finish_idempotent(ref, to_stored(out));
  return out;
}

}  // namespace sw::purchase
