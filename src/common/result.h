#pragma once

#include <string>
#include <utility>
#include <variant>

namespace stagewise {

/// Error categories. A missing key is `not_found`, never an empty value.
enum class Errc {
  not_found,
  invalid_argument,
  io_error,
  corruption,
  kafka,
  timeout,
  unavailable,
  internal,
};

/// An error with a user-facing message. Kafka errors keep librdkafka's
/// retriable / fatal flags so callers decide from them, never from text;
/// `permanent` marks a failure that repeating the same request can never
/// mend (a record too large for the broker): park it, do not retry it.
struct Error {
  Errc code = Errc::internal;
  std::string message;
  bool retriable = false;
  bool fatal = false;
  bool permanent = false;

  bool is_not_found() const { return code == Errc::not_found; }
};

/// An expected-like result: a value or an Error. Must be checked.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }
  /// Drops the error on purpose; greppable.
  void permit_unchecked_error() const {}

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  void permit_unchecked_error() const {}

 private:
  Error error_;
  bool ok_ = true;
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message), false, false};
}

}  // namespace stagewise
