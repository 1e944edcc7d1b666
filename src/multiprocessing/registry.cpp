// The registry of functions callable by name, and the worker side of a call.
#include "concur/multiprocessing/registry.hpp"

#include <pthread.h>

#include <mutex>
#include <unordered_map>

#include "concur/detail/bound_call.hpp"

namespace concur::multiprocessing {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::string, RegisteredFunction, StringHash, std::equal_to<>> by_name;
  std::unordered_map<const void*, std::string_view> by_address;
};

Registry* the_registry = nullptr;

// A fork while another thread holds the registry's mutex must not leave it held in the
// child (which may look a function up): fork waits for it, and both sides release it.
void lock_before_fork() { the_registry->mutex.lock(); }
void unlock_after_fork() { the_registry->mutex.unlock(); }

// Filled during static initialisation, from any translation unit: constructed on first
// use and never destroyed, so that no registration or lookup sees it dead.
Registry& registry() {
  static Registry* r = [] {
    the_registry = new Registry();
    ::pthread_atfork(&lock_before_fork, &unlock_after_fork, &unlock_after_fork);
    return the_registry;
  }();
  return *r;
}

}  // namespace

namespace detail {

std::string_view add_function(std::string_view name, Invoker invoke, const void* address,
                              std::uint64_t args_fingerprint, const char* args_mangled) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.by_name.find(name);
  if (it == r.by_name.end()) {
    RegisteredFunction entry;
    entry.name = std::string(name);
    entry.invoke = invoke;
    entry.address = address;
    entry.args_fingerprint = args_fingerprint;
    entry.args_type = demangle(args_mangled);
    it = r.by_name.emplace(entry.name, std::move(entry)).first;
  } else if (it->second.address != address ||
             (address == nullptr && it->second.args_fingerprint != args_fingerprint)) {
    it->second.ambiguous = true;
  }
  if (address != nullptr) r.by_address.emplace(address, it->second.name);
  return it->second.name;
}

const void* function_address(std::string_view name, std::uint64_t args_fingerprint) {
  const RegisteredFunction* f = find_function(name);
  if (f == nullptr || f->address == nullptr) {
    throw concur::ValueError("concur::multiprocessing: no function registered as '" +
                             std::string(name) + "' in this process");
  }
  if (f->ambiguous) {
    throw concur::ValueError("concur::multiprocessing: the name '" + std::string(name) +
                             "' was registered for two different functions");
  }
  if (f->args_fingerprint != args_fingerprint) {
    throw concur::TypeError("concur::multiprocessing: the function registered as '" +
                            std::string(name) + "' takes " + f->args_type +
                            ", not the parameters expected here");
  }
  return f->address;
}

void begin_request(Buffer& out, std::string_view name, std::uint64_t args_fingerprint) {
  out.push_back(kRequestMagic);
  out.push_back(kCallVersion);
  put_trivial<std::uint64_t>(out, name.size());
  put_bytes(out, name.data(), name.size());
  put_trivial(out, args_fingerprint);
}

bool read_reply_status(Reader& in) {
  const auto head = in.take(3);
  if (head[0] != kReplyMagic || head[1] != kCallVersion) {
    throw_bad_input("not an invoke() reply (bad magic or version)");
  }
  if (head[2] == kReplyValue) return true;
  if (head[2] == kReplyException) return false;
  throw_bad_input("bad reply status " + std::to_string(std::to_integer<int>(head[2])));
}

}  // namespace detail

const RegisteredFunction* find_function(std::string_view name) noexcept {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.by_name.find(name);
  return it == r.by_name.end() ? nullptr : &it->second;
}

std::string_view function_name(const void* address) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.by_address.find(address);
  if (it == r.by_address.end()) {
    throw concur::ValueError(
        "concur::multiprocessing: this function is not registered, so it cannot be called in "
        "another process: add CONCUR_REGISTER(fn) at namespace scope next to it");
  }
  return it->second;
}

namespace detail {

void call_request(std::span<const std::byte> request, Buffer& reply) {
  Reader in(request);
  const auto head = in.take(2);
  if (head[0] != kRequestMagic || head[1] != kCallVersion) {
    throw_bad_input("not an encode_call() request (bad magic or version)");
  }
  const auto name = decode_value<std::string>(in);
  const auto fingerprint = get_trivial<std::uint64_t>(in);
  const RegisteredFunction* f = find_function(name);
  if (f == nullptr) {
    throw concur::ValueError("concur::multiprocessing: no function registered as '" + name +
                             "' in this process");
  }
  if (f->ambiguous) {
    throw concur::ValueError("concur::multiprocessing: the name '" + name +
                             "' was registered for two different functions");
  }
  if (fingerprint != f->args_fingerprint) {
    throw concur::TypeError("concur::multiprocessing: the arguments sent to '" + name +
                            "' are not of its parameter types " + f->args_type);
  }
  f->invoke(in, reply);
}

}  // namespace detail

Buffer invoke(std::span<const std::byte> request) {
  Buffer reply{detail::kReplyMagic, detail::kCallVersion};
  try {
    detail::call_request(request, reply);
  } catch (...) {
    reply.resize(2);
    reply.push_back(detail::kReplyException);
    encode_exception(reply, std::current_exception());
  }
  return reply;
}

}  // namespace concur::multiprocessing

namespace concur::detail {

void throw_cannot_cross(const char* what, const char* mangled) {
  throw TypeError(std::string("concur: ") + what + " cannot cross a process boundary (" +
                  multiprocessing::detail::demangle(mangled) +
                  "): use a captureless lambda, a trivially copyable closure, "
                  "mp::fn<&function> or a CONCUR_REGISTERed function pointer, with Picklable "
                  "arguments and result (see concur/multiprocessing/codec.hpp)");
}

}  // namespace concur::detail
