// Test helper: an object crossing as a handle, in this process: encoded inside an FdSink
// (its fds exported), then decoded inside an FdSource over those fds, as a child would.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "concur/exceptions.hpp"
#include "concur/multiprocessing/codec.hpp"
#include "multiprocessing/handles.hpp"

namespace concur::testing {

/// `obj` encoded as a handle and decoded as a `To`; `fds_out` gets the exported fds.
template <class To, class From>
To cross_as(const From& obj, std::vector<int>* fds_out = nullptr) {
  multiprocessing::Buffer bytes;
  std::vector<int> fds;
  {
    multiprocessing::detail::FdSink sink;
    multiprocessing::encode(bytes, obj);
    fds = sink.fds();
  }
  if (fds_out) *fds_out = fds;
  multiprocessing::detail::FdSource source(fds);
  multiprocessing::Reader in(bytes);
  return multiprocessing::decode<To>(in);
}

/// `obj` encoded as a handle and decoded as its own type.
template <class T>
T cross(const T& obj, std::vector<int>* fds_out = nullptr) {
  return cross_as<T>(obj, fds_out);
}

/// Decoding `obj`'s handle as a `To` (another kind) is ValueError.
template <class To, class From>
void expect_decode_fails(const From& obj) {
  EXPECT_THROW(cross_as<To>(obj), concur::ValueError);
}

}  // namespace concur::testing
