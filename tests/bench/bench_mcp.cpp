// Benchmark of the MCP server shell (issue targets in the README):
//   spawn → initialize response; RSS after initialize; stdio tools/call decode_invoice latency;
//   Streamable HTTP latency with a raw keep-alive client; throughput with 64 concurrent HTTP clients; a burst of
//   200 clients connecting at once, each calling a tool on a fresh connection (issue 11: no listen-queue drops).
//   Each latency and throughput row is measured for both protocol eras in the same run (issue 13): the 2025 era
//   (initialize, then calls on the session) and the 2026-07-28 era (stateless: every call carries its _meta, and
//   on HTTP the MCP-Protocol-Version / Mcp-Method / Mcp-Name headers), alternating in blocks of 250 calls.
// Usage: bench_mcp [path/to/satwarden] [--quick]. Every loop is bounded; the servers are killed at the end.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

using json = nlohmann::json;
using Clk = std::chrono::steady_clock;

namespace {

std::string g_bin = SW_SERVER_BIN;
std::string g_data = "/tmp/sw_bench_" + std::to_string(::getpid());

double ms_since(Clk::time_point t) { return std::chrono::duration<double, std::milli>(Clk::now() - t).count(); }

struct Stats {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  size_t n() const { return v.size(); }
  double pct(double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())))];
  }
};

struct Child {
  pid_t pid = -1;
  int in = -1, out = -1, err = -1;
};

Child spawn(const std::vector<std::string>& args) {
  int pin[2], pout[2], perr[2];
  if (pipe(pin) || pipe(pout) || pipe(perr)) std::abort();
  Child c;
  c.pid = fork();
  if (c.pid == 0) {
    dup2(pin[0], 0);
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    close(pin[1]);
    close(pout[0]);
    close(perr[0]);
    setenv("XDG_DATA_HOME", g_data.c_str(), 1);
    setenv("SATWARDEN_LOG_LEVEL", "warning", 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(g_bin.c_str()));
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(g_bin.c_str(), argv.data());
    _exit(127);
  }
  close(pin[0]);
  close(pout[1]);
  close(perr[1]);
  c.in = pin[1];
  c.out = pout[0];
  c.err = perr[0];
  return c;
}

void stop(Child& c) {
  if (c.in >= 0) close(c.in);
  kill(c.pid, SIGTERM);
  int st;
  waitpid(c.pid, &st, 0);
  if (c.out >= 0) close(c.out);
  if (c.err >= 0) close(c.err);
}

// Line reader over a pipe.
struct LineReader {
  int fd;
  std::string buf;
  bool read_line(std::string& line) {
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return true;
      }
      char tmp[65536];
      ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, size_t(n));
    }
  }
};

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) std::abort();
    off += size_t(n);
  }
}

long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

const std::string kInit =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})";
const std::string kInitialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

std::string invoice() {
  std::ifstream f(std::string(SW_VECTORS_DIR) + "/bolt11.json");
  json j = json::parse(f);
  return j["valid"][1]["invoice"].get<std::string>();
}

std::string call_msg(int id, const std::string& inv) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "tools/call"},
              {"params", {{"name", "decode_invoice"}, {"arguments", {{"invoice", inv}}}}}}
      .dump();
}

// The same call in the 2026-07-28 era: no session, the protocol version and client capabilities in _meta.
std::string modern_call_msg(int id, const std::string& inv) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "tools/call"},
              {"params",
               {{"name", "decode_invoice"},
                {"arguments", {{"invoice", inv}}},
                {"_meta",
                 {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                  {"io.modelcontextprotocol/clientCapabilities", json::object()}}}}}}
      .dump();
}

