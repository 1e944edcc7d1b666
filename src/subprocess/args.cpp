// Args, and Python's repr() of str and bytes.
#include "concur/subprocess/args.hpp"

namespace concur::subprocess {

namespace {
std::string quoted(std::string_view s, bool bytes) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out;
  out.reserve(s.size() + 3);
  if (bytes) out += 'b';
  out += quote;
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  out += quote;
  return out;
}
}  // namespace

std::string repr_str(std::string_view text) { return quoted(text, false); }
std::string repr_bytes(std::string_view bytes) { return quoted(bytes, true); }

std::string Args::repr() const {
  if (is_string_) return repr_str(list_.empty() ? std::string() : list_.front());
  std::string out = "[";
  for (std::size_t i = 0; i < list_.size(); ++i) {
    if (i) out += ", ";
    out += repr_str(list_[i]);
  }
  out += "]";
  return out;
}

std::string Args::str() const {
  if (is_string_) return list_.empty() ? std::string() : list_.front();
  return repr();
}

}  // namespace concur::subprocess
