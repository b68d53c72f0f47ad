#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stagewise::auth {

/// Who may act (DESIGN.md §11). `system` is stagewise itself (its timers);
/// no token can claim it.
enum class Role { applicant, reviewer, program_manager, hub_admin, admin, service, system };

std::optional<Role> parse_role(std::string_view name);
std::string_view role_name(Role role);

/// An authenticated caller: what its credential says, nothing else.
struct Principal {
  std::string sub{};  ///< the actor id
  Role role = Role::applicant;
  /// Programs the caller may act in and read. Empty: every program for
  /// admin, service, applicant and reviewer (the last two are scoped by
  /// their own applications anyway); none for program_manager and hub_admin.
  std::vector<std::string> programs{};
  std::string university{};  ///< hub_admin: the hub it co-manages
  /// applicant: applications it may read besides those it submitted (it
  /// acts on its own only: the engine checks the owner).
  std::vector<std::string> applications{};
  int64_t expires_ms = 0;

  bool may_program(std::string_view program) const;
  bool owns(std::string_view application) const;
};

}  // namespace stagewise::auth
