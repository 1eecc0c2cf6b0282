// `satwarden connect` (setup.h): ask the owner's wallet for a connection by approval and save it.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "config/config.h"
#include "crypto/crypto.h"
#include "relay/relay.h"
#include "setup/internal.h"
#include "setup/setup.h"
#include "wallet/nwc_wallet.h"

namespace sw::setup {

namespace {

// Alby Hub's and Alby Go's default relay: a wallet that does not say otherwise listens there.
constexpr const char* kDefaultRelay = "wss://relay.getalby.com/v1";
constexpr int kDefaultTimeoutS = 300;

const char* kUsage =
    "usage: satwarden connect [--name NAME] [--relay URL]... [--max-sats N [--budget-renewal "
    "daily|weekly|monthly|yearly|never]]\n"
    "                         [--timeout SECONDS] [--no-qr] [--force] [--require-state] [options]\n"
    "Shows a nostr+walletauth:// link and QR code to approve in your wallet (Alby Hub, Alby Go, ...), waits for the\n"
    "wallet's answer and saves the connection (0600) in the data directory; the server uses it when NWC_URL is not set.\n"
    "  --name NAME            how the connection is named in the wallet (default satwarden)\n"
    "  --relay URL            relay to meet the wallet on (repeatable; default wss://relay.getalby.com/v1)\n"
    "  --max-sats N           ask the wallet to cap this connection at N sats per renewal period\n"
    "  --budget-renewal P     the period of that cap (default monthly)\n"
    "  --timeout SECONDS      how long to wait for the approval (default 300)\n"
    "  --no-qr                print the link only\n"
    "  --force                replace a connection saved earlier\n"
    "  --require-state        accept only a wallet that echoes the request's state (NWC-08)\n";

}  // namespace

int connect_command(int argc, char** argv) {
  AuthRequest req;
  req.methods = default_request_methods();
  req.notification_types = default_notification_types();
  std::optional<uint64_t> max_sats;
  int timeout_s = kDefaultTimeoutS;
  bool no_qr = false, force = false, require_state = false;
  std::vector<char*> rest{argv[0]};
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (a.rfind(std::string(flag) + "=", 0) == 0) return a.substr(std::string(flag).size() + 1);
      if (a == flag && i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    auto starts = [&](const char* flag) { return a == flag || a.rfind(std::string(flag) + "=", 0) == 0; };
    if (starts("--name")) {
      auto v = value("--name");
      if (!v) return usage_error(kUsage, "--name needs a value");
      req.name = *v;
    } else if (starts("--relay")) {
      auto v = value("--relay");
      if (!v) return usage_error(kUsage, "--relay needs a URL");
      req.relays.push_back(*v);
    } else if (starts("--max-sats")) {
      auto v = value("--max-sats");
      auto n = v ? parse_count(*v) : std::nullopt;
      if (!n || *n == 0 || *n > 2'100'000'000'000'000ULL) return usage_error(kUsage, "--max-sats needs a whole number of sats > 0");
      max_sats = *n;
    } else if (starts("--budget-renewal")) {
      auto v = value("--budget-renewal");
      if (!v || !valid_budget_renewal(*v))
        return usage_error(kUsage, "--budget-renewal must be daily, weekly, monthly, yearly or never");
      req.budget_renewal = *v;
    } else if (starts("--timeout")) {
      auto v = value("--timeout");
      auto n = v ? parse_count(*v) : std::nullopt;
      if (!n || *n == 0 || *n > 86400) return usage_error(kUsage, "--timeout needs a number of seconds (1..86400)");
      timeout_s = static_cast<int>(*n);
    } else if (a == "--no-qr") {
      no_qr = true;
    } else if (a == "--force") {
      force = true;
    } else if (a == "--require-state") {
      require_state = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!req.budget_renewal.empty() && !max_sats) return usage_error(kUsage, "--budget-renewal needs --max-sats");
  if (max_sats) req.max_amount_msat = *max_sats * 1000;
  if (req.relays.empty()) req.relays.push_back(kDefaultRelay);

  auto loaded = config::load(static_cast<int>(rest.size()), rest.data());
  if (!loaded) return usage_error(kUsage, loaded.error().message);
  const config::Config& cfg = loaded->config;
  quiet_logs(cfg);
  if (auto st = config::ensure_data_dir(cfg.data_dir); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 2;
  }
  const std::string path = connection_path(cfg.data_dir);
  {
    auto existing = read_secret_file(path);
    if (existing && existing->has_value()) crypto::wipe(**existing);
    if (!force && (!existing || existing->has_value())) {
      std::fprintf(stderr,
                   "satwarden: a wallet connection is already saved in %s: run `satwarden doctor` to check it, or "
                   "`satwarden connect --force` to replace it\n",
                   path.c_str());
      return 2;
    }
  }

  const crypto::SecretKey key = crypto::SecretKey::generate();
  const std::string app_pubkey = key.public_key_hex();
  req.state = hex_encode(crypto::random_bytes(16));
  auto uri = build_walletauth_uri(app_pubkey, req);
  if (!uri) return usage_error(kUsage, uri.error().message);

  std::printf("Approve this connection in your wallet (Alby Hub: Connections > Add connection > paste the link; "
              "Alby Go: scan the code):\n\n%s\n\n", uri->c_str());
  if (!no_qr) {
    if (auto qr = qr_text(*uri)) std::printf("%s\n", qr->c_str());
    else std::printf("(%s: open or paste the link instead)\n\n", qr.error().message.c_str());
  }
  std::printf("satwarden asks for: %s%s\n", join_words(req.methods).c_str(),
              req.max_amount_msat ? (" — wallet-side budget " + std::to_string(*max_sats) + " sats " +
                                     (req.budget_renewal.empty() ? std::string("monthly") : req.budget_renewal))
                                        .c_str()
                                  : "");
  std::printf("Waiting up to %d s for the wallet's answer on %s ...\n", timeout_s, join_words(req.relays).c_str());
  std::fflush(stdout);

  // The approval: the wallet's info event (kind 13194) p-tagged to our app key, from whichever key the wallet uses.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Approval> approval;
  std::string last_ignored;
  relay::PoolOptions po;
  po.ca_file = cfg.nwc_ca_file;
  po.tls = any_tls(req.relays);
  {
    relay::Pool pool(po);
    pool.add_relays(req.relays);
    json filter{{"kinds", {13194}}, {"#p", {app_pubkey}}};
    pool.subscribe("walletauth", json::array({filter}), [&](const std::string&, const json& raw) {
      auto a = check_approval(raw, app_pubkey, req.state, require_state);
      std::lock_guard<std::mutex> g(mu);
      if (!a) {
        last_ignored = a.error().message;
        return;
      }
      if (!approval) approval = std::move(*a);
      cv.notify_all();
    }, nullptr);
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_until(lk, std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s), [&] { return approval.has_value(); });
    if (!approval) {
      lk.unlock();
      std::string relays_down;
      for (const auto& [url, state] : pool.states())
        if (state != "connected") relays_down += (relays_down.empty() ? "" : ", ") + url + " (" + state + ")";
      std::fprintf(stderr,
                   "satwarden: no approval from a wallet within %d s (declined, not opened yet, or the wallet uses "
                   "other relays)%s%s. Nothing was saved; run `satwarden connect` again.\n",
                   timeout_s, relays_down.empty() ? "" : "; not connected: ",
                   relays_down.c_str());
      if (!last_ignored.empty()) std::fprintf(stderr, "satwarden: an answer was ignored: %s\n", last_ignored.c_str());
      return 1;
    }
  }

  const std::vector<std::string> relays = approval->relays.empty() ? req.relays : approval->relays;
  std::printf("Approved by wallet %s%s.\n", approval->wallet_pubkey.c_str(),
              approval->state_echoed ? " (state matched)" : "");
  std::string secret_hex = hex_encode(key.data(), 32);
  std::string nwc = build_nwc_uri(approval->wallet_pubkey, relays, secret_hex, "");

  // get_info through the new connection: proves the wallet answers this key, shows what it granted, and gives the
  // Lightning address when the wallet has one (NWC-08: never in the info event).
  std::string lud16, granted;
  {
    wallet::NwcOptions wo;
    wo.ca_file = cfg.nwc_ca_file;
    wo.read_timeout = std::chrono::seconds(std::min(10, cfg.nwc_read_timeout_seconds));
    auto w = wallet::NwcWallet::connect(nwc, wo);
    if (w) {
      auto info = (*w)->get_info();
      if (info) {
        if (info->raw.contains("lud16") && info->raw["lud16"].is_string()) lud16 = info->raw["lud16"].get<std::string>();
        granted = join_words(info->methods);
        std::printf("The wallet answers: %s%s, methods %s\n", info->alias.empty() ? "(no alias)" : info->alias.c_str(),
                    info->network.empty() ? "" : (" on " + info->network).c_str(), granted.c_str());
        if (std::find(info->methods.begin(), info->methods.end(), "pay_invoice") == info->methods.end())
          std::printf("warning: the wallet did not grant pay_invoice: satwarden cannot pay through this connection\n");
      } else {
        std::printf("warning: the wallet approved but did not answer get_info yet (%s): run `satwarden doctor` "
                    "later\n", info.error().code.c_str());
      }
    }
  }
  if (!lud16.empty()) {
    crypto::wipe(nwc);
    nwc = build_nwc_uri(approval->wallet_pubkey, relays, secret_hex, lud16);
  }
  crypto::wipe(secret_hex);
  auto st = write_secret_file(path, nwc + "\n", force);
  crypto::wipe(nwc);
  if (!st) {
    std::fprintf(stderr, "satwarden: the connection was approved but not saved: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("Saved the connection to %s (mode 0600): wallet %s over %s%s.\n", path.c_str(),
              approval->wallet_pubkey.substr(0, 12).c_str(), join_words(relays).c_str(),
              lud16.empty() ? "" : (", " + lud16).c_str());
  if (!cfg.nwc_url.empty())
    std::printf("Note: NWC_URL (or nwc_url) is set and wins over the saved connection; unset it to use this one.\n");
  else
    std::printf("satwarden uses it from its next start. Check everything with `satwarden doctor`.\n");
  return 0;
}

}  // namespace sw::setup
