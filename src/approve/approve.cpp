#include "approve/approve.h"
#include "crypto/crypto.h"

#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace sw::approve {

struct Hub::State {
  std::mutex mu;
  std::condition_variable cv;        // decisions and sweeps (waiting calls), stop
  std::condition_variable work_cv;   // notifier queue
  std::deque<std::function<void()>> jobs;
  std::vector<std::shared_ptr<Channel>> channels;
  std::set<std::string> told;        // "<public_id> <what>": each outcome is told once
  uint64_t generation = 0;           // bumped by every decision or sweep in this process
  bool stop = false;
  std::thread notifier, sweeper;
};

std::string utc_time(int64_t unix_s, int64_t now_s) {
  std::time_t t = static_cast<std::time_t>(unix_s), n = static_cast<std::time_t>(now_s);
  std::tm a{}, b{};
  gmtime_r(&t, &a);
  gmtime_r(&n, &b);
  char buf[40];
  if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
    std::strftime(buf, sizeof buf, "%H:%M UTC", &a);
  else
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &a);
  return buf;
}

json client_question(const spend::Approval& ap) {
  return json{{"message", "Approve this Lightning payment? " + describe(ap) + ". Amount: " +
                              std::to_string(msat_to_sat_ceil(ap.amount_msat)) + " sats" +
                              (ap.payee.empty() ? std::string() : ", payee node " + ap.payee) +
                              ". Accept approves this one payment only (approval " + ap.public_id + ")."},
              {"requestedSchema", {{"type", "object"}, {"properties", json::object()}}}};
}

ClientAnswer client_answer(const std::string& action) {
  if (action == "accept") return ClientAnswer{true, ""};
  return ClientAnswer{false, action == "decline" ? "declined in the MCP client" : "dismissed in the MCP client"};
}

std::string describe(const spend::Approval& a) {
  std::string who = a.client.empty() ? "an agent" : "agent '" + a.client + "'";
  if (!a.envelope.empty()) who += " (envelope '" + a.envelope + "')";
  std::string what = std::to_string(msat_to_sat_ceil(a.amount_msat)) + " sats";
  if (a.amount_msat % 1000) what += " (" + std::to_string(a.amount_msat) + " msat)";
  std::string to = !a.domain.empty() ? a.domain : (!a.payee.empty() ? "node " + a.payee.substr(0, 16) + "…" : "an invoice");
  std::string s = who + " wants to pay " + what + " to " + to + " with " + a.tool;
  if (!a.purpose.empty()) s += ", for: " + a.purpose;
  if (!a.reasons.empty()) {
    s += ". Needs approval: ";
    for (size_t i = 0; i < a.reasons.size(); ++i) s += (i ? "; " : "") + a.reasons[i];
  }
  return s;
}

Hub::Hub(spend::Ledger& ledger, Options opts, const Clock& clock)
    : ledger_(ledger), opts_(opts), clock_(clock), st_(std::make_shared<State>()) {
  crypto::random_bytes(app_key_.data(), app_key_.size());
}

std::string Hub::app_nonce(const std::string& public_id) const {
  const std::string msg = "satwarden mcp-app approval\n" + public_id;
  auto mac = crypto::hmac_sha256(app_key_.data(), app_key_.size(), reinterpret_cast<const uint8_t*>(msg.data()),
                                 msg.size());
  return base64_encode(mac.data(), mac.size(), /*url=*/true, /*pad=*/false);
}

Result<spend::Approval> Hub::decide_from_app(const std::string& public_id, const std::string& nonce, bool approve,
                                             const std::string& reason) {
  if (!crypto::ct_equal(nonce, app_nonce(public_id)))
    return make_error("APPROVAL_NONCE_INVALID",
                      "this approval cannot be decided from here (the app's nonce does not match approval " +
                          public_id + "); nothing was decided or paid: reopen the approval card, or use the console "
                          "or `satwarden approvals approve|deny " + public_id + "`");
  spend::ApprovalDecision d;
  d.public_id = public_id;
  d.approve = approve;
  d.channel = "mcp-app";
  d.reason = reason;
  return decide(d);
}

Hub::~Hub() {
  {
    std::lock_guard lk(st_->mu);
    st_->stop = true;
  }
  st_->cv.notify_all();
  st_->work_cv.notify_all();
  if (st_->sweeper.joinable()) st_->sweeper.join();
  if (st_->notifier.joinable()) st_->notifier.join();
}

void Hub::add_channel(std::shared_ptr<Channel> c) {
  std::lock_guard lk(st_->mu);
  st_->channels.push_back(std::move(c));
}

std::vector<std::string> Hub::channel_names() const {
  std::lock_guard lk(st_->mu);
  std::vector<std::string> out;
  for (const auto& c : st_->channels) out.push_back(c->name());
  return out;
}

void Hub::start() {
  std::lock_guard lk(st_->mu);
  if (st_->notifier.joinable()) return;
  auto st = st_;
  st_->notifier = std::thread([st] {
    std::unique_lock q(st->mu);
    for (;;) {
      st->work_cv.wait(q, [&] { return st->stop || !st->jobs.empty(); });
      if (st->jobs.empty()) return;  // stopping, queue drained
      auto job = std::move(st->jobs.front());
      st->jobs.pop_front();
      q.unlock();
      job();
      q.lock();
    }
  });
  st_->sweeper = std::thread([this, st] {
    std::unique_lock s(st->mu);
    while (!st->stop) {
      st->cv.wait_for(s, opts_.sweep, [&] { return st->stop; });
      if (st->stop) return;
      s.unlock();
      sweep();
      s.lock();
    }
  });
}

