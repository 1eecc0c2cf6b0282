// `satwarden doctor` (setup.h): what works, what does not, and how to fix it — one line per check.
// The --pay-test payment goes through the payment engine like any agent's payment: it is reserved against the
// budgets, recorded in the ledger (client "doctor", tool "doctor") and verified by its preimage, because real money
// moves (the routing fee, if the wallet charges one for paying itself).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "config/config.h"
#include "console/console.h"
#include "nostr/nostr.h"
#include "owner/owner.h"
#include "pay/pay.h"
#include "relay/relay.h"
#include "setup/internal.h"
#include "setup/setup.h"
#include "wallet/wallet.h"
#include "spend/spend.h"
#include "wallet/nwc_wallet.h"

namespace sw::setup {

namespace {

const char* kUsage =
    "usage: satwarden doctor [--pay-test] [--json] [--timeout SECONDS] [options]\n"
    "Checks the configuration, the data directory, the wallet connection, each relay, the wallet's info event,\n"
    "encryption and methods, get_info and get_balance, and the budget and approval settings. Exit code 0 when\n"
    "nothing FAILed, 1 otherwise.\n"
    "  --pay-test          also make a 1-sat invoice on the wallet and pay it through the same wallet (recorded in\n"
    "                      the ledger like any payment, client \"doctor\"; some wallets refuse to pay themselves)\n"
    "  --json              machine-readable results\n"
    "  --timeout SECONDS   bound of each network step (default 10)\n";

struct Check {
  std::string id, status, what, fix;  // status: ok | warn | fail
};

class Report {
 public:
  void ok(std::string id, std::string what) { add(std::move(id), "ok", std::move(what), ""); }
  void warn(std::string id, std::string what, std::string fix) { add(std::move(id), "warn", std::move(what), std::move(fix)); }
  void fail(std::string id, std::string what, std::string fix) { add(std::move(id), "fail", std::move(what), std::move(fix)); }
  size_t count(const char* status) const {
    size_t n = 0;
    for (const auto& c : checks_) n += c.status == status;
    return n;
  }
  int finish(bool as_json) const {
    if (as_json) {
      json arr = json::array();
      for (const auto& c : checks_) arr.push_back({{"check", c.id}, {"status", c.status}, {"what", c.what}, {"fix", c.fix}});
      json out{{"ok", count("fail") == 0},
               {"summary", {{"ok", count("ok")}, {"warn", count("warn")}, {"fail", count("fail")}}},
               {"checks", arr}};
      std::printf("%s\n", json_dump(out).c_str());
    } else {
      for (const auto& c : checks_) {
        const char* label = c.status == "fail" ? "FAIL" : c.status.c_str();
        std::printf("%-4s  %s%s%s\n", label, c.what.c_str(), c.fix.empty() ? "" : "  ", c.fix.c_str());
      }
      std::printf("%zu ok, %zu warning(s), %zu failure(s)\n", count("ok"), count("warn"), count("fail"));
    }
    std::fflush(stdout);
    return count("fail") == 0 ? 0 : 1;
  }

