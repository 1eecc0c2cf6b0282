// satwarden: configuration → engine → tools → MCP server → transport.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "app/app.h"
#include "app/internal.h"
#include "app/operations.h"
#include "app/prices.h"
#include "approve/approve.h"
#include "approve/webhook.h"
#include "console/console.h"
#include "config/config.h"
#include "fetch/fetch.h"
#include "mcp/mcp.h"
#include "metrics/metrics.h"
#include "nostr/nostr.h"
#include "owner/owner.h"
#include "sw_version.h"
#include "tools.h"
#include "transport/transport.h"
#include "wallet/nwc_wallet.h"
#include "pay/pay.h"
#include "purchase/purchase.h"
#include "lnurl/lnurl.h"
#include "spend/spend.h"
#include "setup/setup.h"

#include <atomic>
#include <condition_variable>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>
#include <mutex>
#include <deque>
#include <thread>

namespace {

// Short guidance for the agent, mentioning only tools that are registered in this configuration.
std::string instructions(const sw::mcp::ToolRegistry& reg) {
  auto has = [&](const char* n) {
    const sw::mcp::Tool* t = reg.find(n);
    return t && !t->hidden;  // registered and in this server's tool profile
  };
  std::string s =
      "satwarden pays Lightning invoices from the owner's wallet, never beyond the owner's budget. ";
  if (has("access_l402_resource"))
    s += "To use a paid API, call access_l402_resource with the URL: it handles the 402 challenge, pays and retries. ";
  if (has("pay_l402_challenge"))
    s += "With a WWW-Authenticate challenge in hand, call pay_l402_challenge with its invoice and macaroon. ";
  if (has("pay_invoice") || has("pay_l402_challenge") || has("access_l402_resource"))
    s += "Always pass max_sats: the most you are willing to pay for this call, and an idempotency_key to make "
         "retries safe. Never pay another way for a payment whose outcome was unknown; check it with lookup_payment. ";
  if (has("pay_lightning_address"))
    s += "To tip or pay a Lightning address (name@domain), call pay_lightning_address with amount_sats. ";
  if (has("decode_invoice")) s += "Use decode_invoice to inspect an invoice (amount, expiry, network) before paying. ";
  s += "Errors carry a stable code and say what happened and whether anything was paid.";
  return s;
}

// The console's listener: its own HTTP front (config copy: console_host/console_port, no MCP), serving only the
// console's routes. Binding beyond loopback needs console_public_url (a TLS reverse proxy in front).
sw::Result<std::unique_ptr<sw::transport::HttpServer>> start_console_listener(sw::mcp::Server& server,
                                                                              const sw::config::Config& cfg, int port,
                                                                              sw::console::Console& console) {
  sw::config::Config ccfg = cfg;
  ccfg.host = cfg.console_host;
  ccfg.port = port;
  if (!ccfg.loopback_bind() && cfg.console_public_url.empty())
    return sw::make_error("CONSOLE_NOT_LOOPBACK",
                          "the console listens beyond loopback (console_host " + cfg.console_host +
                              ") only behind a TLS reverse proxy: set console_public_url to its https:// address, "
                              "or keep console_host 127.0.0.1 and reach it through an SSH or other tunnel");
  if (auto st = console.init(); !st) return st.error();
  sw::transport::HttpServe serve;
  serve.mcp = false;
  serve.side.push_back(console.routes());
  auto made = sw::transport::make_http_server(server, ccfg, {}, serve);
  if (!made) return made.error();
  if (auto st = (*made)->start(); !st) return st.error();
  console.set_port((*made)->port());
  return made;
}

// Opens `url` in the owner's browser (xdg-open, or open on macOS), without a shell.
void open_browser(const std::string& url) {
#ifdef __APPLE__
  const char* opener = "open";
#else
  const char* opener = "xdg-open";
#endif
  std::vector<char*> argv{const_cast<char*>(opener), const_cast<char*>(url.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, opener, nullptr, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "satwarden: could not start %s; open the link above yourself\n", opener);
    return;
  }
  int status = 0;
  (void)waitpid(pid, &status, 0);
}

}  // namespace

