// The owner's approval around a real payment: Payer + approve::Hub + ledger, an in-process wallet that records
// when it is asked to pay, a recording Channel, and a fake clock. Nothing reaches the wallet before the owner
// approves, and exactly one request after; deny, expiry and an invoice that expires while waiting pay nothing;
// approval_wait return_now and the retries that continue the same approval (same caller) — never a second
// reservation, never a takeover by another caller; elicitation (ask_client) answers and its withdrawal; two
// calls waiting for one approval pay once; run_idempotent continues the approval under the same key.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "approve/approve.h"
#include "helpers.h"

using namespace sw;
using namespace purchase_test;
using namespace std::chrono_literals;

namespace {

// What happened, in order, across threads.
struct Events {
  std::mutex mu;
  std::vector<std::string> log;
  void add(const std::string& e) {
    std::lock_guard lk(mu);
    log.push_back(e);
  }
  std::vector<std::string> all() {
    std::lock_guard lk(mu);
    return log;
  }
};

struct RecordingWallet : FakeWallet {
  Events* events = nullptr;
  std::vector<wallet::KeysendParams> keysends;
  Result<wallet::Info> get_info() override {
    auto i = FakeWallet::get_info();
    i->methods.push_back("pay_keysend");
    return i;
  }
  Result<wallet::PayResult> pay_invoice(const std::string& invoice, std::optional<uint64_t> amount) override {
    if (events) events->add("wallet pay");
    return FakeWallet::pay_invoice(invoice, amount);
  }
  Result<wallet::PayResult> pay_keysend(const wallet::KeysendParams& kp) override {
    if (events) events->add("wallet keysend");
    std::lock_guard lk(mu);
    ++pay_calls;
    keysends.push_back(kp);
    return wallet::PayResult{kp.preimage, uint64_t{1}};
  }
};

// A channel that remembers every request (with its secrets) and outcome the Hub sends it.
struct RecordingChannel : approve::Channel {
  struct Request {
    spend::Approval approval;
    spend::ApprovalSecrets secrets;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Request> requests;
  std::vector<std::pair<std::string, std::string>> outcomes;  // public id, what

  std::string name() const override { return "recorder"; }
  void request(const spend::Approval& a, const spend::ApprovalSecrets& s) override {
    {
      std::lock_guard lk(mu);
      requests.push_back({a, s});
    }
    cv.notify_all();
  }
  void outcome(const spend::Approval& a, const std::string& what) override {
    {
      std::lock_guard lk(mu);
      outcomes.emplace_back(a.public_id, what);
    }
    cv.notify_all();
  }
  // The n-th request (1-based), waiting for it.
  Request wait_request(size_t n = 1) {
    std::unique_lock lk(mu);
    REQUIRE(cv.wait_for(lk, 10s, [&] { return requests.size() >= n; }));
    return requests[n - 1];
  }
  bool wait_outcome(const std::string& id, const std::string& what) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, 10s, [&] {
      for (const auto& [i, w] : outcomes)
        if (i == id && w == what) return true;
      return false;
    });
  }
  std::vector<std::string> outcomes_of(const std::string& id) {
    std::lock_guard lk(mu);
    std::vector<std::string> out;
    for (const auto& [i, w] : outcomes)
      if (i == id) out.push_back(w);
    return out;
  }
  size_t request_count() {
    std::lock_guard lk(mu);
    return requests.size();
  }
};

struct Invoice {
  std::string invoice, payment_hash, preimage;
};

