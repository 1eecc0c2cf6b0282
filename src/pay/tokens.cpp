// The L402 credential cache (pay.h): per owner (client label + envelope + hosted) and origin, with the paths each
// credential is known to work at. Persisted atomically with mode 0600.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pay/pay.h"

namespace sw::pay {

namespace {

// Path segments of a request path ("/a/b?q" → {"a","b"}); the query never counts.
std::vector<std::string_view> segments(std::string_view path) {
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string normalize_path(const std::string& path) {
  std::string p = path.substr(0, path.find('?'));
  if (p.empty() || p[0] != '/') p.insert(p.begin(), '/');
  return p;
}

size_t shared_segments(std::string_view a, std::string_view b) {
  auto sa = segments(a), sb = segments(b);
  size_t n = 0;
  while (n < sa.size() && n < sb.size() && sa[n] == sb[n]) ++n;
  return n;
}

bool is_str(const json& j, const char* k) { return j.contains(k) && j[k].is_string(); }

}  // namespace

TokenCache::TokenCache(std::string path) : path_(std::move(path)) {}

void TokenCache::load_locked() {
  if (loaded_) return;
  loaded_ = true;
  std::ifstream in(path_);
  if (!in) return;  // no cache yet
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) {
    log(LogLevel::warning, "tokens", "token cache file is unreadable; starting empty");
    return;
  }
  int version = j.contains("version") && j["version"].is_number_integer() ? j["version"].get<int>() : 1;
  if (version == 1 && j.contains("tokens") && j["tokens"].is_object()) {
    // Format 1 was keyed by origin only: whoever paid is unknown. Only the stdio owner may use these.
    size_t n = 0;
    for (auto& [origin, v] : j["tokens"].items())
      if (v.is_string() && !v.get<std::string>().empty()) {
        entries_.push_back(Entry{TokenOwner{"stdio", "", false}, origin, v.get<std::string>(), {}});
        ++n;
      }
    if (n)
      log(LogLevel::notice, "tokens",
          "token cache from an older version: " + std::to_string(n) +
              " credential(s) without an owner are kept for the stdio owner only");
    return;
  }
  if (version != 2 || !j.contains("credentials") || !j["credentials"].is_array()) {
    log(LogLevel::warning, "tokens",
        "token cache file has an unknown format (version " + std::to_string(version) + "); starting empty");
    return;
  }
  size_t skipped = 0;
  for (const auto& c : j["credentials"]) {
    if (!c.is_object() || !is_str(c, "client") || !is_str(c, "envelope") || !is_str(c, "origin") ||
        !is_str(c, "authorization") || c["authorization"].get<std::string>().empty() || !c.contains("hosted") ||
        !c["hosted"].is_boolean()) {
      ++skipped;
      continue;
    }
    Entry e{TokenOwner{c["client"].get<std::string>(), c["envelope"].get<std::string>(), c["hosted"].get<bool>()},
            c["origin"].get<std::string>(), c["authorization"].get<std::string>(), {}};
    if (c.contains("paths") && c["paths"].is_array())
      for (const auto& p : c["paths"])
        if (p.is_string() && e.paths.size() < kMaxPaths) e.paths.push_back(p.get<std::string>());
    entries_.push_back(std::move(e));
  }
  if (skipped) log(LogLevel::warning, "tokens", "token cache: skipped " + std::to_string(skipped) + " malformed entries");
}

std::vector<TokenCache::Entry>::iterator TokenCache::find_locked(const TokenOwner& owner, const std::string& origin,
                                                                 const std::string& header) {
  return std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.owner == owner && e.origin == origin && e.header == header;
  });
}

std::optional<std::string> TokenCache::get(const TokenOwner& owner, const std::string& origin,
                                           const std::string& path) {
  std::lock_guard<std::mutex> lk(mu_);
  load_locked();
  const std::string p = normalize_path(path);
  const Entry* best = nullptr;
  long best_score = -1;
  // Newest first, so among equal scores the newest wins.
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->owner != owner || it->origin != origin) continue;
    long score = 0;
    for (const auto& known : it->paths) {
      long s = known == p ? 1'000'000 : static_cast<long>(shared_segments(known, p));
      score = std::max(score, s);
    }
    if (score > best_score) {
      best = &*it;
      best_score = score;
    }
  }
  if (!best) return std::nullopt;
  return best->header;
}

