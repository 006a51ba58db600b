// The words bash makes of one simple command line, as far as the approval plugin needs them:
// quotes removed ('-del'"ete" is -delete), split on blanks (space, tab), a leading # comment
// dropped, and for each word whether unquoted glob characters may expand it. A line with any
// shell operator or expansion (; & | < > ` $ ( ) { } \ newline) or another control character
// is not read at all (nullopt): it is never learned nor auto-approved.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ccmux::approval {

struct ShellWord {
  std::string text;     // after quote removal: what the program receives (without globbing)
  std::string pattern;  // the same with quoted glob characters escaped ("\*"), for matching
  bool glob = false;    // has an unquoted * ? or [: the shell may replace it with file names
  bool glob_first = false;  // starts with one: a match may begin with "-" (a flag)
};

std::optional<std::vector<ShellWord>> shell_words(const std::string& line);

// The shell operators that make a Bash line unreadable here (a whole pipeline is never a pattern).
bool has_shell_operators(const std::string& command);

}  // namespace ccmux::approval