struct Flow {
  spend_test::TempDir tmp;  // first: removed after the ledger is closed
  spend_test::FakeClock clock{1'767'225'600};
  Events events;
  RecordingWallet wallet;
  std::shared_ptr<RecordingChannel> channel = std::make_shared<RecordingChannel>();
  std::unique_ptr<spend::Ledger> ledger;
  std::unique_ptr<approve::Hub> hub;
  std::unique_ptr<pay::Payer> payer;
  int minted = 0;

  int64_t timeout_s;

  explicit Flow(int64_t timeout = 300) : timeout_s(timeout) {
    wallet.events = &events;
    open();
  }
  void open() {
    spend::Policy p;
    p.global.approve_above_msat = 5'000;  // above 5 sats: ask the owner
    auto l = spend::Ledger::open(tmp.file("ledger.sqlite"), p, clock);
    REQUIRE(l);
    ledger = std::move(*l);
    approve::Options o;
    o.timeout_s = timeout_s;
    o.poll = 10ms;
    o.sweep = 20ms;
    hub = std::make_unique<approve::Hub>(*ledger, o, clock);
    hub->add_channel(channel);
    hub->start();
    payer = std::make_unique<pay::Payer>(&wallet, ledger.get(), clock);
    payer->set_approvals(hub.get());
  }
  // The process stops and starts again on the same ledger file (a new Hub and Payer; the channel stays).
  void restart() {
    payer.reset();
    hub.reset();
    ledger.reset();
    open();
  }

  // A fresh invoice the wallet can pay, created now (expiry 3600 s).
  Invoice mint(uint64_t sats = 10) {
    const auto pre = crypto::sha256(std::string_view("approval flow preimage " + std::to_string(++minted)));
    Invoice i;
    i.preimage = hex(pre);
    i.payment_hash = hex(crypto::sha256(pre.data(), pre.size()));
    i.invoice = mint_invoice(i.payment_hash, sats, clock.now_unix(), "approval flow test");
    std::lock_guard lk(wallet.mu);
    wallet.preimages[i.payment_hash] = i.preimage;
    return i;
  }

  pay::PayRequest request(const Invoice& inv, const std::string& client = "agent",
                          pay::ApprovalArgs::Wait wait = pay::ApprovalArgs::Wait::wait) {
    pay::PayRequest rq;
    rq.invoice = inv.invoice;
    rq.max_sats = 100;
    rq.client = client;
    rq.tool = "pay_invoice";
    rq.approval.wait = wait;
    return rq;
  }
  std::future<Result<pay::PayOutcome>> pay_async(pay::PayRequest rq) {
    return std::async(std::launch::async, [this, rq] { return payer->pay(rq); });
  }
  Result<spend::Approval> decide(const std::string& public_id, bool approve, const std::string& channel_name = "cli") {
    spend::ApprovalDecision d;
    d.public_id = public_id;
    d.approve = approve;
    d.channel = channel_name;
    events.add(approve ? "approve" : "deny");
    return hub->decide(d);
  }
  spend::Payment payment(const std::string& hash) {
    auto p = ledger->get_payment(hash);
    REQUIRE(p);
    return *p;
  }
  int wallet_calls() {
    std::lock_guard lk(wallet.mu);
    return wallet.pay_calls;
  }
  uint64_t rows() { return spend_test::raw_sums(ledger->path()).rows; }
};

template <class T>
std::string code_of(const Result<T>& r) {
  return r ? std::string("OK") : r.error().code;
}

template <class T>
Result<T> get(std::future<Result<T>>& f) {
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  return f.get();
}

}  // namespace

TEST_CASE("approval flow: the call waits, approved from another thread → exactly one wallet request, after it") {
  Flow f;
  auto inv = f.mint();
  std::mutex pm;
  std::vector<std::string> progress;
  auto rq = f.request(inv);
  rq.progress = [&](double, const std::string& m) {
    std::lock_guard lk(pm);
    progress.push_back(m);
  };
  auto fut = f.pay_async(rq);
  auto req = f.channel->wait_request();
  // The channel is told who pays what, with the secrets the owner answers with.
  CHECK(req.approval.payment_hash == inv.payment_hash);
  CHECK(req.approval.amount_msat == 10'000);
  CHECK(req.approval.state == spend::ApprovalState::pending);
  CHECK(req.approval.client == "agent");
  CHECK(req.approval.purpose == "approval flow test");
  CHECK(req.secrets.code.size() == 8);
  CHECK(req.secrets.approve_token.size() == 43);
  CHECK(req.secrets.deny_token.size() == 43);
  // Waiting: nothing sent, the budget held.
  std::this_thread::sleep_for(50ms);
  CHECK(fut.wait_for(0s) == std::future_status::timeout);
  CHECK(f.wallet_calls() == 0);
  CHECK(f.payment(inv.payment_hash).state == spend::State::reserved);
  auto decided = f.decide(req.approval.public_id, true);
  REQUIRE(decided);
  auto out = get(fut);
  INFO((out ? std::string() : out.error().code + ": " + out.error().message));
  REQUIRE(out);
  CHECK(out->preimage == inv.preimage);
  CHECK(f.events.all() == std::vector<std::string>{"approve", "wallet pay"});
  CHECK(f.wallet_calls() == 1);
  CHECK(f.payment(inv.payment_hash).state == spend::State::settled);
  auto a = f.ledger->get_approval(req.approval.public_id);
  REQUIRE(a);
  CHECK(a->state == spend::ApprovalState::used);
  CHECK(a->decided_by == "cli");
  CHECK(f.channel->wait_outcome(req.approval.public_id, "approved"));
  CHECK(f.channel->wait_outcome(req.approval.public_id, "paid"));
  CHECK(f.channel->outcomes_of(req.approval.public_id) == std::vector<std::string>{"approved", "paid"});
  {
    std::lock_guard lk(pm);
    bool told = false;
    for (const auto& m : progress)
      told = told || (m.find("waiting for the owner's approval, id " + req.approval.public_id) != std::string::npos &&
                      m.find("until") != std::string::npos);
    CHECK(told);
    // Progress never carries the secrets.
    for (const auto& m : progress) CHECK(m.find(req.secrets.code) == std::string::npos);
  }
  // The same invoice again: already paid, nothing sent.
  CHECK(code_of(f.payer->pay(f.request(inv))) == "ALREADY_PAID");
  CHECK(f.wallet_calls() == 1);
}

TEST_CASE("approval flow: a payment at or below the threshold is paid without asking") {
  Flow f;
  auto inv = f.mint(5);
  auto out = f.payer->pay(f.request(inv));
  REQUIRE(out);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.channel->request_count() == 0);
}

