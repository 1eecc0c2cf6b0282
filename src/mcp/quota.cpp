// Fair sharing of tool calls between callers: per-caller limits on calls running at once and calls started per
// sliding minute (Server::set_call_quota / admit_call, see mcp.h).
#include <deque>
#include <set>

#include "mcp/mcp.h"

namespace sw::mcp {

struct Server::Quotas {
  CallQuota quota;
  std::set<std::string> limited;
  std::mutex mu;
  struct Caller {
    size_t running = 0;
    std::deque<std::chrono::steady_clock::time_point> started;  // within the last minute, oldest first
  };
  std::map<std::string, Caller> callers;  // only limited callers; an entry goes when idle and empty
};

void Server::set_call_quota(CallQuota quota, std::vector<std::string> limited_callers) {
  auto q = std::make_shared<Quotas>();
  q->quota = quota;
  q->limited.insert(limited_callers.begin(), limited_callers.end());
  quotas_ = std::move(q);
}

Result<std::shared_ptr<void>> Server::admit_call(const std::string& caller) const {
  auto q = quotas_;
  if (!q || !q->limited.count(caller)) return std::shared_ptr<void>();
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lk(q->mu);
  auto& c = q->callers[caller];
  while (!c.started.empty() && now - c.started.front() >= std::chrono::minutes(1)) c.started.pop_front();
  auto refuse = [&](std::string message, int64_t retry_after_s) -> Result<std::shared_ptr<void>> {
    if (c.running == 0 && c.started.empty()) q->callers.erase(caller);
    Error e = make_error("RATE_LIMITED", std::move(message));
    e.details = json{{"retry_after_s", retry_after_s}};
    return e;
  };
  if (q->quota.in_flight && c.running >= q->quota.in_flight)
    return refuse("this caller already has " + std::to_string(c.running) +
                      " tool calls running, its limit; nothing was paid by this call — wait for one to finish and "
                      "call again",
                  1);
  if (q->quota.per_minute && c.started.size() >= q->quota.per_minute) {
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(c.started.front() + std::chrono::minutes(1) - now);
    const int64_t s = std::max<int64_t>(1, wait.count() + 1);
    return refuse("this caller started " + std::to_string(c.started.size()) +
                      " tool calls in the last minute, its limit; nothing was paid by this call — call again in " +
                      std::to_string(s) + " s",
                  s);
  }
  ++c.running;
  if (q->quota.per_minute) c.started.push_back(now);
  // The slot: released (and the caller's entry dropped once idle and out of the window) when the call ends.
  return std::shared_ptr<void>(nullptr, [q, caller](void*) {
    std::lock_guard<std::mutex> held(q->mu);
    auto it = q->callers.find(caller);
    if (it == q->callers.end()) return;
    if (it->second.running) --it->second.running;
    if (it->second.running == 0 && it->second.started.empty()) q->callers.erase(it);
  });
}

}  // namespace sw::mcp
