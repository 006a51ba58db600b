#include "raw_grpc_server.h"

#include "ccmux/v1/events.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <stdexcept>

namespace ccmux::bench {

namespace v1 = ::ccmux::v1;

namespace {

class Writer final : public grpc::ServerWriteReactor<v1::SubscribeUpdate> {
 public:
  Writer(long count, const v1::SubscribeUpdate& proto) : left_(count), msg_(proto) {
    v1::SubscribeUpdate first;
    first.mutable_subscribed()->set_head(static_cast<uint64_t>(count));
    first_ = first;
    StartWrite(&first_);  // not hinted: a hinted first write (it carries the headers) waits for a flush
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::CANCELLED);
    if (left_ == 0) return Finish(grpc::Status::OK);
    msg_.mutable_event()->set_seq(msg_.event().seq() + 1);
    grpc::WriteOptions o;
    if (--left_ > 0) o.set_buffer_hint();  // more to come: no flush yet
    StartWrite(&msg_, o);
  }
  void OnDone() override { delete this; }

 private:
  long left_;
  v1::SubscribeUpdate first_, msg_;
};

}  // namespace

class RawGrpcServer::Service final : public v1::Events::CallbackService {
 public:
  Service(long count, size_t payload_bytes) : count_(count) {
    auto* e = proto_.mutable_event();
    e->set_session("s-00000000");
    e->set_kind("stream_event");
    e->set_ts_ms(1);
    e->set_subscription(1);
    e->set_payload(std::string(payload_bytes, 'x'));
  }
  grpc::ServerWriteReactor<v1::SubscribeUpdate>* Subscribe(grpc::CallbackServerContext*,
                                                           const v1::SubscribeRequest*) override {
    return new Writer(count_, proto_);
  }

 private:
  long count_;
  v1::SubscribeUpdate proto_;
};

RawGrpcServer::RawGrpcServer(long count, size_t payload_bytes)
    : service_(std::make_unique<Service>(count, payload_bytes)) {
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  b.RegisterService(service_.get());
  server_ = b.BuildAndStart();
  if (!server_ || port_ == 0) throw std::runtime_error("raw gRPC server: cannot listen");
}

RawGrpcServer::~RawGrpcServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace ccmux::bench
