#include "reviews/conflicts.h"

#include "common/time.h"
#include "reviews/names.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <set>
#include <utility>

namespace stagewise::reviews {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 8> kReasons = {
    "same_institution", "recent_employer", "recent_collaborator",  "advisor",
    "advisee",          "letter_writer",   "declared_by_reviewer", "declared_by_applicant"};
constexpr std::array<std::string_view, 3> kLetterKinds = {"recommendation_letter", "letter",
                                                          "reference_letter"};
constexpr size_t kValueBytes = 80;
constexpr size_t kEvidenceBytes = 299;

// JSON access in which a wrong type reads as absent.
const json* member(const json* j, std::string_view key) {
  if (j == nullptr || !j->is_object()) return nullptr;
  const auto it = j->find(key);
  return it == j->end() ? nullptr : &*it;
}

std::string_view text(const json* j) {
  if (j == nullptr || !j->is_string()) return {};
  return j->get_ref<const std::string&>();
}

template <typename F>
void for_entries(const json* j, F&& f) {
  if (j == nullptr || !j->is_array()) return;
  const size_t n = std::min(j->size(), kMaxListEntries);
  for (size_t i = 0; i < n; ++i) f((*j)[i], i);
}

std::string in_quotes(std::string_view s) {
  return "\"" + excerpt(s, kValueBytes) + "\"";
}

struct Person {
  std::string orcid;     // normalised; empty: none
  std::string name_key;  // fold_name(name); empty: none
  std::string display;   // the name as written, else the ORCID
  bool identified() const { return !orcid.empty() || !name_key.empty(); }
};

Person make_person(std::string_view name, std::string_view orcid_text) {
  Person p;
  if (auto orcid = orcid_of(orcid_text)) {
    p.orcid = std::move(*orcid);
  } else if (auto in_name = orcid_of(name); in_name && orcid_text.empty()) {
    // A bare ORCID where a person is expected ("advisors": ["0000-..."]).
    p.orcid = std::move(*in_name);
    name = {};
  }
  p.name_key = fold_name(name);
  p.display = name.empty() ? p.orcid : std::string(name);
  return p;
}

// A person given as a string (name or ORCID) or as {"name","orcid"}.
std::optional<Person> person_from(const json* j) {
  if (j == nullptr) return std::nullopt;
  Person p;
  if (j->is_string()) {
    p = make_person(text(j), {});
  } else if (j->is_object()) {
    p = make_person(text(member(j, "name")), text(member(j, "orcid")));
  }
  if (!p.identified()) return std::nullopt;
  return p;
}

enum class Basis { none, orcid, name };

// ORCIDs decide when both sides have one: equal names then prove nothing.
Basis match(const Person& a, const Person& b) {
  if (!a.orcid.empty() && !b.orcid.empty()) return a.orcid == b.orcid ? Basis::orcid : Basis::none;
  if (!a.name_key.empty() && a.name_key == b.name_key) return Basis::name;
  return Basis::none;
}

std::string basis_text(Basis b) {
  return b == Basis::orcid ? "(matched by ORCID)" : "(matched by name)";
}

struct Institution {
  std::string key;     // fold_name(display), not empty
  std::string target;  // how the evidence names it, e.g. `the applicant's university "X"`
};

// The applicant or a co-applicant: whom the reviewer may be conflicted with.
struct Party {
  Person person;
  std::string label;  // `the applicant "X"`, `team member "Y"`
  std::string key;    // identity for "at most one conflict per matched person"
  std::vector<Institution> institutions;
};

// `before` and `after` frame the quoted name in the evidence.
void add_institution(Party& party, const json* value, const std::string& before,
                     const std::string& after) {
  const std::string_view name = text(value);
  std::string key = fold_name(name);
  if (!key.empty())
    party.institutions.push_back({std::move(key), before + in_quotes(name) + after});
}

std::string identity(const Person& p, std::string fallback) {
  if (!p.orcid.empty()) return "orcid:" + p.orcid;
  if (!p.name_key.empty()) return "name:" + p.name_key;
  return fallback;
}

std::vector<Party> parties_of(const json* profile) {
  std::vector<Party> parties;
  Party applicant;
  applicant.person = make_person(text(member(profile, "name")), text(member(profile, "orcid")));
  applicant.label = applicant.person.display.empty()
                        ? std::string("the applicant")
                        : "the applicant " + in_quotes(applicant.person.display);
  applicant.key = identity(applicant.person, "applicant");
  add_institution(applicant, member(profile, "institution"), "the applicant's institution ", "");
  add_institution(applicant, member(profile, "university"), "the applicant's university ", "");
  parties.push_back(std::move(applicant));
  for_entries(member(profile, "team"), [&](const json& entry, size_t i) {
    Party member_party;
    member_party.person = person_from(&entry).value_or(Person{});
    const std::string& shown = member_party.person.display;
    member_party.label =
        shown.empty() ? "team member #" + std::to_string(i + 1) : "team member " + in_quotes(shown);
    member_party.key = identity(member_party.person, "team#" + std::to_string(i));
    add_institution(member_party, member(&entry, "institution"), "the institution ",
                    " of " + member_party.label);
    if (member_party.person.identified() || !member_party.institutions.empty())
      parties.push_back(std::move(member_party));
  });
  return parties;
}

// "YYYY", "YYYY-MM", "YYYY-MM-DD" mean the last millisecond of that period:
// a relation that ended in June 2025 may have lasted until June 30.
std::optional<int64_t> end_of_period_ms(std::string_view s) {
  using namespace std::chrono;
  auto number = [&](size_t pos, size_t len) -> std::optional<int> {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  std::optional<sys_days> next;  // the first day after the period
  const auto y = s.size() >= 4 ? number(0, 4) : std::nullopt;
  if (s.size() == 4 && y) {
    next = sys_days{year{*y + 1} / January / 1};
  } else if (s.size() == 7 && y && s[4] == '-') {
    const auto m = number(5, 2);
    if (!m || *m < 1 || *m > 12) return std::nullopt;
    next = sys_days{year{*y} / month{static_cast<unsigned>(*m)} / last} + days{1};
  } else if (s.size() == 10 && y && s[4] == '-' && s[7] == '-') {
    const auto m = number(5, 2);
    const auto d = number(8, 2);
    if (!m || !d) return std::nullopt;
    const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*m)},
                             day{static_cast<unsigned>(*d)}};
    if (!ymd.ok()) return std::nullopt;
    next = sys_days{ymd} + days{1};
  } else {
    return parse_rfc3339_ms(s);
  }
  return duration_cast<milliseconds>(next->time_since_epoch()).count() - 1;
}

