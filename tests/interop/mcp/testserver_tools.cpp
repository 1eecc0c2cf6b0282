// satwarden_testserver: the real server (sw_main, every production tool) plus test-only tools used by the
// interop tests in this folder. Nothing here is linked into `satwarden`.
//
// test_slow {ms: 1..10000} sleeps in 25 ms steps, reports progress after each step and stops early when the
// call is cancelled; returns {slept_ms}. It sends one debug-level notifications/message when it starts. It lets the tests observe concurrency (ping / other calls answered
// while it runs), progress notifications and cancellation end to end.
// Its schemas are inline on purpose: schemas/ holds the production tools' schemas only.
#include <algorithm>
#include <chrono>
#include <thread>

#include "app/app.h"
#include "tools.h"

namespace {

std::optional<sw::mcp::Tool> make_test_slow(sw::tools::Engine&) {
  sw::mcp::Tool t;
  t.name = "test_slow";
  t.title = "Test: slow call";
  t.description = "Test-only: sleeps for `ms` milliseconds, reporting progress, and stops early when cancelled.";
  // Open world, like a payment waiting on a wallet: it runs on the worker pool, never on an HTTP worker.
  t.annotations = sw::tools::read_only_annotations("Test: slow call", true);
  t.input_schema = sw::json{
      {"type", "object"},
      {"properties", {{"ms", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}}}}},
      {"required", {"ms"}},
      {"additionalProperties", false}};
  t.output_schema = sw::json{
      {"type", "object"},
      {"properties", {{"slept_ms", {{"type", "integer"}, {"minimum", 0}}}}},
      {"required", {"slept_ms"}},
      {"additionalProperties", false}};
  t.handler = [](const sw::json& args, sw::mcp::CallContext& ctx) {
    const int total = args.at("ms").get<int>();
    constexpr int kStep = 25;
    int slept = 0;
    // A debug-level log notification lets the tests observe logging/setLevel taking effect.
    if (ctx.log) ctx.log(sw::LogLevel::debug, "test_slow", sw::json{{"ms", total}});
    while (slept < total && !ctx.cancelled()) {
      int step = std::min(kStep, total - slept);
      std::this_thread::sleep_for(std::chrono::milliseconds(step));
      slept += step;
      if (ctx.progress) ctx.progress(slept, total, "slept " + std::to_string(slept) + " ms");
    }
    return sw::mcp::ToolOutcome::success(sw::json{{"slept_ms", slept}});
  };
  return t;
}

}  // namespace

SW_REGISTER_TOOL(test_slow, make_test_slow);

int main(int argc, char** argv) { return sw_main(argc, argv); }
