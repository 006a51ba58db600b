// A bare gRPC server implementing only ccmux.v1.Events/Subscribe: each call gets `count`
// ready-made events of `payload_bytes` each, written back to back with buffer_hint (the best
// a server sending one message per event can do). The floor under transport-grpc's figures:
// what gRPC itself costs per message on this machine, with no daemon behind it.
#pragma once

#include <memory>
#include <string>

namespace grpc {
class Server;
}

namespace ccmux::bench {

class RawGrpcServer {
 public:
  RawGrpcServer(long count, size_t payload_bytes);
  ~RawGrpcServer();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  class Service;

 private:
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace ccmux::bench
