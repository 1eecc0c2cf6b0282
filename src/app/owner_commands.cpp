// The owner's commands on the data directory, without a server (app/internal.h owner_command), and the ledger the
// configuration names (open_ledger, also used by the server's start-up).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "app/internal.h"
#include "approve/approve.h"
#include "fetch/fetch.h"

namespace sw::app {

namespace {

// The owner's approvals from the terminal, beside a running server on the same data directory.
int approvals_command(sw::spend::Ledger& l, const std::vector<std::string>& pos, bool as_json, bool all,
                      const std::string& reason) {
  (void)l.expire_approvals();  // overdue ones are expired (budget released) even when no server runs
  const int64_t now = sw::Clock::system().now_unix();
  if (pos.size() == 1 && pos[0] == "list") {
    sw::spend::ApprovalQuery q;
    q.pending_only = !all;
    q.limit = 200;
    auto list = l.list_approvals(q);
    if (!list) {
      std::fprintf(stderr, "satwarden: %s\n", list.error().message.c_str());
      return 1;
    }
    if (as_json) {
      sw::json arr = sw::json::array();
      for (const auto& a : *list) arr.push_back(sw::spend::to_json(a));
      std::printf("%s\n", arr.dump(2, ' ', false, sw::json::error_handler_t::replace).c_str());
      return 0;
    }
    for (const auto& a : *list) {
      std::string when = a.state == sw::spend::ApprovalState::pending || a.state == sw::spend::ApprovalState::approved
                             ? "until " + sw::approve::utc_time(a.expires_at, now)
                             : (a.decided_by.empty() ? "" : "by " + a.decided_by);
      std::printf("%s  %-8s  %s  %s\n", a.public_id.c_str(), sw::spend::approval_state_name(a.state), when.c_str(),
                  sw::approve::describe(a).c_str());
    }
    if (list->empty()) std::printf("%s\n", all ? "no approvals yet" : "nothing is waiting for your approval");
    return 0;
  }
  if (pos.size() == 2 && (pos[0] == "approve" || pos[0] == "deny")) {
    sw::spend::ApprovalDecision d;
    d.public_id = pos[1];
    d.approve = pos[0] == "approve";
    d.channel = "cli";
    d.reason = reason;
    auto r = l.decide_approval(d);
    if (!r) {
      std::fprintf(stderr, "satwarden: %s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("%s %s: %s\n", r->public_id.c_str(), d.approve ? "approved" : "denied (budget released)",
                sw::approve::describe(*r).c_str());
    return 0;
  }
  std::fprintf(stderr,
               "usage: satwarden approvals list [--json] [--all]\n"
               "       satwarden approvals approve ID\n"
               "       satwarden approvals deny ID [--reason TEXT]\n");
  return 2;
}

}  // namespace

// The spend ledger the configuration names: DATA_DIR/ledger.sqlite, or PostgreSQL at ledger_url (a fleet).
Result<std::unique_ptr<spend::Ledger>> open_ledger(const config::Config& cfg) {
  sw::spend::LedgerOptions o;
  o.pg_max_connections = cfg.ledger_pool_size;
  o.pg_serializable = cfg.ledger_isolation == "serializable";
  o.instance = cfg.instance_id;
  auto l = sw::spend::Ledger::open(cfg.ledger_url.empty() ? cfg.data_dir + "/ledger.sqlite" : cfg.ledger_url,
                                   cfg.policy, sw::Clock::system(), o);
  if (l && !cfg.ledger_url.empty())
    sw::log(sw::LogLevel::info, "main", "ledger: " + (*l)->path() + " (PostgreSQL, " + cfg.ledger_isolation +
                                            " mode, instance " + (*l)->instance() + ")");
  return l;
}

// Owner commands that work on the data directory without starting a server (safe while one runs: the ledger
// is shared through SQLite's locking):
//   satwarden payments resolve ID --paid|--failed [--fee-msat N]   the owner's decision on an unknown payment
//   satwarden payments unknown                                      payments whose outcome is unknown
//   satwarden credentials forget [ORIGIN]                           drop reusable paywall credentials
//   satwarden policy show | reset-tightenings                        run-time tightenings: see them, undo them
//   satwarden approvals list [--json] [--all]                        payments waiting for the owner's approval
//   satwarden approvals approve ID | deny ID [--reason TEXT]         the owner's decision (a running server that
//                                                                    waits for it goes on within a second)
// Every other option (--config, --data-dir, …) is read as usual.
int owner_command(int argc, char** argv) {
  const std::string group = argv[1];
  std::vector<std::string> pos;
  std::vector<char*> rest{argv[0]};
  std::optional<bool> paid;
  std::optional<uint64_t> fee;
  bool as_json = false, all = false;
  std::string reason;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (group == "approvals" && a == "--json") {
      as_json = true;
    } else if (group == "approvals" && a == "--all") {
      all = true;
    } else if (group == "approvals" && a == "--reason" && i + 1 < argc) {
      reason = argv[++i];
    } else if (a == "--paid") {
      paid = true;
    } else if (a == "--failed") {
      paid = false;
    } else if (a == "--fee-msat" && i + 1 < argc) {
      char* end = nullptr;
      fee = std::strtoull(argv[++i], &end, 10);
      if (!end || *end) {
        std::fprintf(stderr, "satwarden: --fee-msat needs a whole number of msat\n");
        return 2;
      }
    } else if (a.rfind("--", 0) == 0) {
      rest.push_back(argv[i]);
      if (a.find('=') == std::string::npos && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        rest.push_back(argv[++i]);
    } else {
      pos.push_back(a);
    }
  }
  auto loaded = sw::config::load(static_cast<int>(rest.size()), rest.data());
  if (!loaded) {
    std::fprintf(stderr, "satwarden: %s\n", loaded.error().message.c_str());
    return 2;
  }
  const sw::config::Config& cfg = loaded->config;
  if (auto st = sw::config::ensure_data_dir(cfg.data_dir); !st) {
    std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
    return 2;
  }
  auto ledger = open_ledger(cfg);
  if (!ledger) {
    std::fprintf(stderr, "satwarden: cannot open the spend ledger: %s\n", ledger.error().message.c_str());
    return 2;
  }
  auto& l = **ledger;
  if (group == "payments" && !pos.empty() && pos[0] == "resolve") {
    if (pos.size() != 2 || !paid) {
      std::fprintf(stderr, "usage: satwarden payments resolve ID --paid|--failed [--fee-msat N]\n");
      return 2;
    }
    char* end = nullptr;
    const long long id = std::strtoll(pos[1].c_str(), &end, 10);
    if (!end || *end || id <= 0) {
      std::fprintf(stderr, "satwarden: ID must be a payment id (see `satwarden payments unknown`)\n");
      return 2;
    }
    auto st = l.resolve_by_owner(id, *paid, fee);
    if (!st) {
      std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
      return 1;
    }
    std::printf("payment %lld resolved as %s (recorded as the owner's decision)\n", id, *paid ? "paid" : "failed");
    return 0;
  }
  if (group == "payments" && pos.size() == 1 && pos[0] == "unknown") {
    sw::spend::ListQuery q;
    q.state = sw::spend::State::unknown;
    q.limit = 500;
    auto page = l.list_payments(q);
    if (!page) {
      std::fprintf(stderr, "satwarden: %s\n", page.error().message.c_str());
      return 1;
    }
    for (const auto& p : page->items)
      std::printf("%lld  %llu sats  %s  %s  wallet said: %s\n", static_cast<long long>(p.id),
                  static_cast<unsigned long long>(sw::msat_to_sat_ceil(p.amount_msat)), p.payment_hash.c_str(),
                  p.domain.empty() ? "-" : p.domain.c_str(), p.wallet_said.empty() ? "-" : p.wallet_said.c_str());
    if (page->items.empty()) std::printf("no payment has an unknown outcome\n");
    return 0;
  }
  if (group == "credentials" && !pos.empty() && pos[0] == "forget" && pos.size() <= 2) {
    std::optional<std::string> origin;
    if (pos.size() == 2) {
      std::string text = pos[1].find("://") == std::string::npos ? "https://" + pos[1] : pos[1];
      auto url = sw::fetch::parse_url(text);
      if (!url) {
        std::fprintf(stderr, "satwarden: ORIGIN: %s\n", url.error().message.c_str());
        return 2;
      }
      origin = url->origin();
    }
    auto n = l.forget_all_purchases(origin);
    if (!n) {
      std::fprintf(stderr, "satwarden: %s\n", n.error().message.c_str());
      return 1;
    }
    std::printf("forgot %zu credential(s)%s\n", *n, origin ? (" for " + *origin).c_str() : "");
    return 0;
  }
  if (group == "policy" && pos.size() == 1 && pos[0] == "show") {
    auto tight = l.envelope_tightenings();
    if (!tight) {
      std::fprintf(stderr, "satwarden: %s\n", tight.error().message.c_str());
      return 1;
    }
    auto thresholds = l.envelope_threshold_tightenings();
    if (!thresholds) {
      std::fprintf(stderr, "satwarden: %s\n", thresholds.error().message.c_str());
      return 1;
    }
    sw::json env = sw::json::object();
    for (const auto& [name, cap] : *tight) env[name]["cap_msat"] = cap;
    for (const auto& [name, t] : *thresholds) env[name]["approve_above_msat"] = t;
    sw::json out{{"effective", sw::spend::policy_to_json(l.policy())},
                 {"configured", sw::spend::policy_to_json(l.configured_policy())},
                 {"envelope_tightenings", env}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (group == "policy" && pos.size() == 1 && pos[0] == "reset-tightenings") {
    if (auto st = l.reset_policy_overrides(); !st) {
      std::fprintf(stderr, "satwarden: %s\n", st.error().message.c_str());
      return 1;
    }
    std::printf("run-time tightenings cleared: the configured policy and envelope caps apply again\n");
    return 0;
  }
  if (group == "approvals") return approvals_command(l, pos, as_json, all, reason);
  std::fprintf(stderr,
               "usage: satwarden payments resolve ID --paid|--failed [--fee-msat N]\n"
               "       satwarden payments unknown\n"
               "       satwarden credentials forget [ORIGIN]\n"
               "       satwarden policy show\n"
               "       satwarden policy reset-tightenings\n"
               "       satwarden approvals list [--json] [--all]\n"
               "       satwarden approvals approve ID\n"
               "       satwarden approvals deny ID [--reason TEXT]\n");
  return 2;
}

}  // namespace sw::app