 private:
  void add(std::string id, std::string status, std::string what, std::string fix) {
    checks_.push_back({std::move(id), std::move(status), std::move(what), std::move(fix)});
  }
  std::vector<Check> checks_;
};

std::string amount_text(uint64_t msat) {
  return msat % 1000 == 0 ? std::to_string(msat / 1000) + " sats" : std::to_string(msat) + " msat";
}

std::string mode_text(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ---------------------------------------------------------------- local checks
void check_data_dir(Report& r, const config::Config& cfg) {
  struct stat sb {};
  if (::stat(cfg.data_dir.c_str(), &sb) != 0) {
    r.warn("data_dir", "data directory " + cfg.data_dir + " does not exist yet",
           "it is created (0700) at the first start or by `satwarden connect`");
    return;
  }
  if (!S_ISDIR(sb.st_mode)) {
    r.fail("data_dir", "data directory " + cfg.data_dir + " is not a directory", "set --data-dir / SATWARDEN_DATA_DIR to a directory");
    return;
  }
  if (sb.st_uid != ::geteuid())
    r.fail("data_dir", "data directory " + cfg.data_dir + " belongs to another user", "use a directory of your own");
  else if ((sb.st_mode & 022) != 0)
    r.fail("data_dir", "data directory " + cfg.data_dir + " is writable by group or others (" + mode_text(sb.st_mode) + ")",
           "chmod 700 " + cfg.data_dir);
  else if ((sb.st_mode & 077) != 0)
    r.warn("data_dir", "data directory " + cfg.data_dir + " is readable by group or others (" + mode_text(sb.st_mode) + ")",
           "chmod 700 " + cfg.data_dir + " (the ledger holds preimages and paywall credentials)");
  else if (::access(cfg.data_dir.c_str(), W_OK) != 0)
    r.fail("data_dir", "data directory " + cfg.data_dir + " is not writable", "fix its owner or mode (700)");
  else
    r.ok("data_dir", "data directory " + cfg.data_dir + " (" + mode_text(sb.st_mode) + ")");

  const std::vector<std::string> secrets{kConnectionFile, console::kTokenFile, owner::kNotificationKeyFile};
  for (const auto& name : secrets) {
    const std::string path = cfg.data_dir + "/" + name;
    struct stat fs {};
    if (::lstat(path.c_str(), &fs) != 0) continue;
    if (S_ISLNK(fs.st_mode))
      r.fail("secret_file", "secret file " + path + " is a symbolic link", "replace it with the file itself");
    else if (!S_ISREG(fs.st_mode))
      r.fail("secret_file", "secret file " + path + " is not a regular file", "remove it");
    else if (fs.st_uid != ::geteuid())
      r.fail("secret_file", "secret file " + path + " belongs to another user", "remove it (a new one is made when needed)");
    else if ((fs.st_mode & 077) != 0)
      r.fail("secret_file", "secret file " + path + " is accessible to group or others (" + mode_text(fs.st_mode) + ")",
             "chmod 600 " + path + " (and consider it copied: make a new one)");
    else
      r.ok("secret_file", "secret file " + path + " (0600)");
  }
  if (!cfg.config_file.empty()) {
    static const char* secret_keys[] = {"nwc_url", "tokens", "approval_webhook_secret", "metrics_token", "ledger_url"};
    bool has_secret = false;
    for (const char* k : secret_keys) has_secret = has_secret || cfg.raw_file.contains(k);
    struct stat cs {};
    if (has_secret && ::stat(cfg.config_file.c_str(), &cs) == 0 && (cs.st_mode & 077) != 0)
      r.warn("config_file", "config file " + cfg.config_file + " holds secrets and is readable by group or others (" +
                                mode_text(cs.st_mode) + ")",
             "chmod 600 " + cfg.config_file);
  }
}

void check_policy(Report& r, const config::Config& cfg) {
  spend::Policy p = cfg.policy;
  std::string which = "configured";
  // The effective policy includes run-time tightenings kept in the ledger: read them when the ledger exists
  // (a PostgreSQL ledger is not contacted: the configured policy is shown).
  const std::string ledger_path = cfg.data_dir + "/ledger.sqlite";
  struct stat sb {};
  if (cfg.ledger_url.empty() && ::stat(ledger_path.c_str(), &sb) == 0) {
    auto l = spend::Ledger::open(ledger_path, cfg.policy);
    if (l) {
      p = (*l)->policy();
      which = "effective";
    } else {
      r.warn("policy", "the spend ledger " + ledger_path + " does not open: " + l.error().message,
             "see the server's start-up error; the configured policy is shown below");
    }
  }
  const spend::Caps& c = p.global;
  std::vector<std::string> caps;
  if (c.per_call_msat) caps.push_back("per call " + amount_text(*c.per_call_msat));
  for (auto w : {spend::Window::hour, spend::Window::day, spend::Window::week, spend::Window::month})
    if (c.window(w)) caps.push_back(std::string(spend::window_name(w)) + " " + amount_text(*c.window(w)));
  if (c.lifetime_msat) caps.push_back("lifetime " + amount_text(*c.lifetime_msat));
  const bool windowed = c.hour_msat || c.day_msat || c.week_msat || c.month_msat || c.lifetime_msat;
  std::string fee = "fee allowance max(" + std::to_string(p.fee.base_msat) + " msat, " + std::to_string(p.fee.ppm) + " ppm)";
  std::string domains = p.domains.empty() ? "" : ", " + std::to_string(p.domains.size()) + " domain rule(s)";
  if (caps.empty())
    r.warn("budget", "no spending caps at all (" + which + " policy): an agent can spend the whole wallet",
           "set SATWARDEN_MAX_SATS and SATWARDEN_DAY_SATS (or max_sats / day_sats in the config file)");
  else if (!windowed)
    r.warn("budget", "caps (" + which + "): " + join_words(caps, ", ") + " only; nothing bounds the total over time",
           "set SATWARDEN_DAY_SATS (or hour/week/month/lifetime)");
  else
    r.ok("budget", "caps (" + which + "): " + join_words(caps, ", ") + "; " + fee + domains);

  std::string approve = !c.approve_above_msat       ? "no approval threshold"
                        : *c.approve_above_msat == 0 ? "every payment waits for the owner's approval"
                                                     : "payments above " + amount_text(*c.approve_above_msat) + " wait for the owner's approval";
  if (p.approve_new_domains) approve += "; first payment to a new domain waits for approval";
  std::vector<std::string> channels{"`satwarden approvals`", "the console"};
  if (cfg.approval_elicitation != "off") channels.push_back("the MCP client (elicitation " + cfg.approval_elicitation + ")");
  if (!cfg.owner_npub.empty()) channels.push_back("Nostr messages to the owner (" + cfg.owner_dm + ")");
  if (!cfg.approval_webhook_url.empty()) channels.push_back("the webhook");
  const bool approvals_used = c.approve_above_msat.has_value() || p.approve_new_domains;
  if (approvals_used && cfg.owner_npub.empty() && cfg.approval_webhook_url.empty() && cfg.approval_elicitation == "off")
    r.warn("approvals", approve + "; nobody is told when one waits (" + std::to_string(cfg.approval_timeout_seconds) + " s)",
           "set SATWARDEN_OWNER_NPUB or approval_webhook_url, or allow elicitation");
  else
    r.ok("approvals", approve + (approvals_used ? "; approved through " + join_words(channels, ", ") : std::string()));
}

// ---------------------------------------------------------------- relays and the info event
struct InfoEvent {
  std::string relay;
  int64_t created_at = -1;
  std::vector<std::string> methods;
  std::optional<std::string> encryption;
};


// Connects every relay and asks each for the wallet's info event; reports one line per relay. Returns the newest
// verified info event (nullopt: none).
std::optional<InfoEvent> check_relays(Report& r, const nostr::NwcUri& uri, const config::Config& cfg,
                                      std::chrono::seconds timeout) {
  relay::PoolOptions po;
  po.ca_file = cfg.nwc_ca_file;
  po.tls = any_tls(uri.relays);
  po.connect_timeout = std::min<std::chrono::seconds>(timeout, std::chrono::seconds(10));
  std::mutex mu;
  std::condition_variable cv;
  std::optional<InfoEvent> info;
  std::set<std::string> eose;
  relay::Pool pool(po);
  pool.add_relays(uri.relays);
  json filter{{"kinds", {13194}}, {"authors", {uri.wallet_pubkey_hex}}, {"limit", 1}};
  pool.subscribe(
      "doctor-info", json::array({filter}),
      [&](const std::string& url, const json& raw) {
        auto ev = nostr::event_from_json(raw);
        if (!ev || ev->kind != 13194 || ev->pubkey != uri.wallet_pubkey_hex || !nostr::verify_event(*ev)) return;
        std::lock_guard<std::mutex> g(mu);
        if (info && info->created_at >= ev->created_at) return;
        info = InfoEvent{url, ev->created_at, wallet::split_capabilities(ev->content), nostr::tag_value(*ev, "encryption")};
      },
      [&](const std::string& url) {
        std::lock_guard<std::mutex> g(mu);
        eose.insert(url);
        cv.notify_all();
      });
  // Done when every relay answered (EOSE) or failed twice in a row, or at the deadline.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<relay::RelayStatus> status;
  for (;;) {
    status = pool.status();
    bool settled = true;
    {
      std::lock_guard<std::mutex> g(mu);
      for (const auto& s : status)
        if (!eose.count(s.url) && !(s.state != relay::RelayState::connected && s.failures >= 2)) settled = false;
    }
    if (settled || std::chrono::steady_clock::now() >= deadline) break;
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, std::chrono::milliseconds(50));
  }
  std::lock_guard<std::mutex> g(mu);
  for (const auto& s : status) {
    if (s.connects > 0 && eose.count(s.url))
      r.ok("relay", "relay " + s.url + " connects and answers");
    else if (s.connects > 0)
      r.warn("relay", "relay " + s.url + " connects but did not answer the query within " + std::to_string(timeout.count()) + " s",
             "the relay may be overloaded or filtering; ask the wallet for a connection on another relay");
    else
      r.fail("relay", "relay " + s.url + " does not connect" + (s.last_error.empty() ? "" : ": " + s.last_error),
             "check the URL and your network, or reconnect the wallet on a working relay (`satwarden connect --force --relay …`)");
  }
  return info;
}

// ---------------------------------------------------------------- the wallet
void check_wallet(Report& r, const std::string& nwc_url, const nostr::NwcUri& uri, const config::Config& cfg,
                  std::chrono::seconds timeout, bool pay_test) {
  auto info_event = check_relays(r, uri, cfg, timeout);
  std::vector<std::string> methods;
  if (!info_event) {
    r.fail("info_event", "no info event (kind 13194) from wallet " + uri.wallet_pubkey_hex.substr(0, 12) + "… on any relay",
           "is the wallet service running and on these relays? Reconnect with `satwarden connect --force`");
  } else {
    methods = info_event->methods;
    r.ok("info_event", "wallet info event found on " + info_event->relay + " (" + std::to_string(methods.size()) + " capabilities)");
    const auto enc = info_event->encryption ? wallet::split_capabilities(*info_event->encryption) : std::vector<std::string>{};
    if (contains(enc, "nip44_v2"))
      r.ok("encryption", "encryption nip44_v2" + std::string(contains(enc, "nip04") ? " (nip04 also offered)" : ""));
    else
      r.warn("encryption",
             info_event->encryption ? "the wallet offers only " + *info_event->encryption + ", not nip44_v2"
                                    : "the wallet's info event has no encryption tag: it speaks only NIP-04 (deprecated)",
             "update the wallet service to one with NIP-44 v2; satwarden uses NIP-04 with it meanwhile");
    if (!contains(methods, "pay_invoice")) {
      r.fail("methods", "the wallet does not offer pay_invoice on this connection (offers: " + join_words(methods) + ")",
             "allow payments for this connection in the wallet, or reconnect with `satwarden connect --force`");
    } else {
      std::vector<std::string> missing;
      for (const char* m : {"get_balance", "make_invoice", "lookup_invoice", "list_transactions", "get_info"})
        if (!contains(methods, m)) missing.push_back(m);
      if (missing.empty())
        r.ok("methods", "methods: " + join_words(methods));
      else
        r.warn("methods", "the wallet does not offer " + join_words(missing, ", ") +
                              (contains(missing, "lookup_invoice") ? " (an unclear payment cannot be checked with the wallet)" : ""),
               "grant them in the wallet's settings for this connection, or reconnect with `satwarden connect --force`");
    }
  }

  wallet::NwcOptions wo;
  wo.ca_file = cfg.nwc_ca_file;
  wo.read_timeout = timeout;
  wo.info_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(5));
  wo.pay_timeout = std::chrono::seconds(cfg.nwc_pay_timeout_seconds);
  auto w = wallet::NwcWallet::connect(nwc_url, wo);
  if (!w) {
    r.fail("get_info", "the wallet connection does not start: " + w.error().message, "reconnect with `satwarden connect --force`");
    return;
  }
  auto info = (*w)->get_info();
  if (!info) {
    r.fail("get_info", "get_info: " + info.error().code + ": " + info.error().message,
           "is the wallet service online? Check the relay lines above");
  } else {
    r.ok("get_info", "get_info: " + (info->alias.empty() ? std::string("(no alias)") : info->alias) +
                         (info->network.empty() ? "" : ", " + info->network) +
                         (info->block_height ? ", block " + std::to_string(info->block_height) : "") + ", encryption " +
                         info->encryption);
    if (methods.empty()) methods = info->methods;
  }
  auto bal = (*w)->get_balance_msat();
  if (bal)
    r.ok("get_balance", "get_balance: " + amount_text(*bal));
  else if (bal.error().code == "WALLET_NOT_IMPLEMENTED" || bal.error().code == "WALLET_RESTRICTED")
    r.warn("get_balance", "get_balance: " + bal.error().code + ": " + bal.error().message,
           "allow reading the balance for this connection in the wallet (satwarden's get_balance tool needs it)");
  else
    r.fail("get_balance", "get_balance: " + bal.error().code + ": " + bal.error().message,
           "is the wallet service online? Check the relay lines above");
  if (contains(methods, "get_budget")) {
    auto b = (*w)->get_budget();
    if (b && b->is_object() && b->contains("total_budget") && (*b)["total_budget"].is_number_unsigned()) {
      const uint64_t total = (*b)["total_budget"].get<uint64_t>();
      const uint64_t used = b->contains("used_budget") && (*b)["used_budget"].is_number_unsigned() ? (*b)["used_budget"].get<uint64_t>() : 0;
      const std::string period = b->contains("renewal_period") && (*b)["renewal_period"].is_string() ? (*b)["renewal_period"].get<std::string>() : "";
      r.ok("wallet_budget", "the wallet caps this connection: " + amount_text(used) + " used of " + amount_text(total) +
                                (period.empty() ? "" : " (" + period + ")"));
    } else if (b) {
      r.ok("wallet_budget", "the wallet sets no budget of its own on this connection");
    }
  }

