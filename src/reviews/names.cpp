#include "reviews/names.h"

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>

namespace stagewise::reviews {
namespace {

// libunistring returns malloc'd buffers.
struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using U8Buffer = std::unique_ptr<uint8_t, FreeDeleter>;

const uint8_t* bytes_of(std::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

bool is_ascii_separator(unsigned char c) {
  return c == '.' || c == ',' || c == '-' || c == '\'' || c == ' ' || (c >= '\t' && c <= '\r');
}

bool is_separator(ucs4_t c) {
  if (c < 0x80) return is_ascii_separator(static_cast<unsigned char>(c));
  return c == 0x2018 || c == 0x2019 || uc_is_property_white_space(c) ||
         uc_is_general_category(c, UC_CATEGORY_Pd);
}

// Builds a key: separator runs collapse to one space, none at either end.
class KeyBuilder {
 public:
  void separator() { pending_space_ = !out_.empty(); }
  void append(const char* p, size_t n) {
    if (pending_space_) out_.push_back(' ');
    pending_space_ = false;
    out_.append(p, n);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  bool pending_space_ = false;
};

// The fallback for text libunistring cannot take (invalid UTF-8): names then
// still compare, case-insensitively for ASCII letters.
std::string fold_bytes(std::string_view s) {
  KeyBuilder key;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_ascii_separator(c)) {
      key.separator();
    } else {
      const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch;
      key.append(&lower, 1);
    }
  }
  return key.take();
}

// Hands each character of valid UTF-8 to `sink`, except combining marks:
// after NFD they are the accents that names are compared without.
template <typename Sink>
void walk_without_marks(const uint8_t* s, size_t n, Sink&& sink) {
  size_t i = 0;
  while (i < n) {
    ucs4_t uc = 0;
    const int len = u8_mbtouc(&uc, s + i, n - i);
    const size_t step = len > 0 ? static_cast<size_t>(len) : 1;
    if (!uc_is_general_category(uc, UC_CATEGORY_Mn))
      sink(uc, reinterpret_cast<const char*>(s + i), step);
    i += step;
  }
}

}  // namespace

namespace {

bool all_ascii(std::string_view s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::string fold_unicode(std::string_view utf8);

}  // namespace

std::string fold_name(std::string_view utf8) {
  if (utf8.empty()) return {};
  // ASCII has no accents and folds to lower case: the same key, without
  // libunistring's normalisation (an assignment folds ~10^6 names).
  if (all_ascii(utf8)) return fold_bytes(utf8);
  // Names recur across checks (one applicant against every reviewer).
  thread_local std::unordered_map<std::string, std::string> memo;
  if (const auto it = memo.find(std::string(utf8)); it != memo.end()) return it->second;
  if (memo.size() >= 65'536) memo.clear();
  std::string key = fold_unicode(utf8);
  memo.emplace(std::string(utf8), key);
  return key;
}

namespace {

std::string fold_unicode(std::string_view utf8) {
  const uint8_t* in = bytes_of(utf8);
  if (u8_check(in, utf8.size()) != nullptr) return fold_bytes(utf8);

  size_t nfd_len = 0;
  const U8Buffer nfd(u8_normalize(UNINORM_NFD, in, utf8.size(), nullptr, &nfd_len));
  if (!nfd) return fold_bytes(utf8);
  std::string bare;
  bare.reserve(nfd_len);
  walk_without_marks(nfd.get(), nfd_len,
                     [&](ucs4_t, const char* p, size_t n) { bare.append(p, n); });
  if (bare.empty()) return {};

  // Folding is asked for NFD output and marks are dropped again, so the
  // key cannot depend on a folding that recomposes or adds an accent.
  size_t folded_len = 0;
  const U8Buffer folded(
      u8_casefold(bytes_of(bare), bare.size(), "", UNINORM_NFD, nullptr, &folded_len));
  if (!folded) return fold_bytes(utf8);
  KeyBuilder key;
  walk_without_marks(folded.get(), folded_len, [&](ucs4_t uc, const char* p, size_t n) {
    if (is_separator(uc)) {
      key.separator();
    } else {
      key.append(p, n);
    }
  });
  return key.take();
}

}  // namespace

std::optional<std::string> orcid_of(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || (s.front() >= '\t' && s.front() <= '\r')))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || (s.back() >= '\t' && s.back() <= '\r')))
    s.remove_suffix(1);
  static constexpr std::array<std::string_view, 3> kPrefixes = {"https://orcid.org/",
                                                                "http://orcid.org/", "orcid.org/"};
  for (const std::string_view prefix : kPrefixes) {
    if (s.size() < prefix.size()) continue;
    bool same = true;
    for (size_t i = 0; i < prefix.size() && same; ++i) {
      const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
      same = c == prefix[i];
    }
    if (same) {
      s.remove_prefix(prefix.size());
      break;
    }
  }
  if (s.size() != 19) return std::nullopt;
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (i % 5 == 4) {
      if (c != '-') return std::nullopt;
    } else if (i == 18 && (c == 'x' || c == 'X')) {
      out[i] = 'X';
    } else if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  return out;
}

std::string excerpt(std::string_view s, std::size_t max_bytes) {
  if (max_bytes < 4) max_bytes = 4;
  std::string out;
  size_t i = 0;
  while (i < s.size() && out.size() <= max_bytes) {
    ucs4_t uc = 0;
    const int len = u8_mbtoucr(&uc, bytes_of(s) + i, s.size() - i);
    if (len <= 0) {
      out.push_back('?');
      ++i;
      continue;
    }
    // Control characters, C1 included, and bidi overrides would garble or
    // disguise the line a reader sees.
    const bool control = uc < 0x20 || (uc >= 0x7f && uc <= 0x9f) ||
                         (uc >= 0x202a && uc <= 0x202e) || (uc >= 0x2066 && uc <= 0x2069);
    if (control) {
      out.push_back(' ');
    } else {
      out.append(s.substr(i, static_cast<size_t>(len)));
    }
    i += static_cast<size_t>(len);
  }
  if (i == s.size() && out.size() <= max_bytes) return out;
  size_t cut = max_bytes - 3;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += "...";
  return out;
}

}  // namespace stagewise::reviews
