// The HTTP server under misbehaving clients: idle and trickling connections,
// oversized bodies, bursts. Real sockets on loopback, no broker: the API is
// served from a store in a temporary directory without an intake (POST
// /v1/events answers 503 once a body got through to it).
#include "api/http_server.h"

#include "api/server.h"
#include "auth/tokens.h"
#include "common/time.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

namespace stagewise::api {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kWorkflows = std::string(STAGEWISE_SOURCE_DIR) + "/workflows";

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Answer {
  int status = 0;  // 0: none
  std::string head;
  std::string body;
  json error_code() const {
    const json j = json::parse(body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"]["code"] : json();
  }
};

// A client connection on loopback that does exactly what a test tells it.
class Socket {
 public:
  explicit Socket(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // True when the server sent something or closed within `seconds`.
  bool heard_within(double seconds) {
    if (!pending_.empty()) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(seconds * 1000)) > 0;
  }

  // True when the server closed the connection within `seconds` (what it
  // sent before is kept for read_answer()).
  bool closed_within(double seconds) {
    const auto until = Clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    while (Clock::now() < until) {
      const int r = receive(until);
      if (r == 0) return true;
      if (r < 0) return errno != EAGAIN;  // reset
    }
    return false;
  }

  // One answer: status line, headers and a Content-Length body.
  Answer read_answer(double seconds) {
    const auto until = Clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    for (;;) {
      const auto end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        Answer a;
        a.head = pending_.substr(0, end + 4);
        if (a.head.rfind("HTTP/1.1 ", 0) == 0) a.status = std::stoi(a.head.substr(9, 3));
        size_t length = 0;
        std::string lower = a.head;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (const auto cl = lower.find("content-length:"); cl != std::string::npos)
          length = std::stoul(lower.substr(cl + 15));
        if (pending_.size() >= end + 4 + length) {
          a.body = pending_.substr(end + 4, length);
          pending_.erase(0, end + 4 + length);
          return a;
        }
      }
      if (receive(until) <= 0) return {};
    }
  }

 private:
  // Bytes appended, 0 at the end of the stream, -1 on error or at `until`.
  int receive(Clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      errno = EAGAIN;
      return -1;
    }
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) pending_.append(buf, static_cast<size_t>(n));
    return static_cast<int>(n);
  }

  int fd_;
  bool connected_ = false;
  std::string pending_;
};

// The kernel's backlog of a listening TCP socket on loopback, as `ss -ltn`
// shows it (Send-Q), read with sock_diag; nullopt when it cannot be read.
std::optional<int> listen_backlog(int port) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = AF_INET;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1U << 10;  // TCP_LISTEN
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  std::optional<int> backlog;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    ::close(fd);
    return std::nullopt;
  }
  alignas(nlmsghdr) char buf[32768];
  for (bool done = false; !done;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(d->id.idiag_sport) == port) backlog = static_cast<int>(d->idiag_wqueue);
    }
  }
  ::close(fd);
  return backlog;
}

// GET /healthz on a new connection; the status (0: no answer within
// `seconds`) and how long it took.
std::pair<int, double> healthz(int port, int seconds) {
  const auto start = Clock::now();
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(seconds);
  c.set_read_timeout(seconds);
  c.set_write_timeout(seconds);
  const auto res = c.Get("/healthz");
  return {res ? res->status : 0, seconds_since(start)};
}

