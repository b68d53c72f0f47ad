// Conflicts of interest (DESIGN.md §12): one table of cases, each a pair of
// profiles, a "now" and the exact reasons expected; then the name folding,
// ORCID recognition, evidence wording and input bounds.
#include "reviews/conflicts.h"

#include "common/time.h"
#include "reviews/names.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace stagewise::reviews {
namespace {

using nlohmann::json;

constexpr const char* kApplicationId = "app-1";
constexpr const char* kReviewerId = "rev-1";
constexpr const char* kNow = "2026-06-01T00:00:00Z";

// The base pair has no conflict: cases patch it (RFC 7386 merge patch: a
// null member removes it; arrays are replaced whole, so a null inside an
// array stays).
const char* kBaseFacts = R"({"profile": {"name": "Jane Doe", "orcid": "0000-0002-1825-0097",
                                         "institution": "Stanford University"}})";
const char* kBaseReviewer = R"({"name": "Richard Roe", "orcid": "0000-0001-5109-3700",
                                "institution": "MIT"})";

struct Case {
  std::string name;
  std::string facts = "{}";     // merge patch on kBaseFacts (or the facts, when raw)
  std::string reviewer = "{}";  // merge patch on kBaseReviewer (or the profile, when raw)
  std::vector<std::string> expected = {};  // reasons, sorted, repeated when expected twice
  std::string now = kNow;
  bool raw = false;
};

int64_t ms(const std::string& rfc3339) {
  const auto v = parse_rfc3339_ms(rfc3339);
  EXPECT_TRUE(v) << rfc3339;
  return v.value_or(0);
}

// The case's application facts and reviewer profile.
std::pair<json, json> inputs_of(const Case& c) {
  json facts = json::parse(c.facts);
  json reviewer = json::parse(c.reviewer);
  if (!c.raw) {
    json base_facts = json::parse(kBaseFacts);
    base_facts.merge_patch(facts);
    facts = std::move(base_facts);
    json base_reviewer = json::parse(kBaseReviewer);
    base_reviewer.merge_patch(reviewer);
    reviewer = std::move(base_reviewer);
  }
  return {std::move(facts), std::move(reviewer)};
}

std::vector<Conflict> run(const Case& c) {
  const auto [facts, reviewer] = inputs_of(c);
  return find_conflicts(kApplicationId, facts, kReviewerId, reviewer, ms(c.now));
}

std::vector<std::string> reasons_of(const std::vector<Conflict>& found) {
  std::vector<std::string> out;
  for (const Conflict& c : found) out.push_back(c.reason);
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<Case>& institution_cases() {
  static const std::vector<Case> cases = {
      {.name = "base pair: no conflict"},
      {.name = "same institution",
       .facts = R"({"profile": {"institution": "MIT"}})",
       .expected = {"same_institution"}},
      {.name = "university field names the institution",
       .facts = R"({"profile": {"institution": null, "university": "M.I.T."}})",
       .reviewer = R"({"institution": "m.i.t"})",
       .expected = {"same_institution"}},
      {.name = "institution names fold accents and case",
       .facts = R"({"profile": {"institution": "Universität Zürich"}})",
       .reviewer = R"({"institution": "UNIVERSITAT  ZURICH"})",
       .expected = {"same_institution"}},
      {.name = "current employer: until null",
       .facts = R"({"profile": {"institution": "Harvard University"}})",
       .reviewer = R"({"employers": [{"institution": "Harvard University", "until": null}]})",
       .expected = {"same_institution"}},
      {.name = "current employer: until absent",
       .facts = R"({"profile": {"institution": "Harvard University"}})",
       .reviewer = R"({"employers": [{"institution": "Harvard University"}]})",
       .expected = {"same_institution"}},
      {.name = "team member's institution (grant co-applicant)",
       .facts = R"({"profile": {"team": [{"name": "Bob Poe", "institution": "MIT"}]}})",
       .expected = {"same_institution"}},
      {.name = "one conflict per institution, however many sides match",
       .facts = R"({"profile": {"institution": "MIT", "university": "mit",
                    "team": [{"name": "Bob Poe", "institution": "MIT"}]}})",
       .reviewer = R"({"employers": [{"institution": "MIT", "until": null}]})",
       .expected = {"same_institution"}},
      {.name = "two institutions, two conflicts",
       .facts = R"({"profile": {"institution": "MIT",
                    "team": [{"name": "Bob Poe", "institution": "Caltech"}]}})",
       .reviewer = R"({"employers": [{"institution": "Caltech"}]})",
       .expected = {"same_institution", "same_institution"}},
      {.name = "different institution, no team",
       .facts = R"({"profile": {"institution": "Harvard University"}})",
       .reviewer = R"({"employers": [{"institution": "Yale University"}]})"},
  };
  return cases;
}

