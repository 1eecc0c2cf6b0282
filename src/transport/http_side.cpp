// The MCP HTTP transport's side routes (transport.h SideRoutes: e.g. the owner's approval links), served beside MCP
// on the same listener with their own body cap and rate limit, checked on the front's loop before the body is read.
#include <algorithm>
#include <chrono>

#include "transport/front.h"
#include "transport/http_internal.h"
#include "transport/transport.h"

namespace sw::transport::detail {

const SideRoutes* Impl::side_route(const std::string& path) const {
  for (const auto& s : serve.side)
    if (!s.prefix.empty() && path.compare(0, s.prefix.size(), s.prefix) == 0) return &s;
  return nullptr;
}

// A side route's checks, on the loop thread before its body is read: its own body cap and rate limit. Its
// requests carry their own authority (see transport.h SideRoutes): no Host/Origin allow-list, no bearer token.
std::optional<HRes> Impl::side_precheck(const SideRoutes& side, HReq& req) {
  HRes res;
  const std::string cl = req.get_header_value("Content-Length");
  if (!cl.empty() && (cl.size() > 12 || !std::all_of(cl.begin(), cl.end(), is_digit) ||
                      std::stoull(cl) > side.max_body_bytes)) {
    reply_status(res, 413, "Payload Too Large");
    return res;
  }
  auto now = Clk::now();
  if (now - side_window >= std::chrono::minutes(1)) {
    side_window = now;
    side_total = 0;
    side_per_peer.clear();
  }
  size_t& mine = side_per_peer[req.peer];
  if (side_total >= side.per_minute || mine >= side.per_client_per_minute || side_per_peer.size() > 4096) {
    if (mine == 0) side_per_peer.erase(req.peer);
    auto left = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::minutes(1) - (now - side_window));
    res.set_header("Retry-After", std::to_string(std::max<long long>(1, left.count())));
    reply_status(res, 429, "Too Many Requests");
    return res;
  }
  ++mine;
  ++side_total;
  req.label = "side";
  if (side.precheck) {
    std::optional<SideResponse> early;
    try {
      early = side.precheck(side_request(req));
    } catch (...) {
      early = SideResponse{500, "application/json",
                           "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"the request could not be handled\"}}",
                           {}, {}};
    }
    if (early) {
      res.status = early->status;
      res.headers = std::move(early->headers);
      res.set_content(std::move(early->body), std::move(early->content_type));
      return res;
    }
  }
  return std::nullopt;
}

SideRequest Impl::side_request(const HReq& req) {
  SideRequest sr;
  sr.method = req.method;
  sr.path = req.path;
  sr.query = req.query;
  sr.body = req.body;
  sr.peer = req.peer;
  sr.headers = req.headers;
  return sr;
}

// A side route's open stream: writes go to the front while the listener runs (stop() clears `front` under mu).
class Impl::SideStreamImpl final : public SideStream {
 public:
  SideStreamImpl(std::shared_ptr<SideSink> sink, ConnId conn) : sink_(std::move(sink)), conn_(conn) {}
  bool write(std::string data) override {
    std::lock_guard<std::mutex> lk(sink_->mu);
    if (!sink_->front || !open_) return false;
    sink_->front->stream_write(conn_, std::move(data), /*droppable=*/true);
    return true;
  }
  void end() override {
    std::lock_guard<std::mutex> lk(sink_->mu);
    if (!sink_->front || !open_) return;
    open_ = false;
    sink_->front->stream_end(conn_);
  }
  bool open() const override {
    std::lock_guard<std::mutex> lk(sink_->mu);
    return sink_->front && open_;
  }
  void closed() {
    std::lock_guard<std::mutex> lk(sink_->mu);
    open_ = false;
  }

 private:
  std::shared_ptr<SideSink> sink_;
  ConnId conn_;
  bool open_ = true;  // guarded by sink_->mu
};

// nullopt when the route answered with a stream (the exchange stays open).
std::optional<HRes> Impl::side_handle(const SideRoutes& side, const HReq& req, ConnId conn) {
  SideResponse out;
  try {
    out = side.handle(side_request(req));
  } catch (...) {
    out = SideResponse{};
    out.status = 500;
    out.content_type = "application/json";
    out.body = "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"the request could not be handled\"}}";
  }
  HRes res;
  res.status = out.status;
  res.headers = std::move(out.headers);
  if (out.stream) {
    res.content_type = std::move(out.content_type);
    res.set_header("X-Accel-Buffering", "no");
    {
      std::lock_guard<std::mutex> lk(side_sink->mu);
      if (!side_sink->front) return std::nullopt;
      side_sink->front->stream_begin(conn, std::move(res));
    }
    auto st = std::make_shared<SideStreamImpl>(side_sink, conn);
    front->on_done(conn, [st] { st->closed(); });
    try {
      out.stream(st);
    } catch (...) {
      st->end();
    }
    return std::nullopt;
  }
  res.set_content(std::move(out.body), std::move(out.content_type));
  return res;
}

}  // namespace sw::transport::detail
