// src/futures/progress.cpp: the terminal progress bar of futures/progress.hpp.
#include "concur/futures/progress.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "os/fd.hpp"
#include "os/terminal.hpp"

namespace concur::futures {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRedrawEvery = std::chrono::milliseconds(50);

// One bar. Its reports are serialised by the map (MapProgressState's mutex): no lock here.
class Bar {
 public:
  Bar(int fd, std::string description) : fd_(fd), description_(std::move(description)) {}

  void draw(const MapProgress& p) {
    if (finished_) return;
    const bool last = p.total && p.done >= *p.total;
    const auto now = Clock::now();
    if (!last && drawn_ && now - drawn_at_ < kRedrawEvery) return;
    drawn_ = true;
    drawn_at_ = now;
    std::string line = "\r";
    if (!description_.empty()) line += description_ + " ";
    if (p.total) {
      const std::size_t total = *p.total;
      const std::size_t done = std::min(p.done, total);
      const std::string count = std::to_string(done) + "/" + std::to_string(total);
      const int columns = os::terminal_columns(fd_);
      const int room = columns > 0 ? columns - static_cast<int>(line.size() + count.size()) - 10
                                   : 30;  // "[" "] " " 100%" and a margin
      const auto width = static_cast<std::size_t>(std::clamp(room, 10, 40));
      const std::size_t filled = total == 0 ? width : done * width / total;
      const std::size_t percent = total == 0 ? 100 : done * 100 / total;
      line += "[" + std::string(filled, '#') + std::string(width - filled, '-') + "] " + count +
              " " + std::to_string(percent) + "%";
    } else {
      line += std::to_string(p.done) + " done";
    }
    line += "\x1b[K";  // erase what a longer earlier line left
    if (last) {
      line += "\n";
      finished_ = true;
    }
    (void)os::write_all_noexcept(fd_, line.data(), line.size());  // a bar never fails a map
  }

 private:
  int fd_;
  std::string description_;
  bool drawn_ = false;
  bool finished_ = false;
  Clock::time_point drawn_at_{};
};

}  // namespace

MapProgressFn detail::progress_bar_on(int fd, std::string description) {
  if (!os::is_terminal(fd)) return [](const MapProgress&) {};
  auto bar = std::make_shared<Bar>(fd, std::move(description));
  return [bar](const MapProgress& p) { bar->draw(p); };
}

MapProgressFn progress_bar(std::string description) {
  return detail::progress_bar_on(2, std::move(description));
}

}  // namespace concur::futures