// Limits that make misbehaviour show quickly; the worker count is well
// below httplib's built-in 8 so that the old server differs.
HttpLimits test_limits() {
  HttpLimits l;
  l.threads = 2;
  l.listen_backlog = 300;
  l.read_timeout_ms = 5000;
  l.write_timeout_ms = 5000;
  l.keep_alive_timeout_ms = 60000;
  l.request_timeout_ms = 2000;
  l.max_body_bytes = 64 * 1024;
  return l;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(const HttpLimits& limits = test_limits()) {
    std::vector<workflow::Problem> problems;
    registry_ = workflow::Registry::load({kWorkflows}, problems);
    ASSERT_TRUE(problems.empty());
    auto store = store::Store::open(dir_ / "store", {.sync = false});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    Context ctx;
    ctx.registry = &registry_;
    ctx.store = store_.get();
    ctx.verifier = &verifier_;
    server_ = std::make_unique<Server>(ctx, limits);
    auto port = server_->start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    ASSERT_EQ(healthz(port_, 10).first, 200);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  testing::TempDir dir_;
  workflow::Registry registry_;
  std::unique_ptr<store::Store> store_;
  const std::string secret_ = std::string(40, 's');
  auth::Verifier verifier_{{.hs256_secret = secret_}};
  // Requests that get through the transport reach the route's guard; with
  // this token, its handler.
  const std::string token_ = *auth::mint_hs256(
      secret_, {.sub = "admin-1", .role = auth::Role::admin}, now_ms(), 3'600'000);
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

// Clients that each send a prefix of `request` one byte a second, for up
// to 60 s, until the server answers or closes; record when that happened
// and what it said.
class Tricklers {
 public:
  Tricklers(int port, int count, std::string prefix, std::string request)
      : cut_off_after_(count), answers_(count) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this, port, prefix, request, i] {
        Socket s(port);
        const auto start = Clock::now();
        std::string said;
        if (s.connected() && s.send(prefix)) {
          for (size_t k = 0; k < request.size() && k < 60 && !stop_; ++k) {
            if (!s.send(request.substr(k, 1)) || s.heard_within(1.0)) break;
          }
          if (s.heard_within(0)) said = s.read_answer(5).head;
        }
        std::lock_guard lock(mu_);
        cut_off_after_[i] = seconds_since(start);
        answers_[i] = said;
      });
    }
  }
  ~Tricklers() { join(); }
  void join() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  // Lets them run to their end (cut off by the server or 60 s).
  void wait() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::vector<double> cut_off_after() {
    std::lock_guard lock(mu_);
    return cut_off_after_;
  }
  std::vector<std::string> answers() {
    std::lock_guard lock(mu_);
    return answers_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<double> cut_off_after_;
  std::vector<std::string> answers_;
  std::vector<std::thread> threads_;
};

TEST_F(HttpServerTest, IdleConnectionsDoNotDelayHealthz) {
  start();
  // Far more than workers (2 here, 8 in httplib's own pool): connected,
  // never sending.
  std::vector<std::unique_ptr<Socket>> idle;
  for (int i = 0; i < 48; ++i) {
    idle.push_back(std::make_unique<Socket>(port_));
    ASSERT_TRUE(idle.back()->connected());
  }
  const auto [status, took] = healthz(port_, 10);
  EXPECT_EQ(status, 200) << "no answer within 10 s (took " << took << " s)";
  // They are kept open (keep_alive_timeout_ms is a minute here).
  EXPECT_FALSE(idle.back()->heard_within(0.1));
}

TEST_F(HttpServerTest, AtTheConnectionCapTheOldestIdleConnectionMakesRoom) {
  HttpLimits limits = test_limits();
  limits.max_connections = 8;
  start(limits);
  std::vector<std::unique_ptr<Socket>> idle;
  for (int i = 0; i < 48; ++i) {
    idle.push_back(std::make_unique<Socket>(port_));
    ASSERT_TRUE(idle.back()->connected());
  }
  const auto [status, took] = healthz(port_, 10);
  EXPECT_EQ(status, 200) << "no answer within 10 s (took " << took << " s)";
  EXPECT_TRUE(idle.front()->closed_within(10)) << "the oldest idle connection was kept";
  EXPECT_FALSE(idle.back()->heard_within(0.1)) << "the newest idle connection was closed";
}