int sw_main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "payments" || std::string(argv[1]) == "credentials" ||
                   std::string(argv[1]) == "policy" || std::string(argv[1]) == "approvals"))
    return sw::app::owner_command(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "connect") return sw::setup::connect_command(argc, argv);  // src/setup
  if (argc > 1 && std::string(argv[1]) == "doctor") return sw::setup::doctor_command(argc, argv);
  // `satwarden console [--open] [--print-link] [options]`: the owner's console in a process of its own on the
  // same data directory (works while an MCP client runs the stdio server).
  bool console_mode = false, open_link = false, print_link = false;
  std::vector<char*> args(argv, argv + argc);
  if (argc > 1 && std::string(argv[1]) == "console") {
    console_mode = true;
    args.erase(args.begin() + 1);
    for (auto it = args.begin() + 1; it != args.end();) {
      const std::string a = *it;
      if (a == "--open" || a == "--print-link") {
        (a == "--open" ? open_link : print_link) = true;
        it = args.erase(it);
      } else {
        ++it;
      }
    }
    // Signals are taken with sigwait below: blocked before any thread starts, so every thread inherits the mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  auto loaded = sw::config::load(static_cast<int>(args.size()), args.data());
  if (!loaded) {
    std::fprintf(stderr, "satwarden: %s\n", loaded.error().message.c_str());
    return 2;
  }
  if (console_mode) {
    // The console decides through the ledger; the serving process's channels (webhook, Nostr) stay with it.
    loaded->config.approval_webhook_url.clear();
    loaded->config.owner_npub.clear();
    if (loaded->config.console_port == 0) loaded->config.console_port = sw::console::kDefaultPort;
  }
  if (loaded->action == sw::config::Action::help) {
    std::fputs(sw::config::help_text().c_str(), stdout);
    return 0;
  }
  if (loaded->action == sw::config::Action::version) {
    std::printf("satwarden %s\n", SW_VERSION);
    return 0;
  }
  // NWC_URL / nwc_url wins; else the connection `satwarden connect` saved in the data directory.
  auto wallet_from = sw::setup::use_saved_connection(loaded->config);
  const sw::config::Config& cfg = loaded->config;
  sw::set_log_level(cfg.log_level);
  sw::set_log_format(cfg.log_format);

  if (auto st = sw::config::ensure_data_dir(cfg.data_dir); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 2;
  }
  if (print_link) {  // the login link only (e.g. for a console served by an MCP server's --console-port)
    auto token = sw::console::owner_token(cfg.data_dir);
    if (!token) {
      std::fprintf(stderr, "satwarden: %s\n", token.error().message.c_str());
      return 2;
    }
    const std::string origin = !cfg.console_public_url.empty()
                                   ? cfg.console_public_url
                                   : "http://" + (cfg.console_host.find(':') != std::string::npos ? "[" + cfg.console_host + "]"
                                                                                                  : cfg.console_host) +
                                         ":" + std::to_string(cfg.console_port);
    std::printf("%s/login#%s\n", origin.c_str(), sw::console::login_code(*token, sw::Clock::system().now_unix()).c_str());
    return 0;
  }

  sw::tools::Engine engine;
  engine.config = &cfg;

  // The wallet: optional at start-up. Without NWC_URL every wallet tool explains how to set it.
  std::unique_ptr<sw::wallet::NwcWallet> wallet;
  if (!wallet_from) sw::log(sw::LogLevel::error, "main", engine.wallet_problem = "wallet: " + wallet_from.error().message);
  if (!cfg.nwc_url.empty()) {
    sw::wallet::NwcOptions wo;
    wo.pay_timeout = std::chrono::seconds(cfg.nwc_pay_timeout_seconds);
    wo.read_timeout = std::chrono::seconds(cfg.nwc_read_timeout_seconds);
    wo.ca_file = cfg.nwc_ca_file;
    wo.on_request = [](const std::string& method, std::chrono::nanoseconds took, const std::string& outcome) {
      sw::metrics::process().wallet_requests.observe({{"method", method}, {"outcome", outcome}},
                                                     std::chrono::duration<double>(took).count());
    };
    auto w = sw::wallet::NwcWallet::connect(cfg.nwc_url, wo);
    if (w) {
      wallet = std::move(*w);
      engine.wallet = wallet.get();
      sw::log(sw::LogLevel::info, "main", "wallet: connecting to " + std::to_string(wallet->relay_states().size()) +
                                             " relay(s) for wallet " + wallet->wallet_pubkey().substr(0, 12) + "… (from " +
                                             *wallet_from + ")");
    } else {
      engine.wallet_problem = "NWC_URL is set but unusable: " + w.error().message;
      sw::log(sw::LogLevel::error, "main", engine.wallet_problem);
    }
  }

  // The spend ledger: budgets and the double-pay guard live here, so it must open or we do not start.
  // cfg.policy is the config file's policy section with the environment/flag settings laid over it (config.h).
  auto ledger_r = sw::app::open_ledger(cfg);
  if (!ledger_r) {
    std::fprintf(stderr, "satwarden: cannot open the spend ledger: %s\n", ledger_r.error().message.c_str());
    return 2;
  }
  std::unique_ptr<sw::spend::Ledger> ledger = std::move(*ledger_r);
  if (cfg.raw_file.contains("envelopes")) {
    auto env = sw::spend::envelopes_from_json(cfg.raw_file["envelopes"], sw::Clock::system().now_unix());
    if (!env) {
      std::fprintf(stderr, "satwarden: config 'envelopes': %s\n", env.error().message.c_str());
      return 2;
    }
    if (auto st = ledger->set_envelopes(*env); !st) {
      std::fprintf(stderr, "satwarden: config 'envelopes': %s\n", st.error().message.c_str());
      return 2;
    }
  }
  // Crash leftovers: a `reserved` row never left the process (released); an `in_flight` one may have (unknown).
  // A row older than the threshold cannot belong to a live call of this process: recovered at start-up and on every
  // background cycle (a crash leftover younger than that is recovered on the next cycle). The threshold also
  // outlasts the NWC request's own `expiration` tag (created up to ~5 s after the in_flight mark, while the info
  // event is awaited, and valid for pay timeout + 5 s), so when reconciliation later hears NOT_FOUND from the
  // wallet, a compliant wallet can no longer execute that request: NOT_FOUND then really means "never paid".
  const int64_t stale_after = cfg.nwc_pay_timeout_seconds + 15;
  // In a fleet (several instances on one ledger) one instance at a time does this maintenance: the holder of
  // the "maintenance" lease, renewed every cycle, taken over by another instance when it lapses.
  // The cycle runs at half the stale threshold (5..60 s); the lease outlives two cycles, so a dead holder's
  // maintenance is taken over within about 2.5 cycles.
  const int64_t cycle_s = std::clamp<int64_t>(stale_after / 2, 5, 60);
  // A SQLite file has no fleet: its server maintains it without a lease (no lease write at start-up or every
  // cycle; processes sharing one file are safe anyway — every recovery transition is conditional).
  const bool fleet = sw::spend::is_postgres_url(cfg.ledger_url);
  auto maintainer = [&ledger, cycle_s, fleet] {
    if (!fleet) return true;
    auto held = ledger->try_lease("maintenance", 2 * cycle_s + 5);
    return held && *held;
  };
  auto recover = [&ledger, stale_after] {
    auto rec = ledger->recover_after_crash(sw::Clock::system().now_unix(), stale_after);
    if (rec && (rec->released || rec->marked_unknown))
      sw::log(sw::LogLevel::notice, "main", "ledger recovery: released " + std::to_string(rec->released) +
                                                ", marked unknown " + std::to_string(rec->marked_unknown));
  };
  // At start-up every instance recovers and reconciles once, lease or not (its own crash leftovers may be under
  // a lease its previous run still holds; the transitions are conditional, so overlapping another is harmless).
  // The console process leaves maintenance to the servers (it holds no lease and recovers nothing).
  if (!console_mode) {
    (void)maintainer();
    recover();
  }
  sw::pay::PayerOptions po;
  po.pay_timeout_s = cfg.nwc_pay_timeout_seconds;
  po.wallet_honours_expiration = cfg.wallet_honours_expiration;
  sw::pay::Payer payer(engine.wallet, ledger.get(), sw::Clock::system(), po);
  engine.ledger = ledger.get();
  engine.payer = &payer;
  auto prices = sw::app::start_prices(cfg, *ledger, payer);
  if (!prices) {
    std::fprintf(stderr, "satwarden: %s\n", prices.error().message.c_str());
    return 2;
  }
  engine.prices = prices->get();
  // The owner's approvals: always on (the policy decides which payments need one; the CLI can always decide).
  sw::approve::Options ao;
  ao.timeout_s = cfg.approval_timeout_seconds;
  sw::approve::Hub approvals(*ledger, ao);
  // The signed webhook (approval_webhook_url): posts each approval with single-use approve/deny links, served by
  // this process's HTTP listener (under stdio, an "approvals only" listener on --host/--port; see below).
  std::shared_ptr<sw::approve::WebhookChannel> webhook;
  std::unique_ptr<sw::approve::Routes> approval_routes;
  if (!cfg.approval_webhook_url.empty()) {
    if (auto u = sw::fetch::parse_url(cfg.approval_webhook_url); !u) {
      std::fprintf(stderr, "satwarden: approval_webhook_url: %s\n", u.error().message.c_str());
      return 2;
    }
    sw::approve::WebhookOptions wo;
    wo.url = cfg.approval_webhook_url;
    wo.secret = cfg.approval_webhook_secret;
    // The system CA store (nwc_ca_file is for the wallet's relays; it would replace the store, not add to it).
    // Outbound through the project's fetcher (bounded, certificate-checked, in the on-demand HTTP module); the
    // receiver's own host is exempt from its SSRF guard (WebhookChannel sets it): the owner configured it.
    webhook = std::make_shared<sw::approve::WebhookChannel>(
        wo, [](const sw::fetch::Request& rq, const sw::fetch::Options& o,
               std::function<bool()> cancelled) -> sw::Result<sw::fetch::Response> {
          auto fn = sw::transport::load_fetch();
          if (!fn) return fn.error();
          return (*fn)(rq, o, std::move(cancelled));
        });
    if (!cfg.public_url.empty()) webhook->set_base_url(cfg.public_url);
    approvals.add_channel(webhook);
    approval_routes = std::make_unique<sw::approve::Routes>(approvals, *ledger, cfg.approval_webhook_secret);
  }
  // The owner's Nostr client (owner_npub): approval requests as private messages from satwarden's own notification
  // key (never the NWC key) over the NWC relays plus owner_relays; only the owner's replies decide (owner.h).
  std::shared_ptr<sw::owner::ApprovalChannel> nostr_approvals;
  if (!cfg.owner_npub.empty()) {
    sw::owner::MessengerOptions mo;
    mo.key_file = sw::owner::notification_key_path(cfg.data_dir);
    mo.owner = cfg.owner_npub;
    if (!cfg.nwc_url.empty())
      if (auto nwc = sw::nostr::parse_nwc_uri(cfg.nwc_url)) mo.relays = nwc->relays;
    for (const auto& r : cfg.owner_relays)
      if (std::find(mo.relays.begin(), mo.relays.end(), r) == mo.relays.end()) mo.relays.push_back(r);
    if (mo.relays.empty()) {
      std::fprintf(stderr, "satwarden: owner_npub is set but there is no relay to reach the owner on: set NWC_URL "
                           "(its relays are used) or owner_relays\n");
      return 2;
    }
    mo.mode = sw::owner::parse_channel(cfg.owner_dm).value_or(sw::owner::Channel::nip17);
    mo.pool.ca_file = cfg.nwc_ca_file;
    mo.pool.tls = std::any_of(mo.relays.begin(), mo.relays.end(),
                              [](const std::string& r) { return r.rfind("wss://", 0) == 0; });
    auto ch = sw::owner::ApprovalChannel::start(std::move(mo), approvals);
    if (!ch) {
      std::fprintf(stderr, "satwarden: cannot reach the owner over Nostr (owner_npub): %s\n",
                   ch.error().message.c_str());
      return 2;
    }
    nostr_approvals = std::move(*ch);
    approvals.add_channel(nostr_approvals);
    sw::log(sw::LogLevel::info, "main",
            "approval requests go to the owner over Nostr (" + cfg.owner_dm + ") from " +
                nostr_approvals->notification_npub() + " via " + std::to_string(nostr_approvals->relays().size()) +
                " relay(s); the owner may follow that key to see them");
  }
  // Its replies decide through the Hub: the messenger stops before the Hub goes away.
  struct StopNostrApprovals {
    std::shared_ptr<sw::owner::ApprovalChannel>& c;
    ~StopNostrApprovals() {
      if (c) c->stop();
    }
  } stop_nostr_approvals{nostr_approvals};
  approvals.start();
  payer.set_approvals(&approvals);
  engine.approvals = &approvals;
  // Credentials bought before purchases existed move into the ledger once (the file is renamed afterwards).
  if (auto n = sw::pay::import_legacy_token_file(*ledger, cfg.data_dir + "/l402-tokens.json"); !n)
    sw::log(sw::LogLevel::warning, "main", "could not import the old credential file: " + n.error().message);
  sw::purchase::Options pwo;
  pwo.fetch.allowed_methods = cfg.fetch_methods;
  pwo.fetch.allow = cfg.fetch_allow;
  pwo.fetch.max_body_bytes = cfg.fetch_max_body_bytes;
  pwo.fetch.redirects = cfg.fetch_redirects == "same-origin" ? sw::fetch::RedirectPolicy::same_origin
                                                             : sw::fetch::RedirectPolicy::none;
  pwo.unbound = cfg.l402_unbound == "allow" ? sw::purchase::Unbound::allow : sw::purchase::Unbound::refuse;
  // The fetcher lives in the on-demand HTTP module (keeps cpp-httplib out of servers that never fetch).
  sw::purchase::FetchFn fetcher = [](const sw::fetch::Request& rq, const sw::fetch::Options& o,
                                     std::function<bool()> cancelled) -> sw::Result<sw::fetch::Response> {
    auto fn = sw::transport::load_fetch();
    if (!fn) return fn.error();
    return (*fn)(rq, o, std::move(cancelled));
  };
  sw::purchase::Paywall paywall(&payer, ledger.get(), fetcher, pwo);
  engine.paywall = &paywall;
  // Lightning addresses and LNURL-pay: the same fetcher and SSRF guard (allow-list, limits; never redirects).
  sw::lnurl::Payments lnurl_payments(&payer, ledger.get(), fetcher, pwo.fetch);
  engine.lnurl = &lnurl_payments;

  // Background reconciliation of `unknown` payments with the wallet: at start-up, then every minute, and at once
  // for each payment_sent notification from the wallet. The state is shared with the wallet's notification
  // handler (which runs on the relay thread and may outlive this frame), hence the shared_ptr.
  struct Background {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::deque<sw::wallet::Notification> notes;  // bounded: a flood of notifications costs nothing but drops
  };
  auto bg = std::make_shared<Background>();
  if (wallet) {
    wallet->set_notification_handler([bg](const sw::wallet::Notification& n) {
      {
        std::lock_guard<std::mutex> lk(bg->mu);
        if (bg->stop || bg->notes.size() >= 1000) return;
        bg->notes.push_back(n);
      }
      bg->cv.notify_all();
    });
  }
  std::thread reconciler([&, bg] {
    std::unique_lock<std::mutex> lk(bg->mu);
    auto next_cycle = std::chrono::steady_clock::now();
    bool first_cycle = true;
    for (;;) {
      while (!bg->notes.empty()) {
        auto n = std::move(bg->notes.front());
        bg->notes.pop_front();
        lk.unlock();
        if (n.type == "payment_received" || n.type == "payment_sent") {
          const sw::json& tx = n.transaction;
          int64_t msat = tx.contains("amount") && tx["amount"].is_number_unsigned() ? tx["amount"].get<int64_t>() : 0;
          sw::log(sw::LogLevel::info, "wallet",
                  "notification " + n.type + ": " + std::to_string(sw::msat_to_sat_ceil(static_cast<uint64_t>(msat))) +
                      " sats" + (tx.contains("payment_hash") && tx["payment_hash"].is_string()
                                     ? " (" + tx["payment_hash"].get<std::string>().substr(0, 16) + "…)"
                                     : std::string()));
        }
        payer.on_notification(n);
        lk.lock();
      }
      if (bg->stop) break;
      if (std::chrono::steady_clock::now() >= next_cycle) {
        lk.unlock();
        const bool maintain = !console_mode && (maintainer() || first_cycle);
        // Stale rows first (start-up recovery ran before this thread), so that what went unknown is reconciled
        // in the same cycle.
        if (maintain && !first_cycle) recover();
        if (engine.wallet && maintain) {
          auto st = ledger->status();
          if (st && st->unknown_count > 0) {
            auto r = payer.reconcile();
            if (r && (r->settled || r->failed))
              sw::log(sw::LogLevel::notice, "reconcile", "settled " + std::to_string(r->settled) + ", failed " +
                                                             std::to_string(r->failed) + ", pending " +
                                                             std::to_string(r->pending));
          }
        }
        // Idempotency keys are kept at least 24 hours (48 here); keys of unresolved payments stay.
        if (maintain) (void)ledger->prune_idempotency(sw::Clock::system().now_unix() - 2 * 86400);
        first_cycle = false;
        next_cycle = std::chrono::steady_clock::now() + std::chrono::seconds(cycle_s);
        lk.lock();
        continue;
      }
      bg->cv.wait_until(lk, next_cycle, [&] { return bg->stop || !bg->notes.empty(); });
    }
  });
  struct StopBg {
    std::shared_ptr<Background> bg;
    std::thread& t;
    ~StopBg() {
      {
        std::lock_guard<std::mutex> lk(bg->mu);
        bg->stop = true;
      }
      bg->cv.notify_all();
      if (t.joinable()) t.join();
    }
  } stop_bg{bg, reconciler};

  auto registry = std::make_shared<sw::mcp::ToolRegistry>();
  if (auto st = sw::tools::register_all(*registry, engine); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return st.error().code == "CONFIG_INVALID" ? 2 : 3;  // a bad `tools` entry is a configuration error
  }
  sw::mcp::ServerInfo info;
  info.version = SW_VERSION;
  info.instructions = instructions(*registry);
  info.tools_page_size = cfg.tools_page_size;
  // MCP resources over the ledger, each read with the reader's identity: the owner (stdio, tokenless loopback
  // HTTP) sees everything; a bearer-token caller sees what get_budget_status / lookup_payment show it — the shared
  // windows and policy, its own envelope, its own payments only.
  std::vector<sw::mcp::Resource> resources;
  {
    sw::mcp::Resource spending;
    spending.uri = "satwarden://spending";
    spending.name = "spending";
    spending.title = "Spending status";
    spending.description = "Budget limits, spent and remaining per window, domain and envelope, and the effective "
                           "policy (JSON) — the reader's own view, as get_budget_status.";
    spending.read = [&engine](const std::string&, const sw::mcp::CallContext& ctx) -> sw::Result<std::string> {
      auto out = sw::tools::budget_status_for(engine, ctx);
      if (!out) return out.error();
      return sw::json_dump(*out);
    };
    // What a subscriber compares: the same view without its "now" (which changes on every read).
    spending.version = [&engine](const std::string&, const sw::mcp::CallContext& ctx) -> sw::Result<std::string> {
      auto out = sw::tools::budget_status_for(engine, ctx);
      if (!out) return out.error();
      out->erase("now");
      return sw::json_dump(*out);
    };
    resources.push_back(spending);
    sw::mcp::Resource payment;
    payment.uri = "satwarden://payments/{payment_hash}";
    payment.name = "payment";
    payment.title = "A payment";
    payment.description = "One payment from satwarden's ledger, by payment hash (JSON, without the preimage); a "
                          "bearer-token caller can read only its own payments.";
    payment.is_template = true;
    payment.read = [&ledger, &engine](const std::string& uri,
                                      const sw::mcp::CallContext& ctx) -> sw::Result<std::string> {
      std::string hash = uri.substr(std::string("satwarden://payments/").size());
      auto p = ledger->get_payment(hash);
      const auto who = sw::tools::caller_of(engine, ctx);
      // Another token's payment is reported exactly like a missing one.
      if ((!p && p.error().code == "PAYMENT_NOT_FOUND") || (p && who.hosted && p->client != who.client))
        return sw::make_error("NOT_FOUND", "no payment with hash " + hash);
      if (!p) return p.error();
      return sw::json_dump(sw::tools::payment_json(*p));
    };
    resources.push_back(payment);
    sw::mcp::Resource waiting;
    waiting.uri = "satwarden://approvals";
    waiting.name = "approvals";
    waiting.title = "Payments waiting for the owner";
    waiting.description = "Approvals that wait for the owner's decision, or were approved and not yet used (JSON, as "
                          "list_approvals; never the one-time codes). A bearer-token caller sees its own.";
    waiting.read = [&engine](const std::string&, const sw::mcp::CallContext& ctx) -> sw::Result<std::string> {
      auto out = sw::tools::approvals_for(engine, ctx, true, 100);
      if (!out) return out.error();
      return sw::json_dump(*out);
    };
    resources.push_back(waiting);
    // The console's views as MCP Apps (ui:// resources; linked from results for clients that declare the extension).
    for (auto& r : sw::console::app_resources(engine)) resources.push_back(std::move(r));
  }
  sw::mcp::Server server(info, registry, resources);
  // Resource subscriptions re-read what they watch when the ledger has committed something (and once a second).
  server.set_change_hint([&ledger] { return ledger->stats().commits; });
  // Every tool error says what to do next (retry when, ask whom, which setting).
  server.set_error_advice([](const sw::Error& e) { return sw::mcp::next_step(e, sw::Clock::system().now_unix()); });
  // Fair sharing between bearer tokens (the owner's own callers are not limited).
  {
    std::vector<std::string> token_labels;
    for (const auto& t : cfg.tokens) token_labels.push_back(t.label);
    server.set_call_quota({cfg.token_calls_in_flight, cfg.token_calls_per_minute}, std::move(token_labels));
  }

  // The approval routes (webhook links and signed decisions) on the HTTP listener, when the webhook is configured.
  sw::transport::HttpServe serve;
  // The operator's endpoints: /readyz for load balancers, /metrics for Prometheus (app/operations.h).
  serve.ready = [&ledger, w = wallet.get()] { return sw::app::readiness(*ledger, w); };
  serve.metrics = [&ledger, w = wallet.get()] { return sw::app::metrics_text(*ledger, w); };
  if (approval_routes) {
    sw::transport::SideRoutes side;
    side.prefix = "/approvals/";
    side.handle = [r = approval_routes.get()](const sw::transport::SideRequest& sr) {
      sw::approve::RouteRequest rq;
      rq.method = sr.method;
      rq.path = sr.path;
      rq.query = sr.query;
      rq.body = sr.body;
      rq.content_type = sr.header("Content-Type");
      rq.accept = sr.header("Accept");
      rq.timestamp = sr.header("X-Satwarden-Timestamp");
      rq.signature = sr.header("X-Satwarden-Signature");
      auto a = r->handle(rq);
      sw::transport::SideResponse out;
      out.status = a.status;
      out.content_type = std::move(a.content_type);
      out.body = std::move(a.body);
      out.headers = std::move(a.headers);
      return out;
    };
    serve.side.push_back(std::move(side));
  }
  // Where the links point when public_url is not set: this listener, as bound.
  auto listener_url = [&cfg](int port) {
    std::string h = cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host;
    if (cfg.host == "0.0.0.0" || cfg.host == "::")
      sw::log(sw::LogLevel::warning, "main",
              "the webhook's approve/deny links name " + h + ", which the owner's device cannot reach: set public_url");
    return "http://" + h + ":" + std::to_string(port);
  };

  // The owner's console: `satwarden console` (this process serves nothing else), or console_port beside the MCP
  // server. The login link carries the owner token: printed to the owner's terminal, never logged.
  std::unique_ptr<sw::console::Console> console;
  std::unique_ptr<sw::transport::HttpServer> console_http;
  if (cfg.console_port > 0) {
    std::signal(SIGPIPE, SIG_IGN);
    sw::console::Options co;
    co.data_dir = cfg.data_dir;
    co.port = cfg.console_port;
    co.public_url = cfg.console_public_url;
    console = std::make_unique<sw::console::Console>(engine, *registry, co);
    auto l = start_console_listener(server, cfg, cfg.console_port, *console);
    if (!l) {
      std::fprintf(stderr, "satwarden: the owner's console: %s\n", l.error().message.c_str());
      return 2;
    }
    console_http = std::move(*l);
    const std::string where = "http://" + cfg.console_host + ":" + std::to_string(console_http->port()) + "/";
    if (console_mode) {
      const std::string link = console->login_link();
      std::printf("satwarden console at %s\nLog in (one-time link, keep it private): %s\n", where.c_str(),
                  link.c_str());
      std::fflush(stdout);
      if (open_link) open_browser(link);
    } else {
      sw::log(sw::LogLevel::info, "main",
              "owner's console at " + where + " (the login link: `satwarden console --print-link`)");
    }
  }
  struct StopConsole {
    std::unique_ptr<sw::console::Console>& c;
    std::unique_ptr<sw::transport::HttpServer>& h;
    ~StopConsole() {
      if (c) c->stop();
      if (h) h->stop();
    }
  } stop_console{console, console_http};
  if (console_mode) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    sw::log(sw::LogLevel::info, "main", "console stopped");
    return 0;
  }

  if (cfg.transport == "stdio") {
    // A stdio server with a webhook still needs somewhere for the links to land: an HTTP listener on --host/--port
    // that serves the approval routes and /healthz only (no /mcp: MCP stays on stdio).
    std::unique_ptr<sw::transport::HttpServer> links;
    if (webhook) {
      std::signal(SIGPIPE, SIG_IGN);
      serve.mcp = false;
      auto made = sw::transport::make_http_server(server, cfg, {}, serve);
      if (!made) {
        std::fprintf(stderr, "satwarden: %s\n", made.error().message.c_str());
        return 2;
      }
      links = std::move(*made);
      if (auto st = links->start(); !st) {
        std::fprintf(stderr, "satwarden: the approval links' listener (approval_webhook_url is set): %s\n",
                     st.error().message.c_str());
        return 2;
      }
      if (cfg.public_url.empty()) webhook->set_base_url(listener_url(links->port()));
      sw::log(sw::LogLevel::info, "main",
              "approval links served on http://" + cfg.host + ":" + std::to_string(links->port()) +
                  "/approvals/ (approvals only; links point to " + webhook->base_url() + ")");
    }
    sw::log(sw::LogLevel::info, "main", "serving MCP on stdio; data directory " + cfg.data_dir);
    int rc = sw::transport::run_stdio(server);
    if (links) links->stop();
    return rc;
  }

  // HTTP: serve until SIGINT/SIGTERM.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread started below inherits the mask
  std::signal(SIGPIPE, SIG_IGN);
  auto made = sw::transport::make_http_server(server, cfg, {}, serve);
  if (!made) {
    std::fprintf(stderr, "satwarden: %s\n", made.error().message.c_str());
    return 2;
  }
  sw::transport::HttpServer& http = **made;
  if (auto st = http.start(); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 2;
  }
  if (webhook && cfg.public_url.empty()) webhook->set_base_url(listener_url(http.port()));
  sw::log(sw::LogLevel::info, "main",
          "serving MCP on http://" + cfg.host + ":" + std::to_string(http.port()) + "/mcp (legacy SSE at /sse)" +
              (cfg.tokens.empty() ? "" : "; bearer token required") +
              (webhook ? "; approval links at /approvals/" : ""));
  int sig = 0;
  sigwait(&set, &sig);
  // Graceful: take no new requests, cancel what has not paid yet, let payments on their way reach an outcome
  // within shutdown_grace_seconds; whatever still runs then is recorded `unknown` (the budget stays held; the next
  // start reconciles it with the wallet), so nothing is lost however the process ends after this.
  sw::log(sw::LogLevel::info, "main",
          "shutting down: draining (up to " + std::to_string(cfg.shutdown_grace_seconds) + " s for running calls)");
  http.drain();
  const auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.shutdown_grace_seconds);
  while (server.calls_running() > 0 && std::chrono::steady_clock::now() < grace_end)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (const size_t left = server.calls_running(); left > 0) {
    sw::log(sw::LogLevel::warning, "main",
            std::to_string(left) + " call(s) still running after the grace period; recording their payments unknown");
    (void)ledger->recover_after_crash(ledger->now_unix(), 0, "SHUTDOWN", /*this_instance_only=*/true);
    http.stop();
    // Those calls' threads may still be blocked on the wallet: leave without running destructors under them.
    // Every ledger write is already durable (each call returns after its commit), so nothing is lost.
    sw::log(sw::LogLevel::info, "main", "stopped");
    std::fflush(stderr);
    std::_Exit(0);
  }
  http.stop();
  sw::log(sw::LogLevel::info, "main", "stopped");
  return 0;
}
