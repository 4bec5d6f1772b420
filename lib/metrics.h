#pragma once
// The workers' counters in the Prometheus text exposition format (0.0.4).

#include <string>

#include "counters.h"

namespace ferry {

/// Renders every counter of `page` per worker (label worker="N") and summed
/// (no label), plus the loop iteration time histogram. Slots i and
/// i + `workers` are two generations of worker i (see Master) and count as
/// one worker.
std::string RenderMetrics(const CountersPage& page, unsigned workers);

/// Answers one HTTP request on `client` (a just-accepted socket) with the
/// metrics: 200 for GET or HEAD at any path, 405 otherwise, then closes.
/// For the master, not a worker loop: it waits for the client, but at most
/// a second each way.
void AnswerMetricsRequest(int client, const CountersPage& page,
                          unsigned workers);

}  // namespace ferry
