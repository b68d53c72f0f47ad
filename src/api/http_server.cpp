#include "api/http_server.h"

#include "api/detail/connection_pool.h"

#include <spdlog/spdlog.h>

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <sys/resource.h>
#include <sys/socket.h>
#include <utility>

namespace stagewise::api {
namespace {

using detail::Rejection;

size_t default_max_connections(int threads) {
  rlimit nofile{};
  size_t n = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
    n = std::min<size_t>(n, nofile.rlim_cur / 2);
  return std::max<size_t>(n, static_cast<size_t>(threads) + 1);
}

// What the head alone tells is wrong with a request's body.
std::optional<Rejection> check_head(const httplib::Request& req, const HttpLimits& limits) {
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (!encoding.empty() && ::strcasecmp(encoding.c_str(), "identity") != 0)
    // A compressed body could inflate far past max_body_bytes.
    return Rejection{415, "unsupported_encoding",
                     "compressed request bodies are not accepted (Content-Encoding: " + encoding +
                         "); send the body uncompressed"};
  if (!req.has_header("Content-Length")) return {};
  const std::string length = req.get_header_value("Content-Length");
  if (length.empty() ||
      !std::all_of(length.begin(), length.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return Rejection{400, "invalid_argument", "Content-Length must be a number of bytes"};
  if (length.size() > 18 || std::stoll(length) > limits.max_body_bytes)
    return detail::body_too_large(limits);
  return {};
}

void answer(httplib::Response& res, const Rejection& r) {
  res.status = r.status;
  res.set_content(detail::rejection_body(r), "application/json");
}

}  // namespace

HttpLimits http_limits(const Config::Http& http) {
  HttpLimits l;
  l.threads = http.threads;
  l.listen_backlog = http.listen_backlog;
  l.read_timeout_ms = http.read_timeout_ms;
  l.write_timeout_ms = http.write_timeout_ms;
  l.keep_alive_timeout_ms = http.keep_alive_timeout_ms;
  l.request_timeout_ms = http.request_timeout_ms;
  l.max_body_bytes = http.max_body_bytes;
  return l;
}

HttpServer::HttpServer(const HttpLimits& limits) : limits_(limits) {
  limits_.threads = std::max(limits_.threads, 1);
  if (limits_.max_connections == 0)
    limits_.max_connections = default_max_connections(limits_.threads);
  // httplib's own settings: the Keep-Alive answer header, and a second
  // line of defence for bodies (the pool enforces all of these).
  set_read_timeout(limits_.read_timeout_ms / 1000, limits_.read_timeout_ms % 1000 * 1000);
  set_write_timeout(limits_.write_timeout_ms / 1000, limits_.write_timeout_ms % 1000 * 1000);
  set_keep_alive_timeout(limits_.keep_alive_timeout_ms / 1000);
  set_keep_alive_max_count(limits_.keep_alive_max_count);
  set_payload_max_length(static_cast<size_t>(limits_.max_body_bytes));
  new_task_queue = [this] {
    raise_backlog();
    auto pool = std::make_unique<detail::ConnectionPool>(
        limits_,
        [this](detail::RequestStream& stream, bool close_connection, bool& connection_closed) {
          return process_request(stream, close_connection, connection_closed,
                                 [&stream](httplib::Request&) { stream.head_done(); });
        },
        [this] { return svr_sock_ != INVALID_SOCKET; });
    pool_ = pool.get();
    return pool.release();  // httplib's accept loop owns it
  };
  install_handlers();
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::stop() {
  // Not httplib's stop(), which does nothing before the accept loop has
  // started (the loop would then never end) and asserts on a second call.
  const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock != INVALID_SOCKET) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
}

std::chrono::steady_clock::time_point HttpServer::request_started() {
  const auto* stream = detail::current_request();
  return stream != nullptr ? stream->head_at() : std::chrono::steady_clock::now();
}

HttpServer& HttpServer::set_error_handler(Handler handler) {
  user_error_handler_ = std::move(handler);
  return *this;
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  detail::ConnectionPool* pool = pool_;
  if (pool == nullptr) {
    ::close(sock);
    return false;
  }
  pool->adopt(sock);
  return true;
}

void HttpServer::raise_backlog() {
  // Linux takes a new backlog from listen() on a listening socket;
  // httplib's is fixed at build time (5).
  const socket_t sock = svr_sock_;
  if (sock != INVALID_SOCKET && ::listen(sock, limits_.listen_backlog) != 0)
    spdlog::warn("HTTP server: cannot raise the listen backlog to {}: {}", limits_.listen_backlog,
                 std::strerror(errno));
}

void HttpServer::install_handlers() {
  using httplib::Request;
  using httplib::Response;
  using Handled = httplib::Server::HandlerResponse;

  // Before any of the body is read.
  set_pre_routing_handler([this](const Request& req, Response& res) {
    const auto r = check_head(req, limits_);
    if (!r) return Handled::Unhandled;
    if (auto* stream = detail::current_request()) stream->reject(*r);
    answer(res, *r);
    return Handled::Handled;
  });
  // A client that waits for "100 Continue" is told at once instead.
  set_expect_100_continue_handler([this](const Request& req, Response& res) {
    const auto r = check_head(req, limits_);
    if (!r) return 100;
    if (auto* stream = detail::current_request()) stream->reject(*r);
    answer(res, *r);
    return r->status;
  });
  httplib::Server::set_error_handler(HandlerWithResponse([this](const Request& req, Response& res) {
    auto* stream = detail::current_request();
    bool ours = true;
    if (stream != nullptr && stream->rejection()) {
      answer(res, *stream->rejection());
    } else if (res.status == 413 && res.body.empty()) {
      answer(res, detail::body_too_large(limits_));
      if (stream != nullptr) stream->reject(detail::body_too_large(limits_));
    } else {
      ours = false;
    }
    if (user_error_handler_) user_error_handler_(req, res);  // sees ours too, to count them
    return ours || user_error_handler_ ? Handled::Handled : Handled::Unhandled;
  }));
  // A refused request's body may still be on its way: the connection ends.
  set_post_routing_handler([](const Request&, Response& res) {
    auto* stream = detail::current_request();
    if (stream == nullptr || !stream->rejection()) return;
    res.headers.erase("Keep-Alive");
    if (res.get_header_value("Connection") != "close") res.set_header("Connection", "close");
  });
}

}  // namespace stagewise::api
