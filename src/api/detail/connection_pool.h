#pragma once

// The connections of one HttpServer: a poller thread that holds every
// connection waiting for (the head of) its next request, and `threads`
// workers that serve a connection once its request head has arrived.
#include "api/http_limits.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace stagewise::api::detail {

using Clock = std::chrono::steady_clock;

/// A request refused before its handler ran: answered with `status` and
/// {"error":{"code","message"}}, then the connection is closed.
struct Rejection {
  int status = 400;
  std::string code;
  std::string message;
};

Rejection timed_out(const HttpLimits& limits);       // 408
Rejection body_too_large(const HttpLimits& limits);  // 413
Rejection head_too_large(const HttpLimits& limits);  // 431
/// The JSON body of a rejection.
std::string rejection_body(const Rejection& r);

/// Owns a file descriptor; closes it when destroyed.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_ = -1;
};

struct Conn;

/// One request on a connection, as httplib reads and answers it. Reads come
/// from what the poller already received, then from the socket, and never
/// wait past the request's deadline nor longer than the read timeout at a
/// time; the head and the body are counted against their limits. A refused
/// read records its rejection and fails.
class RequestStream final : public httplib::Stream {
 public:
  RequestStream(Conn& conn, const HttpLimits& limits, Clock::time_point deadline);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override;

  /// The request line and headers are read; what follows is the body.
  void head_done() {
    head_done_ = true;
    head_at_ = Clock::now();
  }
  /// When head_done() was called (the request's time is counted from it).
  Clock::time_point head_at() const { return head_at_; }
  /// Refuses the request (the first rejection wins).
  void reject(Rejection r);
  const std::optional<Rejection>& rejection() const { return rejection_; }
  /// A read failed or met the end of the stream: no further request fits.
  bool failed() const { return failed_; }
  Clock::time_point deadline() const { return deadline_; }

 private:
  ssize_t receive();

  Conn& conn_;
  const HttpLimits& limits_;
  Clock::time_point deadline_;
  bool head_done_ = false;
  Clock::time_point head_at_ = Clock::now();
  size_t head_bytes_ = 0;
  int64_t body_bytes_ = 0;
  bool failed_ = false;
  std::optional<Rejection> rejection_;
};

/// The request being served on the calling thread, or null: lets the
/// server's pre-routing, expect and error handlers see and make rejections.
RequestStream* current_request();

/// Serves one request (httplib::Server::process_request); false when the
/// connection cannot go on. Calls stream.head_done() once the head is read.
using ServeOne =
    std::function<bool(RequestStream& stream, bool close_connection, bool& connection_closed)>;

/// httplib's task queue, used as the hand-over point of accepted sockets:
/// enqueue() runs httplib's task at once on the accept thread, which calls
/// HttpServer::process_and_close_socket, which calls adopt(). shutdown()
/// stops the poller and the workers once their requests are answered.
class ConnectionPool final : public httplib::TaskQueue {
 public:
  /// `accepting` turns false once the server stops listening.
  ConnectionPool(const HttpLimits& limits, ServeOne serve, std::function<bool()> accepting);
  ~ConnectionPool() override;
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override;

  /// Takes an accepted socket. At max_connections open connections, asks
  /// the poller to close the one idle the longest and waits for room.
  void adopt(int fd);

 private:
  void poll_loop();
  void worker_loop();
  void serve(std::unique_ptr<Conn> conn);

  // Poller side; all on the poller thread.
  void evict_locked();
  void expire(Clock::time_point now);
  void on_event(std::unique_ptr<Conn>& conn, short revents, Clock::time_point now);
  Clock::time_point deadline_of(const Conn& conn) const;

  void to_poller(std::unique_ptr<Conn> conn);
  void to_workers(std::unique_ptr<Conn> conn);
  void linger(std::unique_ptr<Conn> conn, Clock::time_point until);
  void close(std::unique_ptr<Conn> conn);
  void wake();

  const HttpLimits limits_;
  const ServeOne serve_;
  const std::function<bool()> accepting_;
  UniqueFd wake_fd_;  // eventfd: new connections for the poller, stop, room wanted
  std::atomic<bool> stopping_{false};

  std::mutex mu_;                             // guards the members below
  std::condition_variable work_cv_;           // ready_ has a connection, or stopping
  std::condition_variable room_cv_;           // open_ fell below the cap, or stopping
  std::deque<std::unique_ptr<Conn>> ready_;   // head arrived, waiting for a worker
  std::vector<std::unique_ptr<Conn>> inbox_;  // for the poller
  size_t open_ = 0;
  bool want_room_ = false;

  std::vector<std::unique_ptr<Conn>> polled_;  // the poller's own, oldest first
  std::thread poller_;
  std::vector<std::thread> workers_;
};

}  // namespace stagewise::api::detail
