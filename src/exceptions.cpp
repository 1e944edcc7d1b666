// src/exceptions.cpp: errno → the member of the OSError family CPython picks
// (Objects/exceptions.c, the errnomap of PEP 3151).
#include "concur/exceptions.hpp"

namespace concur {

std::exception_ptr make_os_error(int err, const std::string& call) {
  switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EALREADY:
    case EINPROGRESS:
      return std::make_exception_ptr(BlockingIOError(err, call));
    case ECHILD:
      return std::make_exception_ptr(ChildProcessError(err, call));
    case EPIPE:
    case ESHUTDOWN:
      return std::make_exception_ptr(BrokenPipeError(err, call));
    case ECONNABORTED:
      return std::make_exception_ptr(ConnectionAbortedError(err, call));
    case ECONNREFUSED:
      return std::make_exception_ptr(ConnectionRefusedError(err, call));
    case ECONNRESET:
      return std::make_exception_ptr(ConnectionResetError(err, call));
    case EEXIST:
      return std::make_exception_ptr(FileExistsError(err, call));
    case ENOENT:
      return std::make_exception_ptr(FileNotFoundError(err, call));
    case EINTR:
      return std::make_exception_ptr(InterruptedError(err, call));
    case EISDIR:
      return std::make_exception_ptr(IsADirectoryError(err, call));
    case ENOTDIR:
      return std::make_exception_ptr(NotADirectoryError(err, call));
    case EACCES:
    case EPERM:
      return std::make_exception_ptr(PermissionError(err, call));
    case ESRCH:
      return std::make_exception_ptr(ProcessLookupError(err, call));
    default:
      return std::make_exception_ptr(OSError(err, call));
  }
}

void throw_os_error(int err, const std::string& call) {
  std::rethrow_exception(make_os_error(err, call));
}

}  // namespace concur
