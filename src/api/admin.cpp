// Admin operations on the server's data dir (issue 15): backups.
#include "api/detail/replies.h"
#include "api/routes.h"
#include "backup/backup.h"
#include "common/json_limits.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

namespace stagewise::api {

using detail::fail;
using detail::reply;
using nlohmann::json;

// POST /v1/admin/backup {"to": "/absolute/dir"}: a consistent copy of this
// server's store and key files into a new dir on the server's machine.
void post_backup(const Call& c, const httplib::Request& req, httplib::Response& res) {
  if (c.ctx.data_dir.empty())
    return fail(res, 503, "unavailable", "this server does not know its data dir");
  constexpr size_t kMaxBody = 4096;
  if (req.body.size() > kMaxBody)
    return fail(res, 413, "payload_too_large", "a backup request is at most 4096 bytes");
  const json body = parse_json_bounded(req.body, 4);
  if (!body.is_object() || !body.contains("to") || !body["to"].is_string())
    return fail(res, 400, "invalid_request",
                "send {\"to\": \"/absolute/dir\"}: a new or empty dir on the server's machine");
  const std::string to = body["to"];
  if (auto why = backup::check_target(to, c.ctx.data_dir); !why.empty())
    return fail(res, 400, "invalid_target", why);
  // One at a time: a second would double the disk and I/O for nothing.
  static std::atomic<bool> running{false};
  const detail::OneAtATime turn(running);
  if (!turn.acquired()) {
    res.set_header("Retry-After", "10");
    return fail(res, 409, "backup_running", "a backup is being written; try again once it is done");
  }
  const auto start = std::chrono::steady_clock::now();
  auto written = backup::write(*c.ctx.store, c.ctx.data_dir, to);
  if (!written) {
    spdlog::error("backup to {} failed: {}", to, written.error().message);
    return fail(res, written.error().code == Errc::invalid_argument ? 400 : 500, "backup_failed",
                written.error().message);
  }
  (*written)["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("backup written to {}: {} files, {} bytes", to, (*written)["files"].dump(),
               (*written)["bytes"].dump());
  reply(res, 200, *written);
}

}  // namespace stagewise::api
