#include "backup/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>

namespace stagewise::backup::detail {
namespace {

namespace fs = std::filesystem;

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Error io_error(const std::string& what, const std::string& path) {
  return make_error(Errc::io_error, "cannot " + what + " " + path + ": " + std::strerror(errno));
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

Result<void> copy_file(const std::string& from, const std::string& to, mode_t mode,
                       const std::function<void(size_t)>& on_bytes) {
  const Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return io_error("read", from);
  const Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (out.fd < 0) return io_error("create", to);
  std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("read", from);
    if (n == 0) break;
    if (!write_all(out.fd, buf.data(), static_cast<size_t>(n))) return io_error("write", to);
    if (on_bytes) on_bytes(static_cast<size_t>(n));
  }
  // The umask may have taken bits away; never adds any.
  if (::fchmod(out.fd, mode) != 0 || ::fsync(out.fd) != 0) return io_error("write", to);
  return {};
}

Result<void> write_file_atomically(const std::string& path, const std::string& text, mode_t mode) {
  const std::string tmp = path + ".new";
  {
    const Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (out.fd < 0) return io_error("create", tmp);
    if (!write_all(out.fd, text.data(), text.size()) || ::fchmod(out.fd, mode) != 0 ||
        ::fsync(out.fd) != 0)
      return io_error("write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename into", path);
  return sync_dir(fs::path(path).parent_path().string());
}

Result<void> make_private_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return io_error("create", path);
  if (::chmod(path.c_str(), 0700) != 0) return io_error("make private (0700)", path);
  return {};
}

Result<void> sync_dir(const std::string& path) {
  const Fd d(::open(path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) return io_error("sync", path);
  return {};
}

Result<std::vector<std::string>> list_files(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec))
      out.push_back(prefix + fs::relative(it->path(), dir, ec).generic_string());
  }
  if (ec) return make_error(Errc::io_error, "cannot list " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

bool missing_or_empty(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return !ec;
  return fs::is_directory(path, ec) && fs::is_empty(path, ec);
}

bool store_in_use(const std::string& dir) {
  const Fd f(::open((dir + "/LOCK").c_str(), O_RDWR | O_CLOEXEC));
  if (f.fd < 0) return false;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  // F_GETLK: who would block us; RocksDB locks the whole file with F_SETLK.
  if (::fcntl(f.fd, F_GETLK, &lock) != 0) return false;
  return lock.l_type != F_UNLCK;
}

}  // namespace stagewise::backup::detail
