// The pure parts of `ccmux doctor`: the engines.node comparison and the exit code rule.
#include "doctor.h"
#include "doctor_checks.h"

#include <gtest/gtest.h>

using namespace ccmux::cli;

TEST(DoctorUnit, NodeVersionsAreComparedWithASimpleAtLeastRange) {
  EXPECT_EQ(node_satisfies("v22.1.0", ">=22"), true);
  EXPECT_EQ(node_satisfies("v22.0.0", ">= 22.0.0"), true);
  EXPECT_EQ(node_satisfies("v18.20.4", ">=22.0.0"), false);
  EXPECT_EQ(node_satisfies("v20.20.2", ">=18.0.0"), true);
  EXPECT_EQ(node_satisfies("v18.9.0", ">=18.10"), false);  // numbers, not text
  EXPECT_EQ(node_satisfies("v100.0.0", ">=99.0.0"), true);
  EXPECT_EQ(node_satisfies("v20.0.0", "^18 || ^20"), std::nullopt);  // not understood: not compared
  EXPECT_EQ(node_satisfies("v20.0.0", ">=18 || >=20"), std::nullopt);
  EXPECT_EQ(node_satisfies("garbage", ">=18"), std::nullopt);
}

TEST(DoctorUnit, OnlyAProblemMakesTheExitCodeOne) {
  std::vector<Finding> f = {{"a", Level::ok, "x", ""}, {"b", Level::note, "y", ""}, {"c", Level::warning, "z", "do"}};
  EXPECT_EQ(doctor_exit_code(f), 0);
  EXPECT_NE(render_text(f).find("0 problems, 1 warning: ccmux works"), std::string::npos) << render_text(f);
  f.push_back({"d", Level::problem, "broken", "fix it"});
  EXPECT_EQ(doctor_exit_code(f), 1);
  std::string text = render_text(f);
  EXPECT_NE(text.find("  PROBLEM  d        broken\n                    fix: fix it\n"), std::string::npos) << text;
  EXPECT_EQ(render_json(f)["problems"], 1);
  EXPECT_EQ(render_json(f)["ok"], false);
}