TEST_CASE("approval flow: denied → APPROVAL_DENIED, no wallet request, budget released") {
  Flow f;
  auto inv = f.mint();
  auto fut = f.pay_async(f.request(inv));
  auto req = f.channel->wait_request();
  spend::ApprovalDecision d;
  d.code = req.secrets.code;
  d.approve = false;
  d.channel = "nostr";
  d.reason = "not today";
  REQUIRE(f.hub->decide(d));
  auto out = get(fut);
  REQUIRE_FALSE(out);
  CHECK(out.error().code == "APPROVAL_DENIED");
  CHECK(out.error().message.find("nothing was paid") != std::string::npos);
  CHECK(out.error().message.find("not today") != std::string::npos);
  CHECK(out.error().details.value("approval_id", "") == req.approval.public_id);
  // The agent's error never carries the owner's secrets.
  CHECK(json_dump(out.error().details).find(req.secrets.code) == std::string::npos);
  CHECK(out.error().message.find(req.secrets.code) == std::string::npos);
  CHECK(f.wallet_calls() == 0);
  auto p = f.payment(inv.payment_hash);
  CHECK(p.state == spend::State::released);
  CHECK(p.error_code == "APPROVAL_DENIED");
  CHECK(f.channel->wait_outcome(req.approval.public_id, "denied"));
}

TEST_CASE("approval flow: the owner does not decide in time → APPROVAL_TIMEOUT, no wallet request") {
  Flow f;
  auto inv = f.mint();
  auto fut = f.pay_async(f.request(inv));
  auto req = f.channel->wait_request();
  std::this_thread::sleep_for(30ms);
  CHECK(f.wallet_calls() == 0);
  f.clock.set(req.approval.expires_at + 1);
  auto out = get(fut);
  REQUIRE_FALSE(out);
  CHECK(out.error().code == "APPROVAL_TIMEOUT");
  CHECK(f.wallet_calls() == 0);
  auto p = f.payment(inv.payment_hash);
  CHECK(p.state == spend::State::released);
  CHECK(p.error_code == "APPROVAL_TIMEOUT");
  CHECK(f.channel->wait_outcome(req.approval.public_id, "expired"));
  // A late decision changes nothing.
  CHECK(code_of(f.decide(req.approval.public_id, true)) == "APPROVAL_DECIDED");
  CHECK(f.wallet_calls() == 0);
}

