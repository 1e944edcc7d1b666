// multiprocessing.connection benchmarks (Listener / Client over sockets), beside CPython's
// peers (bench/py_peers_connection.py).
//
//   connection.client_roundtrip_tcp    Listener on 127.0.0.1 with an authkey; an echo       concur
//                                      process connects with Client and sends back each
//                                      int it receives: µs per send + recv
//   connection.client_roundtrip_unix   the same over an AF_UNIX socket                      concur
//   connection.client_roundtrip_tcp    two raw TCP sockets on 127.0.0.1 (TCP_NODELAY), 8    floor
//                                      bytes each way with blocking send/recv
//
// The echo process is a fork()ed child (CPython's peer starts its with the fork method on
// Linux 3.11), connected and authenticated before the clock runs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <concur/multiprocessing.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "bench_util.hpp"

namespace {

namespace mpc = concur::multiprocessing::connection;
using Clock = std::chrono::steady_clock;

void roundtrip(benchmark::State& state, const char* family, const char* case_name) {
  constexpr int kN = 20'000;
  const concur::Bytes key("bench-authkey");
  for (auto _ : state) {
    mpc::Listener l({.family = family, .authkey = key});
    const mpc::Address address = l.address();
    const pid_t pid = ::fork();
    if (pid < 0) std::abort();
    if (pid == 0) {
      int code = 1;
      try {
        auto c = mpc::Client<int>(address, {.authkey = key, .timeout = std::chrono::seconds(30)});
        for (int i = 0; i < kN; ++i) c.send(c.recv());
        code = 0;
      } catch (...) {
      }
      ::_exit(code);
    }
    auto conn = l.accept<int>(std::chrono::seconds(30));
    const auto t = Clock::now();
    for (int i = 0; i < kN; ++i) {
      conn.send(i);
      if (conn.recv() != i) std::abort();
    }
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t).count());
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::abort();
  }
  concur_bench::report_latency(state, case_name, "concur", "us", kN);
}

void BM_Client_RoundtripTcp(benchmark::State& state) {
  roundtrip(state, "AF_INET", "connection.client_roundtrip_tcp");
}
BENCHMARK(BM_Client_RoundtripTcp)->UseManualTime()->Iterations(3);

void BM_Client_RoundtripUnix(benchmark::State& state) {
  roundtrip(state, "AF_UNIX", "connection.client_roundtrip_unix");
}
BENCHMARK(BM_Client_RoundtripUnix)->UseManualTime()->Iterations(3);

int tcp_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd < 0 || ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) std::abort();
  return fd;
}

void BM_Floor_TcpRoundtrip(benchmark::State& state) {
  constexpr int kN = 20'000;
  for (auto _ : state) {
    const int lfd = tcp_socket();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 1) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::abort();
    }
    const pid_t pid = ::fork();
    if (pid < 0) std::abort();
    if (pid == 0) {
      const int c = tcp_socket();
      if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(1);
      std::uint64_t v = 0;
      for (int i = 0; i < kN; ++i) {
        if (::recv(c, &v, 8, MSG_WAITALL) != 8 || ::send(c, &v, 8, MSG_NOSIGNAL) != 8) ::_exit(1);
      }
      ::_exit(0);
    }
    const int conn = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    const int one = 1;
    if (conn < 0 || ::setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      std::abort();
    }
    const auto t = Clock::now();
    for (std::uint64_t i = 0; i < kN; ++i) {
      std::uint64_t v = i;
      if (::send(conn, &v, 8, MSG_NOSIGNAL) != 8 || ::recv(conn, &v, 8, MSG_WAITALL) != 8 ||
          v != i) {
        std::abort();
      }
    }
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t).count());
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(conn);
    ::close(lfd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::abort();
  }
  concur_bench::report_latency(state, "connection.client_roundtrip_tcp", "floor", "us", kN);
}
BENCHMARK(BM_Floor_TcpRoundtrip)->UseManualTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
