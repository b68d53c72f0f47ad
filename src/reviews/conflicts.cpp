#include "reviews/conflicts.h"

#include "common/time.h"
#include "reviews/names.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

namespace stagewise::reviews {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 8> kReasons = {
    "same_institution", "recent_employer", "recent_collaborator",  "advisor",
    "advisee",          "letter_writer",   "declared_by_reviewer", "declared_by_applicant"};
// Indexes into kReasons: the rule order.
enum Reason : uint8_t {
  kSameInstitution,
  kRecentEmployer,
  kRecentCollaborator,
  kAdvisor,
  kAdvisee,
  kLetterWriter,
  kDeclaredByReviewer,
  kDeclaredByApplicant,
};
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

// A folded name or an ORCID, with a digest of its length and first and last
// 8 bytes (where such keys differ), so that the common mismatch costs one
// integer comparison; equal digests are confirmed on the text.
struct Key {
  std::string text;  // empty: none
  uint64_t digest = 0;

  Key() = default;
  explicit Key(std::string s) : text(std::move(s)), digest(digest_of(text)) {}
  bool empty() const { return text.empty(); }
  bool operator==(const Key& o) const { return digest == o.digest && text == o.text; }

 private:
  static uint64_t digest_of(std::string_view s) {
    uint64_t head = 0, tail = 0;
    if (s.size() >= 8) {
      std::memcpy(&head, s.data(), 8);
      std::memcpy(&tail, s.data() + s.size() - 8, 8);
    } else {
      for (const char c : s) head = head << 8 | static_cast<unsigned char>(c);
    }
    return (head * 0x9e3779b97f4a7c15u) ^ std::rotl(tail * 0xc2b2ae3d27d4eb4fu, 29) ^ s.size();
  }
};

struct Person {
  Key orcid;            // normalised
  Key name;             // fold_name(name)
  std::string display;  // the name as written, else the ORCID
  bool identified() const { return !orcid.empty() || !name.empty(); }
};

// Built in place: persons are most of what is prepared.
void set_person(Person& p, std::string_view name, std::string_view orcid_text) {
  if (auto orcid = orcid_of(orcid_text)) {
    p.orcid = Key(std::move(*orcid));
  } else if (auto in_name = orcid_of(name); in_name && orcid_text.empty()) {
    // A bare ORCID where a person is expected ("advisors": ["0000-..."]).
    p.orcid = Key(std::move(*in_name));
    name = {};
  }
  p.name = Key(fold_name(name));
  p.display = name.empty() ? p.orcid.text : std::string(name);
}

Person make_person(std::string_view name, std::string_view orcid_text) {
  Person p;
  set_person(p, name, orcid_text);
  return p;
}

// A person given as a string (name or ORCID) or as {"name","orcid"}; false
// when `j` identifies nobody.
bool read_person(const json* j, Person& p) {
  if (j == nullptr) return false;
  if (j->is_string()) {
    set_person(p, text(j), {});
  } else if (j->is_object()) {
    set_person(p, text(member(j, "name")), text(member(j, "orcid")));
  }
  return p.identified();
}

std::optional<Person> person_from(const json* j) {
  std::optional<Person> p(std::in_place);
  if (!read_person(j, *p)) p.reset();
  return p;
}

enum class Basis { none, orcid, name };

// ORCIDs decide when both sides have one: equal names then prove nothing.
Basis match(const Person& a, const Person& b) {
  if (!a.orcid.empty() && !b.orcid.empty()) return a.orcid == b.orcid ? Basis::orcid : Basis::none;
  if (!a.name.empty() && a.name == b.name) return Basis::name;
  return Basis::none;
}

std::string basis_text(Basis b) {
  return b == Basis::orcid ? "(matched by ORCID)" : "(matched by name)";
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

// A relation's date as written, parsed when prepared.
struct Date {
  bool present = false;  // a string; else the relation is undated
  std::string text;
  std::optional<int64_t> end_ms;  // end_of_period_ms(text); nullopt: not a date
};

Date date_of(const json* value) {
  if (value == nullptr || !value->is_string()) return {};
  const std::string_view s = text(value);
  return {true, std::string(s), end_of_period_ms(s)};
}

// How a dated relation stands at `now`: all but `stale` count.
enum class Verdict { stale, undated, not_a_date, future, within };

Verdict judge(const Date& d, int64_t now_ms, int64_t cutoff_ms) {
  if (!d.present) return Verdict::undated;
  if (!d.end_ms) return Verdict::not_a_date;
  if (*d.end_ms > now_ms) return Verdict::future;
  if (*d.end_ms < cutoff_ms) return Verdict::stale;
  return Verdict::within;
}

// The words that say why a dated relation counts.
struct DatedWords {
  std::string phrase;     // `until 2026-01-31`
  std::string qualifier;  // `(within 12 months of 2026-06-01)`
};

DatedWords dated_words(std::string_view label, const Date& d, Verdict v, int window_months,
                       int64_t now_ms) {
  switch (v) {
    case Verdict::undated:
      return {"no date of last joint work", "(treated as recent)"};
    case Verdict::not_a_date:
      return {std::string(label) + " " + in_quotes(d.text), "(not a date: treated as current)"};
    case Verdict::future:
      return {std::string(label) + " " + excerpt(d.text, kValueBytes),
              "(a future date: treated as current)"};
    case Verdict::stale:
    case Verdict::within:
      break;
  }
  return {std::string(label) + " " + excerpt(d.text, kValueBytes),
          "(within " + std::to_string(window_months) + " months of " +
              format_rfc3339_ms(now_ms).substr(0, 10) + ")"};
}

struct DatedPerson {
  Person person;
  Date last;
};

// An entry of `conflicts`: an id (when a string) and a person (when one).
struct Declared {
  std::string id;
  std::optional<Person> person;
};

// The applicant (parties[0]) or a team member: whom the reviewer may be
// conflicted with.
struct Party {
  Person person;
  std::optional<size_t> team_index;  // none: the applicant
  // "At most one conflict per matched person": parties with the same ORCID,
  // or without one and with the same name, share the smallest party index.
  uint32_t identity = 0;
};

struct ApplicantInstitution {
  enum class Field { institution, university, team };
  Key key;
  std::string name;
  uint32_t party = 0;
  Field field = Field::institution;
  uint32_t identity = 0;  // the first institution of the application with this key
};

struct Letter {
  std::string kind;
  size_t index = 0;  // in `documents`
  Person author;
};

struct ReviewerInstitution {
  Key key;
  std::string name;
  bool employer = false;  // else the profile's `institution`
};

struct PastEmployer {
  Key key;
  std::string name;
  Date until;  // a string: employers without one are current
};

}  // namespace

namespace detail {

struct ApplicationData {
  std::string id;
  std::vector<Party> parties;                      // [0] is the applicant
  std::vector<ApplicantInstitution> institutions;  // in party order
  std::vector<DatedPerson> collaborators;
  std::vector<Person> advisors;
  std::vector<Person> advisees;
  std::vector<Letter> letters;  // by kind, with an identified author
  std::vector<Declared> conflicts;
};

struct ReviewerData {
  std::string id;
  Person person;
  std::vector<ReviewerInstitution> current;  // `institution`, then employers without `until`
  std::vector<PastEmployer> past;
  std::vector<DatedPerson> collaborators;
  std::vector<Person> advisees;
  std::vector<Person> advisors;
  std::vector<Declared> conflicts;
};

}  // namespace detail

namespace {

using detail::ApplicationData;
using detail::ReviewerData;

template <typename T>
void reserve_for(std::vector<T>& v, const json* list) {
  if (list != nullptr && list->is_array()) v.reserve(std::min(list->size(), kMaxListEntries));
}

std::vector<Person> persons_of(const json* list) {
  std::vector<Person> out;
  reserve_for(out, list);
  for_entries(list, [&](const json& e, size_t) {
    if (!read_person(&e, out.emplace_back())) out.pop_back();
  });
  return out;
}

std::vector<DatedPerson> dated_persons_of(const json* list) {
  std::vector<DatedPerson> out;
  reserve_for(out, list);
  for_entries(list, [&](const json& e, size_t) {
    DatedPerson& who = out.emplace_back();
    if (read_person(&e, who.person)) {
      who.last = date_of(member(&e, "last"));
    } else {
      out.pop_back();
    }
  });
  return out;
}

std::vector<Declared> declared_of(const json* list) {
  std::vector<Declared> out;
  for_entries(list, [&](const json& e, size_t) {
    Declared d{std::string(text(&e)), person_from(&e)};
    if (!d.id.empty() || d.person) out.push_back(std::move(d));
  });
  return out;
}

bool same_identity(const Person& a, const Person& b) {
  if (!a.orcid.empty() || !b.orcid.empty()) return a.orcid == b.orcid;
  return !a.name.empty() && a.name == b.name;
}

void add_party(ApplicationData& app, Person person, std::optional<size_t> team_index) {
  Party party{std::move(person), team_index, static_cast<uint32_t>(app.parties.size())};
  if (party.person.identified()) {
    for (const Party& earlier : app.parties) {
      if (same_identity(earlier.person, party.person)) {
        party.identity = earlier.identity;
        break;
      }
    }
  }
  app.parties.push_back(std::move(party));
}

void add_institution(ApplicationData& app, Key key, std::string_view name,
                     ApplicantInstitution::Field field) {
  if (key.empty()) return;
  ApplicantInstitution inst{std::move(key), std::string(name),
                            static_cast<uint32_t>(app.parties.size() - 1), field,
                            static_cast<uint32_t>(app.institutions.size())};
  for (const ApplicantInstitution& earlier : app.institutions) {
    if (earlier.key == inst.key) {
      inst.identity = earlier.identity;
      break;
    }
  }
  app.institutions.push_back(std::move(inst));
}

void add_parties(ApplicationData& app, const json* profile) {
  using Field = ApplicantInstitution::Field;
  add_party(app, make_person(text(member(profile, "name")), text(member(profile, "orcid"))), {});
  const std::string_view institution = text(member(profile, "institution"));
  add_institution(app, Key(fold_name(institution)), institution, Field::institution);
  const std::string_view university = text(member(profile, "university"));
  add_institution(app, Key(fold_name(university)), university, Field::university);
  for_entries(member(profile, "team"), [&](const json& entry, size_t i) {
    Person person = person_from(&entry).value_or(Person{});
    const std::string_view name = text(member(&entry, "institution"));
    Key key(fold_name(name));
    if (!person.identified() && key.empty()) return;
    add_party(app, std::move(person), i);
    add_institution(app, std::move(key), name, Field::team);
  });
}

std::vector<Letter> letters_of(const json* documents) {
  std::vector<Letter> out;
  for_entries(documents, [&](const json& d, size_t i) {
    const std::string_view kind = text(member(&d, "kind"));
    if (std::find(kLetterKinds.begin(), kLetterKinds.end(), kind) == kLetterKinds.end()) return;
    if (std::optional<Person> author = person_from(member(&d, "author")))
      out.push_back({std::string(kind), i, std::move(*author)});
  });
  return out;
}

void add_employers(ReviewerData& r, const json* employers) {
  for_entries(employers, [&](const json& e, size_t) {
    const std::string_view name = text(member(&e, "institution"));
    Key key(fold_name(name));
    if (key.empty()) return;
    const json* until = member(&e, "until");
    if (until != nullptr && until->is_string()) {
      r.past.push_back({std::move(key), std::string(name), date_of(until)});
    } else {  // a wrong type reads as absent: current
      r.current.push_back({std::move(key), std::string(name), true});
    }
  });
}

std::string party_label(const Party& p) {
  const std::string& shown = p.person.display;
  if (!p.team_index) return shown.empty() ? "the applicant" : "the applicant " + in_quotes(shown);
  return shown.empty() ? "team member #" + std::to_string(*p.team_index + 1)
                       : "team member " + in_quotes(shown);
}

std::string reviewer_label(const Person& reviewer) {
  return reviewer.display.empty() ? "the reviewer" : "the reviewer " + in_quotes(reviewer.display);
}

// How the evidence names an applicant-side institution.
std::string target_of(const ApplicationData& app, const ApplicantInstitution& inst) {
  switch (inst.field) {
    case ApplicantInstitution::Field::institution:
      return "the applicant's institution " + in_quotes(inst.name);
    case ApplicantInstitution::Field::university:
      return "the applicant's university " + in_quotes(inst.name);
    case ApplicantInstitution::Field::team:
      break;
  }
  return "the institution " + in_quotes(inst.name) + " of " + party_label(app.parties[inst.party]);
}

// One comparison of a prepared pair. Evidence is written only for a conflict
// found, and the window cutoffs are computed at most once.
class Comparison {
 public:
  Comparison(const ApplicationData& app, const ReviewerData& reviewer, int64_t now_ms)
      : app_(app), rev_(reviewer), now_ms_(now_ms) {}