// now = 2026-06-01T00:00Z unless said: the 12-month boundary is 2025-06-01T00:00Z.
const std::vector<Case>& employer_cases() {
  static const std::vector<Case> cases = {
      {.name = "employer until exactly 12 months ago",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "2025-06-01"}]})",
       .expected = {"recent_employer"}},
      {.name = "employer until one day beyond 12 months",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "2025-05-31"}]})"},
      {.name = "RFC 3339 until exactly at the boundary",
       .reviewer = R"({"employers": [{"institution": "Stanford University",
                                      "until": "2025-06-01T00:00:00Z"}]})",
       .expected = {"recent_employer"}},
      {.name = "RFC 3339 until a millisecond before the boundary",
       .reviewer = R"({"employers": [{"institution": "Stanford University",
                                      "until": "2025-05-31T23:59:59.999Z"}]})"},
      {.name = "until 2025-06 means June 30, inside at now 2026-06-30",
       .reviewer = R"({"employers": [{"institution": "Stanford University", "until": "2025-06"}]})",
       .expected = {"recent_employer"},
       .now = "2026-06-30T23:59:59Z"},
      {.name = "until 2025-06 is outside at now 2026-07-01",
       .reviewer = R"({"employers": [{"institution": "Stanford University", "until": "2025-06"}]})",
       .now = "2026-07-01T00:00:00Z"},
      {.name = "until 2025 means Dec 31, inside at now 2026-12-31",
       .reviewer = R"({"employers": [{"institution": "Stanford University", "until": "2025"}]})",
       .expected = {"recent_employer"},
       .now = "2026-12-31T12:00:00Z"},
      {.name = "until 2025 is outside at now 2027-01-01",
       .reviewer = R"({"employers": [{"institution": "Stanford University", "until": "2025"}]})",
       .now = "2027-01-01T00:00:00Z"},
      {.name = "leap day: 12 months before 2028-02-29 is 2027-02-28",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "2027-02-28"}]})",
       .expected = {"recent_employer"},
       .now = "2028-02-29T00:00:00Z"},
      {.name = "leap day: 2027-02-27 is beyond",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "2027-02-27"}]})",
       .now = "2028-02-29T00:00:00Z"},
      {.name = "unparseable until counts as current",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "last summer"}]})",
       .expected = {"recent_employer"}},
      {.name = "impossible date 2025-02-30 is not a date: counts",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "2020-02-30"}]})",
       .expected = {"recent_employer"}},
      {.name = "future until counts",
       .reviewer =
           R"({"employers": [{"institution": "Stanford University", "until": "2027-01-31"}]})",
       .expected = {"recent_employer"}},
      {.name = "recent employer is a team member's institution",
       .facts = R"({"profile": {"team": [{"name": "Bob Poe", "institution": "Caltech"}]}})",
       .reviewer = R"({"employers": [{"institution": "Caltech", "until": "2026-01-31"}]})",
       .expected = {"recent_employer"}},
      {.name = "recent employer elsewhere",
       .reviewer = R"({"employers": [{"institution": "Caltech", "until": "2026-01-31"}]})"},
      {.name = "old and current employment at the same place",
       .reviewer = R"({"institution": "Stanford University",
                       "employers": [{"institution": "Stanford University", "until": "2026-01"}]})",
       .expected = {"recent_employer", "same_institution"}},
  };
  return cases;
}

// The 48-month boundary is 2022-06-01T00:00Z.
const std::vector<Case>& collaborator_cases() {
  static const std::vector<Case> cases = {
      {.name = "collaborator exactly 48 months ago",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2022-06-01"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator one day beyond 48 months",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2022-05-31"}]})"},
      {.name = "collaborator last 2022-06 (end of June) inside",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2022-06"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator last 2022-05 outside",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2022-05"}]})"},
      {.name = "collaborator last 2022 (end of 2022) inside",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2022"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator last 2021 outside",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2021"}]})"},
      {.name = "collaborator without last counts",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator with unparseable last counts",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "ongoing"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator with a future last counts",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2030-01-01"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator is a team member",
       .facts = R"({"profile": {"team": [{"name": "Bob Poe", "orcid": "0000-0003-1415-9269"}]}})",
       .reviewer = R"({"collaborators": [{"orcid": "0000-0003-1415-9269", "last": "2025"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborates with the applicant and a team member: two conflicts",
       .facts = R"({"profile": {"team": [{"name": "Bob Poe"}]}})",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe"}, {"name": "Bob Poe"}]})",
       .expected = {"recent_collaborator", "recent_collaborator"}},
      {.name = "applicant's collaborators list the reviewer",
       .facts = R"({"profile": {"collaborators": [{"orcid": "0000-0001-5109-3700",
                                                   "last": "2024-03"}]}})",
       .expected = {"recent_collaborator"}},
      {.name = "applicant's old collaboration with the reviewer",
       .facts = R"({"profile": {"collaborators": [{"name": "Richard Roe", "last": "2019"}]}})"},
      {.name = "both sides list the same collaboration: one conflict",
       .facts = R"({"profile": {"collaborators": [{"name": "Richard Roe", "last": "2025"}]}})",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2025"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "collaborator is someone else",
       .reviewer = R"({"collaborators": [{"name": "John Smith", "last": "2026"}]})"},
  };
  return cases;
}

