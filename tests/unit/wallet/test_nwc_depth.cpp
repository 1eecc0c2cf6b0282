// NWC replies and notifications nested deeper than kMaxWalletJsonDepth: refused as malformed (issue 11), both by
// the pure decoders and end to end — an NwcWallet talking to a scripted in-process relay (a minimal RFC 6455
// server on 127.0.0.1) that delivers a signed, NIP-04-encrypted wallet reply nesting 100,000 arrays. Before the
// bound, copying such a reply's tree recursed once per level on the relay thread and overflowed its stack.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "crypto/crypto.h"
#include "nostr/nostr.h"
#include "wallet/nwc_wallet.h"

using namespace sw;
using namespace sw::wallet;
using namespace std::chrono_literals;

namespace {

// Well-formed JSON: `levels` arrays inside one another.
std::string nested(size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); }

}  // namespace

TEST_CASE("decode_nwc_reply refuses a reply nested deeper than 64 levels as INVALID_WALLET_RESPONSE") {
  // {"result_type":…,"result":{"preimage":…,"x": <arrays>}} opens 2 levels before the arrays.
  auto reply = [](size_t levels) {
    return R"({"result_type":"pay_invoice","result":{"preimage":"00","x":)" + nested(levels) + "}}";
  };
  auto at_limit = decode_nwc_reply("pay_invoice", reply(kMaxWalletJsonDepth - 2));
  REQUIRE(at_limit.ok());
  CHECK((*at_limit)["preimage"] == "00");

  for (size_t levels : {kMaxWalletJsonDepth - 1, size_t(100000)}) {
    INFO(levels);
    auto r = decode_nwc_reply("pay_invoice", reply(levels));
    REQUIRE_FALSE(r.ok());
    // The same outcome as any unreadable reply: the payment's fate is unknown, not "failed".
    CHECK(r.error().code == "INVALID_WALLET_RESPONSE");
    CHECK(r.error().message.find("deeper than 64 levels") != std::string::npos);
    CHECK_FALSE(is_definite_payment_failure(r.error()));
  }
  auto garbage = decode_nwc_reply("pay_invoice", "{\"result\":");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().code == "INVALID_WALLET_RESPONSE");

  // A deep error object is refused the same way: never mapped to a definite failure such as PAYMENT_FAILED.
  auto deep_error = decode_nwc_reply("pay_invoice", R"({"error":{"code":"PAYMENT_FAILED","x":)" + nested(500) + "}}");
  REQUIRE_FALSE(deep_error.ok());
  CHECK(deep_error.error().code == "INVALID_WALLET_RESPONSE");
  CHECK_FALSE(is_definite_payment_failure(deep_error.error()));
}

TEST_CASE("decode_nwc_reply keeps its other outcomes") {
  auto refused = decode_nwc_reply("pay_invoice", R"({"error":{"code":"PAYMENT_FAILED","message":"no route"}})");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "PAYMENT_FAILED");
  CHECK(refused.error().message.find("no route") != std::string::npos);

  auto other = decode_nwc_reply("get_balance", R"({"result_type":"pay_invoice","result":{}})");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == "INVALID_WALLET_RESPONSE");

  auto no_result = decode_nwc_reply("get_balance", R"({"result_type":"get_balance","error":null})");
  REQUIRE_FALSE(no_result.ok());
  CHECK(no_result.error().code == "INVALID_WALLET_RESPONSE");

  // Brackets inside strings are not nesting.
  auto ok = decode_nwc_reply("get_balance", R"({"result":{"balance":5,"note":")" + std::string(500, '[') + "\"}}");
  REQUIRE(ok.ok());
  CHECK((*ok)["balance"] == 5);
}

