#pragma once
// Accepts client connections on one or more ports and spreads them over the I/O threads;
// tracks them so shutdown can close every one.
#include <asio.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/log.h"
#include "net/client_connection.h"
#include "net/io_pool.h"
#include "net/tls_context.h"

namespace qim::service {
class ImService;
}

namespace qim::net {

struct ListenerOptions {
  // Connections with a Session; one more gets Error{TooManyConnections} and is closed.
  std::size_t max_connections = 10'000;
  // Over-limit connections being told so (write, FIN, linger) at once; beyond it they are
  // closed without a word, so a connection flood costs no memory.
  std::size_t max_rejecting_connections = 256;
  // How long stop() waits for connections to flush and close before closing them hard, and
  // then again before giving up on them.
  std::chrono::milliseconds shutdown_timeout{2'000};
  ConnectionOptions connection;
};

// Owned by main; constructed after the IoPool and destroyed before it. At most one per IoPool:
// each of its io_contexts gets this listener's ConnectionShard, which owns the connections
// served there (and outlives the listener: it goes with its io_context).
// Executors: the acceptor, start() and stop() run on the control executor given at
// construction (main's thread); each connection runs on the io_context it was handed to.
class ClientListener {
 public:
  ClientListener(asio::any_io_executor control_executor, IoPool& pool, service::ImService& service,
                 core::Logger& logger, ListenerOptions options);
  ~ClientListener();

  ClientListener(const ClientListener&) = delete;
  ClientListener& operator=(const ClientListener&) = delete;

  // Binds and listens (port 0: an ephemeral port); connections accepted there speak TLS when
  // `tls`, and WebSocket (see ClientConnection) when `websocket`. False with `error` set on
  // failure. REQUIRES: start() was not called yet.
  bool listen(const asio::ip::tcp::endpoint& endpoint, bool tls, std::string& error,
              bool websocket = false);
  // The bound address of the index-th successful listen() (the real port when 0 was asked
  // for). REQUIRES: that listen() succeeded.
  asio::ip::tcp::endpoint local_endpoint(std::size_t index = 0) const {
    return ports_[index].local_endpoint;
  }

  // The certificate new connections on TLS ports are served with; connections already open
  // keep theirs. Control executor. REQUIRES: set before start() when a port speaks TLS.
  void set_tls(std::shared_ptr<const TlsContext> tls) { tls_ = std::move(tls); }

  // Starts the accept loops on the control executor. REQUIRES: listen() succeeded.
  void start();

  // Stops accepting; tells every session the node is shutting down and lets it flush;
  // after options.shutdown_timeout closes what is left hard. Completes when every connection
  // is gone or the second bound expired too (then the IoPool's teardown finishes them).
  // Runs on the control executor.
  asio::awaitable<void> stop();

  // Connections with a Session, from any thread.
  std::size_t connection_count() const;
  // Open connections of one transport (WebSocket ones also while their request is answered).
  std::size_t connection_count(ClientTransport transport) const;
  // Traffic since start, summed over the shards, from any thread.
  ClientTraffic traffic() const;

 private:
  struct Port {
    asio::ip::tcp::acceptor acceptor;
    asio::ip::tcp::endpoint local_endpoint;
    bool tls;
    ClientTransport transport;
  };

  asio::awaitable<void> accept_loop(Port& port);
  // Gives an accepted socket to the next shard, or closes it when over the limits.
  void hand_over(int fd, const asio::ip::tcp::endpoint& peer, const Port& port);
  std::size_t rejecting_count() const;
  // Runs `visit` on every connection of every shard, each on its own io_context.
  template <typename Visit>
  asio::awaitable<void> for_each_connection(Visit visit);
  // Waits until no connection is left or `timeout` passed; true when none is left.
  asio::awaitable<bool> wait_for_connections(std::chrono::milliseconds timeout);

  asio::any_io_executor control_executor_;
  IoPool& pool_;
  service::ImService& service_;
  core::Logger& logger_;
  const ListenerOptions options_;
  std::vector<Port> ports_;                // control executor only
  std::shared_ptr<const TlsContext> tls_;  // control executor only
  std::vector<ConnectionShard*> shards_;   // owned by their io_contexts
  std::size_t next_shard_ = 0;             // control executor only
  bool accepting_ = false;                 // control executor only
};

}  // namespace qim::net
