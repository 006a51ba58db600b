// Sessions and their turns: start one through the protocol (session.new in a worktree) or
// send to the one an MR already has (session.send); follow its events; when a turn ends,
// commit, push and report on GitLab.
#include "flow.h"
#include "render.h"

namespace ccmux::gitlab {

using nlohmann::json;

void Flow::start() {
  client_ = host_.open_client("gitlab", [this](std::string_view m) { on_client_message(m); });
  host_.client_send(client_, R"({"type":"hello","protocol":1,"client":"gitlab"})");
  // Sessions of an earlier run: follow them from the first event not yet handled.
  for (auto& t : store_.load_all()) {
    uint64_t from = t.last_seq + 1;
    track(std::move(t), from);
  }
}

const ProjectConfig* Flow::project_of(const Target& t) const {
  for (auto& p : cfg_.projects)
    if (p.key == t.project_key) return &p;
  return nullptr;
}

void Flow::deliver(const Target& t, const ProjectConfig& p, const Trigger& trig, const std::string& prompt,
                   std::function<Start()> prepare) {
  if (auto sid = store_.session_for(t); sid && sessions_.count(*sid)) return send_to(*sid, t, p, trig, prompt);
  std::string key = t.key();
  if (auto it = starting_.find(key); it != starting_.end()) {  // its session is being started
    it->second.push_back({trig, prompt});
    return;
  }
  starting_[key];
  const ProjectConfig* pp = &p;
  worker_.enqueue([this, t, pp, trig, prepare] {
    Start s;
    try {
      s = prepare();
    } catch (const std::exception& e) {
      s.error = e.what();
    }
    host_.post([this, t, pp, trig, s]() mutable { begin_session(t, *pp, trig, std::move(s)); });
  });
}

void Flow::begin_session(const Target& t, const ProjectConfig& p, const Trigger& trig, Start s) {
  auto fail = [this, t, trig](const std::string& why) {
    auto it = starting_.find(t.key());
    size_t dropped = it == starting_.end() ? 0 : it->second.size();
    if (it != starting_.end()) starting_.erase(it);
    host_.warn("gitlab: could not start a session for " + t.label() + ": " + why +
               (dropped ? " (" + std::to_string(dropped) + " later request(s) dropped with it)" : ""));
    post_note(t, "⚠️ ccmux: could not start a session: " + bounded(why, 1500), trig.marker() + ":error");
  };
  if (!s.error.empty()) return fail(s.error);
  json params = {{"cwd", p.clone}, {"worktree", s.worktree_name}, {"branch", s.branch}, {"prompt", s.prompt}};
  if (!s.from.empty()) params["from"] = s.from;
  if (!p.model.empty()) params["model"] = p.model;
  if (!p.permission_mode.empty()) params["permission_mode"] = p.permission_mode;
  request("session.new", params, [this, t, pp = &p, trig, s, fail](bool ok, const json& r) {
    if (!ok) return fail(r.value("message", r.dump()));
    std::vector<Pending> pending;
    if (auto it = starting_.find(t.key()); it != starting_.end()) {
      pending = std::move(it->second);
      starting_.erase(it);
    }
    Tracked tr;
    tr.session = r.value("id", "");
    tr.target = t;
    tr.branch = r.contains("branch") && r["branch"].is_string() ? r["branch"].get<std::string>() : s.branch;
    tr.worktree = r.contains("worktree") && r["worktree"].is_string() ? r["worktree"].get<std::string>() : r.value("cwd", "");
    tr.worktree_name = s.worktree_name;
    tr.base_branch = s.base_branch;
    tr.title = s.title;
    tr.triggers.push_back(trig);  // prompt_id 0: the first prompt
    store_.map_target(t, tr.session);
    std::string sid = tr.session;
    host_.info("gitlab: started session " + sid + " for " + t.label() + " in " + tr.worktree + " on branch " + tr.branch);
    StartNote note{sid, tr.worktree_name, tr.branch, session_link(cfg_.page_url, sid), trig.request, false, trig.kind == "pipeline"};
    track(std::move(tr), 1);
    post_note(t, start_note(note), trig.marker() + ":start");
    for (auto& p : pending) send_to(sid, t, *pp, p.trigger, p.prompt);
  });
}

void Flow::send_to(const std::string& session, const Target& t, const ProjectConfig&, const Trigger& trig,
                   const std::string& prompt) {
  request("session.send", {{"session", session}, {"prompt", prompt}}, [this, session, t, trig](bool ok, const json& r) {
    if (!ok) {
      std::string why = r.value("message", r.dump());
      host_.warn("gitlab: could not send to session " + session + " for " + t.label() + ": " + why);
      if (r.value("code", "") == "not_found") {  // the session is gone: the next comment starts a new one
        store_.forget_target(t);
        sessions_.erase(session);
      }
      return post_note(t, "⚠️ ccmux: could not send this to session `" + session + "`: " + bounded(why, 1000),
                       trig.marker() + ":error");
    }
    auto it = sessions_.find(session);
    if (it != sessions_.end()) {
      Trigger tg = trig;
      tg.prompt_id = r.value("prompt_id", int64_t{0});
      it->second.triggers.push_back(tg);
      store_.save(it->second);
    }
    StartNote note{session, "", "", session_link(cfg_.page_url, session), trig.request, true, trig.kind == "pipeline"};
    post_note(t, start_note(note), trig.marker() + ":queued");
  });
}

void Flow::track(Tracked t, uint64_t from_seq) {
  std::string sid = t.session;
  store_.save(t);
  sessions_[sid] = std::move(t);
  if (!host_.subscribe(sid, from_seq, [this, sid](const Event& ev) { on_event(sid, ev); }))
    host_.warn("gitlab: could not follow session " + sid + " (gone?)");
}

void Flow::on_event(const std::string& sid, const Event& ev) {
  auto it = sessions_.find(sid);
  if (it == sessions_.end()) return;
  Tracked& t = it->second;
  if (ev.seq <= t.last_seq) return;
  if (ev.kind != "prompt_queued" && ev.kind != "prompt_sent" && ev.kind != "result" && ev.kind != "session_failed") return;
  json p = json::parse(ev.json, nullptr, false);
  if (!p.is_object()) return;
  if (ev.kind == "prompt_queued") {
    // The first prompt's id is known only now: it belongs to the trigger that started the session.
    int64_t id = p.value("prompt_id", int64_t{0});
    if (!t.trigger_of(id))
      for (auto& trig : t.triggers)
        if (trig.prompt_id == 0) {
          trig.prompt_id = id;
          store_.save(t);
          break;
        }
  } else if (ev.kind == "prompt_sent") {
    t.current_prompt = p.value("prompt_id", int64_t{0});
  } else if (ev.kind == "result") {
    finish_turn(t, ev.seq, p);
  } else {
    post_note(t.target, failed_note(sid, p.value("reason", "")),
              "ccmux:session=" + sid + ":failed=" + std::to_string(ev.seq));
    t.last_seq = ev.seq;
    store_.save(t);
  }
}

void Flow::finish_turn(Tracked& t, uint64_t seq, const json& result) {
  const Trigger* trig = t.trigger_of(t.current_prompt);
  std::string what = "ccmux: " + t.target.label();
  std::string request = trig ? trig->request : "";
  if (trig && trig->kind == "pipeline") what = "ccmux: fix pipeline #" + std::to_string(trig->id) + " (" + t.target.label() + ")";
  ResultNote note;
  note.session = t.session;
  note.link = session_link(cfg_.page_url, t.session);
  note.summary = result.contains("result") && result["result"].is_string() ? result["result"].get<std::string>() : "";
  note.branch = t.branch;
  note.is_error = result.value("is_error", false);
  note.cost_usd = result.contains("total_cost_usd") && result["total_cost_usd"].is_number() ? result["total_cost_usd"].get<double>() : 0;
  note.num_turns = result.contains("num_turns") && result["num_turns"].is_number_integer() ? result["num_turns"].get<int>() : 0;
  note.push = cfg_.push;
  bool open_mr = t.target.on == Noteable::issue && cfg_.open_mr_for_issues && t.opened_mr.empty();
  Tracked snapshot = t;  // the worker's copy
  std::string message = commit_message(what, request, t.session);
  worker_.enqueue([this, snapshot, seq, note, message, open_mr]() mutable {
    note.publication = git_.publish(snapshot.worktree, message, snapshot.branch, cfg_.push);
    if (!note.publication.error.empty()) host_.warn("gitlab: session " + snapshot.session + ": " + note.publication.error);
    int64_t opened_iid = 0;
    if (open_mr && note.publication.pushed) {
      try {
        MergeRequest mr = api_->create_mr(snapshot.target.api_project(), snapshot.branch, snapshot.base_branch,
                                          "Resolve \"" + snapshot.title + "\"",
                                          "Closes #" + std::to_string(snapshot.target.iid) + "\n\nMade by ccmux session " +
                                              snapshot.session + ".");
        note.opened_mr = mr.web_url;
        opened_iid = mr.iid;
      } catch (const ApiError& e) {
        note.publication.error += std::string(note.publication.error.empty() ? "" : "\n") + "opening a merge request failed: " + e.what();
      }
    }
    try {
      api_->create_note(snapshot.target.api_project(), snapshot.target.on, snapshot.target.iid, result_note(note),
                        "ccmux:session=" + snapshot.session + ":result=" + std::to_string(seq));
    } catch (const ApiError& e) {
      host_.warn("gitlab: could not post the result of session " + snapshot.session + " on " + snapshot.target.label() + ": " + e.what());
    }
    std::string sid = snapshot.session, opened = note.opened_mr;
    host_.post([this, sid, seq, opened, opened_iid] {
      auto it = sessions_.find(sid);
      if (it == sessions_.end()) return;
      Tracked& t = it->second;
      t.last_seq = std::max<uint64_t>(t.last_seq, seq);
      if (!opened.empty()) {  // comments on the new MR go to this session too
        t.opened_mr = opened;
        Target mr = t.target;
        mr.on = Noteable::merge_request;
        mr.iid = opened_iid;
        store_.map_target(mr, sid);
      }
      store_.save(t);
    });
  });
}

void Flow::post_note(const Target& t, const std::string& body, const std::string& marker) {
  worker_.enqueue([this, t, body, marker] {
    try {
      api_->create_note(t.api_project(), t.on, t.iid, body, marker);
    } catch (const ApiError& e) {
      host_.warn("gitlab: could not post a note on " + t.label() + " of project " + t.project_key + ": " + e.what());
    }
  });
}

void Flow::request(const std::string& method, const json& params, std::function<void(bool, const json&)> done) {
  int64_t id = next_request_++;
  waiting_[id] = std::move(done);
  host_.client_send(client_, json{{"type", "request"}, {"id", id}, {"method", method}, {"params", params}}.dump());
}

void Flow::on_client_message(std::string_view text) {
  json m = json::parse(text, nullptr, false);
  if (!m.is_object() || m.value("type", "") != "response" || !m.contains("id") || !m["id"].is_number_integer()) return;
  auto it = waiting_.find(m["id"].get<int64_t>());
  if (it == waiting_.end()) return;
  auto done = std::move(it->second);
  waiting_.erase(it);
  if (m.contains("error")) done(false, m["error"]);
  else done(true, m.value("result", json::object()));
}

}  // namespace ccmux::gitlab
