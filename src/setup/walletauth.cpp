// The walletauth request, the wallet's approval and the saved connection (see setup.h).
#include <algorithm>

#include "config/config.h"
#include "crypto/crypto.h"
#include "nostr/nostr.h"
#include "relay/relay.h"
#include "setup/setup.h"
#include "wallet/wallet.h"

namespace sw::setup {

namespace {

constexpr int kInfoKind = 13194;

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

bool lower_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}


Error ignored(const std::string& why) { return make_error("WALLETAUTH_IGNORED", why); }

}  // namespace

std::vector<std::string> default_request_methods() {
  return {"pay_invoice", "pay_keysend", "get_balance", "get_budget", "get_info",
          "make_invoice", "lookup_invoice", "list_transactions"};
}

std::vector<std::string> default_notification_types() { return {"payment_received", "payment_sent"}; }

bool valid_budget_renewal(std::string_view s) {
  return s == "daily" || s == "weekly" || s == "monthly" || s == "yearly" || s == "never";
}


Result<std::string> build_walletauth_uri(const std::string& app_pubkey_hex, const AuthRequest& r) {
  if (!crypto::parse_xonly_pubkey_hex(app_pubkey_hex))
    return make_error("INVALID_ARGUMENT", "the app public key must be 64 lowercase hex characters on the curve");
  if (r.relays.empty()) return make_error("INVALID_ARGUMENT", "at least one relay is needed");
  for (const auto& relay : r.relays)
    if (auto u = relay::wire::parse_relay_url(relay); !u)
      return make_error("INVALID_RELAY_URL", "relay " + relay + " is not a ws:// or wss:// URL: " + u.error().message);
  if (r.methods.empty()) return make_error("INVALID_ARGUMENT", "at least one request method is needed");
  if (!r.budget_renewal.empty() && !valid_budget_renewal(r.budget_renewal))
    return make_error("INVALID_ARGUMENT", "budget renewal must be daily, weekly, monthly, yearly or never");
  if (!r.budget_renewal.empty() && !r.max_amount_msat)
    return make_error("INVALID_ARGUMENT", "a budget renewal needs a budget (max amount)");
  if (r.max_amount_msat && *r.max_amount_msat == 0)
    return make_error("INVALID_ARGUMENT", "the wallet-side budget must be more than 0");
  if (r.state.size() < 32 || !lower_hex(r.state))
    return make_error("INVALID_ARGUMENT", "state must be lowercase hex of at least 128 bits");
  std::string uri = "nostr+walletauth://" + app_pubkey_hex + "?";
  for (const auto& relay : r.relays) uri += "relay=" + percent_encode(relay) + "&";
  if (!r.name.empty()) uri += "name=" + percent_encode(r.name) + "&";
  uri += "request_methods=" + percent_encode(join(r.methods, ' '));
  if (!r.notification_types.empty()) uri += "&notification_types=" + percent_encode(join(r.notification_types, ' '));
  if (r.max_amount_msat) uri += "&max_amount=" + std::to_string(*r.max_amount_msat);
  if (r.max_amount_msat) uri += "&budget_renewal=" + (r.budget_renewal.empty() ? std::string("monthly") : r.budget_renewal);
  uri += "&state=" + r.state;
  return uri;
}

Result<Approval> check_approval(const json& raw, const std::string& app_pubkey_hex, const std::string& state,
                                bool require_state) {
  auto ev = nostr::event_from_json(raw);
  if (!ev) return ignored("not a well-formed event");
  if (ev->kind != kInfoKind) return ignored("not a wallet info event (kind " + std::to_string(ev->kind) + ")");
  if (auto v = nostr::verify_event(*ev); !v) return ignored("its id or signature does not verify (" + v.error().code + ")");
  bool addressed = false;
  std::optional<std::string> their_state;
  Approval a;
  for (const auto& t : ev->tags) {
    if (t.size() >= 2 && t[0] == "p" && t[1] == app_pubkey_hex) addressed = true;
    if (t.size() >= 2 && t[0] == "state") their_state = t[1];
    if (t.size() >= 2 && t[0] == "relay" && relay::wire::parse_relay_url(t[1]) &&
        std::find(a.relays.begin(), a.relays.end(), t[1]) == a.relays.end())
      a.relays.push_back(t[1]);
    if (t.size() >= 2 && t[0] == "encryption") a.encryption = t[1];
  }
  if (!addressed) return ignored("it is not addressed to this request's key");
  if (their_state && *their_state != state) return ignored("its state does not match this request's");
  if (!their_state && require_state) return ignored("it carries no state (--require-state)");
  a.wallet_pubkey = ev->pubkey;
  a.methods = wallet::split_capabilities(ev->content);
  a.state_echoed = their_state.has_value();
  a.created_at = ev->created_at;
  return a;
}

std::string build_nwc_uri(const std::string& wallet_pubkey_hex, const std::vector<std::string>& relays,
                          const std::string& secret_hex, const std::string& lud16) {
  std::string uri = "nostr+walletconnect://" + wallet_pubkey_hex + "?";
  for (const auto& relay : relays) uri += "relay=" + percent_encode(relay) + "&";
  uri += "secret=" + secret_hex;
  if (!lud16.empty()) uri += "&lud16=" + percent_encode(lud16);
  return uri;
}

std::string connection_path(const std::string& data_dir) { return data_dir + "/" + kConnectionFile; }

Result<std::optional<std::string>> load_connection(const std::string& data_dir) {
  auto text = read_secret_file(connection_path(data_dir));
  if (!text || !text->has_value()) return text;
  std::string uri(trim(**text));
  crypto::wipe(**text);
  if (uri.empty()) return std::optional<std::string>{};
  return std::optional<std::string>(std::move(uri));
}

Result<std::string> use_saved_connection(config::Config& cfg) {
  if (!cfg.nwc_url.empty()) return std::string("NWC_URL");
  auto saved = load_connection(cfg.data_dir);
  if (!saved) return saved.error();
  if (!saved->has_value()) return std::string("none");
  cfg.nwc_url = std::move(**saved);
  return "saved connection " + connection_path(cfg.data_dir);
}

}  // namespace sw::setup
