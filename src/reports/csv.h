#pragma once

// The reports as CSV (RFC 4180), one row per cell of the JSON answer, for
// spreadsheets. Text that a spreadsheet would run as a formula (starting
// with =, +, -, @, tab or carriage return) is prefixed with a quote (OWASP
// "CSV injection"): group and hub names come from applicants.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace stagewise::reports {

/// A report flattened: a header row, then one row per cell.
using Table = std::vector<std::vector<nlohmann::json>>;

/// `report` (as funnel_report etc. made it) as a table; `kind` is one of
/// funnel, time-in-stage, fairness, reviewers, hubs.
Table to_table(std::string_view kind, const nlohmann::json& report);

/// The same table as CSV.
std::string to_csv(std::string_view kind, const nlohmann::json& report);

/// One CSV field: quoted when it must be, guarded against formulas.
std::string csv_field(const nlohmann::json& value);

}  // namespace stagewise::reports
