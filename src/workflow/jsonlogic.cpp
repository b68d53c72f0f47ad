#include "workflow/jsonlogic.h"

#include "common/time.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace stagewise::workflow::jsonlogic {

using json = nlohmann::json;

namespace detail {

enum class Op : uint8_t {
  kLiteral,
  kArray,
  kVar,
  kMissing,
  kMissingSome,
  kIf,
  kEq,
  kStrictEq,
  kNe,
  kStrictNe,
  kNot,
  kNotNot,
  kOr,
  kAnd,
  kGt,
  kGe,
  kLt,
  kLe,
  kMax,
  kMin,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kIn,
  kCat,
  kSubstr,
  kMerge,
  kMap,
  kFilter,
  kReduce,
  kAll,
  kSome,
  kNone,
  kLog,
  kDurationSeconds,
  kTimeAdd,
  kSecondsBetween,
  kDaysBetween,
  kBefore,
};

// One step of a var path, with the array index it names when it is a canonical one.
struct Segment {
  std::string key;
  std::optional<uint32_t> index;
};

struct Node {
  Op op = Op::kLiteral;
  json value;  // kLiteral
  std::vector<Node> args;
  // kVar whose key is a literal: resolved once here instead of on every evaluation.
  bool whole_data = false;
  bool static_key = false;
  std::vector<Segment> path;
  // kDurationSeconds / kTimeAdd with a literal duration, parsed (and checked) at compile time.
  std::optional<int64_t> duration_ms;
};

struct Program {
  json source;
  Node root;
};

}  // namespace detail

namespace {

using detail::Node;
using detail::Op;
using detail::Segment;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxDepth = kMaxNesting;
constexpr int kAnyCount = -1;

// RFC 3339 needs a four-digit year: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z.
constexpr int64_t kMinTimeMs = -62167219200000;
constexpr int64_t kMaxTimeMs = 253402300799999;

struct OpInfo {
  std::string_view name;
  Op op;
  int min_args;
  int max_args;  // kAnyCount: no upper bound
};

// "if" accepts no arguments at all: the conformance suite expects {"if": []} to give null.
constexpr OpInfo kOps[] = {
    {"var", Op::kVar, 0, 2},
    {"missing", Op::kMissing, 0, kAnyCount},
    {"missing_some", Op::kMissingSome, 2, 2},
    {"if", Op::kIf, 0, kAnyCount},
    {"?:", Op::kIf, 0, kAnyCount},
    {"==", Op::kEq, 2, 2},
    {"===", Op::kStrictEq, 2, 2},
    {"!=", Op::kNe, 2, 2},
    {"!==", Op::kStrictNe, 2, 2},
    {"!", Op::kNot, 1, 1},
    {"!!", Op::kNotNot, 1, 1},
    {"or", Op::kOr, 0, kAnyCount},
    {"and", Op::kAnd, 0, kAnyCount},
    {">", Op::kGt, 2, 2},
    {">=", Op::kGe, 2, 2},
    {"<", Op::kLt, 2, 3},
    {"<=", Op::kLe, 2, 3},
    {"max", Op::kMax, 0, kAnyCount},
    {"min", Op::kMin, 0, kAnyCount},
    {"+", Op::kAdd, 0, kAnyCount},
    {"-", Op::kSub, 1, 2},
    {"*", Op::kMul, 1, kAnyCount},
    {"/", Op::kDiv, 2, 2},
    {"%", Op::kMod, 2, 2},
    {"in", Op::kIn, 2, 2},
    {"cat", Op::kCat, 0, kAnyCount},
    {"substr", Op::kSubstr, 2, 3},
    {"merge", Op::kMerge, 0, kAnyCount},
    {"map", Op::kMap, 2, 2},
    {"filter", Op::kFilter, 2, 2},
    {"reduce", Op::kReduce, 2, 3},
    {"all", Op::kAll, 2, 2},
    {"some", Op::kSome, 2, 2},
    {"none", Op::kNone, 2, 2},
    {"log", Op::kLog, 1, 1},
    {"duration_seconds", Op::kDurationSeconds, 1, 1},
    {"time_add", Op::kTimeAdd, 2, 2},
    {"seconds_between", Op::kSecondsBetween, 2, 2},
    {"days_between", Op::kDaysBetween, 2, 2},
    {"before", Op::kBefore, 2, 2},
};

const OpInfo* find_op(std::string_view name) {
  for (const OpInfo& info : kOps)
    if (info.name == name) return &info;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Strings. JavaScript indexes and orders strings by UTF-16 code units; ASCII takes fast paths.

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Decodes the code point at s[i] and advances i; malformed input gives U+FFFD.
char32_t decode_utf8(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i++]);
  if (b0 < 0x80) return b0;
  int extra = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    extra = 1, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0xFFFD;
  }
  for (int k = 0; k < extra; ++k) {
    if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::u16string to_utf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t cp = decode_utf8(s, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

std::string from_utf16(std::u16string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t cp = s[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 &&
        s[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;  // a lone surrogate (from cutting a pair) has no UTF-8 form
    }
    append_utf8(out, cp);
  }
  return out;
}

size_t utf16_length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  size_t units = 0;
  for (size_t i = 0; i < s.size();) units += decode_utf8(s, i) >= 0x10000 ? 2 : 1;
  return units;
}

// The one-unit string at UTF-16 index i (i < utf16_length(s)).
std::string char_at(std::string_view s, size_t i) {
  if (is_ascii(s)) return std::string(s.substr(i, 1));
  return from_utf16(std::u16string_view(to_utf16(s)).substr(i, 1));
}

int compare_js_strings(std::string_view a, std::string_view b) {
  // UTF-8 byte order is code point order, which differs from UTF-16 order only when a
  // character above U+FFFF meets one in U+E000..U+FFFF (lead bytes 0xEE and up).
  const auto high = [](std::string_view s) {
    return std::any_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0xEE; });
  };
  if (!high(a) || !high(b)) return a.compare(b);
  return to_utf16(a).compare(to_utf16(b));
}

