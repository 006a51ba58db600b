#include "protocol/method_registry.h"

#include "errors.h"

#include <algorithm>
#include <cmath>

namespace ccmux {

using nlohmann::json;

const char* to_string(Trust t) { return t == Trust::local ? "local" : "any"; }

const char* to_string(ParamType t) {
  switch (t) {
    case ParamType::string: return "string";
    case ParamType::integer: return "integer";
    case ParamType::number: return "number";
    case ParamType::boolean: return "boolean";
    case ParamType::object: return "object";
    case ParamType::array: return "array";
    case ParamType::any: return "any";
  }
  return "any";
}

namespace {

int64_t int_bound(double b, int64_t unbounded) {
  return std::isinf(b) ? unbounded : static_cast<int64_t>(b);
}

// The very reads the handlers made before the registry, so the messages stay the same.
void check_one(const Param& q, const Fields& f) {
  const char* k = q.name.c_str();
  if (!f.has(k)) {
    if (!q.required) return;
    if (q.type == ParamType::string) f.required_str(k);  // throws "must be a non-empty string"
    throw CommandError("bad_params", "missing parameter '" + q.name + "'");
  }
  switch (q.type) {
    case ParamType::string:
      if (q.required) f.required_str(k);
      else f.str(k);
      break;
    case ParamType::integer:
      f.integer(k, 0, int_bound(q.min, std::numeric_limits<int64_t>::min()),
                int_bound(q.max, std::numeric_limits<int64_t>::max()));
      break;
    case ParamType::number: f.number(k, 0, q.min, q.max); break;
    case ParamType::boolean: f.boolean(k, false); break;
    case ParamType::object: f.object(k); break;
    case ParamType::array: f.array(k); break;
    case ParamType::any: break;
  }
}

void check_params(const Method& m, const Fields& f) {
  for (const Param& q : m.params) {
    try {
      check_one(q, f);
    } catch (const CommandError&) {
      if (q.refuse.empty()) throw;
      throw CommandError("bad_params", q.refuse);
    }
  }
}

}  // namespace

bool MethodRegistry::add(Method m) {
  if (m.name.empty() || methods_.count(m.name)) return false;
  if (!m.plugin.empty() && reserved(m.name)) return false;
  std::string name = m.name;
  methods_.emplace(std::move(name), std::make_shared<const Method>(std::move(m)));
  return true;
}

void MethodRegistry::reserve_prefix(std::string prefix, Trust trust, std::string message) {
  reserved_.push_back({std::move(prefix), trust, std::move(message)});
}

const MethodRegistry::Reserved* MethodRegistry::reserved(const std::string& name) const {
  for (const auto& r : reserved_)
    if (name.compare(0, r.prefix.size(), r.prefix) == 0) return &r;
  return nullptr;
}

void MethodRegistry::remove_plugin(const std::string& plugin) {
  for (auto it = methods_.begin(); it != methods_.end();)
    it = it->second->plugin == plugin ? methods_.erase(it) : std::next(it);
}

std::vector<std::string> MethodRegistry::names_of(const std::string& plugin) const {
  std::vector<std::string> out;
  for (const auto& [name, m] : methods_)
    if (m->plugin == plugin) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

void MethodRegistry::call(Core& core, ProtocolClient& client, const std::string& who, bool trusted,
                          const std::string& method, const json& params, const MethodDone& done) const {
  auto it = methods_.find(method);
  if (it == methods_.end()) {
    // A reserved name the caller may not use is refused as its siblings are: the answer
    // does not tell an untrusted caller which names exist.
    const Reserved* r = reserved(method);
    if (r && r->trust == Trust::local && !trusted) throw CommandError("forbidden", r->message);
    throw CommandError("unknown_method", "unknown method '" + method + "'");
  }
  std::shared_ptr<const Method> m = it->second;  // lives through the call, whatever it registers
  if (m->trust == Trust::local && !trusted) throw CommandError("forbidden", m->forbidden);
  Call c{core, client, who, trusted, method, params, Fields(params)};
  check_params(*m, c.p);
  m->handler(c, done);
}

json MethodRegistry::describe(const Method& m) {
  json params = nullptr;
  if (m.params_declared) {
    params = json::array();
    for (const Param& q : m.params) {
      json p = {{"name", q.name}, {"type", to_string(q.type)}, {"required", q.required}, {"meaning", q.meaning}};
      auto bound = [&](const char* key, double b) {
        if (std::isinf(b)) return;
        if (q.type == ParamType::integer) p[key] = static_cast<int64_t>(b);
        else p[key] = b;
      };
      bound("min", q.min);
      bound("max", q.max);
      params.push_back(std::move(p));
    }
  }
  json out = {{"name", m.name}, {"trust", to_string(m.trust)}, {"params", params}, {"result", m.result}};
  if (!m.plugin.empty()) out["plugin"] = m.plugin;
  return out;
}

json MethodRegistry::describe() const {
  std::vector<const Method*> all;
  for (const auto& [name, m] : methods_) all.push_back(m.get());
  std::sort(all.begin(), all.end(), [](const Method* a, const Method* b) { return a->name < b->name; });
  json out = json::array();
  for (const Method* m : all) out.push_back(describe(*m));
  return out;
}

}  // namespace ccmux
