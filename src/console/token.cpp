// The owner token file (console.h owner_token): 32 random bytes, base64url, in DATA_DIR/console-token. Created
// 0600 under a temporary name and linked into place (a concurrent reader never sees half of it, and two first
// starts agree on one token); refused when another user owns it or group/others may read it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "console/console.h"
#include "crypto/crypto.h"

namespace sw::console {
namespace {

Error unusable(const std::string& path, const std::string& what) {
  return make_error("CONSOLE_TOKEN_UNUSABLE", "console owner token file " + path + ": " + what);
}

bool valid_token(std::string_view t) {
  if (t.size() != 43) return false;
  for (char c : t)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

Result<std::string> read_existing(int fd, const std::string& path) {
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) return unusable(path, std::string("fstat failed: ") + std::strerror(errno));
  if (!S_ISREG(sb.st_mode)) return unusable(path, "is not a regular file");
  if (sb.st_uid != ::geteuid() || (sb.st_mode & 077) != 0)
    return make_error("CONSOLE_TOKEN_INSECURE",
                      "console owner token file " + path +
                          (sb.st_uid != ::geteuid() ? " belongs to another user"
                                                    : " is accessible to group or others (mode must be 0600)") +
                          ": delete it (a new token is made on the next start; old login links stop working)");
  char buf[128];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unusable(path, std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  std::string text(trim(std::string_view(buf, got)));
  crypto::wipe(buf, sizeof buf);
  if (got >= sizeof buf || !valid_token(text)) {
    crypto::wipe(text);
    return unusable(path, "does not hold one token (43 base64url characters): delete it for a new one");
  }
  return text;
}

}  // namespace

Result<std::string> owner_token(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kTokenFile;
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
      auto t = read_existing(fd, path);
      ::close(fd);
      return t;
    }
    if (errno != ENOENT) return unusable(path, std::string("cannot open it: ") + std::strerror(errno));
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + hex_encode(crypto::random_bytes(8));
    int w = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w < 0) return unusable(path, std::string("cannot create it: ") + std::strerror(errno));
    Bytes raw = crypto::random_bytes(32);
    std::string token = base64_encode(raw, /*url=*/true, /*pad=*/false);
    crypto::wipe(raw.data(), raw.size());
    std::string text = token + "\n";
    bool ok = ::fchmod(w, 0600) == 0;
    for (size_t off = 0; ok && off < text.size();) {
      ssize_t n = ::write(w, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) off += static_cast<size_t>(n);
    }
    ok = ok && ::fsync(w) == 0;
    const int saved = errno;
    ::close(w);
    crypto::wipe(text);
    if (!ok) {
      ::unlink(tmp.c_str());
      crypto::wipe(token);
      return unusable(path, std::string("cannot write it: ") + std::strerror(saved));
    }
    const bool linked = ::link(tmp.c_str(), path.c_str()) == 0;
    const int err = errno;
    ::unlink(tmp.c_str());
    if (linked) return token;
    crypto::wipe(token);
    if (err != EEXIST) return unusable(path, std::string("cannot create it: ") + std::strerror(err));
    // Another process made it first: read theirs.
  }
  return unusable(path, "it keeps changing; is another process replacing it?");
}

}  // namespace sw::console
