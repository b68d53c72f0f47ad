#include "api/detail/connection_pool.h"

#include "api/views.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <netinet/in.h>
#include <string_view>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>

namespace stagewise::api::detail {
namespace {

constexpr size_t kReceiveChunk = 16 * 1024;
// Chunks read from one connection per wake-up of the poller, so that one
// fast sender cannot hold it.
constexpr int kChunksPerEvent = 16;
// How long a refused client has to read its answer while the rest of its
// request is discarded, at least.
constexpr auto kLingerGrace = std::chrono::seconds(1);

thread_local RequestStream* t_current = nullptr;

std::chrono::milliseconds ms(int64_t v) {
  return std::chrono::milliseconds(v);
}

// poll() milliseconds: rounded up so that a wait never ends early and spins.
int poll_ms(Clock::duration d) {
  if (d <= Clock::duration::zero()) return 0;
  const auto m = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::min<int64_t>(m, INT_MAX));
}

// >0: `events` happened, 0: timed out, <0: error.
int wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

constexpr ssize_t kWouldBlock = -1;
constexpr ssize_t kFailed = -2;

// Bytes received, 0 at the end of the stream, kWouldBlock or kFailed.
ssize_t receive_nowait(int fd, char* p, size_t n) {
  for (;;) {
    const ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? kWouldBlock : kFailed;
  }
}

void ip_and_port(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  if (addr.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  else if (addr.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  else
    return;
  char host[NI_MAXHOST];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) == 0)
    ip = host;
}

// A whole answer for a connection that never reached a worker.
std::string raw_answer(const Rejection& r, const char* reason) {
  const std::string body = rejection_body(r);
  return "HTTP/1.1 " + std::to_string(r.status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Rejection timed_out(const HttpLimits& l) {
  return {408, "request_timeout",
          "the request did not arrive in time: send its head and body within "
          "http.request_timeout_ms (" +
              std::to_string(l.request_timeout_ms) +
              " ms), pausing no longer than http.read_timeout_ms (" +
              std::to_string(l.read_timeout_ms) + " ms)"};
}

Rejection body_too_large(const HttpLimits& l) {
  return {413, "payload_too_large",
          "the body is larger than http.max_body_bytes (" + std::to_string(l.max_body_bytes) +
              " bytes)"};
}

Rejection head_too_large(const HttpLimits& l) {
  return {431, "headers_too_large",
          "the request line and headers are larger than " + std::to_string(l.max_head_bytes) +
              " bytes"};
}

std::string rejection_body(const Rejection& r) {
  return error_view(r.code, r.message).dump();
}

/// A connection and what was received on it but not yet read by httplib.
struct Conn {
  explicit Conn(int socket) : fd(socket) {}

  UniqueFd fd;
  std::string buf;  // buf[off..] is unread
  size_t off = 0;
  size_t scanned = 0;       // unread bytes already searched for the end of the head
  Clock::time_point since;  // when it last entered the poller
  std::optional<Clock::time_point> first_byte;  // of the request being received
  Clock::time_point last_byte;
  bool draining = false;  // answered and refused: the rest is read and dropped
  Clock::time_point drain_until;
  size_t served = 0;

  size_t unread() const { return buf.size() - off; }
  const char* data() const { return buf.data() + off; }
  void consume(size_t n) {
    off += n;
    if (off == buf.size()) {
      buf.clear();
      off = 0;
    }
  }
  // Appends what the socket holds, up to one chunk, without waiting.
  ssize_t receive() {
    if (off > 0 && off >= buf.size() / 2) {
      buf.erase(0, off);
      off = 0;
    }
    const size_t old = buf.size();
    buf.resize(old + kReceiveChunk);
    const ssize_t n = receive_nowait(fd.get(), buf.data() + old, kReceiveChunk);
    buf.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    return n;
  }
  // The request line and headers are here (a blank line ends them), or `limit` bytes.
  bool head_arrived(size_t limit) {
    if (unread() >= limit) return true;
    const std::string_view u(data(), unread());
    const size_t from = scanned >= 3 ? scanned - 3 : 0;
    scanned = u.size();
    return u.find("\r\n\r\n", from) != std::string_view::npos;
  }
  void start_draining(Clock::time_point until) {
    ::shutdown(fd.get(), SHUT_WR);
    draining = true;
    drain_until = until;
    std::string().swap(buf);
    off = 0;
    first_byte.reset();
  }
};

// ---- RequestStream ----

RequestStream::RequestStream(Conn& conn, const HttpLimits& limits, Clock::time_point deadline)
    : conn_(conn), limits_(limits), deadline_(deadline) {}

bool RequestStream::is_readable() const {
  return conn_.unread() > 0 || wait_for(conn_.fd.get(), POLLIN, 0) > 0;
}

bool RequestStream::is_writable() const {
  return wait_for(conn_.fd.get(), POLLOUT, static_cast<int>(limits_.write_timeout_ms)) > 0;
}

ssize_t RequestStream::read(char* ptr, size_t size) {
  if (failed_) return -1;
  if (conn_.unread() == 0) {
    const ssize_t got = receive();
    if (got <= 0) {
      failed_ = true;
      return got < 0 ? -1 : 0;
    }
  }
  const size_t n = std::min(size, conn_.unread());
  if (!head_done_) {
    if (head_bytes_ + n > limits_.max_head_bytes) {
      reject(head_too_large(limits_));
      failed_ = true;
      return -1;
    }
    head_bytes_ += n;
  } else {
    if (body_bytes_ + static_cast<int64_t>(n) > limits_.max_body_bytes) {
      reject(body_too_large(limits_));
      failed_ = true;
      return -1;
    }
    body_bytes_ += static_cast<int64_t>(n);
  }
  std::memcpy(ptr, conn_.data(), n);
  conn_.consume(n);
  return static_cast<ssize_t>(n);
}

// Waits for more bytes until the deadline, at most the read timeout at a
// time: bytes received, 0 at the end of the stream, -1 on error or timeout.
ssize_t RequestStream::receive() {
  for (;;) {
    const ssize_t n = conn_.receive();
    if (n >= 0) return n;
    if (n == kFailed) return -1;
    const auto wait =
        std::min<Clock::duration>(deadline_ - Clock::now(), ms(limits_.read_timeout_ms));
    const int ready =
        wait <= Clock::duration::zero() ? 0 : wait_for(conn_.fd.get(), POLLIN, poll_ms(wait));
    if (ready == 0) reject(timed_out(limits_));
    if (ready <= 0) return -1;
  }
}

ssize_t RequestStream::write(const char* ptr, size_t size) {
  for (;;) {
    const ssize_t n = ::send(conn_.fd.get(), ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
        wait_for(conn_.fd.get(), POLLOUT, static_cast<int>(limits_.write_timeout_ms)) <= 0) {
      failed_ = true;
      return -1;
    }
  }
}

void RequestStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(conn_.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    ip_and_port(addr, len, ip, port);
}

void RequestStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(conn_.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    ip_and_port(addr, len, ip, port);
}

socket_t RequestStream::socket() const {
  return conn_.fd.get();
}

void RequestStream::reject(Rejection r) {
  if (!rejection_) rejection_ = std::move(r);
}

RequestStream* current_request() {
  return t_current;
}

// ---- ConnectionPool ----

ConnectionPool::ConnectionPool(const HttpLimits& limits, ServeOne serve,
                               std::function<bool()> accepting)
    : limits_(limits),
      serve_(std::move(serve)),
      accepting_(std::move(accepting)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (wake_fd_.get() < 0)
    throw std::system_error(errno, std::generic_category(), "HTTP server: eventfd");
  poller_ = std::thread([this] { poll_loop(); });
  for (int i = 0; i < limits_.threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ConnectionPool::~ConnectionPool() {
  shutdown();
}

void ConnectionPool::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  room_cv_.notify_all();
  wake();
  if (poller_.joinable()) poller_.join();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  std::lock_guard lock(mu_);
  ready_.clear();
  inbox_.clear();
  polled_.clear();
  open_ = 0;
}

void ConnectionPool::adopt(int fd) {
  auto conn = std::make_unique<Conn>(fd);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return;
  {
    std::unique_lock lock(mu_);
    while (open_ >= limits_.max_connections) {
      if (stopping_ || !accepting_()) return;
      want_room_ = true;
      wake();
      // Timed: stop() closes the listening socket without telling the pool.
      room_cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
    if (stopping_) return;
    ++open_;
    conn->since = Clock::now();
    inbox_.push_back(std::move(conn));
  }
  wake();
}

void ConnectionPool::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void ConnectionPool::close(std::unique_ptr<Conn> conn) {
  conn.reset();
  {
    std::lock_guard lock(mu_);
    --open_;
  }
  room_cv_.notify_all();
}

void ConnectionPool::to_poller(std::unique_ptr<Conn> conn) {
  if (conn->unread() == 0 && !conn->draining) std::string().swap(conn->buf);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      inbox_.push_back(std::move(conn));
    }
  }
  if (conn) return close(std::move(conn));
  wake();
}

void ConnectionPool::to_workers(std::unique_ptr<Conn> conn) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) ready_.push_back(std::move(conn));
  }
  if (conn) return close(std::move(conn));
  work_cv_.notify_one();
}

