// sw::setup's pure parts and files: the walletauth URI (read back with the generic form parser), which info events
// count as the wallet's approval, the saved connection URI (read back with the NIP-47 parser), the secret file's
// mode, atomic publication and refusals, start-up's choice of connection, and the QR code's structure.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "config/config.h"
#include "crypto/crypto.h"
#include "nostr/nostr.h"
#include "setup/setup.h"

using namespace sw;

namespace {

std::string query_of(const std::string& uri) { return uri.substr(uri.find('?') + 1); }

std::vector<std::string> all_params(const std::string& query, const std::string& name) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string pair = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (pair.rfind(name + "=", 0) == 0) out.push_back(*form_urldecode(pair.substr(name.size() + 1), true));
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return out;
}

setup::AuthRequest request() {
  setup::AuthRequest r;
  r.relays = {"wss://relay.example.com/v1", "ws://127.0.0.1:7000"};
  r.name = "my agent & co";
  r.methods = setup::default_request_methods();
  r.notification_types = setup::default_notification_types();
  r.max_amount_msat = 5'000'000;
  r.budget_renewal = "weekly";
  r.state = "00112233445566778899aabbccddeeff";
  return r;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sw-setup-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { if (std::system(("rm -rf '" + path + "'").c_str()) != 0) {} }
  size_t entries() const {
    size_t n = 0;
    DIR* d = ::opendir(path.c_str());
    while (auto* e = ::readdir(d)) n += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
    ::closedir(d);
    return n;
  }
};

mode_t mode_of(const std::string& p) {
  struct stat sb {};
  REQUIRE(::stat(p.c_str(), &sb) == 0);
  return sb.st_mode & 07777;
}

std::string read_all(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A signed kind-13194 event by `wallet` with the given tags.
json info_event(const crypto::SecretKey& wallet, std::vector<nostr::Tag> tags, std::string content = "pay_invoice get_info") {
  nostr::Event ev;
  ev.kind = 13194;
  ev.created_at = 1'700'000'000;
  ev.tags = std::move(tags);
  ev.content = std::move(content);
  REQUIRE(nostr::sign_event(ev, wallet));
  return nostr::event_to_json(ev);
}

}  // namespace

TEST_CASE("walletauth URI: the app key, every relay, name, methods, notifications, budget in msat and state") {
  const auto app = crypto::SecretKey::generate();
  auto uri = setup::build_walletauth_uri(app.public_key_hex(), request());
  REQUIRE(uri);
  CHECK(uri->rfind("nostr+walletauth://" + app.public_key_hex() + "?", 0) == 0);
  CHECK(uri->find('+', 17) == std::string::npos);  // spaces are %20, never '+' (wallets differ on '+')
  const std::string q = query_of(*uri);
  CHECK(all_params(q, "relay") == std::vector<std::string>{"wss://relay.example.com/v1", "ws://127.0.0.1:7000"});
  CHECK(form_param(q, "name") == "my agent & co");
  CHECK(form_param(q, "request_methods") ==
        "pay_invoice pay_keysend get_balance get_budget get_info make_invoice lookup_invoice list_transactions");
  CHECK(form_param(q, "notification_types") == "payment_received payment_sent");
  CHECK(form_param(q, "max_amount") == "5000000");
  CHECK(form_param(q, "budget_renewal") == "weekly");
  CHECK(form_param(q, "state") == "00112233445566778899aabbccddeeff");
  CHECK(q.find("secret") == std::string::npos);

  auto r = request();
  r.budget_renewal.clear();  // a budget without a period: monthly, as Alby's default
  auto monthly = setup::build_walletauth_uri(app.public_key_hex(), r);
  REQUIRE(monthly);
  CHECK(form_param(query_of(*monthly), "budget_renewal") == "monthly");
  r.max_amount_msat.reset();
  auto unbudgeted = setup::build_walletauth_uri(app.public_key_hex(), r);
  REQUIRE(unbudgeted);
  CHECK(unbudgeted->find("max_amount") == std::string::npos);
  CHECK(unbudgeted->find("budget_renewal") == std::string::npos);
}

