// The compiled half of concur/multiprocessing/codec.hpp: bounds checks, headers,
// demangling, cereal stream buffers and the exception table.
#include "concur/multiprocessing/codec.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <typeindex>
#include <typeinfo>

#include "concur/futures/errors.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/exception_registry.hpp"
#include "concur/queue.hpp"

namespace concur::multiprocessing {

namespace {
std::string remote_what(const std::string& type_name, const std::string& message, int pid,
                        const std::string& host) {
  std::string what = type_name + ": " + message;
  if (!host.empty()) {
    what += " (in process " + std::to_string(pid) + " on " + host + ")";
  } else if (pid != 0 && pid != ::getpid()) {
    what += " (in process " + std::to_string(pid) + ")";
  }
  return what;
}
}  // namespace

namespace {
struct ExceptionEntry {
  std::type_index type;
  detail::ExceptionFactory make;
};
struct ExceptionRegistry {
  std::map<std::string, ExceptionEntry, std::less<>> by_name;
  std::map<std::type_index, std::string> by_type;
};
std::mutex g_exceptions_mu;
std::atomic<bool> g_any_registered{false};
ExceptionRegistry& exceptions() {
  static ExceptionRegistry reg;  // filled at static initialisation, from any TU
  return reg;
}
}  // namespace

RemoteError::RemoteError(std::string type_name, std::string message, int pid, std::string host)
    : concur::RuntimeError(remote_what(type_name, message, pid, host)),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      pid_(pid),
      host_(std::move(host)) {}

std::span<const std::byte> Reader::take(std::size_t n) {
  if (n > remaining()) {
    detail::throw_bad_input("truncated input: " + std::to_string(n) + " bytes needed at offset " +
                            std::to_string(pos_) + ", " + std::to_string(remaining()) + " left");
  }
  auto out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

void Reader::expect_end() const {
  if (!at_end()) {
    detail::throw_bad_input(std::to_string(remaining()) +
                            " trailing bytes after the value at offset " + std::to_string(pos_));
  }
}

std::size_t Reader::read_count(std::size_t min_size) {
  const std::size_t at = pos_;
  const auto n = detail::get_trivial<std::uint64_t>(*this);
  if (min_size == 0) min_size = 1;
  if (n > remaining() / min_size) {
    detail::throw_bad_input("length " + std::to_string(n) + " at offset " + std::to_string(at) +
                            " exceeds the buffer (" + std::to_string(remaining()) + " bytes left)");
  }
  return static_cast<std::size_t>(n);
}

namespace detail {
namespace {

constexpr std::byte kMagic{0xC7};
constexpr std::byte kVersion{1};

}  // namespace

void throw_bad_input(const std::string& what) {
  throw concur::ValueError("concur::multiprocessing codec: " + what);
}

void not_picklable() noexcept { std::abort(); }

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

std::uint64_t fingerprint(const char* mangled) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char* p = mangled; *p != '\0'; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void write_header(Buffer& out, std::uint64_t fp) {
  out.push_back(kMagic);
  out.push_back(kVersion);
  put_trivial(out, fp);
}

void read_header(Reader& in, std::uint64_t fp, const char* mangled) {
  if (in.remaining() < 10) {
    throw_bad_input("truncated input: " + std::to_string(in.remaining()) +
                    " bytes, shorter than the 10-byte header");
  }
  const auto head = in.take(2);
  if (head[0] != kMagic) {
    throw_bad_input("not a dumps() buffer (bad magic byte " +
                    std::to_string(std::to_integer<int>(head[0])) + ")");
  }
  if (head[1] != kVersion) {
    throw_bad_input("unsupported format version " + std::to_string(std::to_integer<int>(head[1])));
  }
  const auto got = get_trivial<std::uint64_t>(in);
  if (got != fp) {
    throw_bad_input("the buffer holds a value of another type than " + demangle(mangled) + ": " +
                    describe_fingerprint(got));
  }
}

void encode_cereal_begin(Buffer& out, std::size_t& length_at) {
  length_at = out.size();
  put_trivial<std::uint64_t>(out, 0);
}

void encode_cereal_end(Buffer& out, std::size_t length_at) {
  const std::uint64_t n = out.size() - length_at - sizeof(std::uint64_t);
  std::memcpy(out.data() + length_at, &n, sizeof n);
}

void rethrow_cereal_error(const char* mangled) {
  std::string why;
  try {
    throw;
  } catch (const std::bad_alloc&) {
    why = "an allocation failed (std::bad_alloc)";
  } catch (const std::exception& e) {
    why = e.what();
    // Our own archive's errors already start with the codec's prefix.
    const std::string prefix = "concur::multiprocessing codec: ";
    if (why.compare(0, prefix.size(), prefix) == 0) why.erase(0, prefix.size());
    if (typeid(e) != typeid(concur::ValueError)) why = demangle(typeid(e).name()) + ": " + why;
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    why = "a load function threw " + (t != nullptr ? demangle(t->name()) : std::string("?"));
  }
  throw_bad_input("malformed cereal payload for " + demangle(mangled) + ": " + why);
}

void cereal_truncated(std::size_t need, std::size_t at, std::size_t left) {
  throw_bad_input("truncated cereal payload: " + std::to_string(need) + " bytes needed at offset " +
                  std::to_string(at) + ", " + std::to_string(left) + " left");
}

void cereal_size_too_large(std::uint64_t n, std::size_t at, std::size_t left) {
  throw_bad_input("cereal size " + std::to_string(n) + " at offset " + std::to_string(at) +
                  " exceeds the payload (" + std::to_string(left) + " bytes left)");
}

void cereal_bad_bool(unsigned value, std::size_t at) {
  throw_bad_input("bad bool byte " + std::to_string(value) + " at offset " + std::to_string(at) +
                  " of a cereal payload (expected 0 or 1)");
}

void cereal_duplicate_key(const char* container) {
  throw_bad_input(std::string("a ") + container + " in a cereal payload repeats a key");
}

void cereal_check_sizes(const std::vector<std::pair<std::size_t, std::uint64_t>>& tags,
                        std::size_t end) {
  for (const auto& [at, n] : tags) {
    if (n > end - at) {
      throw_bad_input("cannot encode: a cereal container announces " + std::to_string(n) +
                      " elements but only " + std::to_string(end - at) +
                      " bytes follow (elements that encode to no bytes); decoding would refuse it");
    }
  }
}

void duplicate_key(const char* mangled) {
  throw_bad_input("an encoded " + demangle(mangled) + " repeats a key");
}

namespace {

// Names of the types this process has fingerprinted: open addressing on the fingerprint,
// a slot claimed by one compare-exchange of its name (no lock: safe in a forked child).
constexpr std::size_t kNameSlots = 4096;
std::atomic<const char*> g_names[kNameSlots];  // zero-initialised before any dynamic init

}  // namespace

std::uint64_t register_fingerprint(const char* mangled) noexcept {
  const std::uint64_t fp = fingerprint(mangled);
  for (std::size_t i = 0; i < kNameSlots; ++i) {
    auto& slot = g_names[(fp + i) % kNameSlots];
    const char* cur = slot.load(std::memory_order_acquire);
    if (cur == nullptr) {
      if (slot.compare_exchange_strong(cur, mangled, std::memory_order_acq_rel)) return fp;
    }
    if (cur == mangled || std::strcmp(cur, mangled) == 0) return fp;
  }
  return fp;  // table full: the type is only known by its fingerprint
}

std::string describe_fingerprint(std::uint64_t fp) {
  for (std::size_t i = 0; i < kNameSlots; ++i) {
    const char* cur = g_names[(fp + i) % kNameSlots].load(std::memory_order_acquire);
    if (cur == nullptr) break;
    if (fingerprint(cur) == fp) return demangle(cur);
  }
  char hex[19];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fp));
  return std::string("a type this process does not know (fingerprint 0x") + hex + ")";
}

void wrong_message_type(std::uint64_t fp, const char* expected_mangled) {
  throw concur::TypeError("concur::multiprocessing: received a message holding " +
                          describe_fingerprint(fp) + " where " + demangle(expected_mangled) +
                          " was expected");
}

}  // namespace detail