const std::vector<Case>& person_cases() {
  static const std::vector<Case> cases = {
      {.name = "same ORCID, names spelled differently: match",
       .reviewer =
           R"({"collaborators": [{"name": "J. Doe-Smith", "orcid": "0000-0002-1825-0097"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "different ORCIDs, same name: no match",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "orcid": "0000-0003-1415-9269"}]})"},
      {.name = "one side without ORCID: names match",
       .reviewer = R"({"collaborators": [{"name": "jane  DOE"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "applicant without ORCID: names match",
       .facts = R"({"profile": {"orcid": null}})",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "orcid": "0000-0003-1415-9269"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "ORCID URL prefix and lower-case x",
       .facts = R"({"profile": {"orcid": "https://orcid.org/0000-0002-1694-233x"}})",
       .reviewer = R"({"advisees": ["0000-0002-1694-233X"]})",
       .expected = {"advisor"}},
      {.name = "accents and case: José Álvarez = JOSE ALVAREZ",
       .facts = R"({"profile": {"name": "José Álvarez", "orcid": null}})",
       .reviewer = R"({"advisees": ["JOSE ALVAREZ"]})",
       .expected = {"advisor"}},
      {.name = "sharp s: Straße = STRASSE",
       .facts = R"({"profile": {"name": "Hans Straße", "orcid": null}})",
       .reviewer = R"({"collaborators": [{"name": "HANS STRASSE"}]})",
       .expected = {"recent_collaborator"}},
      {.name = "empty names never match",
       .facts = R"({"profile": {"name": "", "orcid": null}})",
       .reviewer = R"({"collaborators": [{"name": ""}, {"name": " - "}], "advisees": [""]})"},
  };
  return cases;
}

const std::vector<Case>& advising_cases() {
  static const std::vector<Case> cases = {
      {.name = "reviewer's advisees list the applicant",
       .reviewer = R"({"advisees": [{"name": "Jane Doe"}]})",
       .expected = {"advisor"}},
      {.name = "reviewer's advisors list the applicant",
       .reviewer = R"({"advisors": ["0000-0002-1825-0097"]})",
       .expected = {"advisee"}},
      {.name = "applicant's advisors list the reviewer",
       .facts = R"({"profile": {"advisors": ["Richard Roe"]}})",
       .expected = {"advisor"}},
      {.name = "applicant's advisees list the reviewer",
       .facts = R"({"profile": {"advisees": [{"orcid": "orcid.org/0000-0001-5109-3700"}]}})",
       .expected = {"advisee"}},
      {.name = "reviewer advised a team member",
       .facts = R"({"profile": {"team": [{"name": "Bob Poe", "institution": "Caltech"}]}})",
       .reviewer = R"({"advisees": ["Bob Poe"]})",
       .expected = {"advisor"}},
      {.name = "advising both ways recorded on both sides: one conflict",
       .facts = R"({"profile": {"advisors": ["Richard Roe"]}})",
       .reviewer = R"({"advisees": ["Jane Doe"]})",
       .expected = {"advisor"}},
      {.name = "advisees are someone else",
       .facts = R"({"profile": {"advisors": ["John Smith"], "advisees": ["Ann Lee"]}})",
       .reviewer = R"({"advisees": ["Mary Major"], "advisors": ["Ann Lee"]})"},
  };
  return cases;
}

