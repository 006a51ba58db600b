// Webhook events → triggers: which project, whether the comment calls the trigger word, who
// wrote it, whether this delivery was seen before, and what to ask the session.
#include "flow.h"
#include "render.h"

namespace ccmux::gitlab {

Flow::Flow(Host& host, FlowConfig config, std::shared_ptr<GitLabApi> api)
    : host_(host),
      cfg_(std::move(config)),
      api_(std::move(api)),
      git_(cfg_.commit_author, &stopping_),
      store_(host),
      worker_([&host](const char* what) { host.error(std::string("gitlab: a background job failed: ") + what); }) {}

Flow::~Flow() { stop(); }

void Flow::stop() {
  stopping_ = true;
  worker_.stop();
}

void Flow::on_delivery(WebhookDelivery&& d) {
  auto parsed = parse_hook(d.payload);
  if (!parsed) {
    host_.warn("gitlab: refused a " + d.event + " delivery: " + parsed.error);
    return;
  }
  auto event = std::make_shared<HookEvent>(std::move(*parsed.value));
  host_.post([this, event] {
    if (auto* note = std::get_if<NoteEvent>(event.get())) on_note(*note);
    else if (auto* pipeline = std::get_if<PipelineEvent>(event.get())) on_pipeline(*pipeline);
  });
}

void Flow::on_note(const NoteEvent& e) {
  if (e.system) return;  // GitLab's own notes ("added 1 commit")
  const ProjectConfig* p = cfg_.find(e.project.id, e.project.path_with_namespace);
  if (!p) {
    host_.warn("gitlab: ignored a note from project " + e.project.path_with_namespace + " (" +
               std::to_string(e.project.id) + "): not in `projects`");
    return;
  }
  // Our own notes carry a marker; a summary quoting the trigger word must not start a session.
  if (e.note.find("<!-- ccmux:") != std::string::npos) return;
  auto request = request_after_trigger(e.note, cfg_.trigger);
  if (!request) return;
  Target t;
  t.project_id = e.project.id;
  t.project_key = p->key;
  if (e.noteable_type == "MergeRequest" && e.merge_request) {
    t.on = Noteable::merge_request;
    t.iid = e.merge_request->iid;
  } else if (e.noteable_type == "Issue" && e.issue) {
    t.on = Noteable::issue;
    t.iid = e.issue->iid;
  } else {
    host_.info("gitlab: ignored " + cfg_.trigger + " in a comment on a " + e.noteable_type + " (only merge requests and issues start sessions)");
    return;
  }
  if (!store_.first_delivery("note/" + std::to_string(e.project.id) + "/" + std::to_string(e.note_id))) {
    host_.info("gitlab: note " + std::to_string(e.note_id) + " on " + e.project.path_with_namespace + " " + t.label() +
               " was delivered again: already handled, nothing done");
    return;
  }
  Trigger trig{"note", e.note_id, *request, e.user.username, 0};
  with_permission(e, t, [this, t, p, trig, e] { on_request(t, *p, trig, e); });
}

void Flow::with_permission(const NoteEvent& e, const Target& t, std::function<void()> allowed) {
  if (cfg_.allowed_users.count(e.user.username)) return allowed();
  if (cfg_.allowed_groups.empty() || e.user.id == 0) return refuse(e, t);
  // Group membership is GitLab's to say: asked on the worker, answered on the loop.
  worker_.enqueue([this, e, t, allowed] {
    bool member = false;
    std::string error;
    for (auto& group : cfg_.allowed_groups) {
      try {
        if (api_->is_group_member(group, e.user.id, cfg_.min_access_level)) {
          member = true;
          break;
        }
      } catch (const ApiError& x) {
        error = x.what();
      }
    }
    host_.post([this, e, t, allowed, member, error] {
      if (member) return allowed();
      if (!error.empty()) host_.warn("gitlab: could not check @" + e.user.username + "'s groups: " + error);
      refuse(e, t);
    });
  });
}

void Flow::refuse(const NoteEvent& e, const Target& t) {
  host_.warn("gitlab: refused a request by @" + e.user.username + " on " + e.project.path_with_namespace + " " + t.label() +
             ": not in allowed_users or allowed_groups" + (cfg_.refuse_with_note ? "" : " (ignored: on_refused is ignore)"));
  if (cfg_.refuse_with_note)
    post_note(t, refusal_note(e.user.username), Trigger{"note", e.note_id, "", "", 0}.marker() + ":refused");
}

void Flow::on_request(const Target& t, const ProjectConfig& p, const Trigger& trig, const NoteEvent& e) {
  std::string request = trig.request.empty() ? "Look at this and say what you would do." : trig.request;
  host_.info("gitlab: @" + trig.author + " asked on " + e.project.path_with_namespace + " " + t.label() + ": " +
             bounded(request, 200));
  const ProjectConfig* pp = &p;
  if (t.on == Noteable::merge_request) {
    deliver(t, p, trig, request, [this, t, pp, request] {
      Start s;
      MrChanges ch = api_->get_mr_changes(t.api_project(), t.iid);
      if (ch.mr.source_project_id && ch.mr.target_project_id && ch.mr.source_project_id != ch.mr.target_project_id) {
        s.error = "this merge request's branch is in another project (a fork); ccmux works on branches of this project only";
        return s;
      }
      s.worktree_name = "mr-" + std::to_string(t.iid);
      s.branch = ch.mr.source_branch;
      s.from = "origin/" + ch.mr.source_branch;
      s.error = git_.fetch(pp->clone);
      s.prompt = Blocks::array({{{"type", "text"}, {"text", mr_context(ch)}}, {{"type", "text"}, {"text", request}}});
      return s;
    });
    return;
  }
  std::string default_branch = e.project.default_branch;
  deliver(t, p, trig, request, [this, t, pp, request, default_branch] {
    Start s;
    Issue issue = api_->get_issue(t.api_project(), t.iid);
    s.base_branch = default_branch.empty() ? api_->get_project(t.api_project()).default_branch : default_branch;
    s.worktree_name = "issue-" + std::to_string(t.iid);
    s.branch = "ccmux/issue-" + std::to_string(t.iid);
    s.title = issue.title;
    s.error = git_.fetch(pp->clone);
    // A branch from an earlier run goes on from where it was.
    s.from = "origin/" + (git_.remote_branch_exists(pp->clone, s.branch) ? s.branch : s.base_branch);
    s.prompt = Blocks::array({{{"type", "text"}, {"text", issue_context(issue, s.branch)}}, {{"type", "text"}, {"text", request}}});
    return s;
  });
}

void Flow::on_pipeline(const PipelineEvent& e) {
  if (e.status != "failed") return;
  const ProjectConfig* p = cfg_.find(e.project.id, e.project.path_with_namespace);
  if (!p) {
    host_.warn("gitlab: ignored a pipeline of project " + e.project.path_with_namespace + ": not in `projects`");
    return;
  }
  if (!p->pipeline_fix) return;
  Target t;
  t.project_id = e.project.id;
  t.project_key = p->key;
  t.on = Noteable::merge_request;
  if (e.merge_request) {
    t.iid = e.merge_request->iid;
  } else {  // a branch pipeline: the MR of a session working on that branch
    for (auto& [_, s] : sessions_)
      if (s.target.project_id == e.project.id && s.target.on == Noteable::merge_request && s.branch == e.ref) t.iid = s.target.iid;
  }
  if (!t.iid) {
    host_.info("gitlab: pipeline " + std::to_string(e.pipeline_id) + " failed on " + e.ref + ": no merge request to fix it for");
    return;
  }
  if (!store_.first_delivery("pipeline/" + std::to_string(e.project.id) + "/" + std::to_string(e.pipeline_id) + "/" + e.status)) {
    host_.info("gitlab: pipeline " + std::to_string(e.pipeline_id) + " (" + e.status + ") was delivered again: already handled");
    return;
  }
  on_failed_pipeline(t, *p, e);
}

void Flow::on_failed_pipeline(const Target& t, const ProjectConfig& p, const PipelineEvent& e) {
  host_.info("gitlab: pipeline " + std::to_string(e.pipeline_id) + " failed on " + t.label() + " of " +
             e.project.path_with_namespace + ": asking a session to fix it");
  const ProjectConfig* pp = &p;
  int64_t pipeline = e.pipeline_id;
  std::string ref = e.ref;
  // The failed job and its log first (worker), then the prompt goes to the MR's session.
  worker_.enqueue([this, t, pp, pipeline, ref] {
    std::string prompt, error;
    try {
      auto jobs = api_->list_pipeline_jobs(t.api_project(), pipeline, true);
      const Job* job = nullptr;
      for (auto& j : jobs)
        if (!j.allow_failure && (!job || job->allow_failure)) job = &j;
      if (!job && !jobs.empty()) job = &jobs.front();
      if (!job) throw std::runtime_error("pipeline " + std::to_string(pipeline) + " has no failed job");
      std::string tail = log_tail(api_->job_trace_tail(t.api_project(), job->id), cfg_.log_tail_lines);
      prompt = pipeline_fix_prompt(pipeline, ref, job->name, job->stage, tail);
    } catch (const std::exception& x) {
      error = x.what();
    }
    host_.post([this, t, pp, pipeline, prompt, error] {
      Trigger trig{"pipeline", pipeline, "fix pipeline #" + std::to_string(pipeline), "", 0};
      if (!error.empty()) {
        host_.warn("gitlab: could not read the failure of pipeline " + std::to_string(pipeline) + ": " + error);
        return post_note(t, "⚠️ ccmux: pipeline #" + std::to_string(pipeline) + " failed, but its log could not be read: " + bounded(error, 500),
                         trig.marker() + ":error");
      }
      deliver(t, *pp, trig, prompt, [this, t, pp, prompt] {
        Start s;
        MrChanges ch = api_->get_mr_changes(t.api_project(), t.iid);
        s.worktree_name = "mr-" + std::to_string(t.iid);
        s.branch = ch.mr.source_branch;
        s.from = "origin/" + ch.mr.source_branch;
        s.error = git_.fetch(pp->clone);
        s.prompt = Blocks::array({{{"type", "text"}, {"text", mr_context(ch)}}, {{"type", "text"}, {"text", prompt}}});
        return s;
      });
    });
  });
}

}  // namespace ccmux::gitlab