// --- Exceptions ---------------------------------------------------------------------

namespace {

using Maker = std::exception_ptr (*)(const std::string& what);

template <class E>
std::exception_ptr make(const std::string& what) {
  return std::make_exception_ptr(E(what));
}

struct Entry {
  const std::type_info& type;
  Maker make;
};

// The wire code of an exception type is its index here: append only, never reorder.
const Entry kTable[] = {
    {typeid(std::logic_error), &make<std::logic_error>},
    {typeid(std::invalid_argument), &make<std::invalid_argument>},
    {typeid(std::domain_error), &make<std::domain_error>},
    {typeid(std::length_error), &make<std::length_error>},
    {typeid(std::out_of_range), &make<std::out_of_range>},
    {typeid(std::runtime_error), &make<std::runtime_error>},
    {typeid(std::range_error), &make<std::range_error>},
    {typeid(std::overflow_error), &make<std::overflow_error>},
    {typeid(std::underflow_error), &make<std::underflow_error>},
    {typeid(concur::RuntimeError), &make<concur::RuntimeError>},
    {typeid(concur::ValueError), &make<concur::ValueError>},
    {typeid(concur::TypeError), &make<concur::TypeError>},
    {typeid(concur::TimeoutError), &make<concur::TimeoutError>},
    {typeid(concur::EOFError), &make<concur::EOFError>},
    {typeid(concur::NotImplementedError), &make<concur::NotImplementedError>},
    {typeid(concur::BrokenBarrierError), &make<concur::BrokenBarrierError>},
    {typeid(concur::futures::Error), &make<concur::futures::Error>},
    {typeid(concur::futures::CancelledError), &make<concur::futures::CancelledError>},
    {typeid(concur::futures::InvalidStateError), &make<concur::futures::InvalidStateError>},
    {typeid(concur::futures::BrokenExecutor), &make<concur::futures::BrokenExecutor>},
    {typeid(concur::futures::BrokenThreadPool), &make<concur::futures::BrokenThreadPool>},
    {typeid(concur::futures::BrokenProcessPool), &make<concur::futures::BrokenProcessPool>},
    {typeid(concur::futures::BrokenInterpreterPool), &make<concur::futures::BrokenInterpreterPool>},
    {typeid(concur::queue::Empty), &make<concur::queue::Empty>},
    {typeid(concur::queue::Full), &make<concur::queue::Full>},
    {typeid(ProcessError), &make<ProcessError>},
    {typeid(AuthenticationError), &make<AuthenticationError>},
};

// Codes outside the table, for types whose constructors take more than a message.
enum : std::uint8_t {
  kRemote = 200,
  kSystemError = 201,
  kExecutionFailed = 202,
  kBadAlloc = 203,
  kFileExists = 204,
  kFileNotFound = 205,
  kOSError = 206,       // any member of the OSError family: errno + the call's description
  kRemoteOnHost = 207,  // a RemoteError from another machine: kRemote's fields, then the host
  kRegistered = 208,    // a type of exception_registry.hpp: its name, what(), the pid
};

enum : std::uint8_t { kCatGeneric = 1, kCatSystem = 2, kCatIostream = 3, kCatFuture = 4 };

std::uint8_t category_code(const std::error_category& c) {
  if (&c == &std::generic_category()) return kCatGeneric;
  if (&c == &std::system_category()) return kCatSystem;
  if (&c == &std::iostream_category()) return kCatIostream;
  if (&c == &std::future_category()) return kCatFuture;
  return 0;
}

const std::error_category* category_of(std::uint8_t code) {
  switch (code) {
    case kCatGeneric:
      return &std::generic_category();
    case kCatSystem:
      return &std::system_category();
    case kCatIostream:
      return &std::iostream_category();
    case kCatFuture:
      return &std::future_category();
    default:
      return nullptr;
  }
}

void put_string(Buffer& out, const std::string& s) { detail::encode_value(out, s); }

/// `pid`: the process that raised it (this one, unless it is a RemoteError crossing again).
void encode_remote(Buffer& out, const std::string& type_name, const std::string& message,
                   int pid = ::getpid()) {
  out.push_back(std::byte{kRemote});
  put_string(out, type_name);
  put_string(out, message);
  detail::put_trivial<std::int32_t>(out, pid);
}

// what() minus a "<prefix>: " (ExecutionFailed) or ": <suffix>" (system_error) part.
std::string strip_prefix(const std::string& what, const std::string& prefix) {
  const std::string p = prefix + ": ";
  return what.compare(0, p.size(), p) == 0 ? what.substr(p.size()) : what;
}

// The class make_os_error picks for `err` (concur/exceptions.hpp).
const std::type_info& os_error_type(int err) {
  try {
    std::rethrow_exception(concur::make_os_error(err, ""));
  } catch (const std::exception& e) {
    return typeid(e);
  }
}

// A member of the OSError family whose class is the one its errno maps to: the errno and
// the message without the ": <strerror>" suffix, rebuilt by make_os_error on the other
// side. Any other (a user's subclass, a FileNotFoundError built with EIO) crosses as a
// RemoteError.
void encode_os_error(Buffer& out, const concur::OSError& ex) {
  const int err = ex.code().value();
  if (ex.code().category() != std::generic_category() || typeid(ex) != os_error_type(err)) {
    encode_remote(out, detail::demangle(typeid(ex).name()), ex.what());
    return;
  }
  const std::string what = ex.what();
  const std::string suffix = ": " + ex.code().message();
  out.push_back(std::byte{kOSError});
  detail::put_trivial<std::int32_t>(out, err);
  put_string(out, what.size() >= suffix.size() &&
                          what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0
                      ? what.substr(0, what.size() - suffix.size())
                      : what);
}

// A registered type (exception_registry.hpp): its name, what() and this pid; false if the
// exception's type is not registered.
bool encode_registered(Buffer& out, const std::exception_ptr& e) {
  if (!g_any_registered.load(std::memory_order_acquire)) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    const std::string name = detail::registered_exception_name(typeid(ex));
    if (name.empty()) return false;
    out.push_back(std::byte{kRegistered});
    put_string(out, name);
    put_string(out, ex.what());
    detail::put_trivial<std::int32_t>(out, ::getpid());
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

namespace detail {

std::string_view add_exception(std::string_view name, const std::type_info& type,
                               ExceptionFactory make) {
  std::lock_guard lock(g_exceptions_mu);
  auto& reg = exceptions();
  const auto by_name = reg.by_name.find(std::string(name));
  if (by_name != reg.by_name.end() && by_name->second.type != std::type_index(type)) {
    throw ValueError("register_exception: '" + std::string(name) +
                     "' is already registered for another type");
  }
  const auto by_type = reg.by_type.find(std::type_index(type));
  if (by_type != reg.by_type.end() && by_type->second != name) {
    throw ValueError("register_exception: this type is already registered as '" + by_type->second +
                     "'");
  }
  reg.by_name.insert_or_assign(std::string(name), ExceptionEntry{std::type_index(type), make});
  reg.by_type.insert_or_assign(std::type_index(type), std::string(name));
  g_any_registered.store(true, std::memory_order_release);
  return reg.by_type.find(std::type_index(type))->second;
}

std::string registered_exception_name(const std::type_info& type) {
  std::lock_guard lock(g_exceptions_mu);
  const auto& reg = exceptions();
  const auto it = reg.by_type.find(std::type_index(type));
  return it == reg.by_type.end() ? std::string() : it->second;
}

std::exception_ptr make_registered_exception(const std::string& name, const std::string& what) {
  ExceptionFactory make = nullptr;
  {
    std::lock_guard lock(g_exceptions_mu);
    const auto& reg = exceptions();
    const auto it = reg.by_name.find(name);
    if (it == reg.by_name.end()) return nullptr;
    make = it->second.make;
  }
  try {
    return make(what);
  } catch (...) {  // its constructor threw: that is what crosses
    return std::current_exception();
  }
}

}  // namespace detail

void encode_exception(Buffer& out, const std::exception_ptr& e) {
  if (!e) detail::throw_bad_input("encode_exception: null exception_ptr");
  if (encode_registered(out, e)) return;
  try {
    std::rethrow_exception(e);
  } catch (const concur::OSError& ex) {
    encode_os_error(out, ex);
  } catch (const std::system_error& ex) {
    const std::uint8_t cat = category_code(ex.code().category());
    if (typeid(ex) != typeid(std::system_error) || cat == 0) {
      encode_remote(out, detail::demangle(typeid(ex).name()), ex.what());
      return;
    }
    out.push_back(std::byte{kSystemError});
    detail::put_trivial<std::int32_t>(out, ex.code().value());
    out.push_back(std::byte{cat});
    put_string(out, ex.what());
  } catch (const concur::futures::ExecutionFailed& ex) {
    if (typeid(ex) != typeid(concur::futures::ExecutionFailed)) {
      encode_remote(out, detail::demangle(typeid(ex).name()), ex.what());
      return;
    }
    out.push_back(std::byte{kExecutionFailed});
    put_string(out, ex.type_name());
    put_string(out, strip_prefix(ex.what(), ex.type_name()));
  } catch (const RemoteError& ex) {
    // Re-crossing keeps the original type name, whatever subclass carried it, and its host.
    if (!ex.host().empty()) {
      out.push_back(std::byte{kRemoteOnHost});
      put_string(out, ex.type_name());
      put_string(out, ex.message());
      detail::put_trivial<std::int32_t>(out, ex.pid());
      put_string(out, ex.host());
      return;
    }
    encode_remote(out, ex.type_name(), ex.message(), ex.pid() != 0 ? ex.pid() : ::getpid());
  } catch (const std::bad_alloc& ex) {
    if (typeid(ex) != typeid(std::bad_alloc)) {
      encode_remote(out, detail::demangle(typeid(ex).name()), ex.what());
      return;
    }
    out.push_back(std::byte{kBadAlloc});
  } catch (const std::exception& ex) {
    for (std::size_t i = 0; i < std::size(kTable); ++i) {
      if (kTable[i].type == typeid(ex)) {
        out.push_back(static_cast<std::byte>(i));
        put_string(out, ex.what());
        return;
      }
    }
    encode_remote(out, detail::demangle(typeid(ex).name()), ex.what());
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    encode_remote(out, t != nullptr ? detail::demangle(t->name()) : "unknown", "");
  }
}

Buffer encode_exception(const std::exception_ptr& e) {
  Buffer out;
  encode_exception(out, e);
  return out;
}

std::exception_ptr decode_exception(Reader& in) {
  const auto code = detail::get_trivial<std::uint8_t>(in);
  if (code < std::size(kTable)) {
    return kTable[code].make(detail::decode_value<std::string>(in));
  }
  switch (code) {
    case kRemote: {
      auto type_name = detail::decode_value<std::string>(in);
      auto message = detail::decode_value<std::string>(in);
      const auto pid = detail::get_trivial<std::int32_t>(in);
      return std::make_exception_ptr(RemoteError(std::move(type_name), std::move(message), pid));
    }
    case kRegistered: {
      auto name = detail::decode_value<std::string>(in);
      auto what = detail::decode_value<std::string>(in);
      const auto pid = detail::get_trivial<std::int32_t>(in);
      if (auto made = detail::make_registered_exception(name, what)) return made;
      return std::make_exception_ptr(RemoteError(std::move(name), std::move(what), pid));
    }
    case kRemoteOnHost: {
      auto type_name = detail::decode_value<std::string>(in);
      auto message = detail::decode_value<std::string>(in);
      const auto pid = detail::get_trivial<std::int32_t>(in);
      auto host = detail::decode_value<std::string>(in);
      return std::make_exception_ptr(
          RemoteError(std::move(type_name), std::move(message), pid, std::move(host)));
    }
    case kSystemError: {
      const auto value = detail::get_trivial<std::int32_t>(in);
      const auto cat_code = detail::get_trivial<std::uint8_t>(in);
      const std::error_category* cat = category_of(cat_code);
      if (cat == nullptr) {
        detail::throw_bad_input("bad error category code " + std::to_string(cat_code));
      }
      const std::string what = detail::decode_value<std::string>(in);
      const std::error_code ec(value, *cat);
      const std::string suffix = ": " + ec.message();
      if (what == ec.message()) return std::make_exception_ptr(std::system_error(ec));
      if (what.size() >= suffix.size() &&
          what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return std::make_exception_ptr(
            std::system_error(ec, what.substr(0, what.size() - suffix.size())));
      }
      return std::make_exception_ptr(std::system_error(ec, what));
    }
    case kExecutionFailed: {
      auto type_name = detail::decode_value<std::string>(in);
      auto message = detail::decode_value<std::string>(in);
      return std::make_exception_ptr(
          concur::futures::ExecutionFailed(std::move(type_name), message));
    }
    case kBadAlloc:
      return std::make_exception_ptr(std::bad_alloc());
    case kFileExists:  // written by earlier versions; kept readable
      return std::make_exception_ptr(
          concur::FileExistsError(detail::decode_value<std::string>(in)));
    case kFileNotFound:
      return std::make_exception_ptr(
          concur::FileNotFoundError(detail::decode_value<std::string>(in)));
    case kOSError: {
      const auto err = detail::get_trivial<std::int32_t>(in);
      return concur::make_os_error(err, detail::decode_value<std::string>(in));
    }
    default:
      detail::throw_bad_input("bad exception code " + std::to_string(code));
  }
}

void rethrow_decoded(Reader& in) { std::rethrow_exception(decode_exception(in)); }

void rethrow_decoded(std::span<const std::byte> bytes) {
  Reader in(bytes);
  auto e = decode_exception(in);
  in.expect_end();
  std::rethrow_exception(e);
}

}  // namespace concur::multiprocessing
