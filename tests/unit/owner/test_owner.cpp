// The owner messenger's pure parts and start-up: the notification key file (creation mode, reuse, refusals), the
// inbox's rules (owner only, stale, duplicates by event and by message, impersonation, ids not poisoned by
// forgeries), option validation, and send() failing in bounded time when no relay answers.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "nostr/nostr.h"
#include "owner/internal.h"
#include "owner/owner.h"

using namespace sw;
using namespace sw::owner;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/sw-owner-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat sb {};
  REQUIRE(::lstat(p.c_str(), &sb) == 0);
  return sb.st_mode & 0777;
}

struct FixedClock : Clock {
  int64_t t;
  explicit FixedClock(int64_t v) : t(v) {}
  int64_t now_unix() const override { return t; }
};

constexpr int64_t kStart = 1767225600;

crypto::SecretKey key_of(const char* hex) { return *crypto::SecretKey::from_hex(hex); }

}  // namespace

TEST_CASE("notification key: created 0600, reused, never world-readable") {
  TempDir d;
  const std::string path = notification_key_path(d.path.string());
  CHECK(path == d.path.string() + "/notification.key");
  auto k1 = load_or_create_notification_key(path);
  REQUIRE(k1);
  CHECK(mode_of(path) == 0600);
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  CHECK(line == hex_encode(k1->data(), 32));
  auto k2 = load_or_create_notification_key(path);
  REQUIRE(k2);
  CHECK(k2->public_key() == k1->public_key());
  // Only the key file is left behind (no temporary file).
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d.path)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);

  SECTION("group- or world-accessible: refused, not repaired") {
    for (mode_t m : {0644, 0640, 0604, 0660, 0602}) {
      REQUIRE(::chmod(path.c_str(), m) == 0);
      auto r = load_or_create_notification_key(path);
      INFO(m);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == "OWNER_KEY_INSECURE");
      CHECK(r.error().message.find(hex_encode(k1->data(), 32)) == std::string::npos);
      CHECK(mode_of(path) == m);
    }
    REQUIRE(::chmod(path.c_str(), 0400) == 0);  // read-only for the owner is fine
    CHECK(load_or_create_notification_key(path));
  }
  SECTION("a symlink is refused") {
    const std::string link = (d.path / "link.key").string();
    REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
    auto r = load_or_create_notification_key(link);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "OWNER_KEY_INSECURE");
  }
  SECTION("garbage, an empty file, an invalid scalar, a directory: unusable") {
    for (std::string content : {std::string("not a key\n"), std::string(""), std::string(64, '0') + "\n",
                                std::string(64, 'f') + "\n", hex_encode(k1->data(), 32) + hex_encode(k1->data(), 32)}) {
      const std::string p = (d.path / "bad.key").string();
      ::unlink(p.c_str());
      int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
      REQUIRE(fd >= 0);
      REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
      ::close(fd);
      auto r = load_or_create_notification_key(p);
      INFO(content);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == "OWNER_KEY_UNUSABLE");
    }
    const std::string dir = (d.path / "adir").string();
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    CHECK(load_or_create_notification_key(dir).error().code == "OWNER_KEY_UNUSABLE");
  }
  SECTION("missing directory or empty path") {
    CHECK(load_or_create_notification_key((d.path / "no" / "such.key").string()).error().code == "OWNER_KEY_UNUSABLE");
    CHECK(load_or_create_notification_key("").error().code == "OWNER_KEY_UNUSABLE");
  }
}

TEST_CASE("channel names") {
  CHECK(parse_channel("nip17") == Channel::nip17);
  CHECK(parse_channel("NIP04") == Channel::nip04);
  CHECK_FALSE(parse_channel("nip44"));
  CHECK(std::string(channel_name(Channel::nip04)) == "nip04");
}

TEST_CASE("bounded id set forgets the oldest") {
  detail::BoundedIdSet s(3);
  CHECK(s.insert("a"));
  CHECK_FALSE(s.insert("a"));
  CHECK(s.insert("b"));
  CHECK(s.insert("c"));
  CHECK(s.insert("d"));
  CHECK(s.size() == 3);
  CHECK_FALSE(s.contains("a"));
  CHECK(s.contains("d"));
}

