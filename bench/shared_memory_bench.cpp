// Benchmarks of concur::multiprocessing::shared_memory, beside a floor of the bare system
// calls where one exists. CPython's peers: bench/py_peers_shared_memory.py.
//
//   shared_memory.create_unlink_4KiB   create (tracked) + close + unlink a 4 KiB segment
//   shared_memory.attach_close_4KiB    attach by name + close
//   shareable_list.get_set_int         one get and one set of an int slot
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <concur/multiprocessing/shareable_list.hpp>
#include <concur/multiprocessing/shared_memory.hpp>
#include <string>

#include "bench_util.hpp"

namespace shm = concur::multiprocessing::shared_memory;

namespace {

constexpr std::int64_t kSize = 4096;

void BM_SharedMemory_CreateUnlink(benchmark::State& state) {
  for (auto _ : state) {
    shm::SharedMemory m(std::nullopt, true, kSize);
    m.close();
    m.unlink();
  }
  concur_bench::report_latency(state, "shared_memory.create_unlink_4KiB", "concur", "us", 1);
}
BENCHMARK(BM_SharedMemory_CreateUnlink)->UseRealTime();

void BM_SharedMemory_CreateUnlink_Floor(benchmark::State& state) {
  const std::string name = "/concur_bench_floor_" + std::to_string(::getpid());
  for (auto _ : state) {
    const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || ::posix_fallocate(fd, 0, kSize) != 0) state.SkipWithError("shm_open");
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::munmap(p, kSize);
    ::close(fd);
    ::shm_unlink(name.c_str());
  }
  concur_bench::report_latency(state, "shared_memory.create_unlink_4KiB", "floor", "us", 1);
}
BENCHMARK(BM_SharedMemory_CreateUnlink_Floor)->UseRealTime();

void BM_SharedMemory_AttachClose(benchmark::State& state) {
  shm::SharedMemory owner(std::nullopt, true, kSize, false);
  for (auto _ : state) {
    shm::SharedMemory m(owner.name());
    m.close();
  }
  owner.unlink();
  concur_bench::report_latency(state, "shared_memory.attach_close_4KiB", "concur", "us", 1);
}
BENCHMARK(BM_SharedMemory_AttachClose)->UseRealTime();

void BM_SharedMemory_AttachClose_Floor(benchmark::State& state) {
  shm::SharedMemory owner(std::nullopt, true, kSize, false);
  const std::string name = "/" + owner.name();
  for (auto _ : state) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    struct stat st {};
    ::fstat(fd, &st);
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);
    ::munmap(p, static_cast<std::size_t>(st.st_size));
    ::close(fd);
  }
  owner.unlink();
  concur_bench::report_latency(state, "shared_memory.attach_close_4KiB", "floor", "us", 1);
}
BENCHMARK(BM_SharedMemory_AttachClose_Floor)->UseRealTime();

void BM_ShareableList_GetSet(benchmark::State& state) {
  shm::ShareableList sl({0, "x", 1.5}, std::nullopt, false);
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto v = std::get<std::int64_t>(sl[0]);
    sl.set(0, v + (++i & 1));
  }
  sl.shm().unlink();
  concur_bench::report_latency(state, "shareable_list.get_set_int", "concur", "ns", 1);
}
BENCHMARK(BM_ShareableList_GetSet)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
