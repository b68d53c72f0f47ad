#pragma once

#include "common/config.h"

#include <cstddef>
#include <cstdint>

namespace stagewise::api {

/// What one HTTP server allows its clients. The first seven come from the
/// `http` section of the configuration (see http_limits()); the rest are
/// fixed defaults that tests may lower.
struct HttpLimits {
  int threads = 16;                      ///< requests handled at once
  int listen_backlog = 512;              ///< connections the kernel queues before accept
  int64_t read_timeout_ms = 5000;        ///< longest wait for the next bytes of a request
  int64_t write_timeout_ms = 5000;       ///< longest wait to send the next bytes of an answer
  int64_t keep_alive_timeout_ms = 5000;  ///< idle time before a connection is closed
  int64_t request_timeout_ms = 10000;    ///< a request's head and body must arrive within this
  int64_t max_body_bytes = 8 << 20;      ///< larger bodies get 413 (chunked: counted encoded)
  /// Open connections; at the cap, the connection idle the longest is closed
  /// to make room. 0: half the process's file descriptor limit, at most 1024.
  size_t max_connections = 0;
  size_t max_head_bytes = 64 * 1024;  ///< request line and headers; more gets 431
  size_t keep_alive_max_count = 100;  ///< requests on one connection before it is closed
};

/// The limits of the `http` section of a configuration.
HttpLimits http_limits(const Config::Http& http);

}  // namespace stagewise::api
