// The analysis for people: a Markdown summary, and a Graphviz picture of the
// tables coloured by service with the cut edges drawn red.
#pragma once

#include <string>

#include "analyzer/analysis.hpp"

namespace pymigrate::analyzer
{

std::string summary_markdown(const Analysis &a);

std::string graphviz_dot(const Analysis &a);

// Renders DOT to SVG with Graphviz's `dot` (on PATH); throws std::runtime_error
// with dot's message when it fails or is not installed.
void write_svg(const std::string &dot, const std::string &path);

} // namespace pymigrate::analyzer
