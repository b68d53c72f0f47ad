#pragma once

#include "common/cloudevent.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stagewise::auth {

/// Who may say what on the input topic (DESIGN.md §11). Producers of the
/// topic are trusted services, authenticated by Kafka (ACLs in
/// production); inside stagewise:
/// - an event that carries `authsig` must verify under the internal key:
///   it came from stagewise's own HTTP intake (its actor checked against a
///   token) or timers;
/// - otherwise `authsub`/`authrole` may not be set, `system` may not be
///   claimed, and when `sources` is set, the event's `source` must be listed
///   with the role it claims.
class InputTrust {
 public:
  struct Options {
    std::string internal_key;  ///< verifies authsig; empty: no event may carry one
    /// security.sources: source -> roles its events may claim; empty: any
    /// source may claim any role but system.
    std::map<std::string, std::vector<std::string>> sources;
  };
  explicit InputTrust(Options options) : options_(std::move(options)) {}
  InputTrust() = default;

  /// Why the event may not be applied (a dead letter `unauthorized` naming
  /// the source and the role), or nullopt.
  std::optional<std::string> refuse(const CloudEvent& e) const;

 private:
  Options options_;
};

}  // namespace stagewise::auth
