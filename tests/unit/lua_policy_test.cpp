#include "approvals/lua_policy.h"
#include "approvals/policy_engine.h"
#include "harness.h"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <sstream>

using namespace ccmux;
using nlohmann::json;

namespace {
PolicyRequest req(const std::string& tool, json input, const std::string& cwd = "/home/me/proj") {
  return PolicyRequest{tool, std::move(input), "s-1", cwd, "sonnet", json::array()};
}
PolicyVerdict run(const std::string& script, const PolicyRequest& r, LuaLimits limits = {}) {
  LuaPolicy p("test.lua", limits);
  std::string err = p.load(script);
  EXPECT_EQ(err, "");
  return p.decide(r);
}
}  // namespace

TEST(LuaPolicy, ReturnsDecisionAndReason) {
  auto v = run("function decide(r) if r.tool == 'Bash' then return 'deny', 'no shell' end end", req("Bash", {}));
  EXPECT_EQ(v.decision, "deny");
  EXPECT_EQ(v.reason, "no shell");
  EXPECT_EQ(run("function decide(r) end", req("Bash", {})).decision, "");
}

TEST(LuaPolicy, TableResultWithUpdatedInput) {
  auto v = run(R"(function decide(r)
    local i = r.input; i.command = i.command .. ' --dry-run'
    return {decision = 'allow', reason = 'rewritten', updated_input = i} end)",
               req("Bash", {{"command", "make"}}));
  EXPECT_EQ(v.decision, "allow");
  EXPECT_EQ(v.updated_input["command"], "make --dry-run");
}

TEST(LuaPolicy, RequestCarriesSessionAndNestedInput) {
  auto v = run(R"(function decide(r)
    return 'allow', r.session.id .. '|' .. r.session.cwd .. '|' .. r.session.model .. '|' .. r.input.opts[2] .. '|' .. tostring(r.input.n)
  end)",
               req("X", {{"opts", {"a", "b"}}, {"n", 3}}));
  EXPECT_EQ(v.reason, "s-1|/home/me/proj|sonnet|b|3");
}

TEST(LuaPolicy, InvalidDecisionIsAnErrorAndAsks) {
  auto v = run("function decide(r) return 'maybe' end", req("Bash", {}));
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("maybe"), std::string::npos);
}