const std::vector<Case>& letter_and_declared_cases() {
  static const std::vector<Case> cases = {
      {.name = "letter by the reviewer, by name",
       .facts = R"({"documents": [{"kind": "recommendation_letter", "author": "RICHARD ROE"}]})",
       .expected = {"letter_writer"}},
      {.name = "reference letter by the reviewer, by ORCID URL",
       .facts = R"({"documents": [{"kind": "reference_letter",
                    "author": {"name": "R. Roe", "orcid": "https://orcid.org/0000-0001-5109-3700"}}]})",
       .expected = {"letter_writer"}},
      {.name = "kind letter counts; two letters, one conflict",
       .facts = R"({"documents": [{"kind": "letter", "author": {"name": "Richard Roe"}},
                                  {"kind": "letter", "author": "0000-0001-5109-3700"}]})",
       .expected = {"letter_writer"}},
      {.name = "letter by someone else",
       .facts = R"({"documents": [{"kind": "recommendation_letter", "author": "John Smith"}]})"},
      {.name = "a transcript by the reviewer is no letter",
       .facts = R"({"documents": [{"kind": "transcript", "author": "Richard Roe"}]})"},
      {.name = "letter author with another ORCID but the same name",
       .facts = R"({"documents": [{"kind": "letter",
                    "author": {"name": "Richard Roe", "orcid": "0000-0003-1415-9269"}}]})"},
      {.name = "reviewer declares the application id",
       .reviewer = R"({"conflicts": ["app-1"]})",
       .expected = {"declared_by_reviewer"}},
      {.name = "reviewer declares another application", .reviewer = R"({"conflicts": ["app-2"]})"},
      {.name = "reviewer declares the applicant by name",
       .reviewer = R"({"conflicts": ["jane doe"]})",
       .expected = {"declared_by_reviewer"}},
      {.name = "reviewer declares the application and the applicant: one conflict",
       .reviewer = R"({"conflicts": ["app-1", "Jane Doe"]})",
       .expected = {"declared_by_reviewer"}},
      {.name = "reviewer declares a team member by ORCID",
       .facts = R"({"profile": {"team": [{"name": "Bob Poe", "orcid": "0000-0003-1415-9269"}]}})",
       .reviewer = R"({"conflicts": ["https://orcid.org/0000-0003-1415-9269"]})",
       .expected = {"declared_by_reviewer"}},
      {.name = "applicant declares the reviewer id",
       .facts = R"({"profile": {"conflicts": ["rev-1"]}})",
       .expected = {"declared_by_applicant"}},
      {.name = "applicant declares the reviewer by name",
       .facts = R"({"profile": {"conflicts": ["Richard Roe"]}})",
       .expected = {"declared_by_applicant"}},
      {.name = "applicant declares the reviewer by ORCID",
       .facts = R"({"profile": {"conflicts": ["0000-0001-5109-3700"]}})",
       .expected = {"declared_by_applicant"}},
      {.name = "applicant declares someone else",
       .facts = R"({"profile": {"conflicts": ["rev-2", "John Smith", "0000-0003-1415-9269"]}})"},
      {.name = "ids match exactly, not as names",
       .facts = R"({"profile": {"conflicts": ["REV-1"]}})",
       .reviewer = R"({"conflicts": ["APP-1"]})"},
  };
  return cases;
}

const std::vector<Case>& robustness_cases() {
  static const std::vector<Case> cases = {
      {.name = "wrong types everywhere",
       .facts = R"({"profile": {"name": 5, "orcid": [], "institution": {"name": "MIT"},
                    "university": 7, "team": {"name": "Bob"}, "collaborators": "Richard Roe",
                    "advisors": 3, "advisees": {"0": "Richard Roe"}, "conflicts": "rev-1"},
                    "documents": {"kind": "letter", "author": "Richard Roe"}})",
       .reviewer = R"({"name": "Richard Roe", "orcid": 17, "institution": 42,
                       "employers": {"institution": "Stanford University"},
                       "collaborators": "Jane Doe", "advisors": 1, "advisees": null,
                       "conflicts": "app-1"})",
       .raw = true},
      {.name = "wrong types inside lists",
       .facts = R"({"profile": {"name": "Jane Doe", "institution": "Stanford University",
                    "team": [3, null, {"name": 4, "institution": ["MIT"]}],
                    "collaborators": [1, [], {"name": 7}], "conflicts": [1, {"id": "rev-1"}]},
                    "documents": [1, "letter", {"kind": 3, "author": "Richard Roe"},
                                  {"kind": "letter", "author": 5}, {"kind": "letter"}]})",
       .reviewer = R"({"name": "Richard Roe", "institution": "MIT",
                       "employers": [5, "Stanford University", {"institution": 5, "until": null}],
                       "collaborators": [1, "x", {"name": 7}], "advisees": [[], 3.5, true],
                       "conflicts": [null, 1.5, {"x": 1}]})",
       .raw = true},
      {.name = "facts and profile not objects",
       .facts = R"([{"profile": {"institution": "MIT"}}])",
       .reviewer = R"("Richard Roe")",
       .raw = true},
      {.name = "profile is a string",
       .facts = R"({"profile": "Jane Doe", "documents": null})",
       .reviewer = R"({"name": "Jane Doe", "advisees": ["Jane Doe"]})",
       .raw = true},
      {.name = "empty profiles", .facts = R"({})", .reviewer = R"({})", .raw = true},
      {.name = "empty profile objects",
       .facts = R"({"profile": {}, "documents": []})",
       .reviewer = R"({"employers": [], "collaborators": [], "conflicts": []})",
       .raw = true},
      {.name = "non-string until reads as absent: current employer (conservative)",
       .reviewer = R"({"employers": [{"institution": "Stanford University", "until": 2010}]})",
       .expected = {"same_institution"}},
      {.name = "non-string last reads as absent: recent (conservative)",
       .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": 2010}]})",
       .expected = {"recent_collaborator"}},
      {.name = "everything at once",
       .facts = R"({"profile": {"institution": "MIT", "conflicts": ["rev-1"],
                    "advisors": ["Richard Roe"]},
                    "documents": [{"kind": "letter", "author": "Richard Roe"}]})",
       .reviewer = R"({"employers": [{"institution": "MIT", "until": "2026-01"}],
                       "collaborators": [{"name": "Jane Doe", "last": "2023-01-01"}],
                       "advisors": ["Jane Doe"], "conflicts": ["app-1"]})",
       .expected = {"advisee", "advisor", "declared_by_applicant", "declared_by_reviewer",
                    "letter_writer", "recent_collaborator", "recent_employer", "same_institution"}},
  };
  return cases;
}