TEST_CASE("approval flow: approval_wait return_now, retries by the same caller continue the same approval") {
  Flow f;
  auto inv = f.mint();
  auto rq = f.request(inv, "agent", pay::ApprovalArgs::Wait::return_now);
  auto first = f.payer->pay(rq);
  REQUIRE_FALSE(first);
  CHECK(first.error().code == "APPROVAL_REQUIRED");
  const std::string id = first.error().details.value("approval_id", "");
  REQUIRE_FALSE(id.empty());
  CHECK(first.error().details.value("state", "") == "pending");
  CHECK(first.error().message.find("Nothing was paid") != std::string::npos);
  CHECK(f.payment(inv.payment_hash).state == spend::State::reserved);
  auto req = f.channel->wait_request();
  CHECK(req.approval.public_id == id);
  CHECK(json_dump(first.error().details).find(req.secrets.code) == std::string::npos);

  // Again while pending: the same approval, no second reservation, no second announcement.
  auto second = f.payer->pay(rq);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == "APPROVAL_REQUIRED");
  CHECK(second.error().details.value("approval_id", "") == id);
  CHECK(f.rows() == 1);
  // Naming the approval works too (case-insensitive).
  auto named = rq;
  std::string lower = id;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  named.approval.approval_id = lower;
  CHECK(code_of(f.payer->pay(named)) == "APPROVAL_REQUIRED");

  // Another caller with the same invoice: refused, never a takeover of this caller's approval.
  auto other = f.payer->pay(f.request(inv, "someone-else", pay::ApprovalArgs::Wait::return_now));
  REQUIRE_FALSE(other);
  CHECK(other.error().code == "PAYMENT_IN_PROGRESS");
  CHECK(f.rows() == 1);

  // An approval_id that belongs to another payment: APPROVAL_MISMATCH, and this one stays pending.
  auto inv2 = f.mint();
  auto rq2 = f.request(inv2, "agent", pay::ApprovalArgs::Wait::return_now);
  auto p2 = f.payer->pay(rq2);
  REQUIRE_FALSE(p2);
  REQUIRE(p2.error().code == "APPROVAL_REQUIRED");
  const std::string id2 = p2.error().details.value("approval_id", "");
  named.approval.approval_id = id2;
  auto mism = f.payer->pay(named);
  REQUIRE_FALSE(mism);
  CHECK(mism.error().code == "APPROVAL_MISMATCH");
  CHECK(f.payment(inv.payment_hash).state == spend::State::reserved);
  CHECK(f.ledger->get_approval(id)->state == spend::ApprovalState::pending);
  // A fresh payment naming another payment's approval: refused before anything is reserved or announced (no
  // approval of its own that the owner would later hear "expired" about).
  auto inv3 = f.mint();
  auto rq3 = f.request(inv3, "agent", pay::ApprovalArgs::Wait::return_now);
  rq3.approval.approval_id = id;
  const size_t rows_before = f.rows();
  auto p3 = f.payer->pay(rq3);
  REQUIRE_FALSE(p3);
  CHECK(p3.error().code == "APPROVAL_MISMATCH");
  CHECK(f.rows() == rows_before);
  CHECK(code_of(f.ledger->get_payment(inv3.payment_hash)) == "PAYMENT_NOT_FOUND");
  auto open_now = f.ledger->list_approvals(spend::ApprovalQuery{});
  REQUIRE(open_now);
  CHECK(open_now->size() == 2);  // id and id2 only
  CHECK(f.wallet_calls() == 0);

  // Approved: the next retry pays, once.
  REQUIRE(f.decide(id, true));
  auto paid = f.payer->pay(rq);
  INFO((paid ? std::string() : paid.error().code + ": " + paid.error().message));
  REQUIRE(paid);
  CHECK(paid->preimage == inv.preimage);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.events.all() == std::vector<std::string>{"approve", "wallet pay"});
  CHECK(code_of(f.payer->pay(rq)) == "ALREADY_PAID");
  CHECK(f.wallet_calls() == 1);
  CHECK(f.ledger->get_approval(id)->state == spend::ApprovalState::used);
  // Another caller cannot use an approval granted to this one.
  REQUIRE(f.decide(id2, true));
  auto stolen = f.payer->pay(f.request(inv2, "someone-else", pay::ApprovalArgs::Wait::return_now));
  REQUIRE_FALSE(stolen);
  CHECK(stolen.error().code == "PAYMENT_IN_PROGRESS");
  CHECK(f.wallet_calls() == 1);
  CHECK(f.ledger->get_approval(id2)->state == spend::ApprovalState::approved);
}

TEST_CASE("approval flow: the invoice expires while the owner decides → INVOICE_EXPIRED, nothing paid") {
  Flow f(/*timeout_s=*/3700);
  auto inv = f.mint();  // expires 3600 s after now
  auto fut = f.pay_async(f.request(inv));
  auto req = f.channel->wait_request();
  f.clock.advance(3601);  // the invoice has expired; the approval (99 s to go) has not
  REQUIRE(f.clock.now_unix() < req.approval.expires_at);
  REQUIRE(f.decide(req.approval.public_id, true));
  auto out = get(fut);
  REQUIRE_FALSE(out);
  CHECK(out.error().code == "INVOICE_EXPIRED");
  CHECK(f.wallet_calls() == 0);
  CHECK(f.payment(inv.payment_hash).state == spend::State::released);
}

