// The sealing primitives (privacy/keys.h): what one key sealed for one
// place opens there only, and not after any byte changed.
#include "privacy/keys.h"

#include <gtest/gtest.h>

#include <set>

namespace stagewise::privacy {
namespace {

TEST(PrivacyKeys, OpensUnderTheSameKeyAndContextOnly) {
  const std::string key = new_key(), other = new_key();
  ASSERT_EQ(key.size(), kKeyBytes);
  EXPECT_NE(key, other);
  std::string sealed;
  seal(sealed, key, "app/a1", "Ada Lovelace");
  EXPECT_EQ(sealed.size(), std::string("Ada Lovelace").size() + kOverhead);
  EXPECT_EQ(sealed.find("Ada Lovelace"), std::string::npos) << "the plaintext shows through";
  EXPECT_EQ(open(key, "app/a1", sealed), "Ada Lovelace");
  EXPECT_FALSE(open(other, "app/a1", sealed)) << "another key opened it";
  EXPECT_FALSE(open(key, "app/a2", sealed)) << "sealed for one place, opened in another";
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string changed = sealed;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    EXPECT_FALSE(open(key, "app/a1", changed)) << "byte " << i << " changed unnoticed";
  }
  EXPECT_FALSE(open(key, "app/a1", sealed.substr(0, kOverhead - 1)));
}

TEST(PrivacyKeys, EachSealHasItsOwnNonce) {
  const std::string key = new_key();
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    std::string sealed;
    seal(sealed, key, "c", "same text");
    EXPECT_TRUE(seen.insert(sealed).second) << "two seals of the same text are equal";
  }
  std::string empty;
  seal(empty, key, "c", "");
  EXPECT_EQ(open(key, "c", empty), "");
}

TEST(PrivacyKeys, AWrappedKeyIsBoundToItsApplication) {
  const std::string kek = kek_from_secret("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(kek.size(), kKeyBytes);
  EXPECT_EQ(kek, kek_from_secret("0123456789abcdef0123456789abcdef")) << "not derived alike";
  EXPECT_NE(kek, kek_from_secret("0123456789abcdef0123456789abcdeF"));
  const std::string key = new_key();
  const std::string wrapped = wrap(kek, "sri-1", key);
  EXPECT_EQ(wrapped.find(key), std::string::npos);
  EXPECT_EQ(unwrap(kek, "sri-1", wrapped), key);
  EXPECT_FALSE(unwrap(kek, "sri-2", wrapped)) << "one application's key opened another's";
  EXPECT_FALSE(unwrap(kek_from_secret("another secret"), "sri-1", wrapped));
}

TEST(PrivacyKeys, AKeyOfTheWrongSizeIsRefused) {
  std::string out;
  EXPECT_THROW(seal(out, "short", "c", "x"), std::invalid_argument);
  EXPECT_FALSE(open("short", "c", std::string(40, 'x')));
}

}  // namespace
}  // namespace stagewise::privacy
