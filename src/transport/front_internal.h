// Internal to the HTTP transport's front (front*.cpp; others include front.h): Front::Impl and the connection
// state it keeps. front.cpp runs the listener, event loop, workers, caps and deadlines; front_read.cpp reads and
// parses requests; front_write.cpp writes answers. Thread-safety: Impl's loop-thread state is touched only on the
// loop thread; what workers reach is guarded by the mutex named beside it (directs_mu, mb_mu, wq_mu, stats_mu).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "transport/front.h"

namespace sw::transport::http1 {

namespace detail {

using Clk = std::chrono::steady_clock;

enum class Phase { wait, head, body, busy, stream, linger };

// A busy connection's socket, lent to the worker that answers it: the worker writes its answer itself (no hop
// back to the loop on the client's path) unless the loop closed the connection or answers it otherwise. `mu`
// is held while writing, so the loop never closes the fd under a worker.
struct Direct {
  std::mutex mu;
  int fd = -1;
  bool open = true;
  bool used = false;
  bool keep_alive = true;
  bool http10 = false;
};

struct Conn {
  ConnId id = 0;
  int fd = -1;
  std::string peer;
  Phase phase = Phase::wait;
  Clk::time_point phase_start;
  Clk::time_point last_write;  // last write progress (or when output was queued into an empty buffer)
  std::string in;
  std::string out;
  size_t out_off = 0;
  std::unique_ptr<HeadParser> parser;
  Request req;
  size_t body_len = 0;
  size_t body_reserved = 0;  // counted in Impl::body_bytes
  bool keep_alive = true;
  bool http10 = false;
  bool close_when_flushed = false;
  bool chunked_out = false;  // streaming with chunked encoding (HTTP/1.1); raw until close for HTTP/1.0
  bool reading = true;       // false: input is left in the socket (busy, streaming, or lingered enough)
  bool read_pending = false;  // input may be waiting that was not read (edge-triggered: no new event will say so)
  size_t lingered = 0;
  std::vector<std::function<void()>> done;  // on_done functions for the current exchange
  std::shared_ptr<Direct> direct;             // while busy with nothing queued to write
};

struct Op {
  enum Kind { respond, begin, write, end, done, sent } kind;
  ConnId conn;
  Response res;
  std::string data;
  bool droppable = false;
  std::function<void()> fn;
};

// The JSON-RPC error shape the MCP transport uses for HTTP-level errors (no id). front_write.cpp.
std::string error_body(const std::string& message);

}  // namespace detail

struct Front::Impl {
  using Clk = detail::Clk;
  using Conn = detail::Conn;
  using Direct = detail::Direct;
  using Op = detail::Op;

  HttpLimits lim;
  size_t max_body;
  size_t max_workers;
  Precheck precheck;
  Handler handler;

  int listen_fd = -1, ep = -1, evfd = -1;
  int bound_port = 0;
  size_t conn_cap = 0;
  std::thread loop;
  std::atomic<bool> stopping{false};

  // loop-thread state
  std::unordered_map<ConnId, std::unique_ptr<Conn>> conns;
  std::unordered_map<std::string, size_t> per_peer;
  std::deque<ConnId> ready;  // see run_ready()
  ConnId next_id = 1;
  size_t body_bytes = 0;
  Clk::time_point accept_paused_until{};
  bool accept_paused = false;

  // busy connections a worker may answer directly (see Direct)
  std::mutex directs_mu;
  std::unordered_map<ConnId, std::shared_ptr<Direct>> directs;

  // mailbox
  std::mutex mb_mu;
  std::vector<Op> mailbox;

  // workers
  std::mutex wq_mu;
  std::condition_variable wq_cv;
  std::deque<std::function<void()>> wq;
  std::vector<std::thread> workers;
  size_t idle_workers = 0;
  bool wq_stop = false;

  mutable std::mutex stats_mu;
  Stats st;
  std::string keep_alive_hdr;

  Impl(HttpLimits l, size_t mb, size_t w, Precheck p, Handler h)
      : lim(l), max_body(mb), max_workers(std::max<size_t>(1, w)), precheck(std::move(p)), handler(std::move(h)) {}

  // front.cpp: workers (grow on demand up to max_workers), mailbox, start / stop, the loop, accepting, eviction,
  // closing, deadlines.
  void submit(std::function<void()> fn);
  void worker_main();
  void post(Op op);
  Status start(const std::string& host, int port);
  void stop();
  void run();
  void on_event(ConnId id, uint32_t events);
  void drain_mailbox();
  Conn* find(ConnId id);
  void apply(Op& op);
  void accept_all();
  void pause_accept();
  void refuse(int fd);
  bool evict_one(const std::string& peer);
  void close_conn(ConnId id);
  void sweep(Clk::time_point now);

  // front_read.cpp: per-connection input, from the request head to dispatch.
  void resume_reading(Conn& c);
  void run_ready();
  void on_readable(Conn& c, uint32_t events);
  void progress(Conn& c);
  void on_head(Conn& c);
  void dispatch(Conn& c);

  // front_write.cpp: answers, streams and writing.
  void reply_now(Conn& c, Response res, bool drain);
  void answer_error(Conn& c, int status, const std::string& message);
  std::string serialize(const Response& res, bool keep_alive, bool http10) const;
  void revoke_direct(Conn& c);
  bool try_direct(ConnId conn, Response& res);
  void queue_response(Conn& c, const Response& res, bool streaming);
  void append_chunk(Conn& c, const std::string& data);
  void finish_exchange(Conn& c);
  bool flush(Conn& c);
};

}  // namespace sw::transport::http1