TEST_CASE("approval flow: ask_client (elicitation) — accept approves, decline denies") {
  Flow f;
  SECTION("accept") {
    auto inv = f.mint();
    auto rq = f.request(inv);
    std::atomic<int> asked{0};
    rq.approval.ask_client = [&](const spend::Approval& a, const std::shared_ptr<std::atomic<bool>>&)
        -> Result<approve::ClientAnswer> {
      ++asked;
      CHECK(a.amount_msat == 10'000);
      f.events.add("client accepts");
      return approve::ClientAnswer{true, ""};
    };
    auto fut = f.pay_async(rq);
    auto out = get(fut);
    REQUIRE(out);
    CHECK(asked == 1);
    CHECK(f.wallet_calls() == 1);
    CHECK(f.events.all() == std::vector<std::string>{"client accepts", "wallet pay"});
    auto p = f.ledger->approval_for_payment(f.payment(inv.payment_hash).id);
    REQUIRE(p);
    REQUIRE(*p);
    CHECK((*p)->decided_by == "elicitation");
    CHECK((*p)->state == spend::ApprovalState::used);
  }
  SECTION("decline") {
    auto inv = f.mint();
    auto rq = f.request(inv);
    rq.approval.ask_client = [&](const spend::Approval&, const std::shared_ptr<std::atomic<bool>>&)
        -> Result<approve::ClientAnswer> { return approve::ClientAnswer{false, "declined in the MCP client"}; };
    auto out = f.payer->pay(rq);
    REQUIRE_FALSE(out);
    CHECK(out.error().code == "APPROVAL_DENIED");
    CHECK(f.wallet_calls() == 0);
    auto a = f.ledger->approval_for_payment(f.payment(inv.payment_hash).id);
    REQUIRE(a);
    CHECK((*a)->decided_by == "elicitation");
    CHECK((*a)->reason == "declined in the MCP client");
  }
  SECTION("no answer from the client: the wait goes on and another channel decides") {
    auto inv = f.mint();
    auto rq = f.request(inv);
    rq.approval.ask_client = [&](const spend::Approval&, const std::shared_ptr<std::atomic<bool>>&)
        -> Result<approve::ClientAnswer> { return make_error("ELICITATION_UNSUPPORTED", "no"); };
    auto fut = f.pay_async(rq);
    auto req = f.channel->wait_request();
    std::this_thread::sleep_for(50ms);
    CHECK(fut.wait_for(0s) == std::future_status::timeout);
    REQUIRE(f.decide(req.approval.public_id, true));
    REQUIRE(get(fut));
    CHECK(f.wallet_calls() == 1);
  }
}

TEST_CASE("approval flow: another channel decides first → the question is withdrawn and the call goes on at once") {
  Flow f;
  auto inv = f.mint();
  auto rq = f.request(inv);
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> asking{false};
  rq.approval.ask_client = [&](const spend::Approval&, const std::shared_ptr<std::atomic<bool>>& stop)
      -> Result<approve::ClientAnswer> {
    asking = true;
    // A person who never answers: only the stop flag ends the question.
    for (int i = 0; i < 2000 && !stop->load(); ++i) std::this_thread::sleep_for(5ms);
    saw_stop = stop->load();
    return make_error("CANCELLED", "withdrawn");
  };
  auto fut = f.pay_async(rq);
  auto req = f.channel->wait_request();
  for (int i = 0; i < 400 && !asking; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(asking);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(f.decide(req.approval.public_id, true, "cli"));
  auto out = get(fut);
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(out);
  CHECK(saw_stop);
  CHECK(took < 2s);  // not the asker's 10 s of patience
  CHECK(f.wallet_calls() == 1);
  auto a = f.ledger->get_approval(req.approval.public_id);
  REQUIRE(a);
  CHECK(a->decided_by == "cli");
}

TEST_CASE("approval flow: two calls of the same caller waiting for one approval pay once") {
  Flow f;
  auto inv = f.mint();
  f.wallet.gated = true;  // the first payer's wallet request stays open while the second one wakes up
  auto a = f.pay_async(f.request(inv));
  auto req = f.channel->wait_request();
  auto b = f.pay_async(f.request(inv));
  std::this_thread::sleep_for(100ms);  // b reached the wait (PAYMENT_IN_PROGRESS → continues the approval)
  CHECK(f.rows() == 1);
  CHECK(f.channel->request_count() == 1);
  REQUIRE(f.decide(req.approval.public_id, true));
  // One of them is paying now; the other one must not release the payment in flight.
  std::this_thread::sleep_for(200ms);
  f.wallet.open_gate();
  auto ra = get(a);
  auto rb = get(b);
  const int oks = int(bool(ra)) + int(bool(rb));
  CHECK(oks == 1);
  const auto& loser = ra ? rb : ra;
  REQUIRE_FALSE(loser);
  CHECK(loser.error().code == "PAYMENT_IN_PROGRESS");
  CHECK(f.wallet_calls() == 1);
  auto p = f.payment(inv.payment_hash);
  CHECK(p.state == spend::State::settled);
  auto sums = spend_test::raw_sums(f.ledger->path());
  CHECK(sums.rows == 1);
  CHECK(sums.settled == 1);
  CHECK(sums.counted_total == sums.settled_total);
}

TEST_CASE("approval flow: run_idempotent — the key reused after APPROVAL_REQUIRED continues the same approval") {
  Flow f;
  auto inv = f.mint();
  const spend::Owner owner{"agent", "", false};
  int runs = 0;
  auto call = [&](const std::string& key) {
    json args{{"invoice", inv.invoice}, {"max_sats", 100}, {"approval_wait", "return"}};
    return purchase::run_idempotent(*f.ledger, f.payer.get(), owner, key, "pay_invoice", args,
                                    [&](const purchase::IdempotentContext& ctx) {
                                      ++runs;
                                      auto rq = f.request(inv, "agent", pay::ApprovalArgs::Wait::return_now);
                                      rq.idempotency = ctx.ref;
                                      rq.resume = ctx.resume;
                                      auto r = f.payer->pay(rq);
                                      purchase::CallOutcome out;
                                      if (!r) {
                                        out.is_error = true;
                                        out.error = r.error();
                                        return out;
                                      }
                                      out.structured = json{{"preimage", r->preimage}};
                                      return out;
                                    });
  };
  auto first = call("k1");
  REQUIRE(first.is_error);
  CHECK(first.error.code == "APPROVAL_REQUIRED");
  const std::string id = first.error.details.value("approval_id", "");
  REQUIRE_FALSE(id.empty());
  auto again = call("k1");
  REQUIRE(again.is_error);
  CHECK(again.error.code == "APPROVAL_REQUIRED");
  CHECK(again.error.details.value("approval_id", "") == id);
  CHECK(f.rows() == 1);
  REQUIRE(f.decide(id, true));
  auto paid = call("k1");
  INFO(paid.error.code << ": " << paid.error.message);
  REQUIRE_FALSE(paid.is_error);
  CHECK(paid.structured["preimage"] == inv.preimage);
  CHECK(f.wallet_calls() == 1);
  // Afterwards the key replays the outcome; nothing is sent again.
  auto replay = call("k1");
  REQUIRE_FALSE(replay.is_error);
  CHECK(replay.structured["preimage"] == inv.preimage);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.rows() == 1);

  SECTION("a denied approval: the key answers APPROVAL_DENIED and never pays") {
    auto inv2 = f.mint();
    inv = inv2;
    auto r1 = call("k2");
    REQUIRE(r1.is_error);
    REQUIRE(r1.error.code == "APPROVAL_REQUIRED");
    REQUIRE(f.decide(r1.error.details.value("approval_id", ""), false));
    auto r2 = call("k2");
    REQUIRE(r2.is_error);
    CHECK(r2.error.code == "APPROVAL_DENIED");
    CHECK(f.wallet_calls() == 1);
  }
}

TEST_CASE("approval flow: a restart while the approval is pending, the retry after it continues it and pays once") {
  Flow f;
  auto inv = f.mint();
  auto rq = f.request(inv, "agent", pay::ApprovalArgs::Wait::return_now);
  auto first = f.payer->pay(rq);
  REQUIRE_FALSE(first);
  REQUIRE(first.error().code == "APPROVAL_REQUIRED");
  const std::string id = first.error().details.value("approval_id", "");
  f.clock.advance(100);
  f.restart();
  auto rec = f.ledger->recover_after_crash(f.clock.now_unix(), 30);
  REQUIRE(rec);
  CHECK(rec->released == 0);
  CHECK(f.payment(inv.payment_hash).state == spend::State::reserved);
  auto again = f.payer->pay(rq);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == "APPROVAL_REQUIRED");
  CHECK(again.error().details.value("approval_id", "") == id);
  CHECK(f.rows() == 1);
  REQUIRE(f.decide(id, true));
  auto paid = f.payer->pay(rq);
  INFO((paid ? std::string() : paid.error().code + ": " + paid.error().message));
  REQUIRE(paid);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.events.all() == std::vector<std::string>{"approve", "wallet pay"});
}