TEST_CASE("walletauth URI: refuses what a wallet could not use") {
  const auto app = crypto::SecretKey::generate();
  auto bad = [&](auto mutate, const char* code) {
    auto r = request();
    mutate(r);
    auto u = setup::build_walletauth_uri(app.public_key_hex(), r);
    REQUIRE_FALSE(u);
    CHECK(u.error().code == code);
  };
  bad([](setup::AuthRequest& r) { r.relays.clear(); }, "INVALID_ARGUMENT");
  bad([](setup::AuthRequest& r) { r.relays.push_back("https://relay.example.com"); }, "INVALID_RELAY_URL");
  bad([](setup::AuthRequest& r) { r.budget_renewal = "hourly"; }, "INVALID_ARGUMENT");
  bad([](setup::AuthRequest& r) { r.max_amount_msat.reset(); }, "INVALID_ARGUMENT");  // renewal without budget
  bad([](setup::AuthRequest& r) { r.max_amount_msat = 0; }, "INVALID_ARGUMENT");
  bad([](setup::AuthRequest& r) { r.state = "0011"; }, "INVALID_ARGUMENT");        // < 128 bits
  bad([](setup::AuthRequest& r) { r.state = std::string(32, 'G'); }, "INVALID_ARGUMENT");
  bad([](setup::AuthRequest& r) { r.methods.clear(); }, "INVALID_ARGUMENT");
  auto u = setup::build_walletauth_uri(std::string(64, 'f'), request());  // not a point / not a key
  REQUIRE_FALSE(u);
  CHECK(percent_encode("a b/c:d~e_f.g-h%") == "a%20b%2Fc%3Ad~e_f.g-h%25");
}

TEST_CASE("approval: a signed 13194 p-tagged to the app key, with our state or none, everything else ignored") {
  const auto app = crypto::SecretKey::generate();
  const auto wallet = crypto::SecretKey::generate();
  const std::string me = app.public_key_hex(), state = "00112233445566778899aabbccddeeff";

  auto a = setup::check_approval(info_event(wallet, {{"p", me}, {"state", state}, {"encryption", "nip44_v2 nip04"},
                                                     {"relay", "wss://wallet.example/r"}, {"relay", "nonsense"}},
                                            "pay_invoice get_balance"),
                                 me, state, false);
  REQUIRE(a);
  CHECK(a->wallet_pubkey == wallet.public_key_hex());
  CHECK(a->state_echoed);
  CHECK(a->relays == std::vector<std::string>{"wss://wallet.example/r"});
  CHECK(a->methods == std::vector<std::string>{"pay_invoice", "get_balance"});
  CHECK(a->encryption == std::optional<std::string>("nip44_v2 nip04"));

  // Alby Hub today: no state tag. Accepted unless the state is required.
  auto alby = setup::check_approval(info_event(wallet, {{"p", me, "wss://relay.example.com/v1"}}), me, state, false);
  REQUIRE(alby);
  CHECK_FALSE(alby->state_echoed);
  CHECK(alby->relays.empty());
  auto strict = setup::check_approval(info_event(wallet, {{"p", me}}), me, state, true);
  REQUIRE_FALSE(strict);
  CHECK(strict.error().code == "WALLETAUTH_IGNORED");

  const crypto::SecretKey other = crypto::SecretKey::generate();
  CHECK_FALSE(setup::check_approval(info_event(wallet, {{"p", me}, {"state", "ff" + state.substr(2)}}), me, state, false));
  CHECK_FALSE(setup::check_approval(info_event(wallet, {{"p", other.public_key_hex()}, {"state", state}}), me, state, false));
  CHECK_FALSE(setup::check_approval(info_event(wallet, {{"state", state}}), me, state, false));
  json forged = info_event(wallet, {{"p", me}, {"state", state}});
  forged["content"] = "pay_invoice get_info make_invoice";  // id no longer matches
  CHECK_FALSE(setup::check_approval(forged, me, state, false));
  json resigned = info_event(wallet, {{"p", me}});
  resigned["pubkey"] = other.public_key_hex();  // someone else's key on the wallet's signature
  CHECK_FALSE(setup::check_approval(resigned, me, state, false));
  nostr::Event note;
  note.kind = 1;
  note.created_at = 1'700'000'000;
  note.tags = {{"p", me}, {"state", state}};
  REQUIRE(nostr::sign_event(note, wallet));
  CHECK_FALSE(setup::check_approval(nostr::event_to_json(note), me, state, false));
  CHECK_FALSE(setup::check_approval(json{{"kind", 13194}}, me, state, false));
}

