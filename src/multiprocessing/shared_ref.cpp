// The handles of the process-shared primitives (and of Value/Array): SharedRef's encoding,
// and the per-process cache of shared-block mappings. See concur/multiprocessing/detail/sync.hpp.
#include <pthread.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/detail/sync.hpp"
#include "multiprocessing/handles.hpp"
#include "synchronize_impl.hpp"

namespace concur::multiprocessing::detail {

void encode_ref(Buffer& out, const SharedRef& ref, const char* what) {
  ref.region->encode(out, what);
  put_trivial<std::uint64_t>(out, ref.offset);
}

// One mapping per shared block per process: a handle decoded where its block is already
// mapped (created here, inherited by fork, or decoded before) reuses that mapping. Saves
// mappings, and keeps each pthread mutex at one address per process (ThreadSanitizer, and
// handle equality, see the same lock as the same lock).
namespace {

struct RegionCache {
  std::mutex mutex;
  std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Region>> map;
};

RegionCache& region_cache() {
  static RegionCache* const cache = [] {
    auto* c = new RegionCache;  // never destroyed: used until the process ends
    pthread_atfork([] { region_cache().mutex.lock(); }, [] { region_cache().mutex.unlock(); },
                   [] { region_cache().mutex.unlock(); });
    return c;
  }();
  return *cache;
}

std::pair<dev_t, ino_t> identity(int fd, const char* what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(errno, (std::string("fstat(") + what + ")").c_str());
  return {st.st_dev, st.st_ino};
}

void remember(const std::shared_ptr<Region>& region, std::pair<dev_t, ino_t> key) {
  RegionCache& c = region_cache();
  std::scoped_lock g(c.mutex);
  for (auto it = c.map.begin(); it != c.map.end();) {
    if (it->second.expired())
      it = c.map.erase(it);
    else
      ++it;
  }
  c.map[key] = region;
}

}  // namespace

std::shared_ptr<Region> create_region(std::size_t size, const char* what) {
  auto region = Region::create(size, what);
  remember(region, identity(region->fd(), what));
  return region;
}

std::shared_ptr<Region> decode_region(Reader& in, const char* what) {
  const auto index = get_trivial<std::uint32_t>(in);
  const int fd = import_fd(index, what);
  const auto key = identity(fd, what);
  {
    RegionCache& c = region_cache();
    std::scoped_lock g(c.mutex);
    const auto it = c.map.find(key);
    if (it != c.map.end()) {
      if (auto known = it->second.lock()) return known;
    }
  }
  auto region = Region::attach(fd, what);
  remember(region, key);
  return region;
}

SharedRef decode_ref(Reader& in, std::size_t size, std::uint32_t magic, const char* what) {
  SharedRef ref;
  ref.region = decode_region(in, what);
  const auto offset = get_trivial<std::uint64_t>(in);
  if (offset > ref.region->size() || ref.region->size() - offset < size || offset % 8 != 0) {
    throw concur::ValueError(std::string("malformed ") + what + " handle: offset " +
                             std::to_string(offset) + " outside the shared block of " +
                             std::to_string(ref.region->size()) + " bytes");
  }
  ref.offset = static_cast<std::size_t>(offset);
  const std::uint32_t found = load(*ref.region->at<std::uint32_t>(ref.offset));
  if (found != magic) {
    throw concur::ValueError(std::string("malformed ") + what +
                             " handle: the shared block holds another kind of object");
  }
  return ref;
}

}  // namespace concur::multiprocessing::detail