spend::ApprovalTerms Hub::terms(const std::string& payee, const std::string& purpose) const {
  return spend::ApprovalTerms{opts_.timeout_s, payee, purpose};
}

void Hub::notify(std::function<void()> job) {
  {
    std::lock_guard lk(st_->mu);
    st_->jobs.push_back(std::move(job));
  }
  st_->work_cv.notify_one();
}

void Hub::announce(const spend::Approval& a, const spend::ApprovalSecrets& secrets) {
  log(LogLevel::notice, "approve",
      "approval " + a.public_id + " asked of the owner: " + describe(a) + " (until " +
          utc_time(a.expires_at, clock_.now_unix()) + ")");
  std::vector<std::shared_ptr<Channel>> chans;
  {
    std::lock_guard lk(st_->mu);
    chans = st_->channels;
  }
  for (auto& c : chans)
    notify([c, a, secrets] { c->request(a, secrets); });
}

void Hub::outcome_once(const spend::Approval& a, const std::string& what) {
  std::vector<std::shared_ptr<Channel>> chans;
  {
    std::lock_guard lk(st_->mu);
    if (!st_->told.insert(a.public_id + " " + what).second) return;
    if (st_->told.size() > 4096) st_->told.erase(st_->told.begin());  // bounded; duplicates are harmless
    chans = st_->channels;
  }
  for (auto& c : chans)
    notify([c, a, what] { c->outcome(a, what); });
}

void Hub::tell_outcome(const spend::Approval& a, const std::string& what) { outcome_once(a, what); }

Result<spend::Approval> Hub::decide(const spend::ApprovalDecision& d) {
  auto r = ledger_.decide_approval(d);
  if (!r) return r;
  {
    std::lock_guard lk(st_->mu);
    ++st_->generation;
  }
  st_->cv.notify_all();
  outcome_once(*r, spend::approval_state_name(r->state));
  return r;
}

size_t Hub::sweep() {
  auto r = ledger_.expire_approvals();
  if (!r) {
    log(LogLevel::warning, "approve", "could not expire approvals: " + r.error().message);
    return 0;
  }
  if (r->empty()) return 0;
  {
    std::lock_guard lk(st_->mu);
    ++st_->generation;
  }
  st_->cv.notify_all();
  for (const auto& a : *r) {
    log(LogLevel::notice, "approve", "approval " + a.public_id + " expired; its budget was released");
    outcome_once(a, "expired");
  }
  return r->size();
}

Result<spend::Approval> Hub::await(const std::string& public_id, const std::function<bool()>& cancelled,
                                   const std::function<void(const spend::Approval&)>& tick, AskClient ask) {
  auto first = ledger_.get_approval(public_id);
  if (!first) return first;
  // The client's answer arrives on its own thread. It may come after another channel decided (then it changes
  // nothing: the ledger refuses a second decision); when the wait ends another way the question is withdrawn.
  auto stop = std::make_shared<std::atomic<bool>>(false);
  std::thread asker;
  if (ask && first->state == spend::ApprovalState::pending) {
    spend::Approval shown = *first;
    asker = std::thread([this, shown, ask, stop] {
      auto answer = ask(shown, stop);
      if (stop->load()) return;
      if (!answer) {
        log(LogLevel::info, "approve", "no answer from the MCP client for approval " + shown.public_id + " (" +
                                           answer.error().code + ")");
        return;
      }
      spend::ApprovalDecision d;
      d.public_id = shown.public_id;
      d.approve = answer->approve;
      d.channel = "elicitation";
      d.amount_msat = shown.amount_msat;
      d.payment_hash = shown.payment_hash;
      if (!answer->approve) d.reason = answer->reason.empty() ? "declined in the MCP client" : answer->reason;
      (void)decide(d);
    });
  }
  struct Join {
    std::thread& t;
    std::shared_ptr<std::atomic<bool>> stop;
    ~Join() {
      stop->store(true);
      if (t.joinable()) t.join();
    }
  } join{asker, stop};
  auto last_tick = std::chrono::steady_clock::now();
  uint64_t seen = 0;
  for (;;) {
    auto a = ledger_.get_approval(public_id);
    if (!a) return a;
    if (a->state != spend::ApprovalState::pending) {
      // Decided by another process (the CLI): tell the channels here.
      if (!a->decided_by.empty()) outcome_once(*a, spend::approval_state_name(a->state));
      return a;
    }
    if (clock_.now_unix() >= a->expires_at && sweep() > 0) continue;  // re-read: expired now
    if (cancelled && cancelled())
      return make_error("CANCELLED", "the call was cancelled while waiting for approval " + a->public_id +
                                         "; nothing was paid. The approval stays open until " +
                                         utc_time(a->expires_at, clock_.now_unix()) +
                                         ": call again with the same arguments to continue");
    auto now = std::chrono::steady_clock::now();
    if (tick && now - last_tick >= std::chrono::seconds(10)) {
      tick(*a);
      last_tick = now;
    }
    std::unique_lock lk(st_->mu);
    if (st_->stop) return make_error("CANCELLED", "satwarden is shutting down; nothing was paid");
    st_->cv.wait_for(lk, opts_.poll, [&] { return st_->stop || st_->generation != seen; });
    seen = st_->generation;
  }
}

}  // namespace sw::approve
