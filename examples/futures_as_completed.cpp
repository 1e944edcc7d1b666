// CPython's ThreadPoolExecutor example (load_url + as_completed with a
// dictionary from future to URL), with local files in place of web pages.
#include <unistd.h>

#include <concur/futures.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "tour.hpp"

// expect: 'page-1.html' page is 1000 bytes
// expect: 'page-3.html' page is 3000 bytes
// expect: 'missing.html' generated an exception: cannot open missing.html
namespace fs = std::filesystem;
namespace cf = concur::futures;

namespace {
std::string load_url(const fs::path& dir, const std::string& url) {
  std::ifstream in(dir / url, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + url);
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}
}  // namespace

CONCUR_TOUR_PART(futures_as_completed, "as_completed with a future -> input map") {
  const fs::path dir = fs::temp_directory_path() / ("concur-tour-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (int i = 1; i <= 3; ++i)
    std::ofstream(dir / ("page-" + std::to_string(i) + ".html"))
        << std::string(1000 * static_cast<size_t>(i), 'x');
  const std::vector<std::string> urls{"page-1.html", "page-2.html", "page-3.html", "missing.html"};

  {
    cf::ThreadPoolExecutor executor({.max_workers = 5});
    std::unordered_map<cf::Future<std::string>, std::string> future_to_url;
    for (const auto& url : urls) future_to_url[executor.submit(load_url, dir, url)] = url;
    std::vector<cf::Future<std::string>> futures;
    for (const auto& [f, url] : future_to_url) futures.push_back(f);
    for (const auto& future : cf::as_completed(futures)) {
      const std::string& url = future_to_url[future];
      try {
        const std::string& data = future.result();
        std::cout << "'" << url << "' page is " << data.size() << " bytes\n";
      } catch (const std::exception& exc) {
        std::cout << "'" << url << "' generated an exception: " << exc.what() << "\n";
      }
    }
  }
  fs::remove_all(dir);
}
