// The one way an operation that can fail says so. It returns Result<T> (Status when it has no
// value): either the value, or an Error whose message is the whole reason, ready to be shown
// (and whose code is the errno when one applies). Validation that reports every finding at once
// (config, the sshd setup, the workspace plan) returns a struct with errors/warnings/notes
// instead; nothing signals failure by an exception, an out-parameter or a bare errno.
#pragma once

#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace wsinit {

struct Error {
  std::string message;  // the whole reason, as shown to the user
  int code = 0;         // the errno when one applies, else 0
};

// An Error, which converts to any Result: `return fail("bad port '" + port + "'");`.
inline Error fail(std::string message, int code = 0) { return Error{std::move(message), code}; }

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Error>, "a Result cannot hold an Error as its value");

 public:
  // The value, or anything that converts to it (`return "text";` for a Result<std::string>).
  template <class U = T, std::enable_if_t<std::is_convertible_v<U&&, T> && !std::is_same_v<std::decay_t<U>, Result> &&
                                              !std::is_same_v<std::decay_t<U>, Error>,
                                          int> = 0>
  Result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}      // NOLINT: implicit on purpose

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // The value; only when ok() (a failed Result has none: asking for it is a bug, and aborts).
  T& value() & { return std::get<0>(checked()); }
  const T& value() const& { return std::get<0>(checked()); }
  T&& value() && { return std::get<0>(std::move(checked())); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // The value, or `fallback` when it failed.
  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(state_) : static_cast<T>(std::forward<U>(fallback));
  }

  // The error; an empty one (no message, code 0) when ok().
  const Error& error() const {
    static const Error none;
    return ok() ? none : std::get<1>(state_);
  }

 private:
  std::variant<T, Error>& checked() {
    if (!ok()) std::abort();
    return state_;
  }
  const std::variant<T, Error>& checked() const {
    if (!ok()) std::abort();
    return state_;
  }

  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;                                               // success
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit on purpose

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }

  // The error; an empty one (no message, code 0) when ok().
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

// The Result of an operation that gives nothing back but success or the reason it failed.
using Status = Result<void>;

}  // namespace wsinit