// Length of the JavaScript white space or line terminator at s[i], 0 if there is none.
size_t js_space_at(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return 1;
  if (c < 0x80) return 0;
  size_t j = i;
  const char32_t cp = decode_utf8(s, j);
  const bool space = cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
                     cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
  return space ? j - i : 0;
}

size_t skip_js_space(std::string_view s, size_t i) {
  while (i < s.size()) {
    const size_t len = js_space_at(s, i);
    if (len == 0) break;
    i += len;
  }
  return i;
}

std::string_view trim_js_space(std::string_view s) {
  const size_t begin = skip_js_space(s, 0);
  size_t end = begin;
  for (size_t i = begin; i < s.size();) {
    const size_t len = js_space_at(s, i);
    if (len != 0) {
      i += len;
    } else {
      decode_utf8(s, i);
      end = i;
    }
  }
  return s.substr(begin, end - begin);
}

// ---------------------------------------------------------------------------------------------
// Numbers.

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Length of the longest prefix of s that is an unsigned decimal literal
// (digits [. digits] [e [sign] digits], at least one digit), 0 if there is none.
size_t decimal_prefix(std::string_view s) {
  size_t i = 0;
  size_t digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1;
    while (j < s.size() && is_digit(s[j])) ++j, ++digits;
    if (digits > 0) i = j;
  }
  if (digits == 0) return 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const size_t first = j;
    while (j < s.size() && is_digit(s[j])) ++j;
    if (j > first) i = j;
  }
  return i;
}

// Whether a decimal literal out of double range is too large (rather than too small).
bool overflows(std::string_view lit) {
  const size_t e = lit.find_first_of("eE");
  const std::string_view mantissa = lit.substr(0, e);
  int64_t exp = 0;
  if (e != std::string_view::npos) {
    size_t i = e + 1;
    const bool negative = i < lit.size() && lit[i] == '-';
    if (i < lit.size() && (lit[i] == '-' || lit[i] == '+')) ++i;
    for (; i < lit.size(); ++i) exp = std::min<int64_t>(exp * 10 + (lit[i] - '0'), 1'000'000'000);
    if (negative) exp = -exp;
  }
  const size_t dot = mantissa.find('.');
  const std::string_view int_part = mantissa.substr(0, dot);
  const std::string_view frac_part =
      dot == std::string_view::npos ? std::string_view() : mantissa.substr(dot + 1);
  const size_t lead = int_part.find_first_not_of('0');
  if (lead != std::string_view::npos) return static_cast<int64_t>(int_part.size() - lead) + exp > 0;
  const size_t zeros = frac_part.find_first_not_of('0');
  if (zeros == std::string_view::npos) return false;
  return exp - static_cast<int64_t>(zeros) > 0;
}

// lit must be a whole decimal literal as decimal_prefix() accepts.
double decimal_value(std::string_view lit) {
  double v = 0;
  const auto [end, ec] = std::from_chars(lit.data(), lit.data() + lit.size(), v);
  if (ec == std::errc::result_out_of_range) return overflows(lit) ? kInf : 0.0;
  if (ec != std::errc() || end != lit.data() + lit.size()) return kNaN;
  return v;
}

// JavaScript StringToNumber ("" is 0, " 12 " is 12, "0x1A" is 26, "12px" is NaN).
double string_to_number(std::string_view s) {
  s = trim_js_space(s);
  if (s.empty()) return 0;
  if (s.size() > 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (base != 0) {
      double v = 0;
      for (const char c : s.substr(2)) {
        const char l = static_cast<char>(c | 0x20);
        const int d = is_digit(c) ? c - '0' : (l >= 'a' && l <= 'f') ? l - 'a' + 10 : 99;
        if (d >= base) return kNaN;
        v = v * base + d;
      }
      return v;
    }
  }
  const bool negative = s[0] == '-';
  if (s[0] == '-' || s[0] == '+') s.remove_prefix(1);
  double v = 0;
  if (s == "Infinity") {
    v = kInf;
  } else {
    if (decimal_prefix(s) != s.size() || s.empty()) return kNaN;
    v = decimal_value(s);
  }
  return negative ? -v : v;
}

// JavaScript parseFloat on a string: the longest numeric prefix ("3.5kg" is 3.5), else NaN.
double parse_float_prefix(std::string_view s) {
  s.remove_prefix(skip_js_space(s, 0));
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  double v = 0;
  if (s.substr(0, 8) == "Infinity") {
    v = kInf;
  } else {
    const size_t len = decimal_prefix(s);
    if (len == 0) return kNaN;
    v = decimal_value(s.substr(0, len));
  }
  return negative ? -v : v;
}

// JavaScript Number::toString: shortest round-trip digits, exponent outside [1e-7, 1e21).
std::string js_number_to_string(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == 0) return "0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (const char c : sci.substr(0, e))
    if (c != '.') digits += c;
  std::string_view exp_text = sci.substr(e + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  int exp = 0;
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  const int k = static_cast<int>(digits.size());
  const int n = exp + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n));
    out += '.';
    out += digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += n - 1 >= 0 ? "e+" : "e-";
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

json make_number_json(double d) {
  // Integral results become JSON integers so {"+":[1,1]} gives 2, not 2.0. NaN and
  // infinities stay doubles while evaluating (JavaScript keeps them) and become null at the end.
  if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0)
    return json(static_cast<int64_t>(d));
  return json(d);
}

// ---------------------------------------------------------------------------------------------
// Values while evaluating: borrowed from the data or the rule where possible, owned otherwise.

const json& null_json() {
  static const json kNull;
  return kNull;
}

class Val {
 public:
  Val() = default;  // JavaScript undefined
  explicit Val(const json* ref) : ref_(ref) {}
  explicit Val(json owned) : owned_(std::move(owned)) {}

