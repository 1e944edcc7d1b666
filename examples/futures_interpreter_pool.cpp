// InterpreterPoolExecutor: a library that is not thread-safe, one instance per worker.
#include <atomic>
#include <concur/futures.hpp>
#include <iostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tour.hpp"

// expect: stems: jump walk talk sing
// expect: stop word: the
// expect: ExecutionFailed: std::invalid_argument: an empty word
// expect: stemmers built: [1-3], one per worker
namespace cf = concur::futures;

namespace {

// Stands for a C library handle that must never be used by two threads at once: it keeps
// its working buffer in the handle (stemmer_new / stemmer_stem / stemmer_free).
class Stemmer {
 public:
  const std::string& stem(const std::string& word) {
    if (word.empty()) throw std::invalid_argument("an empty word");
    scratch_ = word;  // unsynchronised state: a second thread here would corrupt it
    for (const char* suffix : {"ing", "ed", "s"}) {
      const std::string s(suffix);
      if (scratch_.size() > s.size() + 2 &&
          scratch_.compare(scratch_.size() - s.size(), s.size(), s) == 0) {
        scratch_.resize(scratch_.size() - s.size());
        break;
      }
    }
    return scratch_;
  }

 private:
  std::string scratch_;
};

// Each worker's private state: built by the initializer, in the worker.
struct Worker {
  Stemmer stemmer;
};

}  // namespace

CONCUR_TOUR_PART(futures_interpreter_pool,
                 "InterpreterPoolExecutor: one library instance per worker") {
  std::atomic<int> built{0};
  cf::InterpreterPoolExecutor<Worker> pool({.max_workers = 3, .initializer = [&built] {
                                              ++built;
                                              return Worker{};
                                            }});
  // Each call gets the Stemmer of the worker that runs it; the words go in, and the stems
  // come out, as copies: no task ever holds a reference into another worker's Stemmer.
  std::vector<std::string> words{"jumping", "walked", "talks", "singing"};
  std::cout << "stems:";
  for (const std::string& s :
       pool.map([](Worker&w, const std::string&word) { return w.stemmer.stem(word); }, words))
    std::cout << " " << s;
  std::cout << "\n";

  // An immutable table every worker reads without a copy.
  auto stop_words = cf::shared(std::set<std::string>{"a", "an", "the"});
  auto f = pool.submit(
      [](Worker& w, const cf::Shared<std::set<std::string>>& stop, const std::string& word) {
        return stop->count(word) != 0 ? "stop word: " + word : w.stemmer.stem(word);
      },
      stop_words, std::string("the"));
  std::cout << f.result() << "\n";

  // What a task throws comes back summarised as ExecutionFailed.
  auto bad = pool.submit([](Worker& w, const std::string& word) { return w.stemmer.stem(word); },
                         std::string());
  try {
    bad.result();
  } catch (const cf::ExecutionFailed& e) {
    std::cout << "ExecutionFailed: " << e.what() << "\n";
  }
  pool.shutdown();
  std::cout << "stemmers built: " << built.load() << ", one per worker\n";
}