// `now` minus `n` calendar months, same time of day, the day clamped to the
// end of a shorter month (2026-03-31 minus one month is 2026-02-28).
int64_t months_before(int64_t now_ms, int n) {
  using namespace std::chrono;
  // Years 0000-9999: keeps the calendar arithmetic far from overflow.
  constexpr int64_t kMin = -62'167'219'200'000, kMax = 253'402'300'799'999;
  const sys_time<milliseconds> t{milliseconds{std::clamp(now_ms, kMin, kMax)}};
  const sys_days midnight = floor<days>(t);
  const year_month_day ymd{midnight};
  const year_month ym = year_month{ymd.year(), ymd.month()} - months{n};
  const day last_day = year_month_day_last{ym.year(), month_day_last{ym.month()}}.day();
  const sys_time<milliseconds> cutoff =
      sys_days{ym / std::min(ymd.day(), last_day)} + (t - midnight);
  return cutoff.time_since_epoch().count();
}

// Whether a dated relation still counts, and the words that say why.
struct Dated {
  bool counts = false;
  std::string phrase;     // `until 2026-01-31`
  std::string qualifier;  // `(within 12 months of 2026-06-01)`
};

struct Context {
  const std::string& application_id;
  const std::string& reviewer_id;
  const json* applicant;  // facts.profile
  const json* reviewer;   // the reviewer's profile
  Person reviewer_person;
  std::string reviewer_label;  // `the reviewer "Z"`
  std::vector<Party> parties;  // [0] is the applicant
  int64_t now_ms;
  std::vector<Conflict> found;
  std::set<std::pair<std::string_view, std::string>> seen;

  void add(std::string_view reason, const std::string& matched, const std::string& evidence) {
    if (!seen.emplace(reason, matched).second) return;
    found.push_back({reviewer_id, std::string(reason), excerpt(evidence, kEvidenceBytes)});
  }

