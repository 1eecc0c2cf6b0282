// to_json(StatusReport) in its two forms: the ledger's (msat-exact) and get_budget_status's (what its output
// schema promises: per_call_sats and limit_sats rounded down, expires_at on every scope, fee_excess.note).
#include <catch2/catch.hpp>

#include "spend/spend.h"

using namespace sw;
using namespace sw::spend;

namespace {
WindowStatus window(const char* name, std::optional<uint64_t> limit, uint64_t spent) {
  WindowStatus w;
  w.window = name;
  w.limit_msat = limit;
  w.spent_msat = spent;
  if (limit) w.remaining_msat = spent >= *limit ? 0 : *limit - spent;
  return w;
}
StatusReport report() {
  StatusReport r;
  r.now = 1'700'000'000;
  r.global.scope = "global";
  r.global.per_call_msat = 2'500;
  WindowStatus day = window("day", 10'500, 1'001);
  day.next_rolloff = r.now + 60;
  r.global.windows = {day, window("lifetime", std::nullopt, 1'001)};
  ScopeStatus env;
  env.scope = "envelope:team";
  env.windows = {window("lifetime", 5'000, 0)};
  env.expires_at = r.now + 3'600;
  r.envelopes = {env};
  r.pending_count = 2;
  r.unknown_count = 1;
  return r;
}
}  // namespace

TEST_CASE("status json: the ledger's form and get_budget_status's differ only where documented") {
  const StatusReport r = report();
  const json ledger = to_json(r);
  const json tool = to_json(r, StatusFormat::budget_status);
  CHECK(ledger["global"]["per_call_msat"] == 2'500);
  CHECK_FALSE(ledger["global"].contains("per_call_sats"));
  CHECK(tool["global"]["per_call_sats"] == 2);  // rounded down
  CHECK_FALSE(tool["global"].contains("per_call_msat"));
  CHECK(ledger["global"]["windows"][0]["limit_sats"] == 11);  // rounded up
  CHECK(tool["global"]["windows"][0]["limit_sats"] == 10);    // rounded down, like remaining_sats
  CHECK_FALSE(ledger["global"].contains("expires_at"));
  CHECK(tool["global"]["expires_at"].is_null());
  CHECK(ledger["envelopes"][0]["expires_at"] == r.now + 3'600);
  CHECK(tool["envelopes"][0]["expires_at"] == r.now + 3'600);
  CHECK_FALSE(ledger["fee_excess"].contains("note"));
  CHECK(tool["fee_excess"]["note"].get<std::string>().rfind("no payment in the last 30 days", 0) == 0);
  // Everything else is the same.
  json a = ledger, b = tool;
  for (json* j : {&a, &b}) {
    for (json* s : {&(*j)["global"], &(*j)["envelopes"][0]}) {
      s->erase("per_call_msat");
      s->erase("per_call_sats");
      s->erase("expires_at");
      for (auto& w : (*s)["windows"]) w.erase("limit_sats");
    }
    (*j)["fee_excess"].erase("note");
  }
  CHECK(a == b);
  CHECK(b["global"]["windows"][0]["spent_sats"] == 2);
  CHECK(b["global"]["windows"][0]["remaining_sats"] == 9);
  CHECK(b["global"]["windows"][1]["limit_msat"].is_null());
}