TEST_CASE("approval flow: a paywall purchase waiting for approval is continued, never bought twice") {
  World w;
  spend::Policy p = w.ledger->policy();
  p.global.approve_above_msat = 5'000;
  REQUIRE(w.ledger->tighten(p));
  approve::Options o;
  o.poll = 10ms;
  o.sweep = 20ms;
  approve::Hub hub(*w.ledger, o, *w.clock);
  auto channel = std::make_shared<RecordingChannel>();
  hub.add_channel(channel);
  hub.start();
  w.payer->set_approvals(&hub);
  purchase::AccessRequest rq;
  rq.url = "https://api.example.com/weather";
  rq.max_sats = 100;
  rq.owner = w.owner;
  rq.approval.wait = pay::ApprovalArgs::Wait::return_now;
  auto first = w.paywall->access(rq);
  REQUIRE_FALSE(first);
  REQUIRE(first.error().code == "APPROVAL_REQUIRED");
  const std::string id = first.error().details.value("approval_id", "");
  REQUIRE_FALSE(id.empty());
  auto req = channel->wait_request();
  CHECK(req.approval.public_id == id);
  CHECK(req.approval.domain == "api.example.com");
  INFO("purpose: " << req.approval.purpose);
  CHECK(req.approval.purpose.find("https://api.example.com") != std::string::npos);
  CHECK(req.approval.purpose.find("/weather") != std::string::npos);
  // Again while pending: the same purchase and approval, no second reservation (though the API sent a new invoice).
  auto second = w.paywall->access(rq);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == "APPROVAL_REQUIRED");
  CHECK(second.error().details.value("approval_id", "") == id);
  CHECK(spend_test::raw_sums(w.ledger->path()).rows == 1);
  CHECK(w.wallet.pays() == 0);
  spend::ApprovalDecision d;
  d.public_id = id;
  d.approve = true;
  d.channel = "cli";
  REQUIRE(hub.decide(d));
  auto third = w.paywall->access(rq);
  INFO((third ? std::string() : third.error().code + ": " + third.error().message));
  REQUIRE(third);
  CHECK(third->paid);
  CHECK(third->response.status == 200);
  CHECK(third->payment_hash == req.approval.payment_hash);
  CHECK(w.wallet.pays() == 1);
  // Then the credential serves; nothing more is paid.
  auto fourth = w.paywall->access(rq);
  REQUIRE(fourth);
  CHECK_FALSE(fourth->paid);
  CHECK(fourth->used_credential);
  CHECK(w.wallet.pays() == 1);
  CHECK(spend_test::raw_sums(w.ledger->path()).rows == 1);
  w.payer->set_approvals(nullptr);
}