  // `date` is a string; absent dates are the caller's concern.
  Dated judge(std::string_view label, std::string_view date, int window_months) const {
    const std::optional<int64_t> end = end_of_period_ms(date);
    if (!end)
      return {true, std::string(label) + " " + in_quotes(date), "(not a date: treated as current)"};
    const std::string phrase = std::string(label) + " " + excerpt(date, kValueBytes);
    if (*end > now_ms) return {true, phrase, "(a future date: treated as current)"};
    if (*end < months_before(now_ms, window_months)) return {};
    return {true, phrase,
            "(within " + std::to_string(window_months) + " months of " +
                format_rfc3339_ms(now_ms).substr(0, 10) + ")"};
  }
};

// Rule 1: the reviewer's institution or a current employer.
void check_same_institution(Context& c) {
  std::vector<std::pair<std::string, std::string>> current;  // key, how the evidence names it
  const std::string_view own = text(member(c.reviewer, "institution"));
  if (std::string key = fold_name(own); !key.empty())
    current.emplace_back(std::move(key), "reviewer's institution " + in_quotes(own));
  for_entries(member(c.reviewer, "employers"), [&](const json& e, size_t) {
    const json* until = member(&e, "until");
    if (until != nullptr && until->is_string()) return;  // dated: rule 2
    const std::string_view name = text(member(&e, "institution"));
    if (std::string key = fold_name(name); !key.empty())
      current.emplace_back(std::move(key),
                           "reviewer's employer " + in_quotes(name) + " (no end date)");
  });
  for (const auto& [key, source] : current)
    for (const Party& p : c.parties)
      for (const Institution& inst : p.institutions)
        if (inst.key == key) c.add("same_institution", key, source + " is " + inst.target);
}

// Rule 2: an employer left within the window.
void check_recent_employer(Context& c) {
  for_entries(member(c.reviewer, "employers"), [&](const json& e, size_t) {
    const json* until = member(&e, "until");
    if (until == nullptr || !until->is_string()) return;
    const std::string_view name = text(member(&e, "institution"));
    const std::string key = fold_name(name);
    if (key.empty()) return;
    std::optional<Dated> when;  // judged only on a match
    for (const Party& p : c.parties) {
      for (const Institution& inst : p.institutions) {
        if (inst.key != key) continue;
        if (!when) when = c.judge("until", text(until), kEmployerWindowMonths);
        if (!when->counts) return;
        c.add("recent_employer", key,
              "reviewer's employer " + in_quotes(name) + " " + when->phrase + " is " + inst.target +
                  " " + when->qualifier);
      }
    }
  });
}

Dated judge_last(const Context& c, const json& entry) {
  const json* last = member(&entry, "last");
  if (last == nullptr || !last->is_string())
    return {true, "no date of last joint work", "(treated as recent)"};
  return c.judge("last joint work", text(last), kCollaboratorWindowMonths);
}

// Rule 3, both directions.
void check_collaborators(Context& c) {
  for_entries(member(c.reviewer, "collaborators"), [&](const json& e, size_t) {
    const std::optional<Person> who = person_from(&e);
    if (!who) return;
    for (const Party& p : c.parties) {
      const Basis basis = match(*who, p.person);
      if (basis == Basis::none) continue;
      const Dated when = judge_last(c, e);
      if (!when.counts) return;
      c.add("recent_collaborator", p.key,
            "reviewer lists " + p.label + " as a collaborator " + basis_text(basis) + ", " +
                when.phrase + " " + when.qualifier);
    }
  });
  for_entries(member(c.applicant, "collaborators"), [&](const json& e, size_t) {
    const std::optional<Person> who = person_from(&e);
    const Basis basis = who ? match(*who, c.reviewer_person) : Basis::none;
    if (basis == Basis::none) return;
    const Dated when = judge_last(c, e);
    if (!when.counts) return;
    c.add("recent_collaborator", c.parties.front().key,
          "the applicant lists " + c.reviewer_label + " as a collaborator " + basis_text(basis) +
              ", " + when.phrase + " " + when.qualifier);
  });
}

// Rule 4 from the reviewer's side: its list `field` names an applicant-side person.
void reviewer_lists(Context& c, std::string_view field, std::string_view reason) {
  for_entries(member(c.reviewer, field), [&](const json& e, size_t) {
    const std::optional<Person> who = person_from(&e);
    if (!who) return;
    for (const Party& p : c.parties) {
      const Basis basis = match(*who, p.person);
      if (basis == Basis::none) continue;
      c.add(reason, p.key,
            "reviewer lists " + p.label + " among their " + std::string(field) + " " +
                basis_text(basis));
    }
  });
}