  std::vector<Conflict> run() {
    same_institution();
    recent_employer();
    collaborators();
    reviewer_lists(rev_.advisees, "advisees", kAdvisor);
    reviewer_lists(rev_.advisors, "advisors", kAdvisee);
    applicant_lists(app_.advisors, "advisors", kAdvisor);
    applicant_lists(app_.advisees, "advisees", kAdvisee);
    letters();
    declared();
    return finish();
  }

 private:
  struct Found {
    Reason reason;
    Conflict conflict;
  };
  // What letter_writer and declared_by_applicant match: the reviewer as a whole.
  static constexpr uint32_t kTheReviewer = 0;

  // At most one conflict per reason and matched person (or institution).
  bool first(Reason reason, uint32_t matched) {
    const std::pair<Reason, uint32_t> key{reason, matched};
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return false;
    seen_.push_back(key);
    return true;
  }

  void add(Reason reason, const std::string& evidence) {
    found_.push_back(
        {reason, {rev_.id, std::string(kReasons[reason]), excerpt(evidence, kEvidenceBytes)}});
  }

  Verdict judge_dated(const Date& d, int window_months, std::optional<int64_t>& cutoff) {
    if (!cutoff && d.present && d.end_ms && *d.end_ms <= now_ms_)
      cutoff = months_before(now_ms_, window_months);
    return judge(d, now_ms_, cutoff.value_or(0));
  }

