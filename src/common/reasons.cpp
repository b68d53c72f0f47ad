#include "common/reasons.h"

namespace stagewise {

std::string_view reason_code(Reason r) {
  switch (r) {
    case Reason::malformed_json:
      return "malformed_json";
    case Reason::missing_attribute:
      return "missing_attribute";
    case Reason::invalid_attribute:
      return "invalid_attribute";
    case Reason::oversized:
      return "oversized";
    case Reason::unknown_type:
      return "unknown_type";
    case Reason::unknown_program:
      return "unknown_program";
    case Reason::unknown_application:
      return "unknown_application";
    case Reason::application_exists:
      return "application_exists";
    case Reason::program_mismatch:
      return "program_mismatch";
    case Reason::unauthorized:
      return "unauthorized";
    case Reason::not_accepted_in_stage:
      return "not_accepted_in_stage";
    case Reason::invalid_data:
      return "invalid_data";
    case Reason::conflict_of_interest:
      return "conflict_of_interest";
    case Reason::wrong_partition:
      return "wrong_partition";
    case Reason::application_erased:
      return "application_erased";
    case Reason::engine_error:
      return "engine_error";
  }
  return "unknown";
}

}  // namespace stagewise
