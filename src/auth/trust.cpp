#include "auth/trust.h"

#include "auth/signature.h"

#include <algorithm>

namespace stagewise::auth {

std::optional<std::string> InputTrust::refuse(const CloudEvent& e) const {
  if (!e.authsig.empty()) {
    if (signature_valid(options_.internal_key, e)) return std::nullopt;
    return "event \"" + e.id + "\" from source \"" + e.source +
           "\" carries a signature (authsig) that does not verify: only stagewise's own intake "
           "and timers sign events";
  }
  if (!e.authsub.empty() || !e.authrole.empty())
    return "source \"" + e.source +
           "\" set authsub/authrole: only stagewise's own intake records who was authenticated";
  if (e.actorrole == "system")
    return "source \"" + e.source +
           "\" may not claim role \"system\": only stagewise's own timers act as the system";
  if (options_.sources.empty()) return std::nullopt;
  const auto it = options_.sources.find(e.source);
  if (it == options_.sources.end())
    return "source \"" + e.source + "\" is not listed in security.sources; it may not send events";
  if (std::find(it->second.begin(), it->second.end(), e.actorrole) == it->second.end()) {
    std::string allowed;
    for (const auto& r : it->second) allowed += (allowed.empty() ? "" : ", ") + r;
    return "source \"" + e.source + "\" may not claim role \"" + e.actorrole +
           "\" (security.sources allows: " + (allowed.empty() ? "none" : allowed) + ")";
  }
  return std::nullopt;
}

}  // namespace stagewise::auth