TEST_CASE("inbox: only new messages from the owner, each once") {
  const auto self = key_of("3b3a42d34cf0a1402d18d536c9d2ac2eb1c6019a9153be57084c8165d192e325");
  const auto owner = key_of("5c0c523f52a5b6fad39ed2403092df8cebc36318b39383bca6c00808626fab3a");
  const auto stranger = key_of("c15d739894c81a2fcfd3a2df85a0d2c0dbc47a280d092799f144d73d7ae78add");
  const int64_t not_before = kStart - 60;
  detail::Inbox inbox(self, owner.public_key_hex(), not_before);
  nostr::DmBuildOptions at;
  at.now = kStart;
  OwnerMessage m;
  std::string why;

  SECTION("NIP-17 from the owner: delivered once, whichever way it comes back") {
    auto w = nostr::wrap_private_dm(owner, self.public_key(), "approve 7F3K", at);
    REQUIRE(w);
    const json ev = nostr::event_to_json(w->wrap);
    REQUIRE(inbox.accept(ev, &m) == detail::Verdict::deliver);
    CHECK(m.text == "approve 7F3K");
    CHECK(m.sender_pubkey == owner.public_key_hex());
    CHECK(m.event_id == w->rumor.id);
    CHECK(m.created_at == kStart);
    CHECK(m.channel == Channel::nip17);
    CHECK(inbox.accept(ev, &m) == detail::Verdict::duplicate);  // same wrap again (another relay, a replay)
    // The same rumor re-wrapped (new seal, new wrap, new ids): still the same message.
    auto seal = nostr::seal_rumor(w->rumor, owner, self.public_key());
    auto again = nostr::gift_wrap(*seal, self.public_key());
    REQUIRE(again);
    CHECK(again->id != w->wrap.id);
    CHECK(inbox.accept(nostr::event_to_json(*again), &m) == detail::Verdict::duplicate);
    // A new message with the same text is a new message.
    at.now = kStart + 1;
    auto second = nostr::wrap_private_dm(owner, self.public_key(), "approve 7F3K", at);
    CHECK(inbox.accept(nostr::event_to_json(second->wrap), &m) == detail::Verdict::deliver);
  }
  SECTION("NIP-04 from the owner") {
    auto e = nostr::make_nip04_dm(owner, self.public_key(), "deny 7F3K", at);
    REQUIRE(e);
    REQUIRE(inbox.accept(nostr::event_to_json(*e), &m) == detail::Verdict::deliver);
    CHECK(m.text == "deny 7F3K");
    CHECK(m.channel == Channel::nip04);
    CHECK(m.event_id == e->id);
    CHECK(inbox.accept(nostr::event_to_json(*e), &m) == detail::Verdict::duplicate);
  }
  SECTION("from another key: ignored") {
    auto w = nostr::wrap_private_dm(stranger, self.public_key(), "approve 7F3K", at);
    CHECK(inbox.accept(nostr::event_to_json(w->wrap), &m) == detail::Verdict::not_owner);
    auto e = nostr::make_nip04_dm(stranger, self.public_key(), "approve 7F3K", at);
    CHECK(inbox.accept(nostr::event_to_json(*e), &m) == detail::Verdict::not_owner);
  }
  SECTION("stale: older than start minus skew, even inside a fresh-looking wrap") {
    at.now = not_before - 1;
    auto w = nostr::wrap_private_dm(owner, self.public_key(), "approve OLD1", at);
    CHECK(inbox.accept(nostr::event_to_json(w->wrap), &m) == detail::Verdict::stale);
    auto e = nostr::make_nip04_dm(owner, self.public_key(), "approve OLD1", at);
    CHECK(inbox.accept(nostr::event_to_json(*e), &m) == detail::Verdict::stale);
    at.now = not_before;  // the boundary itself is accepted
    auto edge = nostr::wrap_private_dm(owner, self.public_key(), "approve EDGE", at);
    CHECK(inbox.accept(nostr::event_to_json(edge->wrap), &m) == detail::Verdict::deliver);
  }
  SECTION("a stranger's seal claiming to be the owner's rumor is refused") {
    auto forged = nostr::make_rumor(owner.public_key_hex(), nostr::kKindPrivateDm, {{"p", self.public_key_hex()}},
                                    "approve 7F3K", kStart);
    auto seal = nostr::seal_rumor(forged, stranger, self.public_key());
    auto w = nostr::gift_wrap(*seal, self.public_key());
    CHECK(inbox.accept(nostr::event_to_json(*w), &m, &why) == detail::Verdict::invalid);
    CHECK(why == "DM_SENDER_MISMATCH");
  }
  SECTION("an event claiming a genuine wrap's id does not make the genuine one a duplicate") {
    auto w = nostr::wrap_private_dm(owner, self.public_key(), "approve 7F3K", at);
    json fake = nostr::event_to_json(w->wrap);
    fake["content"] = "garbage";
    CHECK(inbox.accept(fake, &m, &why) == detail::Verdict::invalid);
    CHECK(why == "DM_INVALID_EVENT");
    CHECK(inbox.accept(nostr::event_to_json(w->wrap), &m) == detail::Verdict::deliver);
  }
  SECTION("not for us, other kinds, malformed") {
    const auto other = key_of("7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a");
    auto w = nostr::wrap_private_dm(owner, other.public_key(), "approve 7F3K", at);
    CHECK(inbox.accept(nostr::event_to_json(w->wrap), &m, &why) == detail::Verdict::invalid);
    CHECK(why == "DM_DECRYPT_FAILED");
    nostr::Event note;
    note.kind = 1;
    note.created_at = kStart;
    note.content = "approve 7F3K";
    REQUIRE(nostr::sign_event(note, owner));
    CHECK(inbox.accept(nostr::event_to_json(note), &m) == detail::Verdict::invalid);
    CHECK(inbox.accept(json{{"kind", 1059}}, &m) == detail::Verdict::invalid);
    CHECK(inbox.accept(json::array(), &m) == detail::Verdict::invalid);
  }
}