  if (!pay_test) return;
  if (!info || !contains(methods, "pay_invoice") || !contains(methods, "make_invoice")) {
    r.fail("pay_test", "pay test not run: the wallet " + std::string(!info ? "does not answer" : "lacks pay_invoice or make_invoice"),
           "fix the lines above first");
    return;
  }
  wallet::MakeInvoiceParams mp;
  mp.amount_msat = 1000;
  mp.description = "satwarden doctor pay test";
  mp.expiry_seconds = 600;
  auto made = (*w)->make_invoice(mp);
  if (!made || !made->contains("invoice") || !(*made)["invoice"].is_string()) {
    r.fail("pay_test", "make_invoice: " + (made ? std::string("the reply has no invoice") : made.error().code + ": " + made.error().message),
           "the wallet could not make an invoice; pay test not run");
    return;
  }
  if (auto st = config::ensure_data_dir(cfg.data_dir); !st) {
    r.fail("pay_test", st.error().message, "fix the data directory");
    return;
  }
  auto ledger = spend::Ledger::open(cfg.ledger_url.empty() ? cfg.data_dir + "/ledger.sqlite" : cfg.ledger_url, cfg.policy);
  if (!ledger) {
    r.fail("pay_test", "the spend ledger does not open: " + ledger.error().message, "see the server's start-up error");
    return;
  }
  pay::PayerOptions po;
  po.pay_timeout_s = cfg.nwc_pay_timeout_seconds;
  po.wallet_honours_expiration = cfg.wallet_honours_expiration;
  pay::Payer payer(w->get(), ledger->get(), Clock::system(), po);
  pay::PayRequest rq;
  rq.invoice = (*made)["invoice"].get<std::string>();
  rq.max_sats = 1;
  rq.client = "doctor";
  rq.tool = "doctor";
  auto paid = payer.pay(rq);
  if (paid) {
    r.ok("pay_test", "paid the wallet's own 1-sat invoice in " + std::to_string(paid->latency_ms) + " ms, fee " +
                         std::to_string(paid->fee_msat) + " msat, preimage verified (ledger payment " +
                         std::to_string(paid->ledger_id) + ", client doctor)");
    return;
  }
  const Error& e = paid.error();
  std::string fix;
  if (e.code == "PAYMENT_FAILED")
    fix = "many wallets refuse to pay their own invoices (e.g. LND without allow-self-payment): pay a 1-sat invoice of "
          "another wallet with the pay_invoice tool instead";
  else if (e.code == "PAYMENT_OUTCOME_UNKNOWN" || e.code == "WALLET_TIMEOUT")
    fix = "the outcome is unknown: see `satwarden payments unknown`; it is reconciled with the wallet later";
  else if (e.code.rfind("APPROVAL_", 0) == 0)
    fix = "your policy asks the owner to approve this payment and the pay test does not wait for approvals: run it with an approval threshold above 1 sat";
  else if (e.code == "BUDGET_EXCEEDED" || e.code.find("CAP") != std::string::npos)
    fix = "the budget left is below 1 sat plus the fee allowance";
  else
    fix = "see the message; the rest of the checks are above";
  if (e.code.rfind("APPROVAL_", 0) == 0)
    r.warn("pay_test", "pay test: " + e.code + ": " + e.message, fix);
  else
    r.fail("pay_test", "pay test: " + e.code + ": " + e.message, fix);
}

}  // namespace

