#pragma once
// One worker process: its loop and everything the loop owns (DESIGN.md,
// "One worker's loop").

#include <sys/epoll.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "acceptor.h"
#include "address_list.h"
#include "aio_context.h"
#include "block_queue.h"
#include "block_reads.h"
#include "buffer_pool.h"
#include "config.h"
#include "connection.h"
#include "continuation_table.h"
#include "counters.h"
#include "document_root.h"
#include "event_loop.h"
#include "file_cache.h"
#include "helper_pool.h"
#include "hot_files.h"
#include "interval_timer.h"
#include "mime_types.h"
#include "signals.h"
#include "unique_fd.h"

namespace ferry {

/// The worker: one thread's EventLoop whose only wait point is epoll_wait
/// on the signalfd, the AIO eventfd and (only) shared listeners. Client
/// sockets and own listeners are signal-driven. Runs until SIGTERM/SIGINT
/// and the graceful stop that follows.
class Worker final : private EventLoop::Handler, private Acceptor::Sink {
 public:
  /// Sets everything up (pool, AIO context, helpers, timer) around `root`,
  /// opened by the caller (before dropping privileges), with the MIME table
  /// the master loaded (no file is read here), taking
  /// descriptors the master sends on `master_channel` (an FdChannel); throws
  /// std::system_error on failure. Must run in the thread that will call
  /// Run(), with DaemonSignals() blocked.
  /// `tls`: the master's TLS context for the --ssl listeners (nullptr:
  /// none), shared with the other workers, read only. `hot`: the
  /// --hot-cache table the workers share (nullptr: off), this worker's
  /// pins held as WorkerProcesses slot `slot`.
  Worker(const Config& config, DocumentRoot root, const MimeTypes& mime,
         std::vector<WorkerListener> listeners, UniqueFd master_channel,
         WorkerCounters& counters, SSL_CTX* tls = nullptr,
         HotTable* hot = nullptr, unsigned slot = 0);
  ~Worker();

  /// The loop. Returns the process exit status.
  int Run();

 private:
  // EventLoop::Handler: what a wait brings.
  void OnSocketReady(std::uint64_t tag, int fd, std::uint32_t band) override;
  void OnWatchedReady(std::uint64_t tag) override;
  void OnSignal(int signo) override;
  // Acceptor::Sink: a client to serve.
  void OnAccepted(UniqueFd socket, const sockaddr_storage& peer,
                  bool proxy_protocol, bool tls) override;

  void TakeTime();
  void OnMasterMessage();
  void CountIteration(std::int64_t micros);
  void OnTick();
  void BeginShutdown();
  void ReapReads();
  void TakeHelperResults();
  void GrowPool();
  void CountBuffers();
  void WakeWaiters();
  void ServeWaiters();
  void ResumeTurns();
  void ResumePaced();
  void ForgetIfClosed(std::uint64_t token, Connection* connection);

  /// The one way an event reaches a connection: find it by token (a stale
  /// token finds nothing: the connection is gone), run `event` on it, and
  /// forget it if the event closed it. Returns whether it was there.
  template <typename Event>
  bool Deliver(std::uint64_t token, Event&& event) {
    Connection* connection = connections_.Find(token);
    if (connection == nullptr) return false;
    event(*connection);
    ForgetIfClosed(token, connection);
    return true;
  }
  /// Deliver() to every live connection.
  template <typename Event>
  void DeliverToAll(Event&& event) {
    connections_.ForEach([&](std::uint64_t token, Connection& connection) {
      event(connection);
      ForgetIfClosed(token, &connection);
    });
  }
  // Tags beside connection tokens (which are never this large).
  static constexpr std::uint64_t kAioTag = UINT64_MAX - 1;
  static constexpr std::uint64_t kListenerTag = UINT64_MAX - 2;
  static constexpr std::uint64_t kChannelTag = UINT64_MAX - 3;

  const Config& config_;
  WorkerCounters& counters_;
  pid_t tid_;
  DocumentRoot root_;
  BlockQueue queue_;  ///< of the device the root is on
  const MimeTypes& mime_;
  SiteRules site_;
  HeaderRules headers_;
  /// The 503 sent to a client over --max-connections (with --server-header).
  std::string busy_response_;
  /// --proxy-protocol-from: who may connect to a PROXY listener.
  AddressList proxy_from_;
  bool warned_proxy_from_ = false;  ///< a refused proxy is logged once
  /// --real-ip-from: who may name a request's client (ctx_ points here).
  AddressList real_ip_from_;
  BufferPool pool_;
  BlockReads reads_;
  AioContext aio_;
  EventLoop loop_;
  HelperPool helpers_;
  std::unique_ptr<FileCache> cache_;
  std::unique_ptr<HotFiles> hot_;      ///< --hot-cache; null when off
  std::deque<std::uint64_t> waiting_;  ///< see ReadServices::waiting
  std::vector<std::uint64_t> resume_;  ///< see ServingContext::resume
  InputBlocks input_blocks_;           ///< before ctx_, which refers to it
  std::vector<std::uint64_t> resume_taken_;  ///< this iteration's share
  Pacer pacer_;                              ///< see ServingContext::pacer
  std::vector<std::uint64_t> paced_due_;     ///< this iteration's share
  ReadServices io_;
  ServingContext ctx_;
  ContinuationTable<Connection> connections_;
  Acceptor acceptor_;
  UniqueFd master_channel_;
  std::unique_ptr<IntervalTimer> timer_;
  std::vector<AioCompletion> completions_;
  std::vector<HelperJob> finished_jobs_;
  bool stopping_ = false;
  std::int64_t stop_deadline_ms_ = 0;
};

}  // namespace ferry
