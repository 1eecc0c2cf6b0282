// satwarden_elicit_server: a test-only MCP server (sw_mcp + sw_transport, no engine, no wallet) whose one tool
// asks the client something through elicitation/create, so the interop tests can drive form-mode elicitation
// with the official SDK over stdio, Streamable HTTP and legacy HTTP+SSE. No production tool elicits; this binary
// is never installed and never part of `satwarden`.
//
//   satwarden_elicit_server --transport stdio
//   satwarden_elicit_server --transport http [--port N]   (N = 0 or absent: any free port on 127.0.0.1)
// Over HTTP it logs "serving MCP on http://127.0.0.1:<port>/mcp" to stderr and serves until SIGTERM / SIGINT.
//
// Tool `test_elicit` {message?, timeout_ms? (1..60000, default 10000)}: asks {approve: boolean (required),
// note?: string, tier?: "low"|"high"} and returns {answer: {action, content?}}; {elicit: "absent"} when the
// client did not declare form elicitation; an isError result with the code (ELICITATION_FAILED, …) otherwise.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mcp/mcp.h"
#include "transport/transport.h"

// Defined in http.cpp. The loader refers to it weakly, which would not take http.cpp out of the static archive;
// this strong reference does, so make_http_server() uses the linked-in copy instead of looking for the module.
extern "C" sw::transport::HttpServer* sw_http_server_create(sw::mcp::Server* server, const sw::config::Config* config,
                                                            const sw::transport::HttpLimits* limits);
__attribute__((used)) sw::transport::HttpServer* (*const kLinkHttp)(sw::mcp::Server*, const sw::config::Config*,
                                                                    const sw::transport::HttpLimits*) = &sw_http_server_create;

namespace {

sw::mcp::Tool make_test_elicit() {
  sw::mcp::Tool t;
  t.name = "test_elicit";
  t.title = "Test: ask the user";
  t.description = "Test-only: asks the person at the client to approve (elicitation/create) and returns the answer.";
  t.annotations = sw::json{{"readOnlyHint", true}, {"openWorldHint", false}};
  t.input_schema = sw::json{{"type", "object"},
                            {"properties",
                             {{"message", {{"type", "string"}, {"minLength", 1}}},
                              {"timeout_ms", {{"type", "integer"}, {"minimum", 1}, {"maximum", 60000}}}}},
                            {"additionalProperties", false}};
  t.output_schema = sw::json{{"type", "object"}};
  t.handler = [](const sw::json& args, sw::mcp::CallContext& ctx) {
    if (!ctx.elicit) return sw::mcp::ToolOutcome::success(sw::json{{"elicit", "absent"}});
    sw::json schema{{"type", "object"},
                    {"properties",
                     {{"approve", {{"type", "boolean"}, {"title", "Approve"}}},
                      {"note", {{"type", "string"}, {"title", "Note"}}},
                      {"tier", {{"type", "string"}, {"enum", {"low", "high"}}}}}},
                    {"required", {"approve"}}};
    auto r = ctx.elicit(sw::json{{"message", args.value("message", "Approve paying 600 sats to example.com for X?")},
                                 {"requestedSchema", schema}},
                        std::chrono::milliseconds(args.value("timeout_ms", 10000)));
    if (!r) return sw::mcp::ToolOutcome::failure(r.error());
    return sw::mcp::ToolOutcome::success(sw::json{{"answer", *r}});
  };
  return t;
}

int usage() {
  std::fprintf(stderr, "usage: satwarden_elicit_server --transport stdio|http [--port N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string transport = "stdio";
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--transport" && i + 1 < argc) transport = argv[++i];
    else if (a == "--port" && i + 1 < argc) port = std::atoi(argv[++i]);
    else return usage();
  }
  if ((transport != "stdio" && transport != "http") || port < 0 || port > 65535) return usage();

  auto reg = std::make_shared<sw::mcp::ToolRegistry>();
  if (auto st = reg->add(make_test_elicit()); !st) {
    std::fprintf(stderr, "tool: %s\n", st.error().message.c_str());
    return 1;
  }
  sw::mcp::ServerInfo info;
  info.name = "satwarden-elicit-test";
  info.version = "0";
  sw::mcp::Server server(info, reg);
  if (transport == "stdio") return sw::transport::run_stdio(server);

  // Signals are taken by sigwait below; block them before any thread starts so none of them gets one.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  sw::config::Config cfg;
  cfg.transport = "http";
  cfg.host = "127.0.0.1";
  cfg.port = static_cast<uint16_t>(port);
  cfg.http_threads = 4;
  auto made = sw::transport::make_http_server(server, cfg);
  if (!made) {
    std::fprintf(stderr, "%s: %s\n", made.error().code.c_str(), made.error().message.c_str());
    return 1;
  }
  auto& http = *made;
  if (auto st = http->start(); !st) {
    std::fprintf(stderr, "%s: %s\n", st.error().code.c_str(), st.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "serving MCP on http://127.0.0.1:%d/mcp\n", http->port());
  std::fflush(stderr);
  int sig = 0;
  sigwait(&sigs, &sig);
  http->stop();
  return 0;
}
