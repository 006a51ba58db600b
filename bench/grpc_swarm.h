// Benchmark gRPC clients of ccmux.v1: channels to a transport-grpc (plain text or TLS, a
// bearer token on every call) and N Events.Subscribe streams read by gRPC's callback
// reactors, each on its own channel (its own TCP connection, as N devices would have).
#pragma once

#include "ccmux/v1/events.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ccmux::bench {

struct GrpcTarget {
  std::string address;  // host:port
  std::string token;    // sent as `authorization: Bearer <token>`
  std::string ca_pem;   // empty: plain text; else TLS, the server certificate chaining to it
};

// A new channel with its own subchannel pool: never shares a connection with another channel,
// so creating one and calling it includes the TCP (and TLS) connect.
std::shared_ptr<grpc::Channel> bench_channel(const GrpcTarget& t);
// Adds the bearer token to a call.
void authorize(grpc::ClientContext& ctx, const GrpcTarget& t);

class GrpcSwarm {
 public:
  // Called on gRPC's threads, possibly several at once.
  using Handler = std::function<void(int stream, const ccmux::v1::SubscribeUpdate& update)>;
  GrpcSwarm(const GrpcTarget& t, int streams, const ccmux::v1::SubscribeRequest& req, Handler on_update);
  ~GrpcSwarm();  // cancels the streams still open and waits until every one is done
  // Streams that ended, and the first non-OK status's message (a refused token, ...).
  int ended();
  std::string first_error();

  class Reader;

 private:
  friend class Reader;
  void done(const grpc::Status& s);
  std::vector<std::unique_ptr<Reader>> readers_;
  Handler handler_;
  std::mutex mu_;
  std::condition_variable cv_;
  int ended_ = 0;
  std::string error_;
};

}  // namespace ccmux::bench