TEST(LuaPolicy, SandboxHasNoIoOsPackageDebugRequireDofile) {
  auto v = run(R"(function decide(r)
    local seen = {}
    for _, name in ipairs({'io', 'package', 'debug', 'require', 'dofile', 'loadfile', 'collectgarbage'}) do
      if _G[name] ~= nil then seen[#seen + 1] = name end
    end
    if os.execute ~= nil or os.getenv ~= nil or os.remove ~= nil then seen[#seen + 1] = 'os.*' end
    if string.dump ~= nil then seen[#seen + 1] = 'string.dump' end
    if type(os.time()) ~= 'number' or type(os.clock()) ~= 'number' then seen[#seen + 1] = 'no os.time' end
    return 'allow', table.concat(seen, ',')
  end)",
               req("X", {}));
  EXPECT_EQ(v.decision, "allow");
  EXPECT_EQ(v.reason, "");
}

TEST(LuaPolicy, BytecodeCannotBeLoaded) {
  auto v = run(R"(function decide(r)
    local f, err = load('\27Lua\84\0\25\147\13\10\26\10', 'x')
    if f == nil then return 'deny', err end
    return 'allow'
  end)",
               req("X", {}));
  EXPECT_EQ(v.decision, "deny");
  EXPECT_NE(v.reason.find("binary"), std::string::npos) << v.reason;
  // Text chunks still load.
  EXPECT_EQ(run("function decide(r) return load('return \"allow\"')() end", req("X", {})).decision, "allow");
}

TEST(LuaPolicy, InfiniteLoopHitsInstructionBudgetAndAsks) {
  auto start = std::chrono::steady_clock::now();
  auto v = run("function decide(r) while true do end end", req("X", {}), LuaLimits{32u << 20, 100000});
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("instruction budget"), std::string::npos) << v.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(LuaPolicy, BudgetIsPerCallNotCumulative) {
  LuaPolicy p("t.lua", LuaLimits{32u << 20, 10000});
  ASSERT_EQ(p.load("function decide(r) local x = 0 for i = 1, 1000 do x = x + i end return 'allow' end"), "");
  for (int i = 0; i < 200; ++i) ASSERT_EQ(p.decide(req("X", {})).decision, "allow") << "call " << i;
}

TEST(LuaPolicy, MemoryBombHitsCapAndAsks) {
  auto v = run("function decide(r) local t = {} while true do t[#t + 1] = string.rep('x', 1e6) .. #t end end",
               req("X", {}), LuaLimits{8u << 20, 100000000});
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("memory"), std::string::npos) << v.error;
}

TEST(LuaPolicy, StateSurvivesErrorsAndStaysUsable) {
  LuaPolicy p("t.lua", LuaLimits{8u << 20, 100000});
  ASSERT_EQ(p.load("function decide(r) if r.tool == 'boom' then error('kaput') end return 'allow' end"), "");
  auto bad = p.decide(req("boom", {}));
  EXPECT_EQ(bad.decision, "ask");
  EXPECT_NE(bad.error.find("t.lua:1: kaput"), std::string::npos) << bad.error;
  EXPECT_EQ(p.decide(req("ok", {})).decision, "allow");
}

TEST(LuaPolicy, SyntaxErrorReportsFileAndLine) {
  LuaPolicy p("broken.lua", {});
  std::string err = p.load("function decide(r)\n  return 'allow'\nedn\n");
  EXPECT_EQ(err.rfind("broken.lua:", 0), 0u) << err;
  EXPECT_NE(err.find(":3:"), std::string::npos) << err;
  EXPECT_NE(LuaPolicy("x.lua", {}).load("local a = 1").find("does not define decide"), std::string::npos);
}

TEST(LuaPolicy, GlobHelper) {
  auto v = run("function decide(r) if ccmux.glob(r.input.command, 'git *') then return 'allow' end return 'ask' end",
               req("Bash", {{"command", "git status"}}));
  EXPECT_EQ(v.decision, "allow");
}

TEST(PolicyEngine, FirstAllowOrDenyWinsAskFallsThrough) {
  test::TempDir t;
  test::write_file(t.path + "/a.lua", "function decide(r) return 'ask', 'a wants a human' end");
  test::write_file(t.path + "/b.lua", "function decide(r) if r.tool == 'Bash' then return 'deny', 'b' end end");
  test::write_file(t.path + "/c.lua", "function decide(r) return 'allow', 'c' end");
  EventLoop loop;
  PolicyEngine e(loop, {});
  EXPECT_TRUE(e.load_sync({t.path + "/a.lua", t.path + "/b.lua", t.path + "/c.lua"}).empty());
  auto d = e.evaluate_sync(req("Bash", {}));
  EXPECT_EQ(d.verdict.decision, "deny");
  EXPECT_EQ(d.decided_by, "policy:" + t.path + "/b.lua");
  d = e.evaluate_sync(req("Read", {}));
  EXPECT_EQ(d.verdict.decision, "allow");
  EXPECT_EQ(d.decided_by, "policy:" + t.path + "/c.lua");
}

TEST(PolicyEngine, ReloadKeepsPreviousVersionOfBrokenScript) {
  test::TempDir t;
  std::string f = t.path + "/p.lua";
  test::write_file(f, "function decide(r) return 'deny', 'v1' end");
  EventLoop loop;
  PolicyEngine e(loop, {});
  ASSERT_TRUE(e.load_sync({f}).empty());
  test::write_file(f, "function decide(r) return 'allow' -- oops\n this is not lua\n");
  auto errors = e.load_sync({f});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find(f + ":2:"), std::string::npos) << errors[0];
  EXPECT_EQ(e.evaluate_sync(req("Bash", {})).verdict.reason, "v1");
  test::write_file(f, "function decide(r) return 'deny', 'v2' end");
  EXPECT_TRUE(e.load_sync({f}).empty());
  EXPECT_EQ(e.evaluate_sync(req("Bash", {})).verdict.reason, "v2");
}