TEST_CASE("approval flow: two paywall calls wait for one approval → one payment, both served, whichever wakes first") {
  // The call that asked and the call that joined wake together; either may reach the wallet first. The other one
  // follows that purchase to its credential instead of answering PAYMENT_IN_PROGRESS. Run a few times: the winner
  // varies with thread scheduling.
  for (int round = 0; round < 4; ++round) {
    World w;
    spend::Policy p = w.ledger->policy();
    p.global.approve_above_msat = 5'000;
    REQUIRE(w.ledger->tighten(p));
    approve::Options o;
    o.poll = 10ms;
    o.sweep = 20ms;
    approve::Hub hub(*w.ledger, o, *w.clock);
    auto channel = std::make_shared<RecordingChannel>();
    hub.add_channel(channel);
    hub.start();
    w.payer->set_approvals(&hub);
    w.wallet.gated = true;  // the winner's wallet request stays open while the other call wakes
    purchase::AccessRequest rq;
    rq.url = "https://api.example.com/weather";
    rq.max_sats = 100;
    rq.owner = w.owner;
    auto a = std::async(std::launch::async, [&] { return w.paywall->access(rq); });
    auto req = channel->wait_request();
    auto b = std::async(std::launch::async, [&] { return w.paywall->access(rq); });
    std::this_thread::sleep_for(150ms);  // b joined the waiting purchase
    CHECK(channel->request_count() == 1);
    CHECK(spend_test::raw_sums(w.ledger->path()).rows == 1);
    spend::ApprovalDecision d;
    d.public_id = req.approval.public_id;
    d.approve = true;
    d.channel = "cli";
    REQUIRE(hub.decide(d));
    std::this_thread::sleep_for(100ms);
    w.wallet.open_gate();
    auto ra = a.get();
    auto rb = b.get();
    INFO("round " << round << " a: " << (ra ? std::string("ok") : ra.error().code + " " + ra.error().message));
    INFO("b: " << (rb ? std::string("ok") : rb.error().code + " " + rb.error().message));
    REQUIRE(ra);
    REQUIRE(rb);
    CHECK(ra->response.status == 200);
    CHECK(rb->response.status == 200);
    CHECK(int(ra->paid) + int(rb->paid) == 1);
    CHECK(w.wallet.pays() == 1);
    CHECK(spend_test::raw_sums(w.ledger->path()).rows == 1);
    w.payer->set_approvals(nullptr);
  }
}

