// Hook payloads: GitLab's documented shapes read into structs; hostile ones (wrong types,
// missing fields, deep, huge, random mutations) give an error naming the field and never throw.
#include "gitlab_fake.h"
#include "hook_payload.h"

#include <gtest/gtest.h>

#include <random>

namespace ccmux::gitlab {
namespace {

using nlohmann::json;

TEST(HookPayload, NoteOnAMergeRequest) {
  auto p = parse_hook(test::sample_mr_note_hook(1244, "@ccmux please rename it", 1));
  ASSERT_TRUE(p) << p.error;
  auto& n = std::get<NoteEvent>(*p.value);
  EXPECT_EQ(n.note_id, 1244);
  EXPECT_EQ(n.note, "@ccmux please rename it");
  EXPECT_EQ(n.noteable_type, "MergeRequest");
  EXPECT_EQ(n.user.username, "alice");
  EXPECT_EQ(n.user.id, 7);
  EXPECT_EQ(n.project.id, 5);
  EXPECT_EQ(n.project.path_with_namespace, "grp/app");
  EXPECT_EQ(n.project.git_http_url, "http://gitlab.example/grp/app.git");
  EXPECT_FALSE(n.system);
  ASSERT_TRUE(n.merge_request);
  EXPECT_EQ(n.merge_request->iid, 1);
  EXPECT_EQ(n.merge_request->source_branch, "feature");
  EXPECT_EQ(n.merge_request->target_branch, "main");
  EXPECT_EQ(n.merge_request->title, "Add greeting");
  EXPECT_EQ(n.merge_request->description, "Says hello.");
  EXPECT_EQ(n.merge_request->last_commit_sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  EXPECT_FALSE(n.issue);
}

TEST(HookPayload, NoteOnAnIssueAndOnACommit) {
  auto p = parse_note_hook(test::sample_issue_note_hook(55, "@ccmux fix this", 3));
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->noteable_type, "Issue");
  ASSERT_TRUE(p.value->issue);
  EXPECT_EQ(p.value->issue->iid, 3);
  EXPECT_EQ(p.value->issue->title, "Greeting is rude");
  EXPECT_FALSE(p.value->merge_request);
  json commit = test::sample_mr_note_hook(56, "nice");
  commit.erase("merge_request");
  commit["object_attributes"]["noteable_type"] = "Commit";
  commit["commit"] = {{"id", "abc"}, {"message", "m"}};
  auto c = parse_note_hook(commit);
  ASSERT_TRUE(c) << c.error;  // read; the flow decides it is not for it
  EXPECT_FALSE(c.value->merge_request);
  EXPECT_FALSE(c.value->issue);
}

TEST(HookPayload, FailedMergeRequestPipeline) {
  auto p = parse_hook(test::sample_pipeline_hook(31, "failed", 1, 380));
  ASSERT_TRUE(p) << p.error;
  auto& e = std::get<PipelineEvent>(*p.value);
  EXPECT_EQ(e.pipeline_id, 31);
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(e.ref, "feature");
  EXPECT_EQ(e.source, "merge_request_event");
  EXPECT_EQ(e.project.path_with_namespace, "grp/app");
  ASSERT_TRUE(e.merge_request);
  EXPECT_EQ(e.merge_request->iid, 1);
  ASSERT_EQ(e.builds.size(), 2u);
  EXPECT_EQ(e.builds[0].id, 380);
  EXPECT_EQ(e.builds[0].status, "failed");
  EXPECT_EQ(e.builds[0].failure_reason, "script_failure");
  EXPECT_EQ(e.builds[1].status, "success");
  EXPECT_EQ(e.builds[1].failure_reason, "");  // null
}

TEST(HookPayload, ABranchPipelineHasNoMergeRequest) {
  json j = test::sample_pipeline_hook(32, "success");
  j["merge_request"] = nullptr;  // GitLab sends null for a branch pipeline
  j["object_attributes"]["source"] = "push";
  auto p = parse_pipeline_hook(j);
  ASSERT_TRUE(p) << p.error;
  EXPECT_FALSE(p.value->merge_request);
}

// One hostile change to a good payload, and the words the error must contain.
struct Hostile {
  const char* pointer;
  json value;
  const char* error;
};

TEST(HookPayload, WrongTypesAndMissingFieldsAreNamedInTheError) {
  const Hostile note_cases[] = {
      {"/object_attributes/id", "1244", "object_attributes.id: expected an integer, got string"},
      {"/object_attributes/id", 12.5, "object_attributes.id: expected an integer, got number"},
      {"/object_attributes/id", json(18446744073709551615ull), "object_attributes.id: integer out of range"},
      {"/object_attributes/id", nullptr, "object_attributes.id: missing"},
      {"/object_attributes/note", json::object(), "object_attributes.note: expected a string, got object"},
      {"/object_attributes/note", "", "object_attributes.note: empty"},
      {"/object_attributes/noteable_type", 3, "object_attributes.noteable_type: expected a string"},
      {"/object_attributes/system", "false", "object_attributes.system: expected true/false, got string"},
      {"/object_attributes", "x", "object_attributes: expected an object, got string"},
      {"/user/username", 5, "user.username: expected a string, got number"},
      {"/user", json::array(), "user: expected an object, got array"},
      {"/user/id", nullptr, "user.id: missing"},
      {"/project/id", "5", "project.id: expected an integer"},
      {"/project/path_with_namespace", nullptr, "project.path_with_namespace: missing"},
      {"/project", nullptr, "project: missing"},
      {"/merge_request", nullptr, "merge_request: missing"},
      {"/merge_request/iid", "1", "merge_request.iid: expected an integer, got string"},
      {"/merge_request/source_branch", json::array({"a"}), "merge_request.source_branch: expected a string, got array"},
      {"/merge_request/last_commit", "abc", "merge_request.last_commit: expected an object, got string"},
      {"/merge_request/last_commit/id", 7, "merge_request.last_commit.id: expected a string"},
      {"/object_kind", "push", "object_kind is 'push', expected 'note'"},
      {"/object_kind", 7, "object_kind: expected a string, got number"},
  };
  for (auto& h : note_cases) {
    json j = test::sample_mr_note_hook(1244, "@ccmux go");
    j[json::json_pointer(h.pointer)] = h.value;
    auto p = parse_note_hook(j);
    EXPECT_FALSE(p) << h.pointer;
    EXPECT_NE(p.error.find(h.error), std::string::npos) << h.pointer << " -> " << p.error;
  }
  const Hostile pipeline_cases[] = {
      {"/object_attributes/status", nullptr, "object_attributes.status: missing"},
      {"/object_attributes/tag", 0, "object_attributes.tag: expected true/false"},
      {"/builds", json::object(), "builds: expected an array, got object"},
      {"/builds/0", 3, "builds[0]: expected an object, got number"},
      {"/builds/1/id", "x", "builds[1].id: expected an integer, got string"},
      {"/builds/0/failure_reason", false, "builds[0].failure_reason: expected a string, got boolean"},
      {"/merge_request/iid", nullptr, "merge_request.iid: missing"},
  };
  for (auto& h : pipeline_cases) {
    json j = test::sample_pipeline_hook(31, "failed");
    j[json::json_pointer(h.pointer)] = h.value;
    auto p = parse_pipeline_hook(j);
    EXPECT_FALSE(p) << h.pointer;
    EXPECT_NE(p.error.find(h.error), std::string::npos) << h.pointer << " -> " << p.error;
  }
}

TEST(HookPayload, OtherKindsAndNonObjectsAreErrors) {
  EXPECT_NE(parse_hook(json{{"object_kind", "push"}}).error.find("unsupported object_kind 'push'"), std::string::npos);
  EXPECT_NE(parse_hook(json::array()).error.find("payload: expected an object, got array"), std::string::npos);
  EXPECT_NE(parse_hook(json(nullptr)).error.find("expected an object"), std::string::npos);
  EXPECT_NE(parse_hook(json::object()).error.find("object_kind: missing"), std::string::npos);
  EXPECT_NE(parse_hook(json{{"object_kind", std::string("\x01\x02") + "evil\n"}}).error.find("'??evil?'"), std::string::npos);
}

TEST(HookPayload, TextThatIsNotJsonTooDeepOrTooBig) {
  EXPECT_NE(parse_hook_text("{\"object_kind\":").error.find("payload is not JSON"), std::string::npos);
  std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_NE(parse_hook_text(deep).error.find("nested deeper than 64"), std::string::npos);
  std::string big(2u << 20, ' ');
  EXPECT_NE(parse_hook_text(big).error.find("over 1048576"), std::string::npos);
  auto ok = parse_hook_text(test::sample_mr_note_hook(1, "@ccmux hi").dump());
  EXPECT_TRUE(ok) << ok.error;
}

TEST(HookPayload, AHugeNoteIsCutNotRefused) {
  std::string note = "@ccmux " + std::string(kMaxHookString + 1000, 'x');
  auto p = parse_note_hook(test::sample_mr_note_hook(9, note));
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->note.size(), kMaxHookString);
}

TEST(HookPayload, AHugeNoteIsCutBetweenCharactersAndDumpsAgain) {
  // "é" is two bytes, starting at odd offsets after the 7-byte prefix: the limit (even)
  // falls inside one of them.
  std::string note = "@ccmux ";
  while (note.size() < kMaxHookString + 100) note += "\xC3\xA9";
  auto p = parse_note_hook(test::sample_mr_note_hook(9, note));
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.value->note.size(), kMaxHookString - 1);  // the half character is left out
  EXPECT_NO_THROW((void)json(p.value->note).dump());   // strict dump: throws on invalid UTF-8
  // The object_kind quoted in an error is cut the same way.
  std::string kind = "x" + std::string(30, 'a');
  for (int i = 0; i < 10; ++i) kind += "\xC3\xA9";
  auto bad = parse_note_hook(json{{"object_kind", kind}});
  ASSERT_FALSE(bad);
  EXPECT_NO_THROW((void)json(bad.error).dump());
}

