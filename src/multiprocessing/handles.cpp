#include "multiprocessing/handles.hpp"

#include <algorithm>
#include <mutex>
#include <string>

#include "concur/exceptions.hpp"

namespace concur::multiprocessing::detail {

namespace {

thread_local FdSink* t_sink = nullptr;
thread_local FdSource* t_source = nullptr;

std::mutex& services_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::pair<std::string, int>>& inherited() {
  static std::vector<std::pair<std::string, int>> v;
  return v;
}
std::vector<void (*)() noexcept>& stoppers() {
  static std::vector<void (*)() noexcept> v;
  return v;
}

}  // namespace

FdSink::FdSink() noexcept : prev_(t_sink) { t_sink = this; }
FdSink::~FdSink() { t_sink = prev_; }

FdSource::FdSource(std::span<const int> fds) noexcept : fds_(fds), prev_(t_source) {
  t_source = this;
}
FdSource::~FdSource() { t_source = prev_; }

std::uint32_t export_fd(int fd, const char* what) {
  if (t_sink == nullptr) {
    throw concur::RuntimeError(std::string(what) +
                               " objects should only be shared between processes through "
                               "inheritance (pass them as arguments of a Process)");
  }
  auto& fds = t_sink->fds_;
  const auto it = std::find(fds.begin(), fds.end(), fd);
  if (it != fds.end()) return static_cast<std::uint32_t>(it - fds.begin());
  fds.push_back(fd);
  return static_cast<std::uint32_t>(fds.size() - 1);
}

int import_fd(std::uint32_t index, const char* what) {
  if (t_source == nullptr) {
    throw concur::ValueError(std::string("cannot decode a ") + what +
                             " here: it crosses only as an argument of a starting Process");
  }
  if (index >= t_source->fds_.size()) {
    throw concur::ValueError(std::string("malformed ") + what + " handle: fd index " +
                             std::to_string(index) + " of " +
                             std::to_string(t_source->fds_.size()) + " received");
  }
  return t_source->fds_[index];
}

bool exporting_fds() noexcept { return t_sink != nullptr; }

void set_inherited_fd(std::string_view key, int fd) {
  std::lock_guard lock(services_mutex());
  auto& v = inherited();
  const auto it = std::find_if(v.begin(), v.end(), [&](const auto& e) { return e.first == key; });
  if (fd < 0) {
    if (it != v.end()) v.erase(it);
  } else if (it != v.end()) {
    it->second = fd;
  } else {
    v.emplace_back(std::string(key), fd);
  }
}

int inherited_fd(std::string_view key) noexcept {
  std::lock_guard lock(services_mutex());
  for (const auto& [k, fd] : inherited()) {
    if (k == key) return fd;
  }
  return -1;
}

std::vector<std::pair<std::string, int>> inherited_fds() {
  std::lock_guard lock(services_mutex());
  return inherited();
}

void add_service_stopper(void (*stop)() noexcept) {
  std::lock_guard lock(services_mutex());
  auto& v = stoppers();
  if (std::find(v.begin(), v.end(), stop) == v.end()) v.push_back(stop);
}

void stop_services() noexcept {
  std::vector<void (*)() noexcept> copy;
  {
    std::lock_guard lock(services_mutex());
    copy = stoppers();
  }
  for (auto it = copy.rbegin(); it != copy.rend(); ++it) (*it)();
}

}  // namespace concur::multiprocessing::detail
