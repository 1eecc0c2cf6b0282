// Private files (common.h "private files"): the one writer and reader of the secrets kept in the data directory.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/common.h"

namespace sw {

namespace {

PrivateFile failed(std::string why) {
  PrivateFile f;
  f.status = PrivateFile::Status::failed;
  f.why = std::move(why);
  return f;
}

std::string errno_text(const char* step, int err) { return std::string(step) + ": " + std::strerror(err); }

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A temporary name nobody can predict or have left behind: pid, a counter and 64 random bits.
std::string temporary_name(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  uint64_t rnd = 0;
  if (::getrandom(&rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) rnd = 0;  // O_EXCL still guards
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
         hex_encode(reinterpret_cast<const uint8_t*>(&rnd), sizeof rnd);
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

void fsync_dir(const std::string& path) {
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

void wipe_string(std::string& s) {
  if (!s.empty()) ::explicit_bzero(s.data(), s.size());
  s.clear();
}

PrivateFile write_private_file(const std::string& path, std::string_view content, bool replace) {
  struct stat sb {};
  if (!replace && ::lstat(path.c_str(), &sb) == 0) return PrivateFile{PrivateFile::Status::exists, {}, {}};
  const std::string tmp = temporary_name(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return failed(errno_text("cannot create it", errno));
  // fchmod: the mode given to open() is reduced by the umask; 0600 is what we need, not less.
  const bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, content) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return failed(errno_text("cannot write it", saved));
  }
  if (replace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return failed(errno_text("cannot put it in place", err));
    }
  } else {
    const bool linked = ::link(tmp.c_str(), path.c_str()) == 0;
    const int err = errno;
    ::unlink(tmp.c_str());
    if (!linked && err == EEXIST) return PrivateFile{PrivateFile::Status::exists, {}, {}};
    if (!linked) return failed(errno_text("cannot put it in place", err));
  }
  fsync_dir(path);
  return PrivateFile{PrivateFile::Status::ok, {}, {}};
}

PrivateFile read_private_file(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return PrivateFile{PrivateFile::Status::absent, {}, {}};
    if (errno == ELOOP) return PrivateFile{PrivateFile::Status::insecure, {}, "is a symbolic link"};
    return failed(errno_text("cannot open it", errno));
  }
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    const int err = errno;
    ::close(fd);
    return failed(errno_text("fstat failed", err));
  }
  if (!S_ISREG(sb.st_mode)) {
    ::close(fd);
    return failed("is not a regular file");
  }
  if (sb.st_uid != ::geteuid() || (sb.st_mode & 077) != 0) {
    ::close(fd);
    return PrivateFile{PrivateFile::Status::insecure, {},
                       sb.st_uid != ::geteuid() ? "belongs to another user"
                                                : "is accessible to group or others (mode must be 0600)"};
  }
  PrivateFile f;
  f.content.assign(max_bytes + 1, '\0');
  size_t got = 0;
  while (got < f.content.size()) {
    ssize_t n = ::read(fd, f.content.data() + got, f.content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      wipe_string(f.content);
      return failed(errno_text("read failed", err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > max_bytes) {
    wipe_string(f.content);
    return failed("is larger than " + std::to_string(max_bytes) + " bytes");
  }
  f.content.resize(got);  // shrinking keeps the buffer: the tail was never filled
  f.status = PrivateFile::Status::ok;
  return f;
}

}  // namespace sw
