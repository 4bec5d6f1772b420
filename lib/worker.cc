#include "worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "fd_channel.h"
#include "interval_timer.h"
#include "log.h"
#include "memory_lock.h"
#include "system_error.h"

namespace ferry {
namespace {

std::string BusyResponse(const std::string& server) {
  std::string text = "HTTP/1.1 503 Service Unavailable\r\n";
  if (!server.empty()) text += "Server: " + server + "\r\n";
  return text +
         "Content-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";
}

std::uint32_t BlockCount(const Config& config) {
  return static_cast<std::uint32_t>(
      std::max<std::uint64_t>(1, config.buffer_memory / config.block_size));
}

std::size_t DescriptorLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur == RLIM_INFINITY
             ? 1 << 20
             : static_cast<std::size_t>(limit.rlim_cur);
}

/// The block queue of the device `root` is on (reads sysfs: start-up only).
BlockQueue QueueOf(const DocumentRoot& root) {
  struct stat status {};
  if (fstat(root.fd(), &status) != 0) return {};
  return ReadBlockQueue(status.st_dev);
}

std::chrono::milliseconds TickPeriod(const Config& config) {
  auto shortest = std::min(
      {config.header_timeout, config.idle_timeout, config.send_timeout});
  // The master pings systemd's watchdog only while every worker ticks.
  if (config.watchdog_interval.count() > 0) {
    shortest = std::min(shortest, config.watchdog_interval);
  }
  return std::clamp<std::chrono::milliseconds>(shortest / 4,
                                               std::chrono::milliseconds(10),
                                               std::chrono::milliseconds(1000));
}

}  // namespace

Worker::Worker(const Config& config, DocumentRoot root, const MimeTypes& mime,
               std::vector<WorkerListener> listeners, UniqueFd master_channel,
               WorkerCounters& counters, SSL_CTX* tls, HotTable* hot,
               unsigned slot)
    : config_(config),
      counters_(counters),
      tid_(CurrentThreadId()),
      root_(std::move(root)),
      queue_(QueueOf(root_)),
      mime_(mime),
      site_(SiteRules::From(config)),
      headers_(HeaderRules::From(config)),
      busy_response_(BusyResponse(config.server_header)),
      proxy_from_(config.proxy_protocol.empty()
                      ? AddressList()
                      : AddressList::Parse(config.proxy_protocol_from)),
      real_ip_from_(config.real_ip_from == "off"
                        ? AddressList()
                        : AddressList::Parse(config.real_ip_from)),
      pool_(config.block_size, BlockCount(config), /*initial_blocks=*/1),
      reads_(BlockCount(config)),
      aio_(ReadsInFlightShare(queue_, WorkerCount(config), config.queue_depth)),
      loop_(DaemonSignals(), DescriptorLimit()),
      helpers_(config.helper_threads, root_, tid_),
      cache_(config.file_cache == 0 ? nullptr
                                    : std::make_unique<FileCache>(
                                          config.file_cache, config.block_size,
                                          config.file_cache_validity.count(),
                                          DescriptorLimit() / 8)),
      hot_(hot == nullptr
               ? nullptr
               : std::make_unique<HotFiles>(*hot, slot, helpers_, counters)),
      io_{.pool = pool_,
          .aio = aio_,
          .reads = reads_,
          .helpers = helpers_,
          .counters = counters,
          .waiting = waiting_,
          .reclaim_wanted = false,
          .max_request_bytes = queue_.max_request_bytes,
          .nowait_reads = true},
      ctx_{.config = config,
           .root = root_,
           .mime = mime_,
           .site = site_,
           .headers = headers_,
           .cache = cache_.get(),
           .hot = hot_.get(),
           .helpers = helpers_,
           .counters = counters,
           .io = io_,
           .resume = resume_,
           .input_blocks = input_blocks_,
           .pacer = pacer_,
           .real_ip_from =
               config.real_ip_from == "off" ? nullptr : &real_ip_from_,
           .real_ip_header = config.real_ip_header == "X-Real-IP"
                                 ? RealIpHeader::kXRealIp
                                 : RealIpHeader::kXForwardedFor,
           .tls = tls,
           .limits = {.max_request_line = config.max_request_line,
                      .max_header_bytes = config.max_header_bytes,
                      .max_headers = config.max_headers},
           .access_log = LogRing::AccessLogEnabled(),
           .access_log_format = ParseAccessLogFormat(config.access_log_format),
           .now_ms = 0,
           .now_sec = 0,
           .stopping = false},
      connections_(config.max_connections),
      acceptor_(std::move(listeners), loop_, tid_, kListenerTag),
      master_channel_(std::move(master_channel)) {
  GiveLargeFreesBack();
  loop_.Watch(aio_.event_fd(), kAioTag, EPOLLIN);
  if (master_channel_) loop_.Watch(master_channel_.get(), kChannelTag, EPOLLIN);
  timer_ =
      std::make_unique<IntervalTimer>(TimerSignal(), tid_, TickPeriod(config));
  // The fault-injection seam (--test-fail-reads, a hidden flag): the first
  // N file reads that complete fail with EIO, as a failing disk's would.
  if (config.test_fail_reads > 0) {
    aio_.InjectFailures(config.test_fail_reads, -EIO);
  }
  completions_.reserve(config.queue_depth);
}