void ConnectionPool::linger(std::unique_ptr<Conn> conn, Clock::time_point until) {
  conn->start_draining(until);
  to_poller(std::move(conn));
}

// ---- the poller ----

Clock::time_point ConnectionPool::deadline_of(const Conn& c) const {
  if (c.draining) return c.drain_until;
  if (c.first_byte)
    return std::min(*c.first_byte + ms(limits_.request_timeout_ms),
                    c.last_byte + ms(limits_.read_timeout_ms));
  return c.since + ms(limits_.keep_alive_timeout_ms);
}

void ConnectionPool::evict_locked() {
  bool evicted = false;
  while (want_room_ && open_ >= limits_.max_connections && !polled_.empty()) {
    polled_.erase(polled_.begin());  // the oldest: waiting the longest
    --open_;
    evicted = true;
  }
  want_room_ = false;
  if (evicted) room_cv_.notify_all();
}

void ConnectionPool::expire(Clock::time_point now) {
  for (auto& c : polled_) {
    if (!c || deadline_of(*c) > now) continue;
    if (c->first_byte && !c->draining) {
      // A head that did not arrive in time: say so, then let it go.
      const std::string answer = raw_answer(timed_out(limits_), "Request Timeout");
      [[maybe_unused]] const ssize_t n =
          ::send(c->fd.get(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      c->start_draining(now + kLingerGrace);
    } else {
      close(std::move(c));
    }
  }
}

void ConnectionPool::on_event(std::unique_ptr<Conn>& c, short revents, Clock::time_point now) {
  if (c->draining) {
    char sink[kReceiveChunk];
    for (int i = 0; i < kChunksPerEvent; ++i) {
      const ssize_t n = receive_nowait(c->fd.get(), sink, sizeof sink);
      if (n == kWouldBlock) return;
      if (n <= 0) return close(std::move(c));
    }
    return;
  }
  if ((revents & (POLLERR | POLLNVAL)) != 0) return close(std::move(c));
  for (int i = 0; i < kChunksPerEvent; ++i) {
    const ssize_t n = c->receive();
    if (n == kWouldBlock) return;
    if (n <= 0) return close(std::move(c));  // gone, or failed
    if (!c->first_byte) c->first_byte = now;
    c->last_byte = now;
    if (c->head_arrived(limits_.max_head_bytes)) return to_workers(std::move(c));
  }
}

void ConnectionPool::poll_loop() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    {
      std::lock_guard lock(mu_);
      for (auto& c : inbox_) polled_.push_back(std::move(c));
      inbox_.clear();
      evict_locked();
    }
    auto now = Clock::now();
    expire(now);
    std::erase_if(polled_, [](const auto& c) { return !c; });

    auto next = now + std::chrono::hours(1);
    fds.clear();
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    for (const auto& c : polled_) {
      next = std::min(next, deadline_of(*c));
      fds.push_back({c->fd.get(), POLLIN, 0});
    }
    const int r = ::poll(fds.data(), fds.size(), poll_ms(next - now));
    if (r < 0) {
      if (errno != EINTR) {
        spdlog::error("HTTP server: poll failed: {}", std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    if (fds[0].revents != 0) {
      uint64_t v = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &v, sizeof v);
    }
    now = Clock::now();
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents != 0) on_event(polled_[i - 1], fds[i].revents, now);
    std::erase_if(polled_, [](const auto& c) { return !c; });
  }
}

// ---- the workers ----

void ConnectionPool::worker_loop() {
  for (;;) {
    std::unique_ptr<Conn> conn;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      conn = std::move(ready_.front());
      ready_.pop_front();
    }
    serve(std::move(conn));
  }
}