// Rule 4 from the applicant's side: its list `field` names the reviewer.
void applicant_lists(Context& c, std::string_view field, std::string_view reason) {
  for_entries(member(c.applicant, field), [&](const json& e, size_t) {
    const std::optional<Person> who = person_from(&e);
    const Basis basis = who ? match(*who, c.reviewer_person) : Basis::none;
    if (basis == Basis::none) return;
    c.add(reason, c.parties.front().key,
          "the applicant lists " + c.reviewer_label + " among their " + std::string(field) + " " +
              basis_text(basis));
  });
}

// Rule 5.
void check_letters(Context& c, const json* documents) {
  for_entries(documents, [&](const json& d, size_t i) {
    const std::string_view kind = text(member(&d, "kind"));
    if (std::find(kLetterKinds.begin(), kLetterKinds.end(), kind) == kLetterKinds.end()) return;
    const std::optional<Person> author = person_from(member(&d, "author"));
    const Basis basis = author ? match(*author, c.reviewer_person) : Basis::none;
    if (basis == Basis::none) return;
    c.add("letter_writer", "reviewer",
          "the " + std::string(kind) + " in documents[" + std::to_string(i) + "] is by " +
              c.reviewer_label + " " + basis_text(basis));
  });
}

// Rule 6, both sides. An id matches exactly; anything else as a person.
void check_declared(Context& c) {
  for_entries(member(c.reviewer, "conflicts"), [&](const json& e, size_t) {
    if (!c.application_id.empty() && text(&e) == c.application_id) {
      c.add("declared_by_reviewer", c.parties.front().key,
            "reviewer declared a conflict with this application (" + in_quotes(c.application_id) +
                ")");
      return;
    }
    const std::optional<Person> who = person_from(&e);
    if (!who) return;
    for (const Party& p : c.parties) {
      const Basis basis = match(*who, p.person);
      if (basis != Basis::none)
        c.add("declared_by_reviewer", p.key,
              "reviewer declared a conflict with " + p.label + " " + basis_text(basis));
    }
  });
  for_entries(member(c.applicant, "conflicts"), [&](const json& e, size_t) {
    if (!c.reviewer_id.empty() && text(&e) == c.reviewer_id) {
      c.add("declared_by_applicant", "reviewer",
            "the applicant declared a conflict with this reviewer (id " + in_quotes(c.reviewer_id) +
                ")");
      return;
    }
    const std::optional<Person> who = person_from(&e);
    const Basis basis = who ? match(*who, c.reviewer_person) : Basis::none;
    if (basis != Basis::none)
      c.add("declared_by_applicant", "reviewer",
            "the applicant declared a conflict with " + c.reviewer_label + " " + basis_text(basis));
  });
}

}  // namespace

std::vector<Conflict> find_conflicts(const std::string& application_id,
                                     const nlohmann::json& application_facts,
                                     const std::string& reviewer_id,
                                     const nlohmann::json& reviewer_profile, int64_t now_ms) {
  const json* applicant = member(&application_facts, "profile");
  Context c{application_id, reviewer_id, applicant, &reviewer_profile, {}, {}, {}, now_ms, {}, {}};
  c.reviewer_person = make_person(text(member(&reviewer_profile, "name")),
                                  text(member(&reviewer_profile, "orcid")));
  c.reviewer_label = c.reviewer_person.display.empty()
                         ? std::string("the reviewer")
                         : "the reviewer " + in_quotes(c.reviewer_person.display);
  c.parties = parties_of(applicant);

  check_same_institution(c);
  check_recent_employer(c);
  check_collaborators(c);
  reviewer_lists(c, "advisees", "advisor");
  reviewer_lists(c, "advisors", "advisee");
  applicant_lists(c, "advisors", "advisor");
  applicant_lists(c, "advisees", "advisee");
  check_letters(c, member(&application_facts, "documents"));
  check_declared(c);

  // Rule 4 interleaves advisor and advisee; the contract orders by rule.
  const auto rank = [](const Conflict& x) {
    return std::find(kReasons.begin(), kReasons.end(), x.reason) - kReasons.begin();
  };
  std::stable_sort(c.found.begin(), c.found.end(),
                   [&](const Conflict& a, const Conflict& b) { return rank(a) < rank(b); });
  return std::move(c.found);
}

std::span<const std::string_view> conflict_reasons() {
  return kReasons;
}

}  // namespace stagewise::reviews