  const Party& applicant() const { return app_.parties.front(); }

  void same_institution();
  void recent_employer();
  void collaborators();
  void reviewer_lists(const std::vector<Person>& list, std::string_view field, Reason reason);
  void applicant_lists(const std::vector<Person>& list, std::string_view field, Reason reason);
  void letters();
  void declared();
  std::vector<Conflict> finish();

  const ApplicationData& app_;
  const ReviewerData& rev_;
  const int64_t now_ms_;
  std::optional<int64_t> employer_cutoff_ms_;
  std::optional<int64_t> collaborator_cutoff_ms_;
  std::vector<std::pair<Reason, uint32_t>> seen_;
  std::vector<Found> found_;
};

// Rule 1: the reviewer's institution or a current employer.
void Comparison::same_institution() {
  for (const ReviewerInstitution& own : rev_.current) {
    for (const ApplicantInstitution& inst : app_.institutions) {
      if (inst.key != own.key || !first(kSameInstitution, inst.identity)) continue;
      const std::string source =
          own.employer ? "reviewer's employer " + in_quotes(own.name) + " (no end date)"
                       : "reviewer's institution " + in_quotes(own.name);
      add(kSameInstitution, source + " is " + target_of(app_, inst));
    }
  }
}

// Rule 2: an employer left within the window.
void Comparison::recent_employer() {
  for (const PastEmployer& e : rev_.past) {
    std::optional<Verdict> verdict;  // judged only on a match
    for (const ApplicantInstitution& inst : app_.institutions) {
      if (inst.key != e.key) continue;
      if (!verdict) verdict = judge_dated(e.until, kEmployerWindowMonths, employer_cutoff_ms_);
      if (*verdict == Verdict::stale) break;
      if (!first(kRecentEmployer, inst.identity)) continue;
      const DatedWords when =
          dated_words("until", e.until, *verdict, kEmployerWindowMonths, now_ms_);
      add(kRecentEmployer, "reviewer's employer " + in_quotes(e.name) + " " + when.phrase + " is " +
                               target_of(app_, inst) + " " + when.qualifier);
    }
  }
}

// Rule 3, both directions.
void Comparison::collaborators() {
  for (const DatedPerson& who : rev_.collaborators) {
    std::optional<Verdict> verdict;
    for (const Party& p : app_.parties) {
      const Basis basis = match(who.person, p.person);
      if (basis == Basis::none) continue;
      if (!verdict)
        verdict = judge_dated(who.last, kCollaboratorWindowMonths, collaborator_cutoff_ms_);
      if (*verdict == Verdict::stale) break;
      if (!first(kRecentCollaborator, p.identity)) continue;
      const DatedWords when =
          dated_words("last joint work", who.last, *verdict, kCollaboratorWindowMonths, now_ms_);
      add(kRecentCollaborator, "reviewer lists " + party_label(p) + " as a collaborator " +
                                   basis_text(basis) + ", " + when.phrase + " " + when.qualifier);
    }
  }
  for (const DatedPerson& who : app_.collaborators) {
    const Basis basis = match(who.person, rev_.person);
    if (basis == Basis::none) continue;
    const Verdict verdict =
        judge_dated(who.last, kCollaboratorWindowMonths, collaborator_cutoff_ms_);
    if (verdict == Verdict::stale || !first(kRecentCollaborator, applicant().identity)) continue;
    const DatedWords when =
        dated_words("last joint work", who.last, verdict, kCollaboratorWindowMonths, now_ms_);
    add(kRecentCollaborator, "the applicant lists " + reviewer_label(rev_.person) +
                                 " as a collaborator " + basis_text(basis) + ", " + when.phrase +
                                 " " + when.qualifier);
  }
}

// Rule 4 from the reviewer's side: its list `field` names an applicant-side person.
void Comparison::reviewer_lists(const std::vector<Person>& list, std::string_view field,
                                Reason reason) {
  for (const Person& who : list) {
    for (const Party& p : app_.parties) {
      const Basis basis = match(who, p.person);
      if (basis == Basis::none || !first(reason, p.identity)) continue;
      add(reason, "reviewer lists " + party_label(p) + " among their " + std::string(field) + " " +
                      basis_text(basis));
    }
  }
}

// Rule 4 from the applicant's side: its list `field` names the reviewer.
void Comparison::applicant_lists(const std::vector<Person>& list, std::string_view field,
                                 Reason reason) {
  for (const Person& who : list) {
    const Basis basis = match(who, rev_.person);
    if (basis == Basis::none || !first(reason, applicant().identity)) continue;
    add(reason, "the applicant lists " + reviewer_label(rev_.person) + " among their " +
                    std::string(field) + " " + basis_text(basis));
  }
}

// Rule 5.
void Comparison::letters() {
  for (const Letter& letter : app_.letters) {
    const Basis basis = match(letter.author, rev_.person);
    if (basis == Basis::none || !first(kLetterWriter, kTheReviewer)) continue;
    add(kLetterWriter, "the " + letter.kind + " in documents[" + std::to_string(letter.index) +
                           "] is by " + reviewer_label(rev_.person) + " " + basis_text(basis));
  }
}

// Rule 6, both sides. An id matches exactly; anything else as a person.
void Comparison::declared() {
  for (const Declared& d : rev_.conflicts) {
    if (!app_.id.empty() && d.id == app_.id) {
      if (first(kDeclaredByReviewer, applicant().identity))
        add(kDeclaredByReviewer,
            "reviewer declared a conflict with this application (" + in_quotes(app_.id) + ")");
      continue;
    }
    if (!d.person) continue;
    for (const Party& p : app_.parties) {
      const Basis basis = match(*d.person, p.person);
      if (basis != Basis::none && first(kDeclaredByReviewer, p.identity))
        add(kDeclaredByReviewer,
            "reviewer declared a conflict with " + party_label(p) + " " + basis_text(basis));
    }
  }
  for (const Declared& d : app_.conflicts) {
    if (!rev_.id.empty() && d.id == rev_.id) {
      if (first(kDeclaredByApplicant, kTheReviewer))
        add(kDeclaredByApplicant,
            "the applicant declared a conflict with this reviewer (id " + in_quotes(rev_.id) + ")");
      continue;
    }
    const Basis basis = d.person ? match(*d.person, rev_.person) : Basis::none;
    if (basis != Basis::none && first(kDeclaredByApplicant, kTheReviewer))
      add(kDeclaredByApplicant, "the applicant declared a conflict with " +
                                    reviewer_label(rev_.person) + " " + basis_text(basis));
  }
}

// Rule 4 interleaves advisor and advisee; the contract orders by rule.
std::vector<Conflict> Comparison::finish() {
  if (found_.empty()) return {};
  std::stable_sort(found_.begin(), found_.end(),
                   [](const Found& a, const Found& b) { return a.reason < b.reason; });
  std::vector<Conflict> out;
  out.reserve(found_.size());
  for (Found& f : found_) out.push_back(std::move(f.conflict));
  return out;
}

}  // namespace

PreparedApplication::PreparedApplication(std::shared_ptr<const detail::ApplicationData> data)
    : data_(std::move(data)) {}

const std::string& PreparedApplication::id() const {
  return data_->id;
}

PreparedReviewer::PreparedReviewer(std::shared_ptr<const detail::ReviewerData> data)
    : data_(std::move(data)) {}

const std::string& PreparedReviewer::id() const {
  return data_->id;
}

PreparedApplication prepare_application(const std::string& application_id,
                                        const nlohmann::json& application_facts) {
  auto app = std::make_shared<ApplicationData>();
  const json* profile = member(&application_facts, "profile");
  app->id = application_id;
  add_parties(*app, profile);
  app->collaborators = dated_persons_of(member(profile, "collaborators"));
  app->advisors = persons_of(member(profile, "advisors"));
  app->advisees = persons_of(member(profile, "advisees"));
  app->letters = letters_of(member(&application_facts, "documents"));
  app->conflicts = declared_of(member(profile, "conflicts"));
  return PreparedApplication(std::move(app));
}

PreparedReviewer prepare_reviewer(const std::string& reviewer_id,
                                  const nlohmann::json& reviewer_profile) {
  auto r = std::make_shared<ReviewerData>();
  const json* profile = &reviewer_profile;
  r->id = reviewer_id;
  r->person = make_person(text(member(profile, "name")), text(member(profile, "orcid")));
  const std::string_view own = text(member(profile, "institution"));
  if (Key key(fold_name(own)); !key.empty())
    r->current.push_back({std::move(key), std::string(own), false});
  add_employers(*r, member(profile, "employers"));
  r->collaborators = dated_persons_of(member(profile, "collaborators"));
  r->advisees = persons_of(member(profile, "advisees"));
  r->advisors = persons_of(member(profile, "advisors"));
  r->conflicts = declared_of(member(profile, "conflicts"));
  return PreparedReviewer(std::move(r));
}

std::vector<Conflict> find_conflicts(const PreparedApplication& application,
                                     const PreparedReviewer& reviewer, int64_t now_ms) {
  return Comparison(*application.data_, *reviewer.data_, now_ms).run();
}

std::vector<Conflict> find_conflicts(const std::string& application_id,
                                     const nlohmann::json& application_facts,
                                     const std::string& reviewer_id,
                                     const nlohmann::json& reviewer_profile, int64_t now_ms) {
  return find_conflicts(prepare_application(application_id, application_facts),
                        prepare_reviewer(reviewer_id, reviewer_profile), now_ms);
}

std::span<const std::string_view> conflict_reasons() {
  return kReasons;
}

}  // namespace stagewise::reviews