TEST_CASE("the saved connection URI parses with the NIP-47 parser, secret and lud16 included") {
  const auto app = crypto::SecretKey::generate();
  const auto wallet = crypto::SecretKey::generate();
  const std::string secret = hex_encode(app.data(), 32);
  auto uri = setup::build_nwc_uri(wallet.public_key_hex(), {"wss://a.example/v1?x=1&y=2", "ws://127.0.0.1:7000"}, secret,
                                  "me@example.com");
  auto parsed = nostr::parse_nwc_uri(uri);
  REQUIRE(parsed);
  CHECK(parsed->wallet_pubkey_hex == wallet.public_key_hex());
  CHECK(parsed->client_pubkey_hex == app.public_key_hex());
  CHECK(parsed->relays == std::vector<std::string>{"wss://a.example/v1?x=1&y=2", "ws://127.0.0.1:7000"});
  CHECK(parsed->lud16 == std::optional<std::string>("me@example.com"));
  CHECK(setup::build_nwc_uri(wallet.public_key_hex(), {"ws://127.0.0.1:7000"}, secret, "").find("lud16") == std::string::npos);
}

TEST_CASE("secret files: 0600, published whole, never replaced unless asked, refused when others could read them") {
  TempDir dir;
  const std::string path = setup::connection_path(dir.path);
  auto none = setup::read_secret_file(path);
  REQUIRE(none);
  CHECK_FALSE(none->has_value());

  ::umask(0);  // the mode must not depend on the caller's umask
  REQUIRE(setup::write_secret_file(path, "first\n", false));
  CHECK(mode_of(path) == 0600);
  CHECK(read_all(path) == "first\n");
  auto again = setup::write_secret_file(path, "second\n", false);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == "CONNECTION_EXISTS");
  CHECK(again.error().message.find("second") == std::string::npos);
  CHECK(read_all(path) == "first\n");
  REQUIRE(setup::write_secret_file(path, "second\n", true));
  CHECK(read_all(path) == "second\n");
  CHECK(mode_of(path) == 0600);
  CHECK(dir.entries() == 1);  // no temporary file left behind
  ::umask(022);

  auto got = setup::read_secret_file(path);
  REQUIRE(got);
  CHECK(**got == "second\n");
  auto small = setup::read_secret_file(path, 3);
  REQUIRE_FALSE(small);
  CHECK(small.error().code == "SECRET_FILE_UNUSABLE");

  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  auto open = setup::read_secret_file(path);
  REQUIRE_FALSE(open);
  CHECK(open.error().code == "SECRET_FILE_INSECURE");
  CHECK(open.error().message.find("second") == std::string::npos);
  REQUIRE(::chmod(path.c_str(), 0600) == 0);

  const std::string link = dir.path + "/link";
  REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
  auto via_link = setup::read_secret_file(link);
  REQUIRE_FALSE(via_link);
  CHECK(via_link.error().code == "SECRET_FILE_INSECURE");

  auto nodir = setup::write_secret_file(dir.path + "/missing/" + setup::kConnectionFile, "x", false);
  REQUIRE_FALSE(nodir);
  CHECK(nodir.error().code == "SECRET_FILE_UNUSABLE");
}

