// The OSError family (concur/exceptions.hpp): errno → the subclass CPython picks
// (PEP 3151; CPython's Lib/test/test_pep3151.py, HierarchyTest.test_errno_mapping), and
// every module throws it, so one catch clause serves subprocess and shared memory alike.
#include "os/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <concur/multiprocessing.hpp>
#include <concur/subprocess.hpp>
#include <exception>
#include <system_error>
#include <typeinfo>

namespace {

template <class E>
bool thrown_as(int err) {
  try {
    concur::throw_os_error(err, "call");
  } catch (const E& e) {
    return e.code().value() == err && e.code().category() == std::generic_category();
  } catch (...) {
  }
  return false;
}

TEST(OSError, ErrnoMapsToCPythonsSubclass) {
  // HierarchyTest.test_errno_mapping: the same table.
  EXPECT_TRUE(thrown_as<concur::BlockingIOError>(EAGAIN));
  EXPECT_TRUE(thrown_as<concur::BlockingIOError>(EALREADY));
  EXPECT_TRUE(thrown_as<concur::BlockingIOError>(EINPROGRESS));
  EXPECT_TRUE(thrown_as<concur::ChildProcessError>(ECHILD));
  EXPECT_TRUE(thrown_as<concur::BrokenPipeError>(EPIPE));
  EXPECT_TRUE(thrown_as<concur::BrokenPipeError>(ESHUTDOWN));
  EXPECT_TRUE(thrown_as<concur::ConnectionAbortedError>(ECONNABORTED));
  EXPECT_TRUE(thrown_as<concur::ConnectionRefusedError>(ECONNREFUSED));
  EXPECT_TRUE(thrown_as<concur::ConnectionResetError>(ECONNRESET));
  EXPECT_TRUE(thrown_as<concur::FileExistsError>(EEXIST));
  EXPECT_TRUE(thrown_as<concur::FileNotFoundError>(ENOENT));
  EXPECT_TRUE(thrown_as<concur::InterruptedError>(EINTR));
  EXPECT_TRUE(thrown_as<concur::IsADirectoryError>(EISDIR));
  EXPECT_TRUE(thrown_as<concur::NotADirectoryError>(ENOTDIR));
  EXPECT_TRUE(thrown_as<concur::PermissionError>(EACCES));
  EXPECT_TRUE(thrown_as<concur::PermissionError>(EPERM));
  EXPECT_TRUE(thrown_as<concur::ProcessLookupError>(ESRCH));
  // Anything else is the base class itself.
  try {
    concur::throw_os_error(EIO, "read");
  } catch (const concur::OSError& e) {
    EXPECT_EQ(typeid(e), typeid(concur::OSError));
    EXPECT_EQ(e.code().value(), EIO);
  }
}

TEST(OSError, HierarchyMatchesPython) {
  // HierarchyTest.test_builtin_errors / test_select_error: the bases.
  static_assert(std::is_base_of_v<std::system_error, concur::OSError>);
  static_assert(std::is_base_of_v<concur::OSError, concur::FileNotFoundError>);
  static_assert(std::is_base_of_v<concur::OSError, concur::ConnectionError>);
  static_assert(std::is_base_of_v<concur::ConnectionError, concur::BrokenPipeError>);
  static_assert(std::is_base_of_v<concur::ConnectionError, concur::ConnectionResetError>);
  static_assert(std::is_base_of_v<concur::OSError, concur::PermissionError>);
  SUCCEED();
}

TEST(OSError, WhatNamesTheCall) {
  try {
    concur::os::raise(ENOENT, "shm_open(/x)");
    FAIL();
  } catch (const concur::FileNotFoundError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("shm_open(/x): ", 0), 0U) << e.what();
  }
}

TEST(OSError, OneCatchForAMissingProgramAndAMissingSegment) {
  // The outside finding: catch (concur::FileNotFoundError&) missed subprocess's error.
  int caught = 0;
  try {
    concur::subprocess::run({"/nonexistent/concur-no-such-program"});
  } catch (const concur::FileNotFoundError&) {
    ++caught;
  }
  try {
    concur::mp::shared_memory::SharedMemory(std::string("concur_no_such_segment_for_test"));
  } catch (const concur::FileNotFoundError&) {
    ++caught;
  }
  EXPECT_EQ(caught, 2);
}

}  // namespace
