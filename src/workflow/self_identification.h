#pragma once

// Voluntary self-identification (DESIGN.md §13): demographic answers an
// applicant may give in `data.self_identification` of application.submitted
// or application.updated, in any stage. They are kept apart from the
// profile (Application::self_identification), never shown to anyone one by
// one, never in output events or the history, and used only in aggregate
// reports.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace stagewise::workflow {

inline constexpr std::string_view kSelfIdentification = "self_identification";

/// What one application's answers may hold.
struct SelfIdLimits {
  size_t max_attributes = 32;  ///< e.g. gender, race_ethnicity, first_generation
  size_t max_key_bytes = 64;
  size_t max_value_bytes = 128;
  size_t max_choices = 16;  ///< items of a multiple-choice answer
};

/// Whether `k` may name an answer (and so a report's attribute): 1 to
/// `max_bytes` letters, digits, '_', '-' or '.'.
bool valid_self_identification_key(const std::string& k, size_t max_bytes = 64);

/// Whether `data` carries self-identification answers.
bool has_self_identification(const nlohmann::json& data);

/// Empty when `answers` (the value of data.self_identification) is
/// acceptable, else what is wrong with which field. Acceptable: an object
/// whose keys are 1..max_key_bytes of letters, digits, '_', '-' or '.', and
/// whose values are a string ("decline to state" is one), a boolean, a
/// number, a list of strings (a multiple choice), or null (withdraws the
/// answer).
std::string check_self_identification(const nlohmann::json& answers,
                                      const SelfIdLimits& limits = {});

/// `kept` with `answers` merged in (JSON merge patch: null withdraws one).
void merge_self_identification(nlohmann::json& kept, const nlohmann::json& answers);

/// Removes the answers from an event's data before it is recorded anywhere
/// (history, dead letters of later stages do not see it).
void drop_self_identification(nlohmann::json& data);

/// The group an answer puts an application in for `attribute`: the string
/// itself, "true"/"false", the number as written, the choices sorted and
/// joined with " + "; "unknown" when there is no answer.
std::string self_identified_group(const nlohmann::json& answers, const std::string& attribute);

}  // namespace stagewise::workflow
