#include "store/workflow_versions.h"

#include "common/digest.h"
#include "common/time.h"

#include <nlohmann/json.hpp>

namespace stagewise::store {
namespace {

using nlohmann::json;

std::string meta_key(const std::string& program, int version) {
  return "workflow/" + program + "/" + std::to_string(version);
}

std::string changed_message(const workflow::Workflow& wf, const std::string& then,
                            const std::string& now) {
  return "workflow " + wf.program + " version " + std::to_string(wf.version) + " in " + wf.file +
         " is not the one this data dir first loaded as that version (sha256 then " + then +
         ", now " + now +
         "): its applications and its log would change meaning. Put the change under a new "
         "version (copy the file, bump \"version\" to " +
         std::to_string(wf.version + 1) +
         " in the copy, keep the old file beside it: both load side by side), or bring back "
         "the file as it was";
}

}  // namespace

std::string workflow_fingerprint(const workflow::Workflow& wf) {
  return sha256_hex(wf.source.dump());
}

Result<std::string> recorded_fingerprint(const Store& store, const std::string& program,
                                         int version) {
  auto value = store.meta(meta_key(program, version));
  if (!value) return value.error();
  const json j = json::parse(*value, nullptr, false);
  if (!j.is_object() || !j.contains("sha256") || !j["sha256"].is_string())
    return make_error(Errc::corruption, "the fingerprint stored for workflow " + program +
                                            " version " + std::to_string(version) +
                                            " cannot be read");
  return j["sha256"].get<std::string>();
}

Result<void> pin_workflows(Store& store, const workflow::Registry& registry) {
  Batch batch = store.batch();
  std::string problems;
  for (const auto* wf : registry.all()) {
    const std::string now = workflow_fingerprint(*wf);
    auto then = recorded_fingerprint(store, wf->program, wf->version);
    if (then && *then == now) continue;
    if (then) {
      problems += (problems.empty() ? "" : "\n") + changed_message(*wf, *then, now);
      continue;
    }
    if (!then.error().is_not_found()) return then.error();
    batch.set_meta(
        meta_key(wf->program, wf->version),
        json{{"sha256", now}, {"file", wf->file}, {"first_loaded", format_rfc3339_ms(now_ms())}}
            .dump());
  }
  if (!problems.empty()) return make_error(Errc::invalid_argument, problems);
  if (batch.count() == 0) return {};
  return store.commit(batch);
}

}  // namespace stagewise::store
