// sw::setup — getting the owner from nothing to a working wallet: `satwarden connect` (a wallet connection made by
// approving a request in the wallet, never by pasting its secret) and `satwarden doctor` (what works, what does
// not, and how to fix it).
// Connect: a fresh app key, a nostr+walletauth:// request (the form Alby Hub / Alby Go accept — relay, name,
//   request_methods, notification_types, max_amount in msat, budget_renewal — plus NWC-08's `state`), shown as a link
//   and a terminal QR code; the wallet's approval is its kind-13194 info event p-tagged to the app key (author = the
//   wallet service's key, unknown in advance; a `state` tag, when present, must match ours; `relay` tags replace the
//   request's relays). The connection is saved as a nostr+walletconnect:// URI in DATA_DIR/nwc-connection (0600,
//   written atomically, never overwritten without --force) and used at start-up when NWC_URL / nwc_url is not set.
// Doctor: one line per check (ok | warn | FAIL, what, how to fix), or JSON; every network step is bounded.
// Thread-safety: the pure functions are thread-safe; the commands are whole-process entry points (one at a time).
// Errors: Result/Status values; codes INVALID_ARGUMENT, INVALID_RELAY_URL, WALLETAUTH_IGNORED (an info event that is
//   not this request's approval), CONNECTION_EXISTS, SECRET_FILE_UNUSABLE, SECRET_FILE_INSECURE, QR_FAILED. No
//   message, log line or printed text ever contains the connection secret (the walletauth URI holds only the app's
//   public key).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"

namespace sw::config {
struct Config;
}

namespace sw::setup {

// ---- the request (nostr+walletauth://) ----
struct AuthRequest {
  std::vector<std::string> relays;              // ws:// or wss://, at least one
  std::string name = "satwarden";
  std::vector<std::string> methods;             // request_methods
  std::vector<std::string> notification_types;  // empty: not asked
  std::optional<uint64_t> max_amount_msat;      // wallet-side budget (with budget_renewal)
  std::string budget_renewal;                   // daily | weekly | monthly | yearly | never ("" = monthly with a budget)
  std::string state;                            // NWC-08 correlation value, lowercase hex (>= 128 bits)
};
// What satwarden asks for: every method its tools call (pay_invoice, pay_keysend, get_balance, get_budget,
// get_info, make_invoice, lookup_invoice, list_transactions) and the notifications it uses (payment_sent,
// payment_received).
std::vector<std::string> default_request_methods();
std::vector<std::string> default_notification_types();
bool valid_budget_renewal(std::string_view s);
// nostr+walletauth://<app pubkey>?relay=…&name=…&request_methods=…[&notification_types=…][&max_amount=…
// &budget_renewal=…]&state=… — values percent-encoded (spaces as %20). INVALID_ARGUMENT (no relay, bad pubkey, bad
// renewal, budget_renewal without max_amount, state not hex), INVALID_RELAY_URL (naming the relay).
Result<std::string> build_walletauth_uri(const std::string& app_pubkey_hex, const AuthRequest& r);
// (Query values are encoded with common's percent_encode: RFC 3986 unreserved kept, everything else %XX.)

// ---- the wallet's answer ----
struct Approval {
  std::string wallet_pubkey;            // the info event's author
  std::vector<std::string> relays;      // the event's `relay` tags (empty: keep the request's relays)
  std::vector<std::string> methods;     // its content (capabilities)
  std::optional<std::string> encryption;  // its `encryption` tag
  bool state_echoed = false;            // it carried our state (an Alby-style wallet carries none)
  int64_t created_at = 0;
};
// Whether `event` (as received from a relay) approves the request of `app_pubkey_hex`: a well-formed kind 13194
// with a valid id and signature, p-tagged to the app key; a `state` tag must equal `state`, and is required when
// `require_state`. WALLETAUTH_IGNORED saying why otherwise.
Result<Approval> check_approval(const json& event, const std::string& app_pubkey_hex, const std::string& state,
                                bool require_state);
// nostr+walletconnect://<wallet>?relay=…&secret=…[&lud16=…] (the result holds the secret: wipe it after use).
std::string build_nwc_uri(const std::string& wallet_pubkey_hex, const std::vector<std::string>& relays,
                          const std::string& secret_hex, const std::string& lud16);

// ---- the saved connection and secret files ----
inline constexpr const char* kConnectionFile = "nwc-connection";
std::string connection_path(const std::string& data_dir);
// `content` written to a new 0600 file beside `path` (O_EXCL, fsynced) and linked into place — or, with `replace`,
// renamed over it — then the directory is fsynced: a reader sees the old file or the whole new one.
// CONNECTION_EXISTS when `path` exists and !replace; SECRET_FILE_UNUSABLE otherwise (message: path and cause).
Status write_secret_file(const std::string& path, std::string_view content, bool replace);
// The file's content when it is a regular file (not followed through a symlink) owned by the effective user with no
// group/other permissions and at most `max_bytes`; nullopt when it does not exist. SECRET_FILE_INSECURE (symlink,
// another owner, mode beyond 0600) or SECRET_FILE_UNUSABLE.
Result<std::optional<std::string>> read_secret_file(const std::string& path, size_t max_bytes = 8192);
// The saved connection URI (trimmed), nullopt when none was saved.
Result<std::optional<std::string>> load_connection(const std::string& data_dir);
// Start-up: when cfg.nwc_url is empty, fills it from the saved connection. Returns where the wallet connection
// comes from: "NWC_URL" (environment, flag or config file nwc_url), "saved connection <path>", or "none".
// An unreadable or insecure saved file is an error (cfg unchanged).
Result<std::string> use_saved_connection(config::Config& cfg);

// ---- terminal QR code (libqrencode) ----
// The QR code of `data` as lines of Unicode half blocks (two modules per character cell, light modules drawn,
// a 2-module quiet zone). QR_FAILED when it does not fit a QR code.
Result<std::string> qr_text(std::string_view data);

// ---- the commands (argv[1] is "connect" / "doctor"; other options are read by config::load) ----
// connect: 0 connected and saved; 1 no approval in time or not saved; 2 usage or configuration error.
int connect_command(int argc, char** argv);
// doctor: 0 no FAIL; 1 at least one FAIL; 2 usage error.
int doctor_command(int argc, char** argv);

}  // namespace sw::setup