Worker::~Worker() = default;

int Worker::Run() {
  if (config_.mlock) {
    // Last before serving: the pool, the helpers' stacks and the tables
    // exist by now.
    int error = LockMemory();
    if (error < 0) {
      Log(LogLevel::kError,
          "--mlock: cannot lock memory (%s): raise LimitMEMLOCK= or "
          "RLIMIT_MEMLOCK; serving unlocked",
          std::strerror(-error));
    } else if (error > 0) {
      Log(LogLevel::kNotice,
          "--mlock: RLIMIT_MEMLOCK is limited: memory allocated from now "
          "on is not locked and may fault on the loop "
          "(LimitMEMLOCK=infinity locks it all)");
    }
  }
  loop_.UpdateTime();
  TakeTime();
  // Connections may have queued before this worker existed: accept them
  // now, since they will raise no signal of their own.
  acceptor_.AcceptEverywhere(*this);
  aio_.Submit();
  CountBuffers();
  Set(counters_.accepting, 1);
  for (;;) {
    if (stopping_ &&
        (connections_.live() == 0 || ctx_.now_ms >= stop_deadline_ms_))
      break;
    // Reads the kernel could not take yet (its ring was full) are retried
    // after a millisecond; reads it refused outright complete (with their
    // error) at once; otherwise the loop sleeps until an event.
    // Connections that yielded their turn go on once pending events had
    // theirs.
    // Connections held to --limit-rate wait no longer than their pace.
    int timeout = aio_.HasRejected() || !resume_.empty() ? 0
                  : aio_.HasQueued()                     ? 1
                                                         : -1;
    int pace = pacer_.TimeoutMs(loop_.now_ms());
    if (pace >= 0 && (timeout < 0 || pace < timeout)) timeout = pace;
    // No sleeping while a waiter could have a block: nothing would wake it.
    assert(timeout == 0 || waiting_.empty() || pool_.free_count() == 0 ||
           aio_.Capacity() == 0);
    // The clock is the loop's: set before any event is handled.
    loop_.Wait(timeout, *this);
    ReapReads();
    TakeHelperResults();
    ResumeTurns();
    ResumePaced();
    WakeWaiters();  // last: everything above may have released blocks
    GrowPool();
    aio_.Submit();
    CountIteration(MonotonicMicros() - loop_.woke_us());
  }
  Set(counters_.log_dropped, LogRing::Dropped());
  if (connections_.live() > 0) {
    Log(LogLevel::kWarning, "shutdown timeout: closing %u connections",
        connections_.live());
  }
  return 0;
}

