#include "auth/principal.h"

#include <algorithm>
#include <array>

namespace stagewise::auth {
namespace {
constexpr std::array<std::pair<Role, std::string_view>, 7> kRoles = {{
    {Role::applicant, "applicant"},
    {Role::reviewer, "reviewer"},
    {Role::program_manager, "program_manager"},
    {Role::hub_admin, "hub_admin"},
    {Role::admin, "admin"},
    {Role::service, "service"},
    {Role::system, "system"},
}};
}  // namespace

std::optional<Role> parse_role(std::string_view name) {
  for (const auto& [role, n] : kRoles)
    if (n == name) return role;
  return std::nullopt;
}

std::string_view role_name(Role role) {
  for (const auto& [r, n] : kRoles)
    if (r == role) return n;
  return "unknown";
}

bool Principal::may_program(std::string_view program) const {
  if (programs.empty()) return role != Role::program_manager && role != Role::hub_admin;
  return std::find(programs.begin(), programs.end(), program) != programs.end();
}

bool Principal::owns(std::string_view application) const {
  return std::find(applications.begin(), applications.end(), application) != applications.end();
}

}  // namespace stagewise::auth