Status TokenCache::put(const TokenOwner& owner, const std::string& origin, const std::string& path,
                       const std::string& header) {
  if (header.empty()) return make_error("TOKEN_CACHE_ERROR", "empty credential");
  std::lock_guard<std::mutex> lk(mu_);
  load_locked();
  const std::string p = normalize_path(path);
  Entry e{owner, origin, header, {}};
  if (auto it = find_locked(owner, origin, header); it != entries_.end()) {
    e.paths = std::move(it->paths);
    entries_.erase(it);
  }
  e.paths.erase(std::remove(e.paths.begin(), e.paths.end(), p), e.paths.end());
  e.paths.push_back(p);
  if (e.paths.size() > kMaxPaths) e.paths.erase(e.paths.begin());
  entries_.push_back(std::move(e));
  // Bounds: per owner + origin, then overall (oldest first).
  size_t same = 0;
  for (const auto& x : entries_) same += x.owner == owner && x.origin == origin;
  for (auto it = entries_.begin(); same > kMaxPerOrigin && it != entries_.end();) {
    if (it->owner == owner && it->origin == origin) {
      it = entries_.erase(it);
      --same;
    } else {
      ++it;
    }
  }
  if (entries_.size() > kMaxCredentials)
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<long>(entries_.size() - kMaxCredentials));
  return save_locked();
}

Status TokenCache::accepted(const TokenOwner& owner, const std::string& origin, const std::string& path,
                            const std::string& header) {
  std::lock_guard<std::mutex> lk(mu_);
  load_locked();
  auto it = find_locked(owner, origin, header);
  if (it == entries_.end()) return ok_status();
  // An entry without known paths (format 1) stays origin-wide; one already known here needs no write.
  const std::string p = normalize_path(path);
  if (it->paths.empty() || std::find(it->paths.begin(), it->paths.end(), p) != it->paths.end()) return ok_status();
  it->paths.push_back(p);
  if (it->paths.size() > kMaxPaths) it->paths.erase(it->paths.begin());
  return save_locked();
}

Result<bool> TokenCache::rejected(const TokenOwner& owner, const std::string& origin, const std::string& path,
                                  const std::string& header) {
  std::lock_guard<std::mutex> lk(mu_);
  load_locked();
  auto it = find_locked(owner, origin, header);
  if (it == entries_.end()) return false;
  const std::string p = normalize_path(path);
  bool known_here = it->paths.empty() || std::find(it->paths.begin(), it->paths.end(), p) != it->paths.end();
  if (!known_here) return false;
  entries_.erase(it);
  if (auto st = save_locked(); !st) return st.error();
  return true;
}

Status TokenCache::drop(const TokenOwner& owner, const std::string& origin) {
  std::lock_guard<std::mutex> lk(mu_);
  load_locked();
  auto n = std::erase_if(entries_, [&](const Entry& e) { return e.owner == owner && e.origin == origin; });
  if (!n) return ok_status();
  return save_locked();
}

size_t TokenCache::size() {
  std::lock_guard<std::mutex> lk(mu_);
  load_locked();
  return entries_.size();
}

Status TokenCache::save_locked() {
  json list = json::array();
  for (const auto& e : entries_)
    list.push_back(json{{"client", e.owner.client},
                        {"envelope", e.owner.envelope},
                        {"hosted", e.owner.hosted},
                        {"origin", e.origin},
                        {"authorization", e.header},
                        {"paths", e.paths}});
  json j{{"version", 2}, {"credentials", std::move(list)}};
  std::string text = json_dump(j);
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("TOKEN_CACHE_ERROR", std::string("cannot write the token cache: ") + std::strerror(errno));
  ::fchmod(fd, 0600);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error("TOKEN_CACHE_ERROR", "cannot write the token cache");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return make_error("TOKEN_CACHE_ERROR", std::string("cannot flush the token cache: ") + std::strerror(errno));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return make_error("TOKEN_CACHE_ERROR", std::string("cannot replace the token cache: ") + std::strerror(errno));
  }
  return ok_status();
}

}  // namespace sw::pay