TEST(DefaultPolicy, ReadOnlyInsideCwdAllowedRecursiveDeleteDeniedWritesOutsideDeniedRestAsked) {
  test::TempDir t;
  EventLoop loop;
  PolicyEngine e(loop, {});
  ASSERT_TRUE(e.load_sync({"builtin:default"}).empty());
  std::string cwd = t.path;
  auto decide = [&](const std::string& tool, json input) { return e.evaluate_sync(req(tool, input, cwd)).verdict.decision; };
  EXPECT_EQ(decide("Read", {{"file_path", cwd + "/src/a.cpp"}}), "allow");
  EXPECT_EQ(decide("Grep", {{"pattern", "x"}}), "allow");
  EXPECT_EQ(decide("Read", {{"file_path", "src/relative.cpp"}}), "allow");
  EXPECT_EQ(decide("Read", {{"file_path", "../outside.txt"}}), "ask");
  EXPECT_EQ(decide("Read", {{"file_path", "/etc/shadow"}}), "ask");
  EXPECT_EQ(decide("Read", {{"file_path", cwd + "/../../etc/shadow"}}), "ask");
  EXPECT_EQ(decide("Bash", {{"command", "rm -rf build"}}), "deny");
  EXPECT_EQ(decide("Bash", {{"command", "cd x && rm -r -f y"}}), "deny");
  EXPECT_EQ(decide("Bash", {{"command", "rm --recursive y"}}), "deny");
  EXPECT_EQ(decide("Bash", {{"command", "rm notes.txt"}}), "ask");
  EXPECT_EQ(decide("Write", {{"file_path", "/etc/passwd"}, {"content", "x"}}), "deny");
  EXPECT_EQ(decide("Edit", {{"file_path", cwd + "/a.txt"}}), "ask");
  EXPECT_EQ(decide("Bash", {{"command", "make test"}}), "ask");
}

TEST(DefaultPolicy, ShippedFileEqualsEmbeddedCopy) {
  EXPECT_EQ(test::read_file(test::source_dir() + "/scripts/default.lua"), std::string(kBuiltinDefaultPolicy));
}

// --- hostile inputs and scripts (issue 10): the host must neither crash nor hang

namespace {
// Built by moves: copying a deep document recurses once per level.
json nested(int depth) {
  json j = "leaf";
  for (int i = 0; i < depth; ++i) {
    json outer = json::object();
    outer["a"] = std::move(j);
    j = std::move(outer);
  }
  return j;
}
std::string default_source() { return kBuiltinDefaultPolicy; }
}  // namespace

TEST(LuaPolicy, ToolInputNestedTwentyLevelsIsGivenToTheDefaultPolicy) {
  // Before: the JSON->Lua conversion overflowed the Lua C stack here (SIGSEGV).
  LuaPolicy p("default", {});
  ASSERT_EQ(p.load(default_source()), "");
  for (int depth : {20, 40, 60}) {
    auto v = p.decide(req("Bash", {{"command", "ls"}, {"n", nested(depth)}}));
    EXPECT_EQ(v.error, "") << depth;
    EXPECT_EQ(v.decision, "ask") << depth;
  }
}

TEST(LuaPolicy, ToolInputNestedDeeperThanTheLimitAsksWithTheReason) {
  LuaPolicy p("default", {});
  ASSERT_EQ(p.load(default_source()), "");
  for (int depth : {65, 1000, 5000}) {
    auto v = p.decide(req("Read", {{"file_path", "x"}, {"n", nested(depth)}}));
    EXPECT_EQ(v.decision, "ask") << depth;
    EXPECT_NE(v.error.find("nested deeper than 64"), std::string::npos) << v.error;
  }
}

TEST(LuaPolicy, UpdatedInputThatContainsItselfIsRefused) {
  auto v = run("function decide(r) local t = {a = {}} t.a.back = t return {decision = 'allow', updated_input = t} end",
               req("X", {}));
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("contains itself"), std::string::npos) << v.error;
  EXPECT_TRUE(v.updated_input.is_null());
}

TEST(LuaPolicy, UpdatedInputThatExpandsExponentiallyIsRefused) {
  // 2^40 leaves through shared references: must be refused, not expanded.
  auto v = run("function decide(r) local t = {'x'} for i = 1, 40 do t = {t, t} end "
               "return {decision = 'allow', updated_input = {v = t}} end",
               req("X", {}));
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("too large"), std::string::npos) << v.error;
}

TEST(LuaPolicy, UpdatedInputNestedTooDeepIsRefused) {
  auto v = run("function decide(r) local t = {} for i = 1, 500 do t = {a = t} end "
               "return {decision = 'allow', updated_input = t} end",
               req("X", {}));
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("deeper than 64"), std::string::npos) << v.error;
}

