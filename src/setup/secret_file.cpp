// Secret files in the data directory (setup.h): written 0600 under a temporary O_EXCL name and published with
// link() (never replacing) or rename() (replacing), so a reader never sees half a file; read only when nobody else
// could have read or swapped them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/crypto.h"
#include "setup/setup.h"

namespace sw::setup {

namespace {

Error unusable(const std::string& path, const std::string& what) {
  return make_error("SECRET_FILE_UNUSABLE", path + ": " + what);
}

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool write_all(int fd, std::string_view s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Status write_secret_file(const std::string& path, std::string_view content, bool replace) {
  struct stat sb {};
  if (!replace && ::lstat(path.c_str(), &sb) == 0)
    return make_error("CONNECTION_EXISTS", path + " already exists");
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + hex_encode(crypto::random_bytes(8));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unusable(path, std::string("cannot create it: ") + std::strerror(errno));
  const bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, content) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return unusable(path, std::string("cannot write it: ") + std::strerror(saved));
  }
  if (replace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return unusable(path, std::string("cannot put it in place: ") + std::strerror(err));
    }
  } else {
    const bool linked = ::link(tmp.c_str(), path.c_str()) == 0;
    const int err = errno;
    ::unlink(tmp.c_str());
    if (!linked && err == EEXIST) return make_error("CONNECTION_EXISTS", path + " already exists");
    if (!linked) return unusable(path, std::string("cannot put it in place: ") + std::strerror(err));
  }
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}

Result<std::optional<std::string>> read_secret_file(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    if (errno == ELOOP)
      return make_error("SECRET_FILE_INSECURE", path + " is a symbolic link: replace it with the file itself");
    return unusable(path, std::string("cannot open it: ") + std::strerror(errno));
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    const int err = errno;
    ::close(fd);
    return unusable(path, std::string("fstat failed: ") + std::strerror(err));
  }
  if (!S_ISREG(sb.st_mode)) {
    ::close(fd);
    return unusable(path, "is not a regular file");
  }
  if (sb.st_uid != ::geteuid() || (sb.st_mode & 077) != 0) {
    ::close(fd);
    return make_error("SECRET_FILE_INSECURE",
                      path + (sb.st_uid != ::geteuid() ? " belongs to another user"
                                                       : " is accessible to group or others (mode must be 0600)") +
                          ": it may have been read by someone else; `chmod 600` it if you trust it, or remove it "
                          "and make a new one");
  }
  std::string text(max_bytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      crypto::wipe(text);
      return unusable(path, std::string("read failed: ") + std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) {
    crypto::wipe(text);
    return unusable(path, "is larger than " + std::to_string(max_bytes) + " bytes");
  }
  text.resize(got);  // shrinking keeps the buffer: the wiped tail was never filled
  return std::optional<std::string>(std::move(text));
}

}  // namespace sw::setup
