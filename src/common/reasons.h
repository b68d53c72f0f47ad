#pragma once

#include <string_view>

namespace stagewise {

/// Why an input event was rejected. The code string is part of the
/// dead-letter contract (DESIGN.md §4); README's table documents each.
enum class Reason {
  malformed_json,
  missing_attribute,
  invalid_attribute,
  oversized,
  unknown_type,
  unknown_program,
  unknown_application,
  application_exists,
  program_mismatch,
  unauthorized,
  not_accepted_in_stage,
  invalid_data,
  conflict_of_interest,
  wrong_partition,     ///< not in the partition its application lives in
  application_erased,  ///< the application was erased: nothing more applies to it
  engine_error,
};

std::string_view reason_code(Reason r);

}  // namespace stagewise