TEST_CASE("start-up: NWC_URL wins, else the saved connection, else none, an insecure file is an error") {
  TempDir dir;
  config::Config cfg;
  cfg.data_dir = dir.path;
  auto none = setup::use_saved_connection(cfg);
  REQUIRE(none);
  CHECK(*none == "none");
  CHECK(cfg.nwc_url.empty());

  const auto wallet = crypto::SecretKey::generate();
  const auto app = crypto::SecretKey::generate();
  const std::string saved = setup::build_nwc_uri(wallet.public_key_hex(), {"ws://127.0.0.1:7000"}, hex_encode(app.data(), 32), "");
  REQUIRE(setup::write_secret_file(setup::connection_path(dir.path), saved + "\n", false));
  auto from = setup::use_saved_connection(cfg);
  REQUIRE(from);
  CHECK(*from == "saved connection " + setup::connection_path(dir.path));
  CHECK(cfg.nwc_url == saved);

  config::Config env;
  env.data_dir = dir.path;
  env.nwc_url = "nostr+walletconnect://from-the-environment";
  auto wins = setup::use_saved_connection(env);
  REQUIRE(wins);
  CHECK(*wins == "NWC_URL");
  CHECK(env.nwc_url == "nostr+walletconnect://from-the-environment");

  REQUIRE(::chmod(setup::connection_path(dir.path).c_str(), 0644) == 0);
  config::Config insecure;
  insecure.data_dir = dir.path;
  auto refused = setup::use_saved_connection(insecure);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "SECRET_FILE_INSECURE");
  CHECK(insecure.nwc_url.empty());
  CHECK(refused.error().message.find(hex_encode(app.data(), 32)) == std::string::npos);
}

TEST_CASE("QR code: a square of modules with the three finder patterns, light quiet zone") {
  auto qr = setup::qr_text("nostr+walletauth://" + std::string(64, 'a') + "?relay=wss%3A%2F%2Frelay.example.com&state=00");
  REQUIRE(qr);
  // Back to modules: each line holds two module rows; a drawn half is a light module.
  std::vector<std::string> lines;
  for (size_t pos = 0, nl; (nl = qr->find('\n', pos)) != std::string::npos; pos = nl + 1) lines.push_back(qr->substr(pos, nl - pos));
  REQUIRE(lines.size() > 10);
  std::vector<std::vector<int>> light;  // [row][col], 1 = light
  for (const auto& line : lines) {
    std::vector<int> top, bottom;
    for (size_t i = 0; i < line.size();) {
      if (line[i] == ' ') {
        top.push_back(0), bottom.push_back(0), ++i;
        continue;
      }
      const std::string ch = line.substr(i, 3);
      REQUIRE((ch == "\u2588" || ch == "\u2580" || ch == "\u2584"));
      top.push_back(ch != "\u2584");
      bottom.push_back(ch != "\u2580");
      i += 3;
    }
    light.push_back(top);
    light.push_back(bottom);
  }
  const size_t size = light[0].size();
  for (const auto& row : light) REQUIRE(row.size() == size);
  const size_t width = size - 4;  // 2-module quiet zone each side
  REQUIRE((width - 21) % 4 == 0);  // a QR version's size: 17 + 4 * version
  for (size_t i = 0; i < size; ++i) {
    CHECK(light[0][i] == 1);
    CHECK(light[1][i] == 1);
    CHECK(light[i][0] == 1);
  }
  // Finder pattern at (x0, y0): dark 7x7 ring, light ring, dark 3x3 centre.
  auto finder = [&](size_t x0, size_t y0) {
    for (size_t y = 0; y < 7; ++y)
      for (size_t x = 0; x < 7; ++x) {
        const bool ring = x == 0 || y == 0 || x == 6 || y == 6;
        const bool centre = x >= 2 && x <= 4 && y >= 2 && y <= 4;
        INFO("finder at " << x0 << "," << y0 << " module " << x << "," << y);
        CHECK(light[y0 + y][x0 + x] == (ring || centre ? 0 : 1));
      }
  };
  finder(2, 2);
  finder(2 + width - 7, 2);
  finder(2, 2 + width - 7);
}
