// src/futures/interpreter_pool.cpp: the non-template parts of futures/interpreter_pool.hpp.
#include "concur/futures/interpreter_pool.hpp"

#include <cxxabi.h>

#include <string>
#include <typeinfo>

#include "concur/multiprocessing/registry.hpp"

namespace concur::futures::detail {

namespace mp = concur::multiprocessing;

std::exception_ptr isolate_exception(const std::exception_ptr& e) noexcept {
  try {
    const mp::Buffer bytes = mp::encode_exception(e);
    mp::Reader in(bytes);
    return mp::decode_exception(in);
  } catch (...) {  // std::bad_alloc: deliver that
    return std::current_exception();
  }
}

std::exception_ptr execution_failed(const std::exception_ptr& original) noexcept {
  try {
    std::string type_name;
    std::string message;
    try {
      std::rethrow_exception(original);
    } catch (const mp::RemoteError& ex) {  // a class the codec does not rebuild: its own name
      type_name = ex.type_name();
      message = ex.message();
    } catch (const std::exception& ex) {
      type_name = concur::futures::detail::type_name(typeid(ex));
      message = ex.what();
    } catch (...) {
      const std::type_info* t = abi::__cxa_current_exception_type();
      type_name = t ? concur::futures::detail::type_name(*t) : "unknown";
    }
    return std::make_exception_ptr(ExecutionFailed(std::move(type_name), message, original));
  } catch (...) {  // std::bad_alloc
    return std::current_exception();
  }
}

void EncodedTask::run() noexcept {
  bool runnable = false;
  try {
    runnable = task_->set_running_or_notify_cancel();
  } catch (...) {  // completed by hand meanwhile
  }
  if (runnable) {
    try {
      const mp::Buffer reply = mp::invoke(request_);
      mp::Reader in(reply);
      if (mp::detail::read_reply_status(in)) {
        task_->complete_from_reply(reply);
      } else {
        std::exception_ptr original = mp::decode_exception(in);
        try {
          task_->set_exception(execution_failed(original));
        } catch (...) {  // already completed
        }
      }
    } catch (...) {  // std::bad_alloc, a malformed reply
      try {
        task_->set_exception(std::current_exception());
      } catch (...) {
      }
    }
  }
  request_ = {};
}

}  // namespace concur::futures::detail
