#include "auth/secret.h"

#include "auth/openssl.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace stagewise::auth {
namespace {

namespace fs = std::filesystem;

std::string hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

Result<void> private_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(Errc::io_error, "cannot create " + dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0)
    return make_error(Errc::io_error, "cannot make " + dir + " private (mode 0700)");
  return {};
}

Result<std::string> read_secret(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(Errc::not_found, "key file " + path + " does not exist");
  if ((st.st_mode & 0077) != 0)
    return make_error(Errc::invalid_argument,
                      "key file " + path + " may be read by others: chmod 600 it");
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.size() < 32)
    return make_error(Errc::invalid_argument,
                      "key file " + path + " holds fewer than 32 bytes; use a longer secret");
  return s;
}

Result<std::string> ensure_secret(const std::string& data_dir, const std::string& name) {
  if (auto r = private_dir(data_dir); !r) return r.error();
  const std::string dir = data_dir + "/auth";
  if (auto r = private_dir(dir); !r) return r.error();
  const std::string path = dir + "/" + name;
  if (auto existing = read_secret(path); existing || !existing.error().is_not_found())
    return existing;
  const auto random = ssl::random_bytes(32);
  if (!random) return make_error(Errc::internal, "OpenSSL cannot give random bytes");
  const std::string secret = hex(*random);
  // O_EXCL: two processes starting at once keep the first one's key.
  const std::string tmp = path + ".new";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return make_error(Errc::io_error, "cannot write " + tmp);
  const bool ok =
      ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return make_error(Errc::io_error, "cannot write " + tmp);
  if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)
    return make_error(Errc::io_error, "cannot create " + path);
  ::unlink(tmp.c_str());
  return read_secret(path);
}

}  // namespace stagewise::auth
