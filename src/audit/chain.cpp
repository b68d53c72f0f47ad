#include "audit/chain.h"

#include <algorithm>
#include <memory>
#include <openssl/evp.h>
#include <stdexcept>
#include <tuple>

namespace stagewise::audit {

namespace {

// OpenSSL 3 looks an algorithm up by name on every init given EVP_sha256()
// (EVP_MD_fetch was half of each digest's time): fetched once, and each
// thread reuses one context (the loop links every event, the committer
// hashes every round's leaves).
const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};

EVP_MD_CTX* thread_ctx() {
  thread_local const std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

// SHA-256 over the concatenation of `parts`.
std::string digest_of(std::initializer_list<std::string_view> parts) {
  EVP_MD_CTX* ctx = thread_ctx();
  if (ctx == nullptr || sha256_md() == nullptr)
    throw std::runtime_error("SHA-256: out of memory, or not available (OpenSSL)");
  bool ok = EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) == 1;
  for (const auto p : parts) ok = ok && EVP_DigestUpdate(ctx, p.data(), p.size()) == 1;
  std::string out(kHashBytes, '\0');
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &len) == 1;
  if (!ok || len != kHashBytes) throw std::runtime_error("SHA-256 failed (OpenSSL)");
  return out;
}

std::string be(uint64_t v, int bytes) {
  std::string s(static_cast<size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) s[static_cast<size_t>(i)] = static_cast<char>(v);
  return s;
}

const std::string kLeafPrefix(1, '\0');
const std::string kNodePrefix(1, '\1');

// The largest power of two below n (n > 1).
size_t split(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

std::string tree(const std::vector<std::string>& h, size_t begin, size_t end) {
  if (end - begin == 1) return h[begin];
  const size_t k = split(end - begin);
  return digest_of({kNodePrefix, tree(h, begin, begin + k), tree(h, begin + k, end)});
}

void path(const std::vector<std::string>& h, size_t m, size_t begin, size_t end,
          std::vector<Step>& out) {
  if (end - begin == 1) return;
  const size_t k = split(end - begin);
  if (m < k) {
    path(h, m, begin, begin + k, out);
    out.push_back({false, tree(h, begin + k, end)});
  } else {
    path(h, m - k, begin + k, end, out);
    out.push_back({true, tree(h, begin, begin + k)});
  }
}

}  // namespace

std::string sha256(std::string_view bytes) {
  return digest_of({bytes});
}

std::string genesis(std::string_view application_id) {
  return digest_of({"stagewise.audit.history", std::string_view("\0", 1), application_id});
}

std::string link(std::string_view prev, std::string_view stored) {
  return digest_of({prev, sha256(stored)});
}

std::string leaf_hash(const Leaf& leaf) {
  return digest_of({kLeafPrefix, be(leaf.application.size(), 4), leaf.application,
                    be(leaf.sequence, 8), leaf.chain});
}

void sort_leaves(std::vector<Leaf>& leaves) {
  std::sort(leaves.begin(), leaves.end(), [](const Leaf& a, const Leaf& b) {
    return std::tie(a.application, a.sequence) < std::tie(b.application, b.sequence);
  });
}

std::string merkle_root(const std::vector<std::string>& leaf_hashes) {
  if (leaf_hashes.empty()) return sha256("");
  return tree(leaf_hashes, 0, leaf_hashes.size());
}

std::vector<Step> merkle_path(const std::vector<std::string>& leaf_hashes, size_t index) {
  std::vector<Step> out;
  if (index < leaf_hashes.size()) path(leaf_hashes, index, 0, leaf_hashes.size(), out);
  return out;
}

std::string root_from_path(std::string leaf_hash, const std::vector<Step>& path) {
  for (const auto& s : path)
    leaf_hash = s.left ? digest_of({kNodePrefix, s.hash, leaf_hash})
                       : digest_of({kNodePrefix, leaf_hash, s.hash});
  return leaf_hash;
}

std::string no_round() {
  return std::string(kHashBytes, '\0');
}

std::string round_digest(int32_t partition, uint64_t number, int64_t time_ms, std::string_view prev,
                         std::string_view root) {
  return digest_of({"stagewise.audit.round", be(static_cast<uint32_t>(partition), 4), be(number, 8),
                    be(static_cast<uint64_t>(time_ms), 8), prev, root});
}

void seal(Round& round) {
  sort_leaves(round.leaves);
  std::vector<std::string> hashes;
  hashes.reserve(round.leaves.size());
  for (const auto& l : round.leaves) hashes.push_back(leaf_hash(l));
  round.root = merkle_root(hashes);
  round.digest = round_digest(round.partition, round.number, round.time_ms, round.prev, round.root);
}

std::string combined(const std::vector<Tip>& tips) {
  std::string all;
  for (const auto& t : tips)
    all += be(static_cast<uint32_t>(t.partition), 4) + be(t.number, 8) + t.digest;
  return digest_of({"stagewise.audit.head", all});
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

}  // namespace stagewise::audit