TEST_CASE("decode_nwc_notification refuses a notification nested deeper than 64 levels") {
  auto note = [](size_t levels) {
    return R"({"notification_type":"payment_received","notification":{"payment_hash":"ab","x":)" + nested(levels) +
           "}}";
  };
  auto at_limit = decode_nwc_notification(note(kMaxWalletJsonDepth - 2));
  REQUIRE(at_limit);
  CHECK(at_limit->type == "payment_received");
  CHECK(at_limit->transaction["payment_hash"] == "ab");
  CHECK_FALSE(decode_nwc_notification(note(kMaxWalletJsonDepth - 1)));
  CHECK_FALSE(decode_nwc_notification(note(100000)));
  CHECK_FALSE(decode_nwc_notification(R"({"notification_type":"payment_received","notification":[]})"));
  CHECK_FALSE(decode_nwc_notification("not json"));
}

// ---------------------------------------------------------------------------------------------------------------
namespace {

// A scripted Nostr relay on 127.0.0.1 speaking just enough RFC 6455 for the pool: one client at a time, text
// frames (fragmented ones reassembled), ping → pong, close. It answers a REQ for the info kind with `info`, every
// REQ with EOSE, every EVENT with OK true, and a request (kind 23194) with whatever `on_request` returns, sent on
// the subscription that asked for replies (kind 23195). push() sends an event on the subscription for a kind.
class FakeRelay {
 public:
  std::function<std::optional<nostr::Event>(const nostr::Event&)> on_request;
  nostr::Event info;