// ---------------------------------------------------------------- raw HTTP/1.1 keep-alive client
struct Http {
  int fd = -1;
  std::string buf;
  std::string session;
  bool modern = false;  // 2026-07-28: no session; the era's headers on every POST
  bool connect_to(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  // Returns status; fills body and (for initialize) the session id.
  int post(const std::string& body, std::string& out) {
    std::string req = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\n";
    req += modern ? "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: decode_invoice\r\n"
                  : "MCP-Protocol-Version: 2025-11-25\r\n";
    if (!session.empty()) req += "Mcp-Session-Id: " + session + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    write_all(fd, req);
    size_t hdr_end;
    while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return -1;
    std::string head = buf.substr(0, hdr_end);
    buf.erase(0, hdr_end + 4);
    int status = std::stoi(head.substr(9, 3));
    size_t len = 0;
    std::istringstream hs(head);
    std::string line;
    while (std::getline(hs, line)) {
      std::string l = line;
      std::transform(l.begin(), l.end(), l.begin(), ::tolower);
      if (l.rfind("content-length:", 0) == 0) len = std::stoul(l.substr(15));
      if (l.rfind("mcp-session-id:", 0) == 0) {
        session = line.substr(15);
        session.erase(0, session.find_first_not_of(' '));
        while (!session.empty() && (session.back() == '\r' || session.back() == ' ')) session.pop_back();
      }
    }
    while (buf.size() < len)
      if (!fill()) return -1;
    out = buf.substr(0, len);
    buf.erase(0, len);
    return status;
  }
  bool fill() {
    char tmp[65536];
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf.append(tmp, size_t(n));
    return true;
  }
  bool init() {
    if (modern) return true;  // nothing to set up in the stateless era
    std::string out;
    if (post(kInit, out) != 200) return false;
    return post(kInitialized, out) == 202;
  }
};

// A burst: `n` fresh connections opened at once from one thread (non-blocking), each sending one tools/call on
// session `sid` with Connection: close. Returns each connection's time from the burst's start to its complete
// answer (ms); -1 for one that failed. Bounded by a 10 s overall limit.
std::vector<double> burst(int port, const std::string& sid, const std::string& inv, int n) {
  struct C {
    int fd = -1;
    std::string out, in;
    size_t off = 0;
    double done = -1;
    bool finished = false;
  };
  std::vector<C> cs(static_cast<size_t>(n));
  auto t0 = Clk::now();
  for (int i = 0; i < n; ++i) {
    C& c = cs[size_t(i)];
    std::string body = call_msg(1000 + i, inv);
    c.out = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            "MCP-Protocol-Version: 2025-11-25\r\nMcp-Session-Id: " + sid + "\r\nConnection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  int left = n;
  while (left > 0 && ms_since(t0) < 10000) {
    std::vector<pollfd> pf;
    std::vector<size_t> idx;
    for (size_t i = 0; i < cs.size(); ++i) {
      if (cs[i].finished) continue;
      pf.push_back({cs[i].fd, short(cs[i].off < cs[i].out.size() ? POLLOUT : POLLIN), 0});
      idx.push_back(i);
    }
    if (poll(pf.data(), pf.size(), 100) <= 0) continue;
    for (size_t k = 0; k < pf.size(); ++k) {
      C& c = cs[idx[k]];
      if (!pf[k].revents) continue;
      if (c.off < c.out.size()) {
        ssize_t w = ::send(c.fd, c.out.data() + c.off, c.out.size() - c.off, MSG_NOSIGNAL);
        if (w > 0) c.off += size_t(w);
        else if (w < 0 && errno != EAGAIN && errno != EINPROGRESS) {
          c.finished = true;
          --left;
        }
        continue;
      }
      char buf[65536];
      ssize_t r = ::read(c.fd, buf, sizeof buf);
      if (r > 0) {
        c.in.append(buf, size_t(r));
        auto he = c.in.find("\r\n\r\n");
        if (he != std::string::npos) {
          auto cl = c.in.find("Content-Length: ");
          size_t len = cl != std::string::npos && cl < he ? std::stoul(c.in.substr(cl + 16)) : 0;
          if (c.in.size() >= he + 4 + len) {
            if (c.in.compare(0, 12, "HTTP/1.1 200") == 0 && c.in.find("structuredContent") != std::string::npos)
              c.done = ms_since(t0);
            c.finished = true;
            --left;
          }
        }
      } else if (r == 0 || (errno != EAGAIN)) {
        c.finished = true;
        --left;
      }
    }
  }
  std::vector<double> out;
  for (auto& c : cs) {
    out.push_back(c.done);
    ::close(c.fd);
  }
  return out;
}

int start_http(Child& c) {
  c = spawn({"--transport", "http", "--port", "0", "--http-threads", "96", "--log-level", "info"});
  LineReader r{c.err, ""};
  std::string line;
  while (r.read_line(line)) {
    auto p = line.find("http://127.0.0.1:");
    if (p != std::string::npos) return std::stoi(line.substr(p + 17));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;
    else g_bin = a;
  }
  signal(SIGPIPE, SIG_IGN);
  const std::string inv = invoice();
  const int spawns = quick ? 10 : 50, calls = quick ? 1000 : 5000;

  // 1. spawn → initialize response, and RSS after initialize.
  Stats spawn_ms;
  long rss = 0;
  for (int i = 0; i < spawns; ++i) {
    auto t0 = Clk::now();
    Child c = spawn({});
    write_all(c.in, kInit + "\n");
    LineReader r{c.out, ""};
    std::string line;
    if (!r.read_line(line)) {
      std::cerr << "server did not answer initialize\n";
      return 1;
    }
    spawn_ms.add(ms_since(t0));
    write_all(c.in, kInitialized + "\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    rss = std::max(rss, rss_kb(c.pid));
    stop(c);
  }
  std::printf("spawn_to_initialize_ms  median %.2f  p90 %.2f  (n=%d, existing data directory)\n", spawn_ms.pct(50),
              spawn_ms.pct(90), spawns);
  std::printf("rss_after_initialize_mb %.2f (max over runs)\n", double(rss) / 1024.0);
  // The same with a fresh data directory each time (the first start: directory, ledger file and schema created).
  {
    Stats fresh_ms;
    const std::string saved = g_data;
    for (int i = 0; i < spawns; ++i) {
      g_data = saved + "/fresh-" + std::to_string(i);
      auto t0 = Clk::now();
      Child c = spawn({});
      write_all(c.in, kInit + "\n");
      LineReader r{c.out, ""};
      std::string line;
      if (!r.read_line(line)) {
        std::cerr << "server did not answer initialize (fresh data directory)\n";
        return 1;
      }
      fresh_ms.add(ms_since(t0));
      stop(c);
    }
    g_data = saved;
    std::printf("spawn_to_initialize_ms  median %.2f  p90 %.2f  (n=%d, fresh data directory)\n", fresh_ms.pct(50),
                fresh_ms.pct(90), spawns);
  }

  // 2. stdio tools/call decode_invoice, sequential: a 2025-era server (initialized) and a 2026-07-28 one
  // (stateless), alternating in blocks of 250 calls.
  {
    Child legacy = spawn({}), modern = spawn({});
    LineReader rl{legacy.out, ""}, rm{modern.out, ""};
    std::string line;
    write_all(legacy.in, kInit + "\n" + kInitialized + "\n");
    rl.read_line(line);
    Stats st_legacy, st_modern;
    for (int i = 0; i < 2 * calls + 400; ++i) {  // the first block of each era warms up
      const bool use_modern = (i / 250) % 2 == 1;
      Child& c = use_modern ? modern : legacy;
      LineReader& r = use_modern ? rm : rl;
      const std::string m = (use_modern ? modern_call_msg(i + 1, inv) : call_msg(i + 1, inv)) + "\n";
      auto t0 = Clk::now();
      write_all(c.in, m);
      if (!r.read_line(line)) return 1;
      if (i >= 500) (use_modern ? st_modern : st_legacy).add(ms_since(t0));
      if (line.find("structuredContent") == std::string::npos) {
        std::cerr << "unexpected reply: " << line.substr(0, 300) << "\n";
        return 1;
      }
    }
    std::printf("stdio_decode_invoice_ms median %.3f  p99 %.3f  (n=%zu, 2025 era)\n", st_legacy.pct(50),
                st_legacy.pct(99), st_legacy.n());
    std::printf("stdio_decode_invoice_ms median %.3f  p99 %.3f  (n=%zu, 2026-07-28 era, stateless)\n",
                st_modern.pct(50), st_modern.pct(99), st_modern.n());
    stop(legacy);
    stop(modern);
  }

  // 3. Streamable HTTP, raw keep-alive client, sequential.
  Child hc;
  int port = start_http(hc);
  if (port <= 0) {
    std::cerr << "http server did not start\n";
    return 1;
  }
  {
    Http hl, hm;
    hm.modern = true;
    if (!hl.connect_to(port) || !hl.init() || !hm.connect_to(port) || !hm.init()) {
      std::cerr << "http initialize failed\n";
      return 1;
    }
    Stats st_legacy, st_modern;
    std::string out;
    for (int i = 0; i < 2 * calls + 400; ++i) {
      const bool use_modern = (i / 250) % 2 == 1;
      Http& h = use_modern ? hm : hl;
      auto t0 = Clk::now();
      int s = h.post(use_modern ? modern_call_msg(i + 1, inv) : call_msg(i + 1, inv), out);
      if (s != 200 || out.find("structuredContent") == std::string::npos) {
        std::cerr << "http status " << s << ": " << out.substr(0, 300) << "\n";
        return 1;
      }
      if (i >= 500) (use_modern ? st_modern : st_legacy).add(ms_since(t0));
    }
    std::printf("http_decode_invoice_ms  median %.3f  p99 %.3f  (n=%zu, one keep-alive connection, 2025 era)\n",
                st_legacy.pct(50), st_legacy.pct(99), st_legacy.n());
    std::printf("http_decode_invoice_ms  median %.3f  p99 %.3f  (n=%zu, one keep-alive connection, 2026-07-28 era)\n",
                st_modern.pct(50), st_modern.pct(99), st_modern.n());
    close(hl.fd);
    close(hm.fd);
  }

  // 4. Throughput: 64 concurrent keep-alive clients (each with its own session in the 2025 era), for a fixed
  // time; 2025, 2026-07-28, 2025, 2026-07-28.
  for (int round = 0; round < 4; ++round) {
    const bool use_modern = round % 2 == 1;
    const int clients = 64;
    const double seconds = quick ? 2.0 : 5.0;
    std::atomic<long> done{0}, failed{0};
    std::atomic<bool> go{false}, halt{false};
    std::vector<std::thread> ts;
    for (int c = 0; c < clients; ++c)
      ts.emplace_back([&] {
        Http h;
        h.modern = use_modern;
        if (!h.connect_to(port) || !h.init()) {
          failed++;
          return;
        }
        while (!go) std::this_thread::yield();
        std::string out;
        int id = 1;
        while (!halt) {
          const std::string m = use_modern ? modern_call_msg(id++, inv) : call_msg(id++, inv);
          if (h.post(m, out) == 200) done++;
          else {
            failed++;
            break;
          }
        }
        close(h.fd);
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto t0 = Clk::now();
    go = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    halt = true;
    double el = ms_since(t0) / 1000.0;
    for (auto& t : ts) t.join();
    std::printf("http_64_clients_calls_per_s %.0f  (%ld calls in %.1f s, %ld failed, %s)\n", double(done) / el,
                done.load(), el, failed.load(), use_modern ? "2026-07-28 era" : "2025 era");
  }

  // 5. Burst: 200 clients connect at once, each calls decode_invoice on a fresh connection (one session).
  {
    Http h;
    if (!h.connect_to(port) || !h.init()) {
      std::cerr << "http initialize failed\n";
      return 1;
    }
    (void)burst(port, h.session, inv, 20);  // warm-up
    const int rounds = quick ? 3 : 5;
    for (int r = 0; r < rounds; ++r) {
      auto t = burst(port, h.session, inv, 200);
      int failed = 0, over1s = 0;
      Stats st;
      for (double x : t) {
        if (x < 0) failed++;
        else {
          st.add(x);
          if (x >= 1000) over1s++;
        }
      }
      std::printf("http_burst_200_fresh_ms all answered by %.1f  p50 %.1f  (%d failed, %d waited >= 1 s)\n",
                  st.pct(100), st.pct(50), failed, over1s);
    }
    close(h.fd);
  }
  stop(hc);
  std::system(("rm -rf " + g_data).c_str());
  return 0;
}
