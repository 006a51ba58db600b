// transport-grpc: the typed gRPC API (ccmux.v1) with mTLS device certificates (plugin entry).
#include "grpc_config.h"
#include "grpc_server.h"

#include <ccmux/plugin.hpp>

#include <memory>

namespace {

class TransportGrpc : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    server_ = std::make_unique<ccmux::grpcx::GrpcServer>(host, ccmux::grpcx::parse_config(config_json));
    server_->start();
  }
  void stop() override {
    if (server_) server_->stop();
    server_.reset();
  }

 private:
  std::unique_ptr<ccmux::grpcx::GrpcServer> server_;
};

}  // namespace

CCMUX_PLUGIN(TransportGrpc, "transport-grpc", "0.1.0", "typed gRPC API (ccmux.v1) with mTLS device certificates",
             ccmux::grpcx::kConfigKeys, ccmux::grpcx::kConfigKeyCount)