TEST(Conflicts, Table) {
  int n = 0;
  for (const auto* table :
       {&institution_cases(), &employer_cases(), &collaborator_cases(), &person_cases(),
        &advising_cases(), &letter_and_declared_cases(), &robustness_cases()}) {
    for (const Case& c : *table) {
      SCOPED_TRACE(c.name);
      ++n;
      const std::vector<Conflict> found = run(c);
      EXPECT_EQ(reasons_of(found), c.expected);
      for (const Conflict& conflict : found) {
        EXPECT_EQ(conflict.reviewer, kReviewerId);
        EXPECT_FALSE(conflict.evidence.empty());
        EXPECT_LT(conflict.evidence.size(), 300u);
      }
    }
  }
  EXPECT_GE(n, 80);
}

// "everything at once" meets the advisee (reviewer's advisors) before the
// advisor (applicant's advisors); the result is still in rule order.
TEST(Conflicts, OrderFollowsTheRules) {
  const Case c = robustness_cases().back();
  std::vector<std::string> order;
  for (const Conflict& conflict : run(c)) order.push_back(conflict.reason);
  const auto reasons = conflict_reasons();
  EXPECT_EQ(order, std::vector<std::string>(reasons.begin(), reasons.end()));
}

TEST(Conflicts, ReasonsAreTheDocumentedCodes) {
  const std::vector<std::string_view> expected = {
      "same_institution", "recent_employer", "recent_collaborator",  "advisor",
      "advisee",          "letter_writer",   "declared_by_reviewer", "declared_by_applicant"};
  const auto reasons = conflict_reasons();
  EXPECT_EQ(std::vector<std::string_view>(reasons.begin(), reasons.end()), expected);
}

std::string evidence_of(const Case& c) {
  const std::vector<Conflict> found = run(c);
  EXPECT_EQ(found.size(), 1u);
  return found.empty() ? std::string() : found.front().evidence;
}

TEST(Conflicts, EvidenceNamesFieldsAndDates) {
  EXPECT_EQ(evidence_of({.name = "employer",
                         .facts = R"({"profile": {"institution": "MIT"}})",
                         .reviewer = R"({"institution": null,
                           "employers": [{"institution": "MIT", "until": "2026-01-31"}]})"}),
            "reviewer's employer \"MIT\" until 2026-01-31 is the applicant's institution \"MIT\" "
            "(within 12 months of 2026-06-01)");
  EXPECT_EQ(
      evidence_of({.name = "collaborator",
                   .reviewer = R"({"collaborators": [{"name": "Jane Doe", "last": "2024-03"}]})"}),
      "reviewer lists the applicant \"Jane Doe\" as a collaborator (matched by name), "
      "last joint work 2024-03 (within 48 months of 2026-06-01)");
  EXPECT_EQ(evidence_of({.name = "undated collaborator",
                         .facts = R"({"profile": {"collaborators": ["0000-0001-5109-3700"]}})"}),
            "the applicant lists the reviewer \"Richard Roe\" as a collaborator (matched by "
            "ORCID), no date of last joint work (treated as recent)");
  EXPECT_EQ(evidence_of({.name = "unparseable",
                         .reviewer = R"({"employers": [{"institution": "Stanford University",
                                                        "until": "soon"}]})"}),
            "reviewer's employer \"Stanford University\" until \"soon\" is the applicant's "
            "institution \"Stanford University\" (not a date: treated as current)");
  EXPECT_EQ(evidence_of({.name = "future",
                         .reviewer = R"({"employers": [{"institution": "Stanford University",
                                                        "until": "2027"}]})"}),
            "reviewer's employer \"Stanford University\" until 2027 is the applicant's "
            "institution \"Stanford University\" (a future date: treated as current)");
  EXPECT_EQ(evidence_of(
                {.name = "team",
                 .facts = R"({"profile": {"team": [{"name": "Bob Poe", "institution": "mit"}]}})"}),
            "reviewer's institution \"MIT\" is the institution \"mit\" of team member \"Bob Poe\"");
  EXPECT_EQ(
      evidence_of({.name = "letter", .facts = R"({"documents": [{"kind": "cv"}, {"kind": "letter",
                                      "author": "0000-0001-5109-3700"}]})"}),
      "the letter in documents[1] is by the reviewer \"Richard Roe\" (matched by ORCID)");
  EXPECT_EQ(
      evidence_of({.name = "declared id", .facts = R"({"profile": {"conflicts": ["rev-1"]}})"}),
      "the applicant declared a conflict with this reviewer (id \"rev-1\")");
}

