#pragma once

// Per-application data keys (DESIGN.md §14, docs/audit.md "Encryption"):
// each application's personal data is stored sealed under its own random
// key; the key is stored wrapped under the data dir's key-encryption key
// (KEK). Erasing the application destroys its key, and with it every copy
// of the sealed data: the history's hash chain covers the ciphertext, so
// the audit still verifies.
//
// AES-256-GCM (OpenSSL). Each 96-bit nonce is a 64-bit random field drawn
// per thread (again after a fork, and after 2^32 seals) and a 32-bit
// counter (NIST SP 800-38D, 8.2.1): two seals under one key share a nonce
// only if two threads drew the same 64 random bits. The `context` (associated data) binds a
// sealed value to where it belongs (which application, which entry), so a
// value copied elsewhere does not open.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace stagewise::privacy {

inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;
/// What seal() adds to the plaintext.
inline constexpr size_t kOverhead = kNonceBytes + kTagBytes;

/// A fresh random key (OpenSSL's CSPRNG); throws std::runtime_error when
/// the CSPRNG fails.
std::string new_key();

/// Appends nonce || ciphertext || tag of `plain` under `key` (kKeyBytes),
/// authenticated with `context`. Throws std::runtime_error when OpenSSL fails.
void seal(std::string& out, std::string_view key, std::string_view context, std::string_view plain);

/// The plaintext of what seal() made, or nullopt when the key, the context
/// or any byte is not the one it was sealed with.
std::optional<std::string> open(std::string_view key, std::string_view context,
                                std::string_view sealed);

/// The key-encryption key derived from a key file's contents (the data
/// dir's `auth/data.secret`, or an operator's): SHA-256 over a label and
/// the secret, so any secret of enough entropy serves.
std::string kek_from_secret(std::string_view secret);

/// The key-encryption key of the data dir (or secrets dir) `home`: from
/// its auth/data.secret, which `stagewise serve` makes (0600) on first
/// start; nullopt when there is none or it cannot be read.
std::optional<std::string> kek_of(const std::string& home);

/// An application's data key wrapped under `kek`, bound to its id.
std::string wrap(std::string_view kek, std::string_view application, std::string_view key);
/// The data key, or nullopt when `wrapped` is not one `kek` wrapped for
/// `application`.
std::optional<std::string> unwrap(std::string_view kek, std::string_view application,
                                  std::string_view wrapped);

}  // namespace stagewise::privacy