  FakeRelay() {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd_, 4) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~FakeRelay() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(lfd_);
  }
  void start() { thread_ = std::thread([this] { run(); }); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

  // Waits until a subscription for `kind` is open.
  bool wait_for_sub(int kind, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return subs_.count(kind) > 0; });
  }
  bool push(int kind, const nostr::Event& ev) {
    std::string sub;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = subs_.find(kind);
      if (it == subs_.end()) return false;
      sub = it->second;
    }
    return send_text(json_dump(json::array({"EVENT", sub, nostr::event_to_json(ev)})));
  }

 private:
  int lfd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;  // subs_, cfd_ and writes
  std::condition_variable cv_;
  std::map<int, std::string> subs_;  // kind → subscription id
  int cfd_ = -1;

  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, 50);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
    return false;
  }
  bool read_exact(int fd, uint8_t* out, size_t n) {
    while (n > 0) {
      if (!wait_readable(fd)) return false;
      ssize_t got = ::recv(fd, out, n, 0);
      if (got <= 0) return false;
      out += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  bool send_frame(uint8_t opcode, std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    if (payload.size() < 126) {
      f.push_back(static_cast<char>(payload.size()));
    } else if (payload.size() <= 0xffff) {
      f.push_back(static_cast<char>(126));
      f.push_back(static_cast<char>(payload.size() >> 8));
      f.push_back(static_cast<char>(payload.size() & 0xff));
    } else {
      f.push_back(static_cast<char>(127));
      for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((uint64_t(payload.size()) >> (8 * i)) & 0xff));
    }
    f.append(payload);
    std::lock_guard<std::mutex> g(mu_);
    if (cfd_ < 0) return false;
    size_t off = 0;
    while (off < f.size()) {
      ssize_t n = ::send(cfd_, f.data() + off, f.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool send_text(std::string_view text) { return send_frame(0x1, text); }

  bool handshake(int fd) {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (head.size() > 16384 || !read_exact(fd, reinterpret_cast<uint8_t*>(&c), 1)) return false;
      head.push_back(c);
    }
    std::string lower = ascii_lower(head);
    auto at = lower.find("\r\nsec-websocket-key:");
    if (at == std::string::npos) return false;
    at += std::string_view("\r\nsec-websocket-key:").size();
    auto end = head.find("\r\n", at);
    std::string key(trim(std::string_view(head).substr(at, end - at)));
    std::string accept_src = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const uint8_t*>(accept_src.data()), accept_src.size(), digest);
    std::string answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: " + base64_encode(digest, sizeof digest) + "\r\n\r\n";
    return ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(answer.size());
  }

  // One client message (fragments joined); nullopt when the connection ended.
  std::optional<std::string> read_message(int fd) {
    std::string msg;
    for (;;) {
      uint8_t h[2];
      if (!read_exact(fd, h, 2)) return std::nullopt;
      const bool fin = (h[0] & 0x80) != 0;
      const uint8_t opcode = h[0] & 0x0f;
      uint64_t len = h[1] & 0x7f;
      if (len == 126 || len == 127) {
        uint8_t ext[8];
        size_t n = len == 126 ? 2 : 8;
        if (!read_exact(fd, ext, n)) return std::nullopt;
        len = 0;
        for (size_t i = 0; i < n; ++i) len = (len << 8) | ext[i];
      }
      uint8_t mask[4] = {0, 0, 0, 0};
      if ((h[1] & 0x80) && !read_exact(fd, mask, 4)) return std::nullopt;
      if (len > (8u << 20)) return std::nullopt;
      std::string payload(len, '\0');
      if (len && !read_exact(fd, reinterpret_cast<uint8_t*>(payload.data()), len)) return std::nullopt;
      for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
      if (opcode == 0x8) {
        send_frame(0x8, "");
        return std::nullopt;
      }
      if (opcode == 0x9) {
        send_frame(0xA, payload);
        continue;
      }
      if (opcode == 0xA) continue;
      msg += payload;
      if (fin) return msg;
    }
  }

  void on_message(const std::string& text) {
    json m = json::parse(text, nullptr, false);
    if (!m.is_array() || m.empty() || !m[0].is_string()) return;
    if (m[0] == "REQ" && m.size() >= 3 && m[1].is_string()) {
      std::string sub = m[1].get<std::string>();
      for (size_t i = 2; i < m.size(); ++i) {
        if (!m[i].contains("kinds")) continue;
        for (const auto& k : m[i]["kinds"]) {
          if (k == 13194) send_text(json_dump(json::array({"EVENT", sub, nostr::event_to_json(info)})));
          std::lock_guard<std::mutex> g(mu_);
          subs_[k.get<int>()] = sub;
        }
      }
      cv_.notify_all();
      send_text(json_dump(json::array({"EOSE", sub})));
    } else if (m[0] == "EVENT" && m.size() >= 2) {
      auto ev = nostr::event_from_json(m[1]);
      if (!ev) return;
      send_text(json_dump(json::array({"OK", ev->id, true, ""})));
      if (ev->kind == 23194 && on_request) {
        if (auto reply = on_request(*ev)) push(23195, *reply);
      }
    }
  }

  void run() {
    while (!stop_) {
      if (!wait_readable(lfd_)) return;
      int fd = ::accept(lfd_, nullptr, nullptr);
      if (fd < 0) continue;
      if (handshake(fd)) {
        {
          std::lock_guard<std::mutex> g(mu_);
          cfd_ = fd;
        }
        while (auto text = read_message(fd)) on_message(*text);
      }
      {
        std::lock_guard<std::mutex> g(mu_);
        cfd_ = -1;
        subs_.clear();
      }
      ::close(fd);
    }
  }
};

const char* kWalletSecret = "4f1a8c0de2b7a6a1c9e3f0b2d4c6a8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1";
const char* kClientSecret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";

// Signed by the wallet. Runs on the fake relay's thread too, so it does not use Catch2 (not thread-safe): an event
// that could not be signed keeps an empty signature and the wallet ignores it (the test then fails on the main
// thread, waiting for an answer).
nostr::Event wallet_event(const crypto::SecretKey& wallet, int kind, std::vector<nostr::Tag> tags, std::string content) {
  nostr::Event ev;
  ev.kind = kind;
  ev.created_at = static_cast<int64_t>(std::time(nullptr));
  ev.tags = std::move(tags);
  ev.content = std::move(content);
  (void)nostr::sign_event(ev, wallet);
  return ev;
}

}  // namespace

