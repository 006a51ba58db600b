// ccmux.v1.Machine: what runs here (status, plugins, projects, methods) and any method by name.
#include "grpc_server.h"
#include "unary_call.h"

#include "ccmux/v1/machine.grpc.pb.h"

namespace ccmux::grpcx {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

int64_t num(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// status.pending_approvals and friends may be a number or an object of counts.
int64_t count(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_array()) return static_cast<int64_t>(it->size());
  return 0;
}

class MachineService final : public v1::Machine::CallbackService {
 public:
  explicit MachineService(GrpcServer& srv) : srv_(srv) {}

  ServerUnaryReactor* Info(CallbackServerContext* ctx, const v1::InfoRequest*, v1::InfoResponse* resp) override {
    return unary(srv_, ctx, [resp](const std::shared_ptr<UnaryCall>& c) {
      resp->set_api("ccmux.v1");
      resp->set_identity(c->who().kind + ":" + c->who().name);
      c->call("status", json::object(), [c, resp](const json& st) {
        resp->set_version(st.value("version", ""));
        resp->set_protocol(static_cast<int32_t>(num(st, "protocol")));
        if (auto e = st.find("economy"); e != st.end()) resp->set_economy_json(e->dump());
        resp->set_health("ok");
        c->call("plugins.list", json::object(), [resp](const json& pl) {
          for (const auto& p : pl.at("plugins")) {
            to_proto(p, resp->add_plugins());
            if (p.value("state", "") == "failed") resp->set_health("plugin " + p.value("name", "?") + " failed");
          }
        });
      });
    });
  }
  ServerUnaryReactor* Status(CallbackServerContext* ctx, const v1::StatusRequest*, v1::StatusResponse* resp) override {
    return unary(srv_, ctx, [resp](const auto& c) {
      c->call("status", json::object(), [resp](const json& st) {
        resp->set_version(st.value("version", ""));
        resp->set_protocol(static_cast<int32_t>(num(st, "protocol")));
        resp->set_pid(num(st, "pid"));
        resp->set_uptime_s(num(st, "uptime_s"));
        resp->set_pending_approvals(count(st, "pending_approvals"));
        resp->set_events_stored(num(st, "events"));
        resp->set_clients(count(st, "clients"));
        if (auto it = st.find("cost_usd"); it != st.end() && it->is_number()) resp->set_cost_usd(it->get<double>());
        resp->set_daemon_rss_bytes(num(st, "daemon_rss_bytes"));
        resp->set_claude_rss_bytes(num(st, "claude_rss_bytes"));
        resp->set_json(st.dump());
      });
    });
  }
  ServerUnaryReactor* Plugins(CallbackServerContext* ctx, const v1::PluginsRequest*, v1::PluginsResponse* resp) override {
    return unary(srv_, ctx, [resp](const auto& c) {
      c->call("plugins.list", json::object(), [resp](const json& pl) {
        for (const auto& p : pl.at("plugins")) to_proto(p, resp->add_plugins());
      });
    });
  }
  ServerUnaryReactor* Projects(CallbackServerContext* ctx, const v1::ProjectsRequest*, v1::ProjectsResponse* resp) override {
    return unary(srv_, ctx, [resp](const auto& c) {
      c->call("projects.list", json::object(), [resp](const json& r) {
        for (const auto& root : r.at("roots")) {
          auto* out = resp->add_roots();
          out->set_root(root.value("root", ""));
          if (auto f = root.find("folders"); f != root.end() && f->is_array())
            for (const auto& name : *f)
              if (name.is_string()) out->add_folders(name.get<std::string>());
        }
      });
    });
  }
  ServerUnaryReactor* Methods(CallbackServerContext* ctx, const v1::MethodsRequest*, v1::MethodsResponse* resp) override {
    return unary(srv_, ctx, [resp](const auto& c) {
      c->call("methods.list", json::object(), [resp](const json& r) { resp->set_json(r.dump()); });
    });
  }
  ServerUnaryReactor* Call(CallbackServerContext* ctx, const v1::CallRequest* req, v1::CallResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      json params = json_bytes(req->params_json(), "params_json");
      if (!params.is_object()) throw BadRequest("field 'params_json' must be a JSON object");
      if (req->method().empty()) throw BadRequest("field 'method' must be a method name (Machine.Methods lists them)");
      c->call(req->method(), params, [resp](const json& r) { resp->set_result_json(r.dump()); });
    });
  }

 private:
  GrpcServer& srv_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_machine_service(GrpcServer& server) {
  return std::make_unique<MachineService>(server);
}

}  // namespace ccmux::grpcx