TEST(LuaPolicy, PcallCannotSwallowTheInstructionBudget) {
  auto start = std::chrono::steady_clock::now();
  for (const char* body : {"while true do pcall(function() while true do end end) end",
                           "while true do xpcall(function() while true do end end, function(e) return e end) end",
                           "while true do pcall(pcall, pcall, function() while true do end end) end"}) {
    auto v = run(std::string("function decide(r) ") + body + " end", req("X", {}), LuaLimits{32u << 20, 100000});
    EXPECT_EQ(v.decision, "ask") << body;
    EXPECT_NE(v.error.find("instruction budget"), std::string::npos) << v.error;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(LuaPolicy, PcallStillCatchesOrdinaryErrors) {
  auto v = run("function decide(r) local ok, err = pcall(error, 'boom') "
               "local ok2, e2 = xpcall(function() error('x') end, function(m) return 'handled' end) "
               "return 'allow', tostring(ok) .. ':' .. tostring(err) .. ':' .. tostring(ok2) .. ':' .. e2 end",
               req("X", {}));
  EXPECT_EQ(v.decision, "allow");
  EXPECT_EQ(v.reason, "false:boom:false:handled");
}

TEST(LuaPolicy, FinalizersAreRefusedAtLoadAndAtCall) {
  // A __gc runs with hooks off: one that loops would hang the host at a GC step, a reload or close.
  LuaPolicy p("gc.lua", {});
  std::string err = p.load("setmetatable({}, {__gc = function() while true do end end})\nfunction decide(r) end");
  EXPECT_NE(err.find("__gc"), std::string::npos) << err;
  auto v = run("function decide(r) setmetatable({}, {__gc = function() while true do end end}) return 'allow' end",
               req("X", {}));
  EXPECT_EQ(v.decision, "ask");
  EXPECT_NE(v.error.find("__gc"), std::string::npos) << v.error;
  // Ordinary metatables still work.
  EXPECT_EQ(run("function decide(r) local t = setmetatable({}, {__index = function() return 'allow' end}) return t.x end",
                req("X", {}))
                .decision,
            "allow");
}

TEST(LuaPolicy, ReturnedTableWithHostileIndexIsReadRaw) {
  auto start = std::chrono::steady_clock::now();
  auto loops = run("function decide(r) return setmetatable({}, {__index = function() while true do end end}) end",
                   req("X", {}));
  EXPECT_EQ(loops.decision, "");  // no decision field: no opinion, and no hang
  EXPECT_EQ(loops.error, "");
  auto errors = run("function decide(r) return setmetatable({reason = 'r'}, {__index = function() error('boom') end}) end",
                    req("X", {}));
  EXPECT_EQ(errors.decision, "");
  EXPECT_EQ(errors.reason, "r");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(LuaPolicy, ErroringIndexOnGlobalsDoesNotReachTheHost) {
  LuaPolicy p("g.lua", {});
  ASSERT_EQ(p.load("function decide(r) return 'deny', 'still here' end\n"
                   "setmetatable(_G, {__index = function(t, k) error('no global ' .. k) end})"),
            "");
  auto v = p.decide(req("X", {}));
  EXPECT_EQ(v.decision, "deny");
  EXPECT_EQ(v.reason, "still here");
  LuaPolicy q("g2.lua", {});
  EXPECT_NE(q.load("setmetatable(_G, {__index = function(t, k) error('no global ' .. k) end})").find("does not define decide"),
            std::string::npos);
}

TEST(LuaPolicy, TopLevelLoopAtLoadHitsTheBudget) {
  LuaPolicy p("loop.lua", LuaLimits{32u << 20, 100000});
  std::string err = p.load("while true do pcall(function() while true do end end) end");
  EXPECT_NE(err.find("instruction budget"), std::string::npos) << err;
}

TEST(LuaPolicy, LogFloodIsCappedPerCall) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
  auto v = run("function decide(r) for i = 1, 1000 do ccmux.log(string.rep('x', 5000)) end return 'allow' end",
               req("X", {}), LuaLimits{32u << 20, 100000000});
  spdlog::set_default_logger(previous);
  EXPECT_EQ(v.decision, "allow");
  std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 20) << "at most 20 log lines per call";
  EXPECT_LT(text.size(), 20u * 1100) << "each line cut to 1000 bytes";
}
