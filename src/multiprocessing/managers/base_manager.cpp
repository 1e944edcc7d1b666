// BaseManager: starts, connects to and shuts down a manager's server
// (concur/multiprocessing/managers/base_manager.hpp).
#include "concur/multiprocessing/managers/base_manager.hpp"

#include <csignal>
#include <exception>
#include <utility>

#include "concur/multiprocessing/connection.hpp"
#include "concur/multiprocessing/errors.hpp"
#include "concur/multiprocessing/registry.hpp"
#include "protocol.hpp"

namespace concur::multiprocessing::managers {

using namespace std::chrono_literals;

namespace {
constexpr std::byte kListening{0};
constexpr std::byte kFailed{1};

connection::Address make_address(bool inet, const std::string& path, int port) {
  if (inet) return {path, port};
  return path.empty() ? connection::Address() : connection::Address(path);
}
}  // namespace

void detail::run_server(SetupFn setup, Buffer initializer, bool inet, const std::string& path,
                        int port, std::optional<Bytes> authkey, Connection<Bytes> ready) {
  std::signal(SIGINT, SIG_IGN);  // as CPython's manager server: ^C is the parent's to handle
  std::optional<Server> server;
  try {
    auto registry = std::make_shared<Registry>();
    setup(*registry);
    if (!initializer.empty()) {
      const Buffer reply = invoke(initializer);
      Reader in(reply);
      if (!multiprocessing::detail::read_reply_status(in)) rethrow_decoded(in);
    }
    server.emplace(std::move(registry), make_address(inet, path, port), std::move(authkey));
  } catch (...) {
    Buffer out{kFailed};
    encode_exception(out, std::current_exception());
    ready.send_bytes(out);
    return;
  }
  const connection::Address& bound = server->address();
  Buffer out{kListening};
  encode(out, bound.family() == "AF_INET");
  encode(out, bound.path());
  encode(out, bound.port());
  ready.send_bytes(out);
  ready.close();
  server->serve_forever(0ms);
}

BaseManager::BaseManager(SetupFn setup_fn, detail::StartFn start_fn, ManagerOptions options)
    : setup_(setup_fn),
      start_(start_fn),
      registry_(std::make_shared<Registry>()),
      address_(std::move(options.address)),
      authkey_(options.authkey ? std::move(options.authkey) : current_process().authkey()),
      ctx_(options.ctx),
      shutdown_timeout_(options.shutdown_timeout),
      connect_timeout_(options.connect_timeout) {
  setup_(*registry_);
}

BaseManager::~BaseManager() { shutdown(); }

void BaseManager::start(const Call& initializer) {
  if (state_ == State::kStarted) throw ProcessError("Already started server");
  if (state_ == State::kShutdown) throw ProcessError("Manager has shut down");
  if (state_ == State::kConnected) throw ProcessError("Manager is connected to a server");
  auto [reader, writer] = Pipe<Bytes>(false, std::size_t{1} << 20);  // not the 4 MiB default
  const Context ctx = ctx_.value_or(get_context());
  process_.emplace(start_(ctx, initializer.request(), address_, authkey_, writer));
  writer.close();
  Bytes message;
  bool got = false;
  try {
    if (reader.poll(30s)) {
      message = reader.recv_bytes();
      got = true;
    }
  } catch (const EOFError&) {
  }
  if (!got) {
    process_->terminate();
    process_->join(5s);
    if (process_->is_alive()) process_->kill();
    process_->join();
    const auto code = process_->exitcode();
    process_.reset();
    throw ProcessError("manager server exited (code " + std::to_string(code.value_or(0)) +
                       ") before it listened");
  }
  Reader in(message);
  if (in.take(1)[0] == kFailed) {
    process_->join(5s);
    if (process_->is_alive()) process_->kill();
    process_->join();
    process_.reset();
    rethrow_decoded(in);
  }
  const bool inet = decode<bool>(in);
  const auto path = decode<std::string>(in);
  const int port = decode<int>(in);
  address_ = make_address(inet, path, port);
  state_ = State::kStarted;
}

void BaseManager::connect() {
  if (state_ != State::kInitial) throw ProcessError("Manager is started or connected already");
  detail::Reply kind{};
  detail::request(address_, authkey_, connect_timeout_, detail::Request::kDummy, 0, {}, {}, kind);
  state_ = State::kConnected;
}

void BaseManager::check_ready() const {
  if (state_ == State::kInitial) throw ProcessError("Manager has not been started");
  if (state_ == State::kShutdown) throw ProcessError("Manager has shut down");
}

Token BaseManager::create_token(std::string_view typeid_, const Buffer& args) {
  check_ready();
  detail::Reply kind{};
  const Buffer reply = detail::request(address_, authkey_, connect_timeout_,
                                       detail::Request::kCreate, 0, typeid_, args, kind);
  return detail::decode_token(reply, address_);
}

std::size_t BaseManager::number_of_objects() const {
  check_ready();
  detail::Reply kind{};
  const Buffer reply = detail::request(address_, authkey_, connect_timeout_,
                                       detail::Request::kNumberOfObjects, 0, {}, {}, kind);
  return static_cast<std::size_t>(loads<std::uint64_t>(reply));
}

Server BaseManager::get_server() const { return Server(registry_, address_, authkey_); }

void BaseManager::shutdown() noexcept {
  if (state_ == State::kStarted && process_) {
    try {
      detail::Reply kind{};
      detail::request(address_, authkey_, connect_timeout_, detail::Request::kShutdown, 0, {}, {},
                      kind);
    } catch (...) {
      // the server is gone already: join it below
    }
    try {
      if (!process_->join(shutdown_timeout_)) {
        process_->terminate();
        if (!process_->join(1s)) {
          process_->kill();
          process_->join();
        }
      }
    } catch (...) {
    }
  }
  if (state_ != State::kInitial) detail::forget_connection(address_);
  if (state_ == State::kStarted || state_ == State::kConnected) state_ = State::kShutdown;
}

}  // namespace concur::multiprocessing::managers