// ---- After the wait ---------------------------------------------------------
// Completed reads and opens are handed to their connections through the
// continuation table (a connection that left meanwhile gets nothing; its
// block goes back to the pool), then the connections that yielded their
// turn, then those waiting for a block. Run() calls them in this order.

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
      case HelperJob::Kind::kPopulate:
        pool_.Grew(static_cast<int>(job.result));
        CountBuffers();
        if (job.result < 0) {
          Log(LogLevel::kWarning,
              "buffer pool: cannot grow past %u of %u blocks (%s)",
              pool_.ready_count(), pool_.block_count(),
              std::strerror(static_cast<int>(-job.result)));
        }
        break;
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
      case HelperJob::Kind::kPin:
        hot_->OnPinned(job);
        break;
      case HelperJob::Kind::kUnpin:
        hot_->OnUnpinned(job);
        break;
      case HelperJob::Kind::kList:
        Deliver(job.token, [&](Connection& c) {
          c.OnListingDone(static_cast<int>(job.result), job.listing,
                          std::move(job.page), ctx_);
        });
        break;
    }
  }
  finished_jobs_.clear();
}

// Free blocks run low: a helper makes the pool's next step present, and
// its blocks join the free ones when it is done (TakeHelperResults).
void Worker::GrowPool() {
  const std::optional<BufferPool::Growth> growth = pool_.NextGrowth();
  if (!growth) return;
  HelperJob job;
  job.kind = HelperJob::Kind::kPopulate;
  job.buffer = growth->data;
  job.length = growth->bytes;
  helpers_.Submit(std::move(job));
}

void Worker::CountBuffers() {
  Set(counters_.buffer_bytes,
      std::uint64_t{pool_.ready_count()} * pool_.block_size());
}