TEST_CASE("approval flow: keysend with approval_wait return_now — the retry continues the same approval, pays once") {
  Flow f;
  const std::string g = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";  // the generator
  pay::KeysendRequest rq;
  rq.destination = g;
  rq.amount_sats = 10;
  rq.max_sats = 100;
  rq.client = "agent";
  rq.tool = "pay_keysend";
  rq.approval.wait = pay::ApprovalArgs::Wait::return_now;
  auto first = f.payer->keysend(rq);
  REQUIRE_FALSE(first);
  REQUIRE(first.error().code == "APPROVAL_REQUIRED");
  const std::string id = first.error().details.value("approval_id", "");
  const std::string hash = first.error().details.value("payment_hash", "");
  REQUIRE_FALSE(id.empty());
  // The same call again: the same approval and payment, no second reservation.
  auto again = f.payer->keysend(rq);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == "APPROVAL_REQUIRED");
  CHECK(again.error().details.value("approval_id", "") == id);
  CHECK(f.rows() == 1);
  // Naming it works as well.
  auto named = rq;
  named.approval.approval_id = id;
  auto by_id = f.payer->keysend(named);
  REQUIRE_FALSE(by_id);
  CHECK(by_id.error().code == "APPROVAL_REQUIRED");
  CHECK(f.rows() == 1);
  REQUIRE(f.decide(id, true));
  auto paid = f.payer->keysend(named);
  INFO((paid ? std::string() : paid.error().code + ": " + paid.error().message));
  REQUIRE(paid);
  CHECK(paid->payment_hash == hash);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.events.all() == std::vector<std::string>{"approve", "wallet keysend"});
  CHECK(f.rows() == 1);
  CHECK(f.payment(hash).state == spend::State::settled);
  // After it was paid, the same arguments are a new keysend (a new payment that needs its own approval).
  auto next = f.payer->keysend(rq);
  REQUIRE_FALSE(next);
  CHECK(next.error().code == "APPROVAL_REQUIRED");
  CHECK(next.error().details.value("approval_id", "") != id);
  // Another caller does not continue this caller's keysend approval.
  auto other = rq;
  other.client = "someone-else";
  auto o = f.payer->keysend(other);
  REQUIRE_FALSE(o);
  CHECK(o.error().code == "APPROVAL_REQUIRED");
  CHECK(o.error().details.value("approval_id", "") != next.error().details.value("approval_id", ""));
  CHECK(f.wallet_calls() == 1);
}

TEST_CASE("approval flow: decided by another process (the CLI, straight in the ledger) — the waiting call sees it") {
  Flow f;
  auto inv = f.mint();
  auto fut = f.pay_async(f.request(inv));
  auto req = f.channel->wait_request();
  spend::ApprovalDecision d;
  d.public_id = req.approval.public_id;
  d.approve = true;
  d.channel = "cli";
  f.events.add("approve");
  REQUIRE(f.ledger->decide_approval(d));  // not through this process's Hub: found by the waiting call's poll
  auto out = get(fut);
  REQUIRE(out);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.events.all() == std::vector<std::string>{"approve", "wallet pay"});
  // The channels still hear the decision and the outcome, once each.
  CHECK(f.channel->wait_outcome(req.approval.public_id, "approved"));
  CHECK(f.channel->wait_outcome(req.approval.public_id, "paid"));
  f.hub->tell_outcome(*f.ledger->get_approval(req.approval.public_id), "paid");
  std::this_thread::sleep_for(50ms);
  CHECK(f.channel->outcomes_of(req.approval.public_id) == std::vector<std::string>{"approved", "paid"});
}

TEST_CASE("approval flow: a call cancelled while waiting leaves the approval open, calling again continues it") {
  Flow f;
  auto inv = f.mint();
  std::atomic<bool> cancel{false};
  auto rq = f.request(inv);
  rq.cancelled = [&] { return cancel.load(); };
  auto fut = f.pay_async(rq);
  auto req = f.channel->wait_request();
  cancel = true;
  auto out = get(fut);
  REQUIRE_FALSE(out);
  CHECK(out.error().code == "CANCELLED");
  CHECK(out.error().message.find("nothing was paid") != std::string::npos);
  CHECK(f.payment(inv.payment_hash).state == spend::State::reserved);  // the budget stays held
  CHECK(f.ledger->get_approval(req.approval.public_id)->state == spend::ApprovalState::pending);
  CHECK(f.wallet_calls() == 0);
  // Called again (not cancelled): waits on the same approval; approved → paid once.
  auto again = f.pay_async(f.request(inv));
  std::this_thread::sleep_for(50ms);
  CHECK(f.channel->request_count() == 1);  // not announced twice
  REQUIRE(f.decide(req.approval.public_id, true));
  auto paid = get(again);
  REQUIRE(paid);
  CHECK(f.wallet_calls() == 1);
  CHECK(f.rows() == 1);
}