TEST(Conflicts, EvidenceStaysShortAndValidUtf8) {
  const std::string long_name(5000, 'a');
  json facts = json::parse(kBaseFacts);
  facts["profile"]["institution"] = long_name + "\xff\x01";
  facts["profile"]["name"] = long_name;
  facts["profile"].erase("orcid");
  json reviewer = json::parse(kBaseReviewer);
  reviewer["employers"] =
      json::array({{{"institution", long_name + "\xff\x01"}, {"until", std::string(3000, '9')}}});
  reviewer["collaborators"] = json::array({{{"name", long_name}}});
  const auto found = find_conflicts(kApplicationId, facts, kReviewerId, reviewer, ms(kNow));
  // Long strings compare as they are: equal 5000-byte names still match.
  ASSERT_EQ(reasons_of(found),
            (std::vector<std::string>{"recent_collaborator", "recent_employer"}));
  for (const Conflict& c : found) {
    SCOPED_TRACE(c.evidence);
    EXPECT_LT(c.evidence.size(), 300u);
    EXPECT_NO_THROW((void)json(c.evidence).dump());
    EXPECT_EQ(c.evidence.find('\x01'), std::string::npos);
  }
}

TEST(Conflicts, ListsAreBoundedAtAThousandEntries) {
  for (const size_t position : {size_t{999}, size_t{1000}}) {
    SCOPED_TRACE(position);
    json reviewer = json::parse(kBaseReviewer);
    json advisees = json::array();
    for (size_t i = 0; i < position; ++i) advisees.push_back("Student " + std::to_string(i));
    advisees.push_back("Jane Doe");
    reviewer["advisees"] = advisees;
    const auto found =
        find_conflicts(kApplicationId, json::parse(kBaseFacts), kReviewerId, reviewer, ms(kNow));
    EXPECT_EQ(reasons_of(found), position < kMaxListEntries ? std::vector<std::string>{"advisor"}
                                                            : std::vector<std::string>{});
  }
}

TEST(Conflicts, ExtremeNowDoesNotBreakTheCalendar) {
  json reviewer = json::parse(kBaseReviewer);
  reviewer["employers"] =
      json::array({{{"institution", "Stanford University"}, {"until", "2025"}}});
  for (const int64_t now : {INT64_MIN, int64_t{-1}, int64_t{0}, INT64_MAX}) {
    SCOPED_TRACE(now);
    const auto found =
        find_conflicts(kApplicationId, json::parse(kBaseFacts), kReviewerId, reviewer, now);
    // Before 2025 the end of 2025 is in the future; at the far end it is long past.
    EXPECT_EQ(reasons_of(found), now == INT64_MAX ? std::vector<std::string>{}
                                                  : std::vector<std::string>{"recent_employer"});
  }
}

const std::vector<const std::vector<Case>*>& all_tables() {
  static const std::vector<const std::vector<Case>*> tables = {
      &institution_cases(), &employer_cases(), &collaborator_cases(),
      &person_cases(),      &advising_cases(), &letter_and_declared_cases(),
      &robustness_cases()};
  return tables;
}

// Prepared once, compared many times: the same answer as from the JSON.
TEST(Conflicts, PreparedSameAsJsonOnTheTable) {
  int n = 0;
  for (const auto* table : all_tables()) {
    for (const Case& c : *table) {
      SCOPED_TRACE(c.name);
      ++n;
      const auto [facts, reviewer] = inputs_of(c);
      const PreparedApplication app = prepare_application(kApplicationId, facts);
      const PreparedReviewer rev = prepare_reviewer(kReviewerId, reviewer);
      EXPECT_EQ(app.id(), kApplicationId);
      EXPECT_EQ(rev.id(), kReviewerId);
      const std::vector<Conflict> from_json =
          find_conflicts(kApplicationId, facts, kReviewerId, reviewer, ms(c.now));
      EXPECT_EQ(find_conflicts(app, rev, ms(c.now)), from_json);
      EXPECT_EQ(reasons_of(from_json), c.expected);
    }
  }
  EXPECT_GE(n, 80);
}

// Random profiles drawn from small pools, so that they collide: names that
// fold alike, ORCIDs spelled several ways, institutions, dates on both sides
// of the windows' edges, ids, and values of the wrong type.
class RandomProfiles {
 public:
  explicit RandomProfiles(uint32_t seed) : rng_(seed) {}

  json application() {
    json profile = json::object();
    maybe(profile, "name", name());
    maybe(profile, "orcid", orcid());
    maybe(profile, "institution", institution());
    maybe(profile, "university", institution());
    maybe(profile, "team", list(3, [&] { return team_member(); }));
    maybe(profile, "collaborators", list(3, [&] { return dated_person("last"); }));
    maybe(profile, "advisors", list(2, [&] { return person(); }));
    maybe(profile, "advisees", list(2, [&] { return person(); }));
    maybe(profile, "conflicts", list(2, [&] { return declared(kReviewerIds); }));
    json facts = {{"profile", std::move(profile)}};
    maybe(facts, "documents", list(3, [&] { return document(); }));
    return facts;
  }

