// The notification key file (see owner.h): created 0600 and published atomically (temporary file + link(), so a
// concurrent reader never sees a half-written key), reused afterwards, refused when others could have read it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "owner/owner.h"

namespace sw::owner {

namespace {

Error unusable(const std::string& path, const std::string& what) {
  return make_error("OWNER_KEY_UNUSABLE", "notification key file " + path + ": " + what);
}
Error insecure(const std::string& path, const std::string& what) {
  return make_error("OWNER_KEY_INSECURE",
                    "notification key file " + path + " " + what +
                        "; it may have been copied: `chmod 600` it to keep this identity, or delete it for a new one");
}

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<crypto::SecretKey> read_existing(int fd, const std::string& path) {
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) return unusable(path, std::string("fstat failed: ") + std::strerror(errno));
  if (!S_ISREG(sb.st_mode)) return unusable(path, "is not a regular file");
  if (sb.st_uid != ::geteuid()) return insecure(path, "belongs to another user");
  if ((sb.st_mode & 077) != 0) return insecure(path, "is accessible to group or others (mode must be 0600)");
  char buf[160];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unusable(path, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  std::string_view text = trim(std::string_view(buf, got));
  std::optional<crypto::SecretKey> key;
  if (got < sizeof buf && text.size() == 64)
    if (auto k = crypto::SecretKey::from_hex(text)) key.emplace(std::move(*k));
  crypto::wipe(buf, sizeof buf);
  if (!key) return unusable(path, "does not hold one secret key (64 hex characters)");
  return std::move(*key);
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Creates the key under a temporary name and links it into place. Ok(nullopt) if `path` appeared meanwhile.
Result<std::optional<crypto::SecretKey>> create_new(const std::string& path) {
  auto rnd = crypto::random_bytes(8);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + hex_encode(rnd);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unusable(path, std::string("cannot create it: ") + std::strerror(errno));
  crypto::SecretKey key = crypto::SecretKey::generate();
  std::string text = hex_encode(key.data(), 32) + "\n";
  const bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
  const int saved = errno;
  crypto::wipe(text);
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return unusable(path, std::string("cannot write it: ") + std::strerror(saved));
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) return std::optional<crypto::SecretKey>{};
    return unusable(path, std::string("cannot create it: ") + std::strerror(err));
  }
  ::unlink(tmp.c_str());
  // Make the new name durable too.
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return std::optional<crypto::SecretKey>(std::move(key));
}

}  // namespace

const char* channel_name(Channel c) { return c == Channel::nip04 ? "nip04" : "nip17"; }

std::optional<Channel> parse_channel(std::string_view name) {
  if (ascii_iequals(name, "nip17")) return Channel::nip17;
  if (ascii_iequals(name, "nip04")) return Channel::nip04;
  return std::nullopt;
}

std::string notification_key_path(const std::string& data_dir) {
  return data_dir + "/" + kNotificationKeyFile;
}

Result<crypto::SecretKey> load_or_create_notification_key(const std::string& path) {
  if (path.empty()) return unusable("(none)", "no path given");
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
      auto k = read_existing(fd, path);
      ::close(fd);
      return k;
    }
    if (errno == ELOOP) return insecure(path, "is a symbolic link");
    if (errno != ENOENT) return unusable(path, std::string("cannot open it: ") + std::strerror(errno));
    auto created = create_new(path);
    if (!created) return created.error();
    if (created->has_value()) return std::move(**created);
    // Another process created it between our open and our link: read theirs.
  }
  return unusable(path, "it keeps appearing and disappearing");
}

}  // namespace sw::owner
