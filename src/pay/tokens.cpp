#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pay/pay.h"

namespace sw::pay {

TokenCache::TokenCache(std::string path) : path_(std::move(path)) {}

namespace {
void load_file(const std::string& path, std::map<std::string, std::string>& out) {
  std::ifstream in(path);
  if (!in) return;  // no cache yet
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_object()) {
    log(LogLevel::warning, "tokens", "token cache file is unreadable; starting empty");
    return;
  }
  for (auto& [origin, v] : j["tokens"].items())
    if (v.is_string()) out[origin] = v.get<std::string>();
}
}  // namespace

std::optional<std::string> TokenCache::get(const std::string& origin) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!loaded_) {
    load_file(path_, entries_);
    loaded_ = true;
  }
  auto it = entries_.find(origin);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

Status TokenCache::put(const std::string& origin, const std::string& header) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!loaded_) {
    load_file(path_, entries_);
    loaded_ = true;
  }
  entries_[origin] = header;
  return save_locked();
}

Status TokenCache::drop(const std::string& origin) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!loaded_) {
    load_file(path_, entries_);
    loaded_ = true;
  }
  if (!entries_.erase(origin)) return ok_status();
  return save_locked();
}

size_t TokenCache::size() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!loaded_) {
    load_file(path_, entries_);
    loaded_ = true;
  }
  return entries_.size();
}

Status TokenCache::save_locked() {
  json j{{"version", 1}, {"tokens", entries_}};
  std::string text = json_dump(j);
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("TOKEN_CACHE_ERROR", std::string("cannot write the token cache: ") + std::strerror(errno));
  ::fchmod(fd, 0600);
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      return make_error("TOKEN_CACHE_ERROR", "cannot write the token cache");
    }
    off += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0)
    return make_error("TOKEN_CACHE_ERROR", std::string("cannot replace the token cache: ") + std::strerror(errno));
  return ok_status();
}

}  // namespace sw::pay
