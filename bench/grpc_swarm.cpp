#include "grpc_swarm.h"

#include <chrono>

namespace ccmux::bench {

namespace v1 = ::ccmux::v1;

std::shared_ptr<grpc::Channel> bench_channel(const GrpcTarget& t) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  if (t.ca_pem.empty()) return grpc::CreateCustomChannel(t.address, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = t.ca_pem;
  return grpc::CreateCustomChannel(t.address, grpc::SslCredentials(o), args);
}

void authorize(grpc::ClientContext& ctx, const GrpcTarget& t) { ctx.AddMetadata("authorization", "Bearer " + t.token); }

class GrpcSwarm::Reader final : public grpc::ClientReadReactor<v1::SubscribeUpdate> {
 public:
  Reader(GrpcSwarm& swarm, int index, const GrpcTarget& t, const v1::SubscribeRequest& req)
      : swarm_(swarm), index_(index), channel_(bench_channel(t)), stub_(v1::Events::NewStub(channel_)), req_(req) {
    authorize(ctx_, t);
  }
  void start() {
    stub_->async()->Subscribe(&ctx_, &req_, this);
    StartRead(&update_);
    StartCall();
  }
  void cancel() { ctx_.TryCancel(); }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    swarm_.handler_(index_, update_);
    StartRead(&update_);
  }
  void OnDone(const grpc::Status& s) override { swarm_.done(s); }

 private:
  GrpcSwarm& swarm_;
  int index_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Events::Stub> stub_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest req_;
  v1::SubscribeUpdate update_;
};

GrpcSwarm::GrpcSwarm(const GrpcTarget& t, int streams, const v1::SubscribeRequest& req, Handler on_update)
    : handler_(std::move(on_update)) {
  for (int i = 0; i < streams; ++i) readers_.push_back(std::make_unique<Reader>(*this, i, t, req));
  for (auto& r : readers_) r->start();
}

GrpcSwarm::~GrpcSwarm() {
  for (auto& r : readers_) r->cancel();
  std::unique_lock lock(mu_);
  // Bounded: a reactor whose OnDone never came would otherwise hang the bench.
  cv_.wait_for(lock, std::chrono::seconds(30), [&] { return ended_ == static_cast<int>(readers_.size()); });
  if (ended_ != static_cast<int>(readers_.size())) std::abort();  // freeing live reactors would crash later
}

void GrpcSwarm::done(const grpc::Status& s) {
  std::lock_guard lock(mu_);
  ++ended_;
  if (!s.ok() && error_.empty()) error_ = std::to_string(s.error_code()) + " " + s.error_message();
  cv_.notify_all();
}

int GrpcSwarm::ended() {
  std::lock_guard lock(mu_);
  return ended_;
}

std::string GrpcSwarm::first_error() {
  std::lock_guard lock(mu_);
  return error_;
}

}  // namespace ccmux::bench