  bool defined() const { return ref_ || owned_; }
  bool is_ref() const { return ref_ != nullptr; }
  // Undefined reads as null.
  const json& get() const { return ref_ ? *ref_ : owned_ ? *owned_ : null_json(); }
  json release() && { return ref_ ? *ref_ : owned_ ? std::move(*owned_) : json(); }

 private:
  const json* ref_ = nullptr;
  std::optional<json> owned_;  // optional: most values are borrowed and need no json at all
};

Val null_val() {
  return Val(&null_json());
}
Val bool_val(bool b) {
  static const json kTrue(true);
  static const json kFalse(false);
  return Val(b ? &kTrue : &kFalse);
}
Val number_val(double d) {
  return Val(make_number_json(d));
}

enum class Kind : uint8_t { kUndefined, kNull, kBool, kNumber, kString, kObject };

Kind kind_of(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return Kind::kNull;
    case json::value_t::boolean:
      return Kind::kBool;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return Kind::kNumber;
    case json::value_t::string:
      return Kind::kString;
    case json::value_t::discarded:
      return Kind::kUndefined;
    default:
      return Kind::kObject;  // arrays are objects in JavaScript
  }
}

Kind kind_of(const Val& v) {
  return v.defined() ? kind_of(v.get()) : Kind::kUndefined;
}

const std::string& str(const json& j) {
  return j.get_ref<const std::string&>();
}

// Stops an evaluation past its limits (Budget, below); Rule::evaluate gives null.
struct OverBudget {};

void append_js_string(std::string& out, const json& j, int depth = 1) {
  // Arrays print their elements: one level of recursion each.
  if (depth > kMaxValueDepth) throw OverBudget{};
  switch (j.type()) {
    case json::value_t::null:
      out += "null";
      break;
    case json::value_t::boolean:
      out += j.get<bool>() ? "true" : "false";
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      out += js_number_to_string(j.get<double>());
      break;
    case json::value_t::string:
      out += str(j);
      break;
    case json::value_t::array: {
      // Array.prototype.join: null elements print as nothing.
      bool first = true;
      for (const json& e : j) {
        if (!first) out += ',';
        first = false;
        if (!e.is_null()) append_js_string(out, e, depth + 1);
      }
      break;
    }
    default:
      out += "[object Object]";
      break;
  }
}

// JavaScript String(v).
std::string to_js_string(const Val& v) {
  if (!v.defined()) return "undefined";
  if (v.get().is_string()) return str(v.get());
  std::string out;
  append_js_string(out, v.get());
  return out;
}

// JavaScript ToNumber.
double to_number(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return 0;
    case json::value_t::boolean:
      return j.get<bool>() ? 1 : 0;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return j.get<double>();
    case json::value_t::string:
      return string_to_number(str(j));
    case json::value_t::array: {
      std::string s;
      append_js_string(s, j);
      return string_to_number(s);
    }
    default:
      return kNaN;
  }
}

double to_number(const Val& v) {
  return v.defined() ? to_number(v.get()) : kNaN;
}

// JavaScript parseFloat(v), which is what json-logic-js's + and * apply.
double parse_float(const Val& v) {
  if (!v.defined()) return kNaN;
  const json& j = v.get();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) return parse_float_prefix(str(j));
  return parse_float_prefix(to_js_string(v));
}

// JavaScript ToIntegerOrInfinity.
double to_integer(const Val& v) {
  const double d = to_number(v);
  return std::isnan(d) ? 0 : std::trunc(d);
}

bool truthy(const Val& v) {
  return v.defined() && jsonlogic::truthy(v.get());
}

bool strict_eq(const Val& a, const Val& b) {
  const Kind ka = kind_of(a);
  if (ka != kind_of(b)) return false;
  switch (ka) {
    case Kind::kUndefined:
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.get().get<bool>() == b.get().get<bool>();
    case Kind::kNumber:
      return a.get().get<double>() == b.get().get<double>();
    case Kind::kString:
      return str(a.get()) == str(b.get());
    case Kind::kObject:
      // Objects and arrays are equal only when they are the same one, as in JavaScript.
      return &a.get() == &b.get();
  }
  return false;
}

bool loose_eq(const Val& a, const Val& b) {
  const Kind ka = kind_of(a);
  const Kind kb = kind_of(b);
  if (ka == kb) return strict_eq(a, b);
  const bool nullish_a = ka == Kind::kUndefined || ka == Kind::kNull;
  const bool nullish_b = kb == Kind::kUndefined || kb == Kind::kNull;
  if (nullish_a || nullish_b) return nullish_a && nullish_b;
  // Booleans become numbers and objects become strings; a number against a string compares
  // as numbers.
  if (ka == Kind::kObject || kb == Kind::kObject) {
    const Val& object = ka == Kind::kObject ? a : b;
    const Val& other = ka == Kind::kObject ? b : a;
    const std::string s = to_js_string(object);
    if (kind_of(other) == Kind::kString) return s == str(other.get());
    return string_to_number(s) == to_number(other);
  }
  return to_number(a) == to_number(b);
}

// JavaScript a < b; nullopt when the result is undefined (a NaN operand).
std::optional<bool> js_less(const Val& a, const Val& b) {
  const Kind ka = kind_of(a);
  const Kind kb = kind_of(b);
  const bool str_a = ka == Kind::kString || ka == Kind::kObject;
  const bool str_b = kb == Kind::kString || kb == Kind::kObject;
  if (str_a && str_b) {
    if (ka == Kind::kString && kb == Kind::kString)
      return compare_js_strings(str(a.get()), str(b.get())) < 0;
    return compare_js_strings(to_js_string(a), to_js_string(b)) < 0;
  }
  const double x = to_number(a);
  const double y = to_number(b);
  if (std::isnan(x) || std::isnan(y)) return std::nullopt;
  return x < y;
}

