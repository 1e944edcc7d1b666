// src/os/error.cpp: errno → the OSError family (see error.hpp).
#include "os/error.hpp"

#include "concur/exceptions.hpp"

namespace concur::os {

void raise(int err, const std::string& call) { throw_os_error(err, call); }

void raise_errno(const std::string& call) { raise(errno, call); }

}  // namespace concur::os
