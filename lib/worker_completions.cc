// The worker's loop after its wait: completed reads and opens are handed to
// their connections through the continuation table (a connection that left
// meanwhile gets nothing; its block goes back to the pool), then the
// connections that yielded their turn, then those waiting for a block.
// Worker::Run calls these in this order; see worker.h.

#include <cstdint>
#include <utility>

#include "worker.h"

namespace ferry {

void Worker::ReapReads() {
  if (aio_.in_flight() == 0 && !aio_.HasRejected()) return;
  aio_.Reap(&completions_);
  Bump(counters_.aio_completed, completions_.size());
  for (const AioCompletion& done : completions_) {
    std::uint32_t block = reads_.BlockOf(done.read);
    if (!Deliver(done.read->token(), [&](Connection& c) {
          c.OnReadDone(block, done.result, ctx_);
        })) {
      pool_.Release(block);  // the client left while the read was in flight
    }
  }
}

void Worker::TakeHelperResults() {
  helpers_.TakeCompleted(&finished_jobs_);
  for (HelperJob& job : finished_jobs_) {
    switch (job.kind) {
      case HelperJob::Kind::kRead:
        Bump(counters_.helper_reads);
        if (!Deliver(job.token, [&](Connection& c) {
              c.OnReadDone(job.block, job.result, ctx_);
            })) {
          pool_.Release(job.block);  // the client left meanwhile
        }
        break;
      case HelperJob::Kind::kLoadBlockMap:
        Bump(counters_.block_maps);
        Deliver(job.token, [&](Connection& c) {
          c.OnBlockMapLoaded(std::move(job.extents), ctx_);
        });
        break;
      case HelperJob::Kind::kOpen:
        // A connection that is gone leaves the opened fd to close with the
        // job.
        Deliver(job.token, [&](Connection& c) {
          c.OnOpenDone(std::move(job.opened), ctx_);
        });
        break;
    }
  }
  finished_jobs_.clear();
}

void Worker::WakeWaiters() {
  ServeWaiters();
  // Every block is held while a connection waits: take back the blocks of
  // connections whose clients stopped reading (they have a socket buffer's
  // worth queued in the kernel), so that they cannot starve the others.
  if (ctx_.reclaim_wanted && !waiting_.empty() && pool_.free_count() == 0) {
    connections_.ForEach([&](std::uint64_t, Connection& connection) {
      if (connection.Stalled()) connection.ReclaimBlocks(ctx_);
    });
    ServeWaiters();
  }
  ctx_.reclaim_wanted = false;
}

void Worker::ServeWaiters() {
  while (!waiting_.empty() && pool_.free_count() > 0 && aio_.Capacity() > 0) {
    std::uint64_t token = waiting_.front();
    waiting_.pop_front();
    Deliver(token, [&](Connection& c) { c.OnBlockAvailable(ctx_); });
  }
}

void Worker::ResumeTurns() {
  // Only those queued before now: one that yields again waits for the next
  // iteration, after the events that arrive meanwhile.
  resume_taken_.swap(resume_);
  for (std::uint64_t token : resume_taken_) {
    Deliver(token, [&](Connection& c) { c.ResumeTurn(ctx_); });
  }
  resume_taken_.clear();
}

}  // namespace ferry