  json reviewer() {
    json profile = json::object();
    maybe(profile, "name", name());
    maybe(profile, "orcid", orcid());
    maybe(profile, "institution", institution());
    maybe(profile, "employers", list(3, [&] { return employer(); }));
    maybe(profile, "collaborators", list(4, [&] { return dated_person("last"); }));
    maybe(profile, "advisors", list(2, [&] { return person(); }));
    maybe(profile, "advisees", list(2, [&] { return person(); }));
    maybe(profile, "conflicts", list(2, [&] { return declared(kApplicationIds); }));
    return profile;
  }

  int64_t now() {
    static const std::vector<int64_t> nows = {ms("2026-06-01T00:00:00Z"),
                                              ms("2026-06-30T23:59:59Z"),
                                              ms("2028-02-29T00:00:00Z"),
                                              ms("2022-06-01T12:00:00Z"),
                                              INT64_MIN,
                                              INT64_MAX};
    return one_of(nows);
  }

  template <typename T>
  const T& one_of(const std::vector<T>& pool) {
    return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng_)];
  }

  static inline const std::vector<std::string> kApplicationIds = {"app-1", "app-2", "app-3", ""};
  static inline const std::vector<std::string> kReviewerIds = {"rev-1", "rev-2", "rev-3", ""};

 private:
  bool coin(double p = 0.5) { return std::bernoulli_distribution(p)(rng_); }

  void maybe(json& object, const char* key, json value) {
    if (coin(0.8)) object[key] = std::move(value);
  }

  template <typename F>
  json list(int max, F&& entry) {
    json out = json::array();
    for (int i = std::uniform_int_distribution<int>(0, max)(rng_); i > 0; --i)
      out.push_back(entry());
    return out;
  }

  json name() {
    static const std::vector<json> pool = {"Jane Doe",     "jane  DOE",
                                           "José Álvarez", "JOSE ALVAREZ",
                                           "Bob Poe",      "Richard Roe",
                                           "R. Roe",       "Hans Straße",
                                           "HANS STRASSE", "",
                                           " - ",          5};
    return one_of(pool);
  }

  json orcid() {
    static const std::vector<json> pool = {
        "0000-0002-1825-0097", "https://orcid.org/0000-0002-1825-0097",
        "0000-0001-5109-3700", "0000-0002-1694-233x",
        "0000-0002-1694-233X", "not an orcid",
        json::array()};
    return one_of(pool);
  }

  json institution() {
    static const std::vector<json> pool = {"MIT",
                                           "m.i.t",
                                           "Stanford University",
                                           "Universität Zürich",
                                           "UNIVERSITAT ZURICH",
                                           "Caltech",
                                           "",
                                           7};
    return one_of(pool);
  }

  json date() {
    static const std::vector<json> pool = {
        "2025",    "2025-06",    "2025-05-31",           "2022-06-01",
        "2022-05", "2027-02-28", "2027-02-27",           "2030",
        "soon",    "2020-02-30", "2025-06-01T00:00:00Z", "2026-06-01T00:00:00Z",
        2010,      nullptr};
    return one_of(pool);
  }

  json person() {
    switch (std::uniform_int_distribution<int>(0, 5)(rng_)) {
      case 0:
        return name();
      case 1:
        return orcid();
      case 2:
        return {{"name", name()}};
      case 3:
        return {{"orcid", orcid()}};
      case 4:
        return {{"name", name()}, {"orcid", orcid()}};
      default:
        return 3;
    }
  }

  json dated_person(const char* field) {
    json p = person();
    if (p.is_object() && coin(0.7)) p[field] = date();
    return p;
  }

  json team_member() {
    json p = person();
    if (!p.is_string() && coin(0.7)) {
      if (!p.is_object()) p = json::object();
      p["institution"] = institution();
    }
    return p;
  }

  json employer() {
    json e = {{"institution", institution()}};
    if (coin(0.7)) e["until"] = date();
    return e;
  }

  json declared(const std::vector<std::string>& ids) {
    return coin() ? json(one_of(ids)) : person();
  }

  json document() {
    static const std::vector<json> kinds = {"recommendation_letter", "letter", "reference_letter",
                                            "cv", 3};
    json d = {{"kind", one_of(kinds)}};
    if (coin(0.9)) d["author"] = person();
    return d;
  }

  std::mt19937 rng_;
};