TEST_F(HttpServerTest, ClientsTricklingTheirHeadsDoNotDelayHealthzAndAreCutOff) {
  start();
  // A request line too long to finish in the 60 s of trickling.
  const std::string request = "GET /healthz?" + std::string(100, 'x') + " HTTP/1.1\r\n\r\n";
  Tricklers slow(port_, 12, "", request);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // all have begun

  const auto [status, took] = healthz(port_, 20);
  EXPECT_EQ(status, 200) << "no answer within 20 s (took " << took << " s)";

  slow.wait();
  const auto after = slow.cut_off_after();
  const auto answers = slow.answers();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_LT(after[i], 30) << "client " << i << " kept trickling for " << after[i] << " s";
    EXPECT_EQ(answers[i].rfind("HTTP/1.1 408", 0), 0U) << "client " << i << ": " << answers[i];
  }
}

TEST_F(HttpServerTest, ClientsTricklingTheirBodiesHoldAWorkerNoLongerThanTheRequestTimeout) {
  start();
  const std::string head =
      "POST /v1/events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n";
  Tricklers slow(port_, 12, head, std::string(1000, ' '));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  const auto [status, took] = healthz(port_, 20);
  EXPECT_EQ(status, 200) << "no answer within 20 s (took " << took << " s)";

  slow.wait();
  const auto after = slow.cut_off_after();
  const auto answers = slow.answers();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_LT(after[i], 30) << "client " << i << " kept trickling for " << after[i] << " s";
    EXPECT_EQ(answers[i].rfind("HTTP/1.1 408", 0), 0U) << "client " << i << ": " << answers[i];
  }
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413WithTheErrorCode) {
  start();
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(10);
  auto res = c.Post("/v1/events", std::string(256 * 1024, ' '), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  const json body = json::parse(res->body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << res->body;
  EXPECT_EQ(body["error"]["code"], "payload_too_large");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("http.max_body_bytes"),
            std::string::npos);

  // A body within the limit gets through to the handler (no intake: 503).
  c.set_bearer_token_auth(token_);
  res = c.Post("/v1/events", std::string(1024, ' '), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
}

TEST_F(HttpServerTest, ContentLengthOverTheLimitIsRefusedBeforeTheBodyArrives) {
  start();
  Socket s(port_);
  ASSERT_TRUE(
      s.send("POST /v1/events HTTP/1.1\r\nHost: test\r\nContent-Length: 100000000\r\n\r\n[{"));
  const Answer a = s.read_answer(10);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_EQ(a.error_code(), "payload_too_large") << a.body;
  EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
  EXPECT_TRUE(s.closed_within(10));

  // A client that asks before sending is told at once.
  Socket asks(port_);
  ASSERT_TRUE(
      asks.send("POST /v1/events HTTP/1.1\r\nHost: test\r\nContent-Length: 100000000\r\n"
                "Expect: 100-continue\r\n\r\n"));
  const Answer b = asks.read_answer(10);
  EXPECT_EQ(b.status, 413) << b.head;
  EXPECT_EQ(b.error_code(), "payload_too_large") << b.body;
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
  start();
  auto chunked = [this](int chunks) {
    std::string body;
    for (int i = 0; i < chunks; ++i) body += "4000\r\n" + std::string(0x4000, ' ') + "\r\n";
    return "POST /v1/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + token_ +
           "\r\nTransfer-Encoding: chunked\r\n\r\n" + body + "0\r\n\r\n";
  };
  Socket big(port_);
  ASSERT_TRUE(big.send(chunked(8)));  // 128 KiB
  const Answer a = big.read_answer(10);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_EQ(a.error_code(), "payload_too_large") << a.body;

  Socket small(port_);
  ASSERT_TRUE(small.send(chunked(2)));  // 32 KiB: through to the handler
  EXPECT_EQ(small.read_answer(10).status, 503);
}

TEST_F(HttpServerTest, CompressedBodyIs415) {
  start();
  Socket s(port_);
  ASSERT_TRUE(
      s.send("POST /v1/events HTTP/1.1\r\nHost: test\r\nContent-Encoding: gzip\r\n"
             "Content-Length: 4\r\n\r\nabcd"));
  const Answer a = s.read_answer(10);
  EXPECT_EQ(a.status, 415) << a.head;
  EXPECT_EQ(a.error_code(), "unsupported_encoding") << a.body;
}

TEST_F(HttpServerTest, HeadOverTheLimitIs431) {
  start();
  std::string head = "GET /healthz HTTP/1.1\r\nHost: test\r\n";
  for (int i = 0; i < 70; ++i)  // each line within httplib's own limit of 8 KiB
    head += "X-Pad-" + std::to_string(i) + ": " + std::string(1000, 'x') + "\r\n";
  Socket s(port_);
  ASSERT_TRUE(s.send(head + "\r\n"));
  const Answer a = s.read_answer(10);
  EXPECT_EQ(a.status, 431) << a.head;
  EXPECT_EQ(a.error_code(), "headers_too_large") << a.body;
}

TEST_F(HttpServerTest, ListenBacklogIsTheConfiguredOne) {
  start();
  const auto backlog = listen_backlog(port_);
  if (!backlog) GTEST_SKIP() << "sock_diag is not available here";
  EXPECT_EQ(*backlog, 300);
}

TEST_F(HttpServerTest, KeepAliveAndPipelinedRequestsAreAllAnswered) {
  start();
  Socket s(port_);
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
  ASSERT_TRUE(s.send(get + get));  // two requests in one write
  EXPECT_EQ(s.read_answer(10).status, 200);
  EXPECT_EQ(s.read_answer(10).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(s.send(get));  // the same connection, later
  EXPECT_EQ(s.read_answer(10).status, 200);

  httplib::Client c("127.0.0.1", port_);
  c.set_keep_alive(true);
  c.set_bearer_token_auth(token_);
  for (int i = 0; i < 20; ++i) {
    auto res = c.Get("/v1/workflows");
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
  }
}

// The worker pool of HttpServer itself, with handlers the test controls.
class HttpServerPoolTest : public ::testing::Test {
 protected:
  void start(const HttpLimits& limits) {
    server_ = std::make_unique<HttpServer>(limits);
    server_->Get("/wait", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock lock(mu_);
      ++inside_;
      max_inside_ = std::max(max_inside_, inside_);
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
      --inside_;
      res.set_content("done", "text/plain");
    });
    server_->Get("/sleep", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      res.set_content("slept", "text/plain");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void TearDown() override {
    release();
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  int max_inside_ = 0;
  bool released_ = false;
};

TEST_F(HttpServerPoolTest, HandlersRunOnExactlyTheConfiguredWorkers) {
  HttpLimits limits = test_limits();
  limits.threads = 3;
  start(limits);
  std::atomic<int> ok{0};
  std::vector<std::jthread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(60);
      auto res = c.Get("/wait");
      if (res && res->status == 200) ++ok;
    });
  }
  bool three = false;
  {
    std::unique_lock lock(mu_);
    three = cv_.wait_for(lock, std::chrono::seconds(30), [this] { return inside_ >= 3; });
  }
  // Give a larger pool every chance to start more handlers.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  {
    std::lock_guard lock(mu_);
    EXPECT_TRUE(three) << "fewer than 3 handlers started";
    EXPECT_EQ(max_inside_, 3);
  }
  release();
  clients.clear();  // joins
  EXPECT_EQ(ok, 6);
}

TEST_F(HttpServerPoolTest, AHandlerMayTakeLongerThanTheRequestTimeout) {
  HttpLimits limits = test_limits();
  limits.request_timeout_ms = 500;
  start(limits);
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(30);
  auto res = c.Get("/sleep");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "slept");
}

}  // namespace
}  // namespace stagewise::api
