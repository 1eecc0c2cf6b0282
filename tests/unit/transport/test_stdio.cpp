// run_stdio end to end in this process: stdin and stdout are pointed at temporary files for the call.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "transport/transport.h"

using namespace sw;

namespace {

std::string temp_file(const std::string& content) {
  char path[] = "/tmp/sw-stdio-test-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    REQUIRE(n > 0);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

// Feeds `input` to run_stdio as its stdin and returns the lines it wrote to stdout.
std::vector<json> run_stdio_with(mcp::Server& server, const std::string& input, int* rc) {
  std::string in_path = temp_file(input);
  std::string out_path = temp_file("");
  std::fflush(stdout);
  int saved_in = ::dup(0), saved_out = ::dup(1);
  REQUIRE(saved_in >= 0);
  REQUIRE(saved_out >= 0);
  int in = ::open(in_path.c_str(), O_RDONLY);
  int out = ::open(out_path.c_str(), O_WRONLY | O_TRUNC);
  REQUIRE(in >= 0);
  REQUIRE(out >= 0);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::close(in);
  ::close(out);
  std::clearerr(stdin);
  *rc = transport::run_stdio(server);
  std::fflush(stdout);
  ::dup2(saved_in, 0);
  ::dup2(saved_out, 1);
  ::close(saved_in);
  ::close(saved_out);
  std::clearerr(stdin);
  std::ifstream f(out_path);
  std::vector<json> lines;
  std::string line;
  while (std::getline(f, line)) lines.push_back(json::parse(line, nullptr, false));
  ::unlink(in_path.c_str());
  ::unlink(out_path.c_str());
  return lines;
}

}  // namespace

TEST_CASE("stdio: 100,000-deep lines are answered with an error and the session keeps serving") {
  mcp::Server server(mcp::ServerInfo{}, std::make_shared<mcp::ToolRegistry>());
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::ostringstream input;
  input << R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","x":)" << deep
        << "}}\n"
        << R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{"a":)" << deep << "}}}\n"
        << R"({"jsonrpc":"2.0","id":3,"method":"ping","params":{"_meta":)" << deep << "}}\n"
        << std::string(100000, '{') << "\n"
        << R"({"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})" << "\n"
        << R"({"jsonrpc":"2.0","id":5,"method":"ping"})" << "\n";
  int rc = -1;
  auto out = run_stdio_with(server, input.str(), &rc);
  CHECK(rc == 0);
  REQUIRE(out.size() == 6);
  for (size_t i = 0; i < 4; ++i) {
    INFO(i);
    REQUIRE(out[i].is_object());
    CHECK(out[i]["id"].is_null());
    CHECK(out[i]["error"]["code"] == mcp::kInvalidRequest);
  }
  CHECK(out[4]["id"] == 4);
  CHECK(out[4]["result"]["protocolVersion"] == "2025-11-25");
  CHECK(out[5]["id"] == 5);
  CHECK(out[5]["result"] == json::object());
}

TEST_CASE("stdio: a line with the 2026-07-28 _meta is served statelessly without initialize, beside a 2025 session") {
  auto reg = std::make_shared<mcp::ToolRegistry>();
  mcp::Tool echo;
  echo.name = "echo";
  echo.title = "Echo";
  echo.description = "echoes";
  echo.input_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})");
  echo.output_schema = json::parse(R"({"type":"object","properties":{"text":{"type":"string"}}})");
  echo.handler = [](const json& a, mcp::CallContext& ctx) {
    return mcp::ToolOutcome::success(json{{"text", a["text"].get<std::string>() + "@" + ctx.client}});
  };
  REQUIRE(reg->add(echo));
  mcp::Server server(mcp::ServerInfo{}, reg);
  const std::string meta = R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}})";
  std::ostringstream input;
  input << R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{)" << meta << "}}\n"
        << R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},)" << meta << "}}\n"
        << R"({"jsonrpc":"2.0","id":3,"method":"server/discover","params":{}})" << "\n"
        << R"({"jsonrpc":"2.0","id":4,"method":"ping","params":{)" << meta << "}}\n"
        << R"({"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})" << "\n"
        << R"({"jsonrpc":"2.0","id":6,"method":"ping"})" << "\n";
  int rc = -1;
  auto out = run_stdio_with(server, input.str(), &rc);
  CHECK(rc == 0);
  REQUIRE(out.size() == 6);
  std::map<int, json> by_id;
  for (auto& m : out) by_id[m["id"].get<int>()] = m;
  CHECK(by_id[1]["result"]["resultType"] == "complete");
  CHECK(by_id[1]["result"]["supportedVersions"][0] == "2026-07-28");
  CHECK(by_id[2]["result"]["structuredContent"]["text"] == "hi@stdio");
  CHECK(by_id[2]["result"]["resultType"] == "complete");
  CHECK(by_id[3]["error"]["code"] == mcp::kInvalidParams);   // modern method, required _meta missing
  CHECK(by_id[4]["error"]["code"] == mcp::kMethodNotFound);  // ping is not in this era
  CHECK(by_id[5]["result"]["protocolVersion"] == "2025-11-25");
  CHECK_FALSE(by_id[5]["result"].contains("resultType"));
  CHECK(by_id[6]["result"] == json::object());               // the 2025 session as before
}