bool js_lt(const Val& a, const Val& b) {
  return js_less(a, b).value_or(false);
}
bool js_le(const Val& a, const Val& b) {
  const auto r = js_less(b, a);
  return r && !*r;
}

// JavaScript String.prototype.substr over UTF-16 code units.
std::string js_substr(std::string_view s, double start, std::optional<double> length) {
  const bool ascii = is_ascii(s);
  std::u16string wide;
  if (!ascii) wide = to_utf16(s);
  const auto size = static_cast<double>(ascii ? s.size() : wide.size());
  const double from = start < 0 ? std::max(size + start, 0.0) : std::min(start, size);
  const double count = length ? std::clamp(*length, 0.0, size) : size;
  const double to = std::min(from + count, size);
  if (!(to > from)) return "";
  const auto f = static_cast<size_t>(from);
  const auto n = static_cast<size_t>(to) - f;
  if (ascii) return std::string(s.substr(f, n));
  return from_utf16(std::u16string_view(wide).substr(f, n));
}

// ---------------------------------------------------------------------------------------------
// var paths.

std::optional<uint32_t> array_index(std::string_view key) {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (const char c : key) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v >= 4294967295u) return std::nullopt;  // not an array index in JavaScript
  return static_cast<uint32_t>(v);
}

std::vector<Segment> split_path(std::string_view key) {
  std::vector<Segment> path;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string_view part = key.substr(start, dot - start);
    path.push_back(Segment{std::string(part), array_index(part)});
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// Limits of one evaluation (kMaxSteps, kMaxCells, kMaxValueDepth).

struct Budget {
  int64_t steps = kMaxSteps;
  int64_t cells = kMaxCells;

  void work(int64_t n) {
    steps -= n;
    if (steps < 0) throw OverBudget{};
  }
  void build(int64_t n) {
    cells -= n;
    if (cells < 0) throw OverBudget{};
  }
};

int64_t string_cells(const std::string& s) {
  return 1 + static_cast<int64_t>(s.size() / 16);
}

// What building a copy of j costs, counted without recursion; nullopt when j nests deeper
// than kMaxValueDepth (copying recurses once per level).
std::optional<int64_t> cells_of(const json& j) {
  if (j.is_string()) return string_cells(str(j));
  if (!j.is_structured()) return 1;
  int64_t n = 0;
  std::vector<std::pair<const json*, int>> todo{{&j, 1}};
  while (!todo.empty()) {
    const auto [x, depth] = todo.back();
    todo.pop_back();
    if (depth > kMaxValueDepth) return std::nullopt;
    n += x->is_string() ? string_cells(str(*x)) : 1;
    if (x->is_structured())
      for (const json& child : *x) todo.emplace_back(&child, depth + 1);
  }
  return n;
}

json copy(const json& j, Budget& b) {
  const auto cells = cells_of(j);
  if (!cells) throw OverBudget{};
  b.build(*cells);
  return j;
}

// The value as an owned json: moved when owned, copied (and paid for) when borrowed.
json take(Val&& v, Budget& b) {
  if (v.is_ref()) return copy(v.get(), b);
  return std::move(v).release();
}

// Whether j nests no deeper than max_depth, walked without recursion (every node is paid for).
bool nests_within(const json& j, int max_depth, Budget& b) {
  if (!j.is_structured()) return true;
  std::vector<std::pair<const json*, int>> todo{{&j, 1}};
  while (!todo.empty()) {
    const auto [x, depth] = todo.back();
    todo.pop_back();
    b.work(1);
    if (depth > max_depth) return false;
    for (const json& child : *x)
      if (child.is_structured()) todo.emplace_back(&child, depth + 1);
  }
  return true;
}

struct Scope {
  const json* data = nullptr;
  // Inside reduce the data is {"current": ..., "accumulator": ...}; kept apart so that neither
  // is copied into an object for every element.
  const json* current = nullptr;
  const json* accumulator = nullptr;
  Budget* budget = nullptr;

  // The scope of a map, filter, all, some or none body: one item as the data.
  Scope with_data(const json* d) const { return Scope{d, nullptr, nullptr, budget}; }
};

Val whole_data(const Scope& sc) {
  if (!sc.current) return Val(sc.data);
  json obj = json::object();
  obj["current"] = copy(*sc.current, *sc.budget);
  obj["accumulator"] = copy(*sc.accumulator, *sc.budget);
  return Val(std::move(obj));
}

// Walks path from the scope's data. False when a step is missing (json-logic-js's
// "not found", which var replaces by its default).
bool lookup(const Scope& sc, const std::vector<Segment>& path, Val& out) {
  const json* cur = sc.data;
  size_t i = 0;
  if (sc.current) {
    if (path[0].key == "current") {
      cur = sc.current;
    } else if (path[0].key == "accumulator") {
      cur = sc.accumulator;
    } else {
      return false;
    }
    i = 1;
  }
  std::optional<json> temp;  // a computed step: an array's length or a character of a string
  for (; i < path.size(); ++i) {
    const Segment& seg = path[i];
    if (cur->is_object()) {
      const auto it = cur->find(seg.key);
      if (it == cur->end()) return false;
      cur = &*it;
    } else if (cur->is_array()) {
      if (seg.index && *seg.index < cur->size()) {
        cur = &(*cur)[*seg.index];
      } else if (seg.key == "length") {
        temp = json(static_cast<int64_t>(cur->size()));
        cur = &*temp;
      } else {
        return false;
      }
    } else if (cur->is_string()) {
      const std::string& s = str(*cur);
      json next;
      if (seg.key == "length") {
        next = static_cast<int64_t>(utf16_length(s));
      } else if (seg.index && *seg.index < utf16_length(s)) {
        next = char_at(s, *seg.index);
      } else {
        return false;
      }
      temp = std::move(next);
      cur = &*temp;
    } else {
      return false;  // null, numbers and booleans have no properties here
    }
  }
  out = temp ? Val(std::move(*temp)) : Val(cur);
  return true;
}

bool is_empty_key(const Val& key) {
  return !key.defined() || key.get().is_null() || (key.get().is_string() && str(key.get()).empty());
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

Val eval(const Node& n, const Scope& sc);

Val eval_var(const Node& n, const Scope& sc) {
  if (n.whole_data) return whole_data(sc);
  Val found;
  bool ok = false;
  if (n.static_key) {
    ok = lookup(sc, n.path, found);
  } else {
    const Val key = eval(n.args[0], sc);
    if (is_empty_key(key)) return whole_data(sc);
    ok = lookup(sc, split_path(to_js_string(key)), found);
  }
  if (ok) return found;
  if (n.args.size() < 2) return null_val();
  Val fallback = eval(n.args[1], sc);
  return fallback.defined() ? std::move(fallback) : null_val();
}

// json-logic-js: a key is missing when {"var": key} gives null or "".
void add_if_missing(const Scope& sc, const Val& key, json& out) {
  sc.budget->work(1);
  Val value;
  bool found = true;
  if (is_empty_key(key)) {
    value = whole_data(sc);
  } else {
    found = lookup(sc, split_path(to_js_string(key)), value);
  }
  const json& v = value.get();
  if (!found || v.is_null() || (v.is_string() && str(v).empty()))
    out.push_back(key.defined() ? copy(key.get(), *sc.budget) : json());
}

Val eval_missing(const Node& n, const Scope& sc) {
  json out = json::array();
  if (n.args.empty()) return Val(std::move(out));
  const Val first = eval(n.args[0], sc);
  if (first.get().is_array()) {
    for (const json& key : first.get()) add_if_missing(sc, Val(&key), out);
    return Val(std::move(out));
  }
  add_if_missing(sc, first, out);
  for (size_t i = 1; i < n.args.size(); ++i) add_if_missing(sc, eval(n.args[i], sc), out);
  return Val(std::move(out));
}

Val eval_missing_some(const Node& n, const Scope& sc) {
  const Val need = eval(n.args[0], sc);
  const Val options = eval(n.args[1], sc);
  json missing = json::array();
  double available = kNaN;  // options.length, undefined for anything but arrays and strings
  if (options.get().is_array()) {
    for (const json& key : options.get()) add_if_missing(sc, Val(&key), missing);
    available = static_cast<double>(options.get().size());
  } else {
    add_if_missing(sc, options, missing);
    if (options.get().is_string())
      available = static_cast<double>(utf16_length(str(options.get())));
  }
  const Val have = number_val(available - static_cast<double>(missing.size()));
  if (js_le(need, have)) return Val(json::array());
  return Val(std::move(missing));
}

Val string_val(std::string s, const Scope& sc) {
  sc.budget->build(string_cells(s));
  return Val(json(std::move(s)));
}

Val eval_substr(const Node& n, const Scope& sc) {
  const Val source = eval(n.args[0], sc);
  const Val start = eval(n.args[1], sc);
  const Val end = n.args.size() > 2 ? eval(n.args[2], sc) : Val();
  const std::string s = to_js_string(source);
  const double from = to_integer(start);
  // json-logic-js: a negative length drops that many characters from the end.
  if (end.defined() && js_lt(end, number_val(0))) {
    const std::string tail = js_substr(s, from, std::nullopt);
    const double keep = static_cast<double>(utf16_length(tail)) + to_number(end);
    return string_val(js_substr(tail, 0, std::isnan(keep) ? 0 : std::trunc(keep)), sc);
  }
  std::optional<double> length;
  if (end.defined()) length = to_integer(end);
  return string_val(js_substr(s, from, length), sc);
}

Val eval_reduce(const Node& n, const Scope& sc) {
  const Val items = eval(n.args[0], sc);
  Val acc = n.args.size() > 2 ? eval(n.args[2], sc) : null_val();
  if (!items.get().is_array()) return acc;
  for (const json& item : items.get()) {
    Val next = eval(n.args[1], Scope{nullptr, &item, &acc.get(), sc.budget});
    // Only a value built here can be deeper than the data and the rule: one that wraps the
    // accumulator deepens with each item.
    if (!next.is_ref() && !nests_within(next.get(), kMaxValueDepth, *sc.budget)) throw OverBudget{};
    // The result may point into the accumulator it replaces.
    if (next.is_ref() && !acc.is_ref()) next = Val(copy(next.get(), *sc.budget));
    acc = std::move(next);
  }
  // Nor may it point into an array that dies here.
  if (acc.is_ref() && !items.is_ref()) acc = Val(copy(acc.get(), *sc.budget));
  return acc;
}

// all, some and none: whether every / at least one element satisfies the body.
Val eval_quantifier(const Node& n, const Scope& sc) {
  const Val items = eval(n.args[0], sc);
  const json& list = items.get();
  if (n.op == Op::kAll) {
    if (list.is_string() && !str(list).empty()) {
      // json-logic-js indexes whatever has a length, so all also walks a string's characters.
      const std::u16string wide = to_utf16(str(list));
      for (size_t i = 0; i < wide.size(); ++i) {
        const json ch = from_utf16(std::u16string_view(wide).substr(i, 1));
        if (!truthy(eval(n.args[1], sc.with_data(&ch)))) return bool_val(false);
      }
      return bool_val(true);
    }
    if (!list.is_array() || list.empty()) return bool_val(false);
    for (const json& item : list)
      if (!truthy(eval(n.args[1], sc.with_data(&item)))) return bool_val(false);
    return bool_val(true);
  }
  bool any = false;
  if (list.is_array()) {
    for (const json& item : list) {
      if (truthy(eval(n.args[1], sc.with_data(&item)))) {
        any = true;
        break;
      }
    }
  }
  return bool_val(n.op == Op::kSome ? any : !any);
}

std::optional<int64_t> time_arg(const Val& v) {
  if (!v.get().is_string()) return std::nullopt;
  return parse_rfc3339_ms(str(v.get()));
}

std::optional<int64_t> duration_arg(const Node& n, size_t i, const Scope& sc) {
  if (n.duration_ms) return n.duration_ms;
  const Val v = eval(n.args[i], sc);
  if (!v.get().is_string()) return std::nullopt;
  return parse_iso8601_duration_ms(str(v.get()));
}

Val eval_time(const Node& n, const Scope& sc) {
  if (n.op == Op::kDurationSeconds) {
    const auto d = duration_arg(n, 0, sc);
    return d ? number_val(static_cast<double>(*d) / 1000.0) : null_val();
  }
  if (n.op == Op::kTimeAdd) {
    const auto t = time_arg(eval(n.args[0], sc));
    const auto d = duration_arg(n, 1, sc);
    int64_t sum = 0;
    if (!t || !d || __builtin_add_overflow(*t, *d, &sum) || sum < kMinTimeMs || sum > kMaxTimeMs)
      return null_val();
    return Val(json(format_rfc3339_ms(sum)));
  }
  const auto t1 = time_arg(eval(n.args[0], sc));
  const auto t2 = time_arg(eval(n.args[1], sc));
  if (!t1 || !t2) return null_val();
  switch (n.op) {
    case Op::kSecondsBetween:
      return number_val(static_cast<double>(*t2 - *t1) / 1000.0);
    case Op::kDaysBetween:
      return number_val(static_cast<double>(*t2 - *t1) / 86400000.0);
    default:
      return bool_val(*t1 < *t2);
  }
}

Val eval(const Node& n, const Scope& sc) {
  sc.budget->work(1);
  const std::vector<Node>& a = n.args;
  switch (n.op) {
    case Op::kLiteral:
      return Val(&n.value);
    case Op::kArray: {
      json out = json::array();
      out.get_ref<json::array_t&>().reserve(a.size());
      sc.budget->build(static_cast<int64_t>(a.size()));
      for (const Node& x : a) out.push_back(take(eval(x, sc), *sc.budget));
      return Val(std::move(out));
    }
    case Op::kVar:
      return eval_var(n, sc);
    case Op::kMissing:
      return eval_missing(n, sc);
    case Op::kMissingSome:
      return eval_missing_some(n, sc);
    case Op::kIf: {
      size_t i = 0;
      for (; i + 1 < a.size(); i += 2)
        if (truthy(eval(a[i], sc))) return eval(a[i + 1], sc);
      if (a.size() == i + 1) return eval(a[i], sc);
      return null_val();
    }
    case Op::kEq:
      return bool_val(loose_eq(eval(a[0], sc), eval(a[1], sc)));
    case Op::kStrictEq:
      return bool_val(strict_eq(eval(a[0], sc), eval(a[1], sc)));
    case Op::kNe:
      return bool_val(!loose_eq(eval(a[0], sc), eval(a[1], sc)));
    case Op::kStrictNe:
      return bool_val(!strict_eq(eval(a[0], sc), eval(a[1], sc)));
    case Op::kNot:
      return bool_val(!truthy(eval(a[0], sc)));
    case Op::kNotNot:
      return bool_val(truthy(eval(a[0], sc)));
    case Op::kOr:
    case Op::kAnd: {
      // The first truthy (or) / falsy (and) value, else the last; undefined with no arguments.
      const bool stop_when = n.op == Op::kOr;
      Val cur;
      for (const Node& x : a) {
        cur = eval(x, sc);
        if (truthy(cur) == stop_when) return cur;
      }
      return cur;
    }
    case Op::kGt:
      return bool_val(js_lt(eval(a[1], sc), eval(a[0], sc)));
    case Op::kGe:
      return bool_val(js_le(eval(a[1], sc), eval(a[0], sc)));
    case Op::kLt:
    case Op::kLe: {
      const auto cmp = n.op == Op::kLt ? js_lt : js_le;
      const Val x = eval(a[0], sc);
      const Val y = eval(a[1], sc);
      if (a.size() == 2) return bool_val(cmp(x, y));
      const Val z = eval(a[2], sc);
      return bool_val(cmp(x, y) && cmp(y, z));
    }
    case Op::kMax:
    case Op::kMin: {
      const bool max = n.op == Op::kMax;
      double r = max ? -kInf : kInf;
      for (const Node& x : a) {
        const double v = to_number(eval(x, sc));
        if (std::isnan(v)) return number_val(kNaN);
        r = max ? std::max(r, v) : std::min(r, v);
      }
      return number_val(r);
    }
    case Op::kAdd: {
      double sum = 0;
      for (const Node& x : a) sum += parse_float(eval(x, sc));
      return number_val(sum);
    }
    case Op::kMul: {
      // json-logic-js reduces without a seed, so a single operand comes back unconverted.
      if (a.size() == 1) return eval(a[0], sc);
      double product = 1;
      for (const Node& x : a) product *= parse_float(eval(x, sc));
      return number_val(product);
    }
    case Op::kSub:
      if (a.size() == 1) return number_val(-to_number(eval(a[0], sc)));
      return number_val(to_number(eval(a[0], sc)) - to_number(eval(a[1], sc)));
    case Op::kDiv:
      return number_val(to_number(eval(a[0], sc)) / to_number(eval(a[1], sc)));
    case Op::kMod:
      return number_val(std::fmod(to_number(eval(a[0], sc)), to_number(eval(a[1], sc))));
    case Op::kIn: {
      const Val needle = eval(a[0], sc);
      const Val hay = eval(a[1], sc);
      const json& h = hay.get();
      if (h.is_array()) {
        sc.budget->work(static_cast<int64_t>(h.size()));
        for (const json& e : h)
          if (strict_eq(Val(&e), needle)) return bool_val(true);
        return bool_val(false);
      }
      if (h.is_string() && !str(h).empty())
        return bool_val(str(h).find(to_js_string(needle)) != std::string::npos);
      return bool_val(false);
    }
    case Op::kCat: {
      std::string out;
      for (const Node& x : a) {
        const Val v = eval(x, sc);
        if (v.get().is_string()) {
          out += str(v.get());
        } else if (!v.get().is_null()) {
          append_js_string(out, v.get());
        }
      }
      return string_val(std::move(out), sc);
    }
    case Op::kSubstr:
      return eval_substr(n, sc);
    case Op::kMerge: {
      json out = json::array();
      for (const Node& x : a) {
        Val v = eval(x, sc);
        if (!v.get().is_array()) {
          sc.budget->build(1);
          out.push_back(take(std::move(v), *sc.budget));
        } else if (v.is_ref()) {
          for (const json& e : v.get()) out.push_back(copy(e, *sc.budget));
        } else {
          json owned = std::move(v).release();
          sc.budget->build(static_cast<int64_t>(owned.size()));
          for (json& e : owned) out.push_back(std::move(e));
        }
      }
      return Val(std::move(out));
    }
    case Op::kMap:
    case Op::kFilter: {
      const Val items = eval(a[0], sc);
      json out = json::array();
      if (!items.get().is_array()) return Val(std::move(out));
      for (const json& item : items.get()) {
        Val r = eval(a[1], sc.with_data(&item));
        if (n.op == Op::kMap) {
          sc.budget->build(1);
          out.push_back(take(std::move(r), *sc.budget));
        } else if (truthy(r)) {
          out.push_back(copy(item, *sc.budget));
        }
      }
      return Val(std::move(out));
    }
    case Op::kReduce:
      return eval_reduce(n, sc);
    case Op::kAll:
    case Op::kSome:
    case Op::kNone:
      return eval_quantifier(n, sc);
    case Op::kLog:
      return eval(a[0], sc);
    case Op::kDurationSeconds:
    case Op::kTimeAdd:
    case Op::kSecondsBetween:
    case Op::kDaysBetween:
    case Op::kBefore:
      return eval_time(n, sc);
  }
  return Val();
}

// NaN and infinities have no JSON form; JSON.stringify writes them as null too.
void replace_non_finite(json& root) {
  if (root.is_number_float() && !std::isfinite(root.get<double>())) root = nullptr;
  if (!root.is_structured()) return;
  std::vector<json*> todo{&root};
  while (!todo.empty()) {
    json* j = todo.back();
    todo.pop_back();
    if (j->is_number_float()) {
      if (!std::isfinite(j->get<double>())) *j = nullptr;
    } else if (j->is_structured()) {
      for (json& child : *j) todo.push_back(&child);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Compile-time helpers.

void append_pointer_token(std::string& ptr, std::string_view token) {
  ptr += '/';
  for (const char c : token) {
    if (c == '~') {
      ptr += "~0";
    } else if (c == '/') {
      ptr += "~1";
    } else {
      ptr += c;
    }
  }
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_operator_message(const std::string& name) {
  std::string msg = "unknown operator " + in_quotes(name);
  const OpInfo* best = nullptr;
  size_t best_distance = 3;
  for (const OpInfo& info : kOps) {
    const size_t d = edit_distance(name, info.name);
    if (d < best_distance && d < std::max(name.size(), info.name.size())) {
      best = &info;
      best_distance = d;
    }
  }
  if (best) return msg + "; did you mean " + in_quotes(best->name) + "?";
  return msg +
         "; an object with one key is an operation, so use a JsonLogic operator (such as var, "
         "==, and, if, in) or one of duration_seconds, time_add, seconds_between, days_between, "
         "before";
}

std::string arity_message(const OpInfo& info, size_t count) {
  const auto plural = [](int k) {
    return std::to_string(k) + (k == 1 ? " argument" : " arguments");
  };
  std::string msg = in_quotes(info.name) + " takes ";
  if (info.max_args == kAnyCount) {
    msg += "at least " + plural(info.min_args);
  } else if (info.min_args == info.max_args) {
    msg += "exactly " + plural(info.min_args);
  } else if (info.max_args == info.min_args + 1) {
    msg += std::to_string(info.min_args) + " or " + plural(info.max_args);
  } else {
    msg += std::to_string(info.min_args) + " to " + plural(info.max_args);
  }
  msg += ", got " + std::to_string(count);
  if (count == 0 && info.min_args == 1)
    msg += " (an empty array is no arguments; write [[]] to pass an empty array)";
  return msg;
}

Node literal(const json& j) {
  Node n;
  n.value = j;
  return n;
}

}  // namespace

namespace detail {

struct Compiler {
  explicit Compiler(std::vector<CompileError>& errors) : errors_(errors) {}

  static Rule make_rule(std::shared_ptr<const Program> program) { return Rule(std::move(program)); }

  bool failed() const { return failed_; }

  // depth: nesting level of j when it is an array or object (the root is level 1).
  Node compile(const json& j, std::string& ptr, int depth) {
    if (j.is_structured() && depth > kMaxDepth) {
      error(ptr, "the rule nests deeper than " + std::to_string(kMaxDepth) +
                     " levels; simplify it or split it into several rules");
      return Node{};
    }
    if (j.is_array()) {
      Node n;
      n.op = Op::kArray;
      n.args.reserve(j.size());
      bool all_literal = true;
      for (size_t i = 0; i < j.size(); ++i) {
        const size_t mark = ptr.size();
        append_pointer_token(ptr, std::to_string(i));
        n.args.push_back(compile(j[i], ptr, depth + 1));
        ptr.resize(mark);
        all_literal = all_literal && n.args.back().op == Op::kLiteral;
      }
      // A constant array is kept whole so that evaluation can return it without building it
      // (not after an error: a refused part may be of any depth, and copying recurses).
      if (all_literal && !failed_) return literal(j);
      return n;
    }
    if (j.is_object() && !j.empty()) {
      if (j.size() > 1) {
        std::string keys;
        size_t shown = 0;
        for (const auto& [key, value] : j.items()) {
          if (shown++ == 4) {
            keys += ", ...";
            break;
          }
          keys += (keys.empty() ? "" : ", ") + in_quotes(key);
        }
        error(ptr, "an operation must have exactly one key (its operator) but this object has " +
                       std::to_string(j.size()) + " (" + keys +
                       "); combine conditions with \"and\" or \"or\"");
        return Node{};
      }
      const auto it = j.begin();
      return compile_operation(it.key(), it.value(), ptr, depth);
    }
    return literal(j);  // scalars and the empty object
  }

 private:
  void error(const std::string& ptr, std::string message) {
    errors_.push_back(CompileError{ptr, std::move(message)});
    failed_ = true;
  }

  Node compile_operation(const std::string& name, const json& body, std::string& ptr, int depth) {
    const OpInfo* info = find_op(name);
    const size_t count = body.is_array() ? body.size() : 1;
    bool ok = info != nullptr;
    if (!info) {
      error(ptr, unknown_operator_message(name));
    } else if (count < static_cast<size_t>(info->min_args) ||
               (info->max_args != kAnyCount && count > static_cast<size_t>(info->max_args))) {
      error(ptr, arity_message(*info, count));
      ok = false;
    }
    const size_t mark = ptr.size();
    append_pointer_token(ptr, name);
    Node n;
    const size_t errors_before = errors_.size();
    if (!body.is_array()) {
      // Unary sugar: {"var": "a"} means {"var": ["a"]}.
      n.args.push_back(compile(body, ptr, depth + 1));
    } else if (depth + 1 > kMaxDepth) {
      // The argument array is one more level of nesting.
      error(ptr, "the rule nests deeper than " + std::to_string(kMaxDepth) +
                     " levels; simplify it or split it into several rules");
    } else {
      n.args.reserve(body.size());
      for (size_t i = 0; i < body.size(); ++i) {
        const size_t arg_mark = ptr.size();
        append_pointer_token(ptr, std::to_string(i));
        n.args.push_back(compile(body[i], ptr, depth + 2));
        ptr.resize(arg_mark);
      }
    }
    if (!ok || errors_.size() != errors_before) {
      ptr.resize(mark);
      return Node{};
    }
    n.op = info->op;
    if (n.op == Op::kVar) resolve_var(n);
    if (n.op == Op::kDurationSeconds || n.op == Op::kTimeAdd) {
      const size_t i = n.op == Op::kDurationSeconds ? 0 : 1;
      if (body.is_array()) append_pointer_token(ptr, std::to_string(i));
      resolve_duration(n, i, ptr);
    }
    ptr.resize(mark);
    return n;
  }

  static void resolve_var(Node& n) {
    if (n.args.empty()) {
      n.whole_data = true;
      return;
    }
    if (n.args[0].op != Op::kLiteral) return;
    const Val key(&n.args[0].value);
    if (is_empty_key(key)) {
      n.whole_data = true;
    } else {
      n.static_key = true;
      n.path = split_path(to_js_string(key));
    }
  }

  void resolve_duration(Node& n, size_t i, const std::string& ptr) {
    if (n.args[i].op != Op::kLiteral) return;  // computed at run time; invalid gives null
    const json& d = n.args[i].value;
    if (d.is_string()) n.duration_ms = parse_iso8601_duration_ms(str(d));
    if (!n.duration_ms)
      error(ptr, dump(d) +
                     " is not a fixed-length ISO-8601 duration; use weeks, days, hours, minutes "
                     "and seconds such as \"P14D\", \"PT36H\" or \"P1DT12H\" (years and months "
                     "vary in length)");
  }

  std::vector<CompileError>& errors_;
  bool failed_ = false;
};

}  // namespace detail

Rule::Rule() = default;

Rule::Rule(std::shared_ptr<const detail::Program> program) : program_(std::move(program)) {}

json Rule::evaluate(const json& data) const {
  if (!program_) return nullptr;
  try {
    Budget budget;
    json out = take(eval(program_->root, Scope{&data, nullptr, nullptr, &budget}), budget);
    replace_non_finite(out);
    return out;
  } catch (...) {
    return nullptr;  // over the limits, out of memory or an internal bug: documented as null
  }
}

const json& Rule::source() const {
  static const json kNull;
  return program_ ? program_->source : kNull;
}

std::optional<Rule> compile(const json& rule, std::vector<CompileError>& errors,
                            const std::string& base_pointer) {
  try {
    auto program = std::make_shared<detail::Program>();
    detail::Compiler compiler(errors);
    std::string ptr = base_pointer;
    program->root = compiler.compile(rule, ptr, 1);
    if (compiler.failed()) return std::nullopt;
    // Copied only now: copying recurses, and a refused rule may be of any depth.
    program->source = rule;
    return detail::Compiler::make_rule(std::move(program));
  } catch (const std::exception& e) {
    errors.push_back(
        CompileError{base_pointer, std::string("could not compile the rule: ") + e.what()});
  } catch (...) {
    errors.push_back(CompileError{base_pointer, "could not compile the rule"});
  }
  return std::nullopt;
}

bool truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
      return v.get<int64_t>() != 0;
    case json::value_t::number_unsigned:
      return v.get<uint64_t>() != 0;
    case json::value_t::number_float: {
      const double d = v.get<double>();
      return d != 0 && !std::isnan(d);
    }
    case json::value_t::string:
      return !str(v).empty();
    case json::value_t::array:
      return !v.empty();
    default:
      return true;  // objects, even empty ones
  }
}

const std::vector<std::string>& operator_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const OpInfo& info : kOps) names.emplace_back(info.name);
    return names;
  }();
  return kNames;
}

}  // namespace stagewise::workflow::jsonlogic