void Worker::WakeWaiters() {
  ServeWaiters();
  // Every block is held while a connection waits: take back the blocks of
  // connections whose clients stopped reading (they have a socket buffer's
  // worth queued in the kernel), so that they cannot starve the others.
  if (io_.reclaim_wanted && !waiting_.empty() && pool_.free_count() == 0 &&
      !pool_.can_grow()) {
    connections_.ForEach([&](std::uint64_t, Connection& connection) {
      if (connection.Stalled()) connection.ReclaimBlocks(ctx_);
    });
    ServeWaiters();
  }
  io_.reclaim_wanted = false;
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

void Worker::ResumePaced() {
  if (pacer_.size() == 0) return;
  TakeTime();
  pacer_.TakeDue(ctx_.now_ms, &paced_due_);
  for (std::uint64_t token : paced_due_) {
    Deliver(token, [&](Connection& c) { c.OnPaceDue(ctx_); });
  }
}

void Worker::CountIteration(std::int64_t micros) {
  std::size_t bucket = 0;
  while (bucket < std::size(kLoopBucketMicros) &&
         static_cast<std::uint64_t>(micros) > kLoopBucketMicros[bucket]) {
    ++bucket;
  }
  Bump(counters_.loop_buckets[bucket]);
  Bump(counters_.loop_micros, static_cast<std::uint64_t>(micros));
  Bump(counters_.loop_iterations);
}

// The loop's clock, taken when its wait ended, for the connections.
void Worker::TakeTime() {
  ctx_.now_ms = loop_.now_ms();
  ctx_.now_sec = loop_.now_sec();
}

void Worker::OnWatchedReady(std::uint64_t tag) {
  TakeTime();
  if (tag == kChannelTag) {
    OnMasterMessage();
  } else if (tag != kAioTag) {  // AIO completions are reaped after the wait
    acceptor_.AcceptAll(static_cast<int>(tag), *this);  // a shared listener
  }
}

void Worker::OnSignal(int signo) {
  TakeTime();
  if (signo == kOverflowSignal) {
    Bump(counters_.overflow_rescans);  // the loop rescans next
  } else if (signo == TimerSignal()) {
    OnTick();
  } else if (signo == SIGTERM || signo == SIGINT) {
    BeginShutdown();
  }
  // kDoorbellSignal: nothing to do here; the loop takes helper results on
  // every iteration anyway.
}

void Worker::OnMasterMessage() {
  for (;;) {
    int error = 0;
    UniqueFd file = ReceiveFd(master_channel_.get(), &error);
    if (file) {
      LogRing::ReplaceAccessLog(std::move(file));  // the reopened access log
      continue;
    }
    if (error != -EAGAIN) {
      // The master is gone (PR_SET_PDEATHSIG stops us) or the channel broke.
      loop_.Unwatch(master_channel_.get());
      master_channel_.Reset();
    }
    return;
  }
}

void Worker::OnSocketReady(std::uint64_t tag, int fd, std::uint32_t band) {
  TakeTime();
  if (tag == kListenerTag) {
    acceptor_.AcceptAll(fd, *this);
    return;
  }
  // A stale signal (the connection is gone) finds nobody.
  Deliver(tag, [&](Connection& c) { c.OnSocketEvent(band, ctx_); });
}

void Worker::OnAccepted(UniqueFd socket, const sockaddr_storage& peer,
                        bool proxy_protocol, bool tls) {
  int fd = socket.get();
  if (proxy_protocol && peer.ss_family != AF_UNIX &&
      !proxy_from_.Contains(peer)) {
    // Whoever sends the header names the client: only the proxies may.
    Bump(counters_.rejected);
    if (!warned_proxy_from_) {
      warned_proxy_from_ = true;
      Log(LogLevel::kWarning,
          "closed a connection from %s to a --proxy-protocol listener: not "
          "in --proxy-protocol-from (logged once)",
          std::string(AddressText(peer)).c_str());
    }
    return;
  }
  if (stopping_ || !loop_.Mappable(fd) ||
      connections_.live() >= connections_.capacity()) {
    Bump(counters_.rejected);
    // A TLS client would read the plain 503 as a broken handshake: it is
    // only closed.
    if (!tls) {
      (void)!send(fd, busy_response_.data(), busy_response_.size(),
                  MSG_NOSIGNAL);
    }
    return;
  }
  try {
    ArmSocketSignals(fd, SocketSignal(), tid_);
  } catch (const std::system_error& error) {
    Log(LogLevel::kError, "%s", error.what());
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // no-op on unix
  Connection* connection = nullptr;
  std::uint64_t token = connections_.Add(
      &connection, [] { return std::make_unique<Connection>(); });
  loop_.Map(fd, token);
  Bump(counters_.accepted);
  Set(counters_.open_connections, connections_.live());
  connection->Start(std::move(socket), token, peer, proxy_protocol, tls, ctx_);
  ForgetIfClosed(token, connection);
}

void Worker::ForgetIfClosed(std::uint64_t token, Connection* connection) {
  if (connection->state() != Connection::State::kClosed) return;
  loop_.Unmap(connection->socket_fd(), token);
  connections_.Remove(token);
  Set(counters_.open_connections, connections_.live());
}

void Worker::OnTick() {
  Bump(counters_.heartbeat);
  Set(counters_.log_dropped, LogRing::Dropped());
  acceptor_.OnTick(*this);
  DeliverToAll([&](Connection& c) { c.OnTick(ctx_); });
  if (hot_) hot_->OnTick(ctx_.now_ms);
}

void Worker::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  ctx_.stopping = true;
  stop_deadline_ms_ = ctx_.now_ms + config_.shutdown_timeout.count();
  acceptor_.Stop();
  Set(counters_.accepting, 0);
  DeliverToAll([&](Connection& c) { c.OnShutdown(ctx_); });
}

}  // namespace ferry