TEST_CASE("messenger: start-up validation") {
  TempDir d;
  const auto owner = key_of("5c0c523f52a5b6fad39ed2403092df8cebc36318b39383bca6c00808626fab3a");
  auto base = [&] {
    MessengerOptions o;
    o.key_file = notification_key_path(d.path.string());
    o.owner = nostr::npub_encode(owner.public_key());
    o.relays = {"ws://127.0.0.1:1"};
    o.pool.tls = false;
    return o;
  };
  auto noop = [](const OwnerMessage&) {};
  CHECK(Messenger::start(base(), nullptr).error().code == "INVALID_ARGUMENT");
  auto o = base();
  o.relays.clear();
  CHECK(Messenger::start(o, noop).error().code == "INVALID_ARGUMENT");
  o = base();
  o.owner = "npub1nope";
  CHECK(Messenger::start(o, noop).error().code == "INVALID_PUBLIC_KEY");
  o = base();
  o.relays = {"http://127.0.0.1:1"};
  CHECK(Messenger::start(o, noop).error().code == "INVALID_RELAY_URL");
  o = base();
  o.key_file = (d.path / "missing-dir" / "k").string();
  CHECK(Messenger::start(o, noop).error().code == "OWNER_KEY_UNUSABLE");
  // The owner's key must not be our own.
  auto mine = load_or_create_notification_key(notification_key_path(d.path.string()));
  REQUIRE(mine);
  o = base();
  o.owner = mine->public_key_hex();
  CHECK(Messenger::start(o, noop).error().code == "INVALID_ARGUMENT");
}

TEST_CASE("messenger: identity, and send() fails in bounded time when no relay is reachable") {
  TempDir d;
  const auto owner = key_of("5c0c523f52a5b6fad39ed2403092df8cebc36318b39383bca6c00808626fab3a");
  // A port nothing listens on: bind, read the port, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);

  for (Channel mode : {Channel::nip17, Channel::nip04}) {
    MessengerOptions o;
    o.key_file = notification_key_path(d.path.string());
    o.owner = owner.public_key_hex();
    o.relays = {"ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port))};
    o.mode = mode;
    o.send_timeout = std::chrono::milliseconds(800);
    o.pool.tls = false;
    FixedClock clock(kStart);
    o.clock = &clock;
    auto m = Messenger::start(o, [](const OwnerMessage&) {});
    REQUIRE(m);
    auto& msg = **m;
    CHECK(msg.owner_pubkey() == owner.public_key_hex());
    CHECK(msg.mode() == mode);
    CHECK(msg.started_at() == kStart);
    auto key = load_or_create_notification_key(o.key_file);
    CHECK(msg.notification_pubkey() == key->public_key_hex());
    CHECK(*nostr::parse_public_key(msg.notification_npub()) == key->public_key());
    CHECK(msg.send("").error().code == "INVALID_ARGUMENT");
    auto t0 = std::chrono::steady_clock::now();
    auto st = msg.send("hello");
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(st);
    CHECK((st.error().code == "RELAY_UNREACHABLE" || st.error().code == "RELAY_TIMEOUT"));
    CHECK(took < std::chrono::seconds(3));
    CHECK(msg.stats().delivered == 0);
  }
}
