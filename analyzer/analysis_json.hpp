// The analysis as JSON: what `pymigrate analyze --json` prints and writes,
// and what `--from FILE` reads back (after a person moved a table, say) to
// score again. The document carries the whole model, so `pymigrate generate`
// needs nothing else.
#pragma once

#include <nlohmann/json.hpp>

#include "analyzer/analysis.hpp"

namespace pymigrate::analyzer
{

constexpr int kAnalysisFormat = 1;

nlohmann::json to_json(const Analysis &a);
nlohmann::json model_to_json(const Model &m);

// Reads the model, weights and services of an analysis document (scores are
// recomputed, not read). Throws AnalysisError saying what is wrong and where.
Model model_from_json(const nlohmann::json &j);
Analysis analysis_from_json(const nlohmann::json &j);

} // namespace pymigrate::analyzer