TEST(HookPayload, TooManyBuildsAreRefused) {
  json j = test::sample_pipeline_hook(31, "failed");
  json b = j["builds"][0];
  j["builds"] = json::array();
  for (size_t i = 0; i <= kMaxHookBuilds; ++i) j["builds"].push_back(b);
  EXPECT_NE(parse_pipeline_hook(j).error.find("more than 1000"), std::string::npos);
}

// Every field of both samples swapped for a value of every other type, and random
// deletions: never an exception, always a value or an error.
TEST(HookPayload, MutatedPayloadsNeverThrow) {
  const json replacements[] = {nullptr, true, -1, 1.5, "s", json::array(), json::object(), json::array({1, "x"}),
                               json(18446744073709551615ull), json(-9223372036854775807ll - 1)};
  std::mt19937 rng(15);
  size_t ok = 0, refused = 0;
  for (const json& sample : {test::sample_mr_note_hook(1, "@ccmux x"), test::sample_issue_note_hook(2, "@ccmux y"),
                             test::sample_pipeline_hook(3, "failed")}) {
    json flat = sample.flatten();
    for (auto& [pointer, _] : flat.items()) {
      for (const json& r : replacements) {
        json j = sample;
        j[json::json_pointer(pointer)] = r;
        auto p = parse_hook(j);
        (p ? ok : refused)++;
        if (!p) {
          EXPECT_FALSE(p.error.empty());
        }
      }
    }
    for (int round = 0; round < 300; ++round) {
      json j = flat;
      for (auto it = j.begin(); it != j.end();) it = (rng() % 5 == 0) ? j.erase(it) : std::next(it);
      auto p = parse_hook(j.unflatten());
      (p ? ok : refused)++;
    }
  }
  EXPECT_GT(ok, 0u);
  EXPECT_GT(refused, 0u);
}

}  // namespace
}  // namespace ccmux::gitlab
