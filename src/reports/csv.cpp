#include "reports/csv.h"

#include <initializer_list>
#include <vector>

namespace stagewise::reports {
namespace {

using nlohmann::json;

// A table being made: its header, then rows.
class Csv {
 public:
  explicit Csv(std::initializer_list<const char*> header) {
    rows_.emplace_back(header.begin(), header.end());
  }
  void row(std::vector<json> fields) { rows_.push_back(std::move(fields)); }
  Table take() { return std::move(rows_); }

 private:
  Table rows_;
};

json at(const json& j, const char* k) {
  const auto it = j.find(k);
  return it == j.end() ? json() : *it;
}

Table funnel_table(const json& r) {
  Csv c{"program", "stage", "terminal", "now", "reached", "conversion", "overall", "overdue"};
  for (const auto& s : r.at("stages"))
    c.row({r["program"], s["stage"], s["terminal"], s["now"], s["reached"], s["conversion"],
           s["overall"], s["overdue"]});
  return c.take();
}

Table time_table(const json& r) {
  Csv c{"program",        "stage",          "terminal",       "finished_count",
        "finished_p50_s", "finished_p90_s", "finished_max_s", "waiting_count",
        "waiting_p50_s",  "waiting_p90_s",  "waiting_max_s",  "waiting_over_threshold"};
  for (const auto& s : r.at("stages")) {
    const json& f = s["finished"];
    const json& w = s["waiting"];
    c.row({r["program"], s["stage"], s["terminal"], f["count"], f["p50"], f["p90"], f["max"],
           w["count"], w["p50"], w["p90"], w["max"], w["over_threshold"]});
  }
  return c.take();
}

Table fairness_table(const json& r) {
  Csv c{"program", "attribute", "min_cell",     "stage", "group",     "n",
        "reached", "rate",      "impact_ratio", "flag",  "suppressed"};
  std::map<std::string, json> n;
  for (const auto& g : r.at("groups")) n[g.at("group").get<std::string>()] = g["n"];
  for (const auto& s : r.at("stages"))
    for (const auto& g : s.at("groups"))
      c.row({r["program"], r["attribute"], r["min_cell"], s["stage"], g["group"],
             n[g.at("group").get<std::string>()], g["reached"], g["rate"], g["impact_ratio"],
             g["flag"], g["suppressed"]});
  return c.take();
}

Table reviewers_table(const json& r) {
  Csv c{"program", "attribute", "reviewer", "group", "n", "mean", "difference", "suppressed"};
  for (const auto& v : r.at("reviewers")) {
    c.row({r["program"], r["attribute"], v["reviewer"], "(all)", v["n"], v["mean"], 0, false});
    for (const auto& g : v.at("groups"))
      c.row({r["program"], r["attribute"], v["reviewer"], g["group"], g["n"], g["mean"],
             g["difference"], g["suppressed"]});
  }
  return c.take();
}

Table hubs_table(const json& r) {
  Csv c{"program", "hub", "stage", "applications"};
  for (const auto& h : r.at("hubs"))
    for (const char* part : {"stages", "outcomes"}) {
      const json counts = at(h, part);  // items() of a temporary would dangle
      for (const auto& [stage, n] : counts.items()) c.row({r["program"], h["hub"], stage, n});
    }
  return c.take();
}

}  // namespace

std::string csv_field(const json& value) {
  if (value.is_null()) return "";
  std::string s = value.is_string() ? value.get<std::string>() : value.dump();
  if (value.is_string() && !s.empty() &&
      std::string_view("=+-@\t\r").find(s[0]) != std::string_view::npos)
    s.insert(s.begin(), '\'');
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

Table to_table(std::string_view kind, const json& report) {
  if (kind == "funnel") return funnel_table(report);
  if (kind == "time-in-stage") return time_table(report);
  if (kind == "fairness") return fairness_table(report);
  if (kind == "reviewers") return reviewers_table(report);
  return hubs_table(report);
}

std::string to_csv(std::string_view kind, const json& report) {
  std::string out;
  for (const auto& row : to_table(kind, report)) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + csv_field(row[i]);
    out += "\r\n";
  }
  return out;
}

}  // namespace stagewise::reports