int doctor_command(int argc, char** argv) {
  bool pay_test = false, as_json = false;
  int timeout_s = 10;
  std::vector<char*> rest{argv[0]};
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pay-test") {
      pay_test = true;
    } else if (a == "--json") {
      as_json = true;
    } else if (a == "--timeout" || a.rfind("--timeout=", 0) == 0) {
      std::string v = a == "--timeout" ? (i + 1 < argc ? argv[++i] : "") : a.substr(10);
      auto n = parse_count(v);
      if (!n || *n == 0 || *n > 600) return usage_error(kUsage, "--timeout needs a number of seconds (1..600)");
      timeout_s = static_cast<int>(*n);
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      rest.push_back(argv[i]);
    }
  }
  Report r;
  auto loaded = config::load(static_cast<int>(rest.size()), rest.data());
  if (!loaded) {
    r.fail("config", "the configuration does not load: " + loaded.error().message, "fix the named setting");
    return r.finish(as_json);
  }
  config::Config cfg = loaded->config;
  quiet_logs(cfg);
  r.ok("config", "configuration loads" + (cfg.config_file.empty() ? std::string(" (no config file)") : " (" + cfg.config_file + ")"));
  check_data_dir(r, cfg);

  auto from = use_saved_connection(cfg);
  if (!from) {
    r.fail("connection", "the saved wallet connection is unusable: " + from.error().message,
           "fix it as said, or replace it with `satwarden connect --force`");
  } else if (*from == "none") {
    r.fail("connection", "no wallet connection (NWC_URL is not set and nothing was saved)",
           "run `satwarden connect` and approve it in your wallet, or set NWC_URL");
  } else {
    auto uri = nostr::parse_nwc_uri(cfg.nwc_url);
    if (!uri) {
      r.fail("connection", "the wallet connection from " + *from + " does not parse: " + uri.error().message,
             *from == "NWC_URL" ? "copy the connection string again from the wallet" : "replace it with `satwarden connect --force`");
    } else {
      r.ok("connection", "wallet connection from " + *from + ": wallet " + uri->wallet_pubkey_hex.substr(0, 12) + "…, " +
                             std::to_string(uri->relays.size()) + " relay(s)" + (uri->lud16 ? ", " + *uri->lud16 : ""));
      check_wallet(r, cfg.nwc_url, *uri, cfg, std::chrono::seconds(timeout_s), pay_test);
    }
  }
  crypto::wipe(cfg.nwc_url);
  check_policy(r, cfg);
  return r.finish(as_json);
}

}  // namespace sw::setup