void ConnectionPool::serve(std::unique_ptr<Conn> conn) {
  for (;;) {
    const auto deadline = conn->first_byte.value_or(Clock::now()) + ms(limits_.request_timeout_ms);
    const bool last = stopping_ || conn->served + 1 >= limits_.keep_alive_max_count;
    RequestStream stream(*conn, limits_, deadline);
    bool ok = false;
    bool connection_closed = false;
    t_current = &stream;
    try {
      ok = serve_(stream, last, connection_closed);
    } catch (const std::exception& e) {
      spdlog::warn("HTTP connection dropped: {}", e.what());
    }
    t_current = nullptr;
    ++conn->served;
    conn->first_byte.reset();
    conn->scanned = 0;
    const auto now = Clock::now();
    if (ok && stream.rejection() && !stopping_)
      return linger(std::move(conn), std::max(deadline, now + kLingerGrace));
    if (!ok || connection_closed || last || stream.failed() || stream.rejection() || stopping_)
      return close(std::move(conn));
    if (conn->unread() > 0) {
      // Pipelined: the next request has begun.
      conn->first_byte = now;
      conn->last_byte = now;
      if (conn->head_arrived(limits_.max_head_bytes)) continue;
    }
    conn->since = now;
    return to_poller(std::move(conn));
  }
}

}  // namespace stagewise::api::detail
