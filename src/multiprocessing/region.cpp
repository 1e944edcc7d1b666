#include "concur/multiprocessing/detail/region.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "concur/exceptions.hpp"
#include "multiprocessing/handles.hpp"
#include "os/error.hpp"
#include "os/fd.hpp"

namespace concur::multiprocessing::detail {

namespace {

using os::raise;

void* map(int fd, std::size_t size, const char* what) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    raise(err, std::string("mmap(") + what + ")");
  }
  return p;
}

}  // namespace

std::shared_ptr<Region> Region::create(std::size_t size, const char* what) {
  if (size == 0) throw concur::ValueError(std::string(what) + ": a shared region needs size > 0");
  const std::string name = std::string("concur-") + what;
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) raise(errno, "memfd_create(" + name + ")");
  // Reserve the pages now: a full tmpfs fails here, not with SIGBUS on first touch.
  if (const int err = os::fallocate_noexcept(fd, size); err != 0) {
    ::close(fd);
    raise(err, "posix_fallocate(" + name + ", " + std::to_string(size) + ")");
  }
  void* data = map(fd, size, what);
  return std::shared_ptr<Region>(new Region(fd, data, size));
}

std::shared_ptr<Region> Region::attach(int fd, const char* what) {
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) os::raise_errno(std::string("fcntl(F_DUPFD_CLOEXEC, ") + what + ")");
  struct stat st {};
  if (::fstat(own, &st) != 0) {
    const int e = errno;
    ::close(own);
    raise(e, std::string("fstat(") + what + ")");
  }
  if (st.st_size <= 0) {
    ::close(own);
    throw concur::ValueError(std::string(what) + ": the shared region received is empty");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* data = map(own, size, what);
  return std::shared_ptr<Region>(new Region(own, data, size));
}

Region::~Region() {
  ::munmap(data_, size_);
  ::close(fd_);
}

void Region::encode(Buffer& out, const char* what) const {
  put_trivial<std::uint32_t>(out, export_fd(fd_, what));
}

std::shared_ptr<Region> Region::decode(Reader& in, const char* what) {
  const auto index = get_trivial<std::uint32_t>(in);
  return attach(import_fd(index, what), what);
}

}  // namespace concur::multiprocessing::detail
