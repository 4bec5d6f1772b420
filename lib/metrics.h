#pragma once
// The workers' counters in the Prometheus text exposition format (0.0.4).

#include <string>

#include "counters.h"
#include "hot_table.h"

namespace ferry {

/// Renders every counter of `page` per worker (label worker="N") and summed
/// (no label), plus the loop iteration time histogram. Slots i and
/// i + `workers` are two generations of worker i (see Master) and count as
/// one worker. With `hot` (--hot-cache), the daemon's hot-file figures too.
std::string RenderMetrics(const CountersPage& page, unsigned workers,
                          const HotTable* hot = nullptr);

}  // namespace ferry
