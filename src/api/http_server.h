#pragma once

#include "api/http_limits.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>

namespace stagewise::api {

namespace detail {
class ConnectionPool;
}

/// An httplib::Server that cannot be starved or exhausted by its clients.
///
/// - Connections wait for their requests in one poller thread, not in a
///   worker: idle and keep-alive connections, and clients trickling the
///   request line and headers, hold no worker. A worker (exactly
///   `threads` of them) takes a connection once its request head has
///   arrived, and gives it back to the poller after the answer.
/// - Every request must arrive whole, head and body, within
///   `request_timeout_ms` of its first byte (else 408 and the connection is
///   closed), with no pause longer than `read_timeout_ms`; a handler may take
///   as long as it needs.
/// - Bodies over `max_body_bytes` get 413 (before any of it is read when
///   Content-Length says so; chunked bodies are cut off once that many bytes
///   of them arrived); compressed bodies get 415, heads over
///   `max_head_bytes` 431. These answers carry
///   `{"error":{"code","message"}}` and close the connection.
/// - At `max_connections` open connections the one idle the longest is closed;
///   when none is idle, accepting waits and the kernel queues up to
///   `listen_backlog` connections.
///
/// Thread safety: register handlers before listen_after_bind(); stop() from
/// any thread. Handlers run on the workers.
class HttpServer : private httplib::Server {
 public:
  explicit HttpServer(const HttpLimits& limits);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  using httplib::Server::Delete;
  using httplib::Server::Get;
  using httplib::Server::Handler;
  using httplib::Server::Options;
  using httplib::Server::Patch;
  using httplib::Server::Post;
  using httplib::Server::Put;
  using httplib::Server::set_exception_handler;
  using httplib::Server::set_logger;
  using httplib::Server::set_tcp_nodelay;

  using httplib::Server::bind_to_any_port;
  using httplib::Server::bind_to_port;
  using httplib::Server::is_running;
  /// Serves until stop(); raises the listen backlog first.
  using httplib::Server::listen_after_bind;

  /// For answers of 400 and above. This server's own (408, 413, 415, 431)
  /// take precedence: the handler sees them with their body set, and leaves
  /// them as they are.
  HttpServer& set_error_handler(Handler handler);

  /// Stops accepting and makes listen_after_bind() return once the requests
  /// being handled are answered. Safe before, during and after listening.
  void stop();

  const HttpLimits& limits() const { return limits_; }

  /// When the head of the request being served on the calling thread had
  /// arrived; now when the thread serves none. For handlers that time
  /// requests: the time includes reading the body.
  static std::chrono::steady_clock::time_point request_started();

 private:
  // Called by httplib's accept loop for each new connection (a private
  // virtual of httplib::Server): hands it to the pool.
  bool process_and_close_socket(socket_t sock) override;

  void install_handlers();
  void raise_backlog();

  HttpLimits limits_;
  Handler user_error_handler_;
  /// The pool of the current listen_after_bind(); owned by httplib's loop.
  std::atomic<detail::ConnectionPool*> pool_{nullptr};
};

}  // namespace stagewise::api
