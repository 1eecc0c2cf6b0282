// satwarden: configuration → engine → tools → MCP server → transport.
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/app.h"
#include "config/config.h"
#include "mcp/mcp.h"
#include "sw_version.h"
#include "tools.h"
#include "transport/transport.h"
#include "wallet/nwc_wallet.h"

namespace {

// Short guidance for the agent, mentioning only tools that are registered in this configuration.
std::string instructions(const sw::mcp::ToolRegistry& reg) {
  auto has = [&](const char* n) { return reg.find(n) != nullptr; };
  std::string s =
      "satwarden pays Lightning invoices from the owner's wallet, never beyond the owner's budget. ";
  if (has("access_l402_resource"))
    s += "To use a paid API, call access_l402_resource with the URL: it handles the 402 challenge, pays and retries. ";
  if (has("pay_l402_challenge"))
    s += "With a WWW-Authenticate challenge in hand, call pay_l402_challenge with its invoice and macaroon. ";
  if (has("pay_invoice") || has("pay_l402_challenge") || has("access_l402_resource"))
    s += "Always pass max_sats: the most you are willing to pay for this call. Never retry a payment whose outcome "
         "was unknown; check it with lookup_payment. ";
  if (has("decode_invoice")) s += "Use decode_invoice to inspect an invoice (amount, expiry, network) before paying. ";
  s += "Errors carry a stable code and say what happened and whether anything was paid.";
  return s;
}

}  // namespace

int sw_main(int argc, char** argv) {
  auto loaded = sw::config::load(argc, argv);
  if (!loaded) {
    std::fprintf(stderr, "satwarden: %s\n", loaded.error().message.c_str());
    return 2;
  }
  if (loaded->action == sw::config::Action::help) {
    std::fputs(sw::config::help_text().c_str(), stdout);
    return 0;
  }
  if (loaded->action == sw::config::Action::version) {
    std::printf("satwarden %s\n", SW_VERSION);
    return 0;
  }
  const sw::config::Config& cfg = loaded->config;
  sw::set_log_level(cfg.log_level);

  if (auto st = sw::config::ensure_data_dir(cfg.data_dir); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 2;
  }

  sw::tools::Engine engine;
  engine.config = &cfg;

  // The wallet: optional at start-up. Without NWC_URL every wallet tool explains how to set it.
  std::unique_ptr<sw::wallet::NwcWallet> wallet;
  if (!cfg.nwc_url.empty()) {
    sw::wallet::NwcOptions wo;
    wo.pay_timeout = std::chrono::seconds(cfg.nwc_pay_timeout_seconds);
    wo.read_timeout = std::chrono::seconds(cfg.nwc_read_timeout_seconds);
    wo.ca_file = cfg.nwc_ca_file;
    auto w = sw::wallet::NwcWallet::connect(cfg.nwc_url, wo);
    if (w) {
      wallet = std::move(*w);
      engine.wallet = wallet.get();
      sw::log(sw::LogLevel::info, "main", "wallet: connecting to " + std::to_string(wallet->relay_states().size()) +
                                             " relay(s) for wallet " + wallet->wallet_pubkey().substr(0, 12) + "…");
    } else {
      engine.wallet_problem = "NWC_URL is set but unusable: " + w.error().message;
      sw::log(sw::LogLevel::error, "main", engine.wallet_problem);
    }
  }

  auto registry = std::make_shared<sw::mcp::ToolRegistry>();
  if (auto st = sw::tools::register_all(*registry, engine); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 3;
  }
  sw::mcp::ServerInfo info;
  info.version = SW_VERSION;
  info.instructions = instructions(*registry);
  info.tools_page_size = cfg.tools_page_size;
  sw::mcp::Server server(info, registry);

  if (cfg.transport == "stdio") {
    sw::log(sw::LogLevel::info, "main", "serving MCP on stdio; data directory " + cfg.data_dir);
    return sw::transport::run_stdio(server);
  }

  // HTTP: serve until SIGINT/SIGTERM.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread started below inherits the mask
  std::signal(SIGPIPE, SIG_IGN);
  auto made = sw::transport::make_http_server(server, cfg);
  if (!made) {
    std::fprintf(stderr, "satwarden: %s\n", made.error().message.c_str());
    return 2;
  }
  sw::transport::HttpServer& http = **made;
  if (auto st = http.start(); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 2;
  }
  sw::log(sw::LogLevel::info, "main",
          "serving MCP on http://" + cfg.host + ":" + std::to_string(http.port()) + "/mcp (legacy SSE at /sse)" +
              (cfg.tokens.empty() ? "" : "; bearer token required"));
  int sig = 0;
  sigwait(&set, &sig);
  sw::log(sw::LogLevel::info, "main", "shutting down");
  http.stop();
  return 0;
}