TEST(Conflicts, PreparedSameAsJsonOnRandomProfiles) {
  RandomProfiles gen(20260601);
  struct App {
    std::string id;
    json facts;
    PreparedApplication prepared;
  };
  struct Rev {
    std::string id;
    json profile;
    PreparedReviewer prepared;
  };
  std::vector<App> apps;
  std::vector<Rev> revs;
  for (int i = 0; i < 40; ++i) {
    std::string id = gen.one_of(RandomProfiles::kApplicationIds);
    json facts = gen.application();
    PreparedApplication prepared = prepare_application(id, facts);
    apps.push_back({std::move(id), std::move(facts), std::move(prepared)});
  }
  for (int i = 0; i < 40; ++i) {
    std::string id = gen.one_of(RandomProfiles::kReviewerIds);
    json profile = gen.reviewer();
    PreparedReviewer prepared = prepare_reviewer(id, profile);
    revs.push_back({std::move(id), std::move(profile), std::move(prepared)});
  }
  std::map<std::string, int> reasons;  // how often each was found
  int pairs_in_conflict = 0;
  constexpr int kPairs = 4000;
  for (int i = 0; i < kPairs; ++i) {
    const App& app = apps[static_cast<size_t>(i) % apps.size()];
    const Rev& rev = gen.one_of(revs);
    const int64_t now = gen.now();
    const std::vector<Conflict> from_json =
        find_conflicts(app.id, app.facts, rev.id, rev.profile, now);
    ASSERT_EQ(find_conflicts(app.prepared, rev.prepared, now), from_json)
        << "pair " << i << ", now " << now << "\napplication " << app.id << " " << app.facts.dump()
        << "\nreviewer " << rev.id << " " << rev.profile.dump();
    for (const Conflict& c : from_json) ++reasons[c.reason];
    pairs_in_conflict += from_json.empty() ? 0 : 1;
  }
  // The pools make conflicts common, of every kind, else this test proves little.
  for (const std::string_view reason : conflict_reasons()) {
    SCOPED_TRACE(reason);
    EXPECT_GE(reasons[std::string(reason)], 20);
  }
  EXPECT_GE(pairs_in_conflict, kPairs / 5);
  EXPECT_LE(pairs_in_conflict, kPairs * 19 / 20);
}

TEST(Names, FoldName) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"José  Álvarez-López", "jose alvarez lopez"},
      {"JOSE ALVAREZ", "jose alvarez"},
      {"Ångström", "angstrom"},
      {"Straße", "strasse"},
      {"STRASSE", "strasse"},
      {"O'Brien, J.", "o brien j"},
      {"O\u2019Brien", "o brien"},
      {"Jean\u2013Luc\u00a0Picard", "jean luc picard"},
      {"  \t.-Müller--Lüdenscheidt.  ", "muller ludenscheidt"},
      {"\u01f0", "j"},       // ǰ: j + combining caron
      {"Łukasz", "łukasz"},  // no decomposition: stays distinct from "lukasz"
      {"", ""},
      {" - ., ", ""},
      {"ABC\xff"
       "Def-G",
       "abc\xff"
       "def g"},  // invalid UTF-8: ASCII-only fold
      {"\xc3", "\xc3"},
  };
  for (const auto& [in, want] : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(fold_name(in), want);
  }
  EXPECT_EQ(fold_name("Straße"), fold_name("STRASSE"));
  EXPECT_NE(fold_name("Jane Doe"), fold_name("Jane Dee"));
  EXPECT_EQ(fold_name(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(Names, OrcidOf) {
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"0000-0002-1825-0097", "0000-0002-1825-0097"},
      {"0000-0002-1694-233x", "0000-0002-1694-233X"},
      {"https://orcid.org/0000-0002-1694-233X", "0000-0002-1694-233X"},
      {"http://orcid.org/0000-0002-1825-0097", "0000-0002-1825-0097"},
      {"orcid.org/0000-0002-1825-0097", "0000-0002-1825-0097"},
      {"HTTPS://ORCID.ORG/0000-0002-1825-0097", "0000-0002-1825-0097"},
      {" 0000-0002-1825-0097\n", "0000-0002-1825-0097"},
      {"0000-0002-1825-009", std::nullopt},
      {"0000-0002-1825-00977", std::nullopt},
      {"0000-0002-18250-097", std::nullopt},
      {"0000-000X-1825-0097", std::nullopt},
      {"0000 0002 1825 0097", std::nullopt},
      {"https://example.org/0000-0002-1825-0097", std::nullopt},
      {"https://orcid.org/", std::nullopt},
      {"Jane Doe", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& [in, want] : cases) {
    SCOPED_TRACE(in);
    EXPECT_EQ(orcid_of(in), want);
  }
}

TEST(Names, Excerpt) {
  EXPECT_EQ(excerpt("MIT"), "MIT");
  EXPECT_EQ(excerpt(std::string(80, 'a')), std::string(80, 'a'));
  EXPECT_EQ(excerpt(std::string(81, 'a')), std::string(77, 'a') + "...");
  EXPECT_EQ(excerpt("a\nb\x1b"
                    "c"),
            "a b c");
  EXPECT_EQ(excerpt("a\xff"
                    "b"),
            "a?b");
  EXPECT_EQ(excerpt("\u202eevil"), " evil");
  // Cut on a character boundary: 'é' is two bytes and would straddle byte 77.
  const std::string accents = std::string(76, 'a') + "\u00e9\u00e9\u00e9";
  EXPECT_EQ(excerpt(accents), std::string(76, 'a') + "...");
  EXPECT_EQ(excerpt("abcdefgh", 1), "a...");
}

}  // namespace
}  // namespace stagewise::reviews