TEST_CASE("an NwcWallet survives a wallet reply and a notification nested 100,000 levels deep") {
  auto wallet_key = crypto::SecretKey::from_hex(kWalletSecret);
  auto client_key = crypto::SecretKey::from_hex(kClientSecret);
  REQUIRE(wallet_key);
  REQUIRE(client_key);
  const std::string client_pub = client_key->public_key_hex();
  auto encrypt_for_client = [&](const std::string& plain) {  // "" on failure (no Catch2 here: relay thread)
    auto c = crypto::nip04::encrypt(plain, *wallet_key, client_key->public_key());
    return c ? *c : std::string();
  };

  std::mutex script_mu;
  std::deque<std::string> replies;  // plaintexts, in request order
  FakeRelay relay;                  // after what its thread uses: destroyed (joined) first
  // No encryption tag: the wallet speaks NIP-04 (whose payloads have no 64 KiB cap, unlike NIP-44's).
  relay.info = wallet_event(*wallet_key, 13194, {}, "pay_invoice get_balance notifications");
  relay.on_request = [&](const nostr::Event& req) -> std::optional<nostr::Event> {
    std::string plain;
    {
      std::lock_guard<std::mutex> g(script_mu);
      if (replies.empty()) return std::nullopt;
      plain = replies.front();
      replies.pop_front();
    }
    return wallet_event(*wallet_key, 23195, {{"p", client_pub}, {"e", req.id}}, encrypt_for_client(plain));
  };
  relay.start();

  const std::string deep = nested(100000);  // 200 KB of well-formed JSON; the relay message stays under 512 KiB
  {
    std::lock_guard<std::mutex> g(script_mu);
    replies.push_back(R"({"result_type":"pay_invoice","result":{"preimage":"00","x":)" + deep + "}}");
    replies.push_back(R"({"result_type":"get_balance","result":{"balance":21000}})");
  }

  NwcOptions o;
  o.pay_timeout = 10s;
  o.read_timeout = 10s;
  o.publish_timeout = 5s;
  o.info_timeout = 5s;
  std::string relay_param = relay.url();
  auto w = NwcWallet::connect("nostr+walletconnect://" + wallet_key->public_key_hex() + "?relay=" + relay_param +
                                  "&secret=" + kClientSecret,
                              o);
  REQUIRE(w);

  // A deep reply to pay_invoice: refused like any malformed reply — an unknown outcome, not a failed payment.
  auto paid = (*w)->pay_invoice("lnbc1fakeinvoice", std::nullopt);
  REQUIRE_FALSE(paid.ok());
  CHECK(paid.error().code == "INVALID_WALLET_RESPONSE");
  CHECK(paid.error().message.find("deeper than 64 levels") != std::string::npos);
  CHECK_FALSE(is_definite_payment_failure(paid.error()));

  // The relay thread lived on: the next request is answered.
  auto balance = (*w)->get_balance_msat();
  REQUIRE(balance.ok());
  CHECK(*balance == 21000);

  // Notifications: a deep one is dropped, the next (well-formed) one is delivered.
  std::mutex got_mu;
  std::vector<Notification> got;
  (*w)->set_notification_handler([&](const Notification& n) {
    std::lock_guard<std::mutex> g(got_mu);
    got.push_back(n);
  });
  REQUIRE(relay.wait_for_sub(23196, 5s));
  const std::vector<nostr::Tag> tags{{"p", client_pub}};
  REQUIRE(relay.push(23196, wallet_event(*wallet_key, 23196, tags,
                                         encrypt_for_client(R"({"notification_type":"payment_received",)"
                                                            R"("notification":{"payment_hash":"aa","x":)" +
                                                            deep + "}}"))));
  REQUIRE(relay.push(23196, wallet_event(*wallet_key, 23196, tags,
                                         encrypt_for_client(R"({"notification_type":"payment_received",)"
                                                            R"("notification":{"payment_hash":"bb"}})"))));
  auto end = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    {
      std::lock_guard<std::mutex> g(got_mu);
      if (!got.empty() || std::chrono::steady_clock::now() > end) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard<std::mutex> g(got_mu);
  REQUIRE(got.size() == 1);  // the deep one came first on the same connection and was dropped
  CHECK(got[0].transaction["payment_hash"] == "bb");
  CHECK((*w)->notifications_received() == 1);
}
