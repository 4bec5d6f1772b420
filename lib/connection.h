#pragma once
// One client connection's state machine (DESIGN.md, "A request's life"):
//
//   kReadingRequest -> kResolving -> kStreaming -> kReadingRequest (keep-alive)
//                                              \-> kLingering -> kClosed
//
// Each state has its handlers; every blocking-capable step has one
// asynchronous entry point and one completion handler: the open
// (HandleRequest / OnOpenDone) and the file reads (FillWindow / OnReadDone).

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <deque>
#include <memory>
#include <string>

#include "access_log.h"
#include "aio_context.h"
#include "block_reads.h"
#include "buffer_pool.h"
#include "byte_stream.h"
#include "config.h"
#include "counters.h"
#include "document_root.h"
#include "extent_map.h"
#include "file_cache.h"
#include "helper_pool.h"
#include "http_request.h"
#include "http_response.h"
#include "mime_types.h"
#include "unique_fd.h"

namespace ferry {

/// What a connection uses of its worker. Built once by the worker; `now_*`
/// are refreshed every loop iteration.
struct ServingContext {
  const Config& config;
  const DocumentRoot& root;
  const MimeTypes& mime;
  BufferPool& pool;
  AioContext& aio;
  BlockReads& reads;  ///< the read that fills each pool block
  HelperPool& helpers;
  FileCache* cache;  ///< nullptr when --file-cache is 0
  WorkerCounters& counters;
  std::deque<std::uint64_t>& waiting;  ///< tokens waiting for a block
  /// Tokens of connections that used up their turn's send budget with more
  /// to send: the worker resumes them after the events already pending.
  std::vector<std::uint64_t>& resume;
  /// A connection began waiting for a block this iteration: the worker
  /// looks for stalled connections' blocks to take back.
  bool reclaim_wanted = false;
  RequestLimits limits;
  bool access_log = false;  ///< write an access record per response
  AccessLogFormat access_log_format = AccessLogFormat::kCombined;
  /// The device's largest request (0: unknown): a larger read would be
  /// split into several, each needing a request tag.
  std::uint64_t max_request_bytes = 0;
  /// Cleared when the device answers RWF_NOWAIT with EOPNOTSUPP.
  bool nowait_reads = true;
  std::int64_t now_ms = 0;  ///< CLOCK_MONOTONIC
  std::time_t now_sec = 0;  ///< wall clock, for Date
  bool stopping = false;    ///< graceful shutdown: no new requests
};

/// What the response builders need of a file's status.
inline FileInfo InfoOf(const FileStatus& status) {
  return {status.size, status.mtime_sec, status.inode, status.mtime_nsec};
}

class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;  // stream_ points into it
  Connection& operator=(const Connection&) = delete;

  enum class State {
    kReadingRequest,  ///< waiting for (the rest of) a request head
    kResolving,       ///< a helper is opening the file
    kStreaming,       ///< sending the response, reading the file behind it
    kLingering,       ///< response sent, write side shut, draining input
    kClosed,          ///< done: the worker forgets it (Forget())
  };

  /// Takes the accepted, signal-armed socket from `client` (an address for
  /// the access log) and tries to read at once (signals report changes
  /// only, so data already there raises none).
  void Start(UniqueFd socket, std::uint64_t token, std::string_view client,
             ServingContext& ctx);

  /// The socket's signal said `band` (POLLIN, POLLOUT, POLLERR, POLLHUP...),
  /// or a rescan found it so. A hint: acting on a stale one is harmless.
  void OnSocketEvent(std::uint32_t band, ServingContext& ctx);

  /// The read into `block` finished with `result` bytes or -errno.
  void OnReadDone(std::uint32_t block, long result, ServingContext& ctx);

  /// A helper finished opening the requested file.
  void OnOpenDone(OpenedFile opened, ServingContext& ctx);

  /// A helper finished loading the file's block map (see LoadBlockMap()
  /// in document_root.h) and mapped its `extents`.
  void OnBlockMapLoaded(ExtentMap extents, ServingContext& ctx);

  /// A block (or AIO capacity) became free after this connection waited.
  void OnBlockAvailable(ServingContext& ctx);
  /// Sends the next turn's worth, after yielding the last (see kTurnBytes).
  void ResumeTurn(ServingContext& ctx);

  /// The worker's timer ticked: closes the connection past its deadline.
  void OnTick(ServingContext& ctx);

  /// Graceful shutdown: an idle connection closes now, a busy one after
  /// its response.
  void OnShutdown(ServingContext& ctx);

  /// True when the client's socket buffer is full: the kernel holds a
  /// buffer's worth of this response already, so our blocks can wait.
  bool Stalled() const { return state_ == State::kStreaming && want_write_; }

  /// Gives this stalled connection's read blocks back to the pool, so that
  /// clients that read are not starved by clients that do not; the bytes
  /// are read again when the client drains its socket. Does nothing while
  /// a read is in flight. Returns the number of blocks released.
  std::size_t ReclaimBlocks(ServingContext& ctx);

  State state() const { return state_; }
  int socket_fd() const { return socket_.get(); }

  /// Closes the socket; for the worker, after it unmapped the fd.
  void ReleaseSocket() { socket_.Reset(); }

 private:
  /// A block of the read-ahead window, in file order.
  struct Slot {
    std::uint32_t block = 0;
    std::uint64_t offset = 0;  ///< file offset of the block's first byte
    std::uint64_t length = 0;  ///< bytes asked for
    std::int64_t got = -1;     ///< bytes read; -1 while the read is in flight
  };
  /// Input buffers start this small and grow to --max-header-bytes only
  /// for requests that need it: 10,000 idle clients cost little.
  static constexpr std::size_t kInitialInput = 2048;
  static constexpr int kMaxIovecs = 64;
  /// Bytes one connection may send per turn before it lets the others
  /// (and new requests) go first: 64 KiB of body and its head. Without a
  /// bound, eight streams with 2 MiB ready each made one loop iteration
  /// ~5 ms long, which a small file's request arriving meanwhile waited
  /// out. Workload 4 (8 cold streams beside 16 small-file clients), small
  /// file p99: ~2 ms with 256 KiB, ~1 ms with 64 KiB; one stream's CPU per
  /// GB within the noise (+0-7%).
  static constexpr std::uint64_t kTurnBytes = std::uint64_t{68} * 1024;
  /// Pipelined requests answered in one turn before the connection lets
  /// the others go first (it resumes after the events already pending).
  static constexpr int kRequestsPerTurn = 16;
  /// Scratch of a response (its header text, pieces and ranges) that grew
  /// past these is given back when the response ends, so that one hostile
  /// request does not pin memory to the connection slot for good.
  static constexpr std::size_t kKeptTextBytes = 4096;
  static constexpr std::size_t kKeptPieces = 64;

  // kReadingRequest
  void OnReadable(ServingContext& ctx);
  void ReadRequests(ServingContext& ctx);
  void HandleRequest(ServingContext& ctx);
  bool ServeFromCache(ServingContext& ctx);
  // kResolving
  void OnOpened(OpenedFile opened, ServingContext& ctx);
  void RespondWithFile(std::string_view content_type,
                       std::string_view whole_fields, ServingContext& ctx);
  // kStreaming
  void StartResponse(ServingContext& ctx);
  void RespondStatus(int status, bool close, ServingContext& ctx);
  void FillWindow(ServingContext& ctx);
  void RequestBlockMap(ServingContext& ctx);
  void IssueRead(std::uint64_t length, ServingContext& ctx);
  void SubmitRead(const Slot& slot, ServingContext& ctx);
  void SubmitToHelper(const Slot& slot, ServingContext& ctx);
  HelperJob FileJob(HelperJob::Kind kind) const;
  void OnWritable(ServingContext& ctx);
  int GatherIovecs(const BufferPool& pool, iovec* iov,
                   bool* sendfile_next) const;
  ssize_t SendfileCached(std::uint64_t limit);
  void Consume(std::uint64_t bytes, ServingContext& ctx);
  void SelectFilePiece(std::size_t from);
  void FinishResponse(ServingContext& ctx);
  // kLingering, kClosed
  void StartLingering(ServingContext& ctx);
  void OnLingerReadable(ServingContext& ctx);
  void LogAccess(ServingContext& ctx) const;
  std::string PathForLog() const;
  void Abort(const char* why, ServingContext& ctx);
  void Close(ServingContext& ctx);
  void CloseWithReset(ServingContext& ctx);
  void ReleaseScratch();
  bool TooSlow(ServingContext& ctx);
  std::uint64_t BytesTaken() const;
  void QueueResume(ServingContext& ctx);

  Slot& SlotAt(std::size_t i) {
    return window_[(window_head_ + i) % window_capacity_];
  }
  const Slot& SlotAt(std::size_t i) const {
    return window_[(window_head_ + i) % window_capacity_];
  }
  void GrowInput(std::size_t limit);

  UniqueFd socket_;
  /// Every receive and send goes through stream_: the plain socket today
  /// (socket_stream_ on socket_), TLS tomorrow.
  SocketStream socket_stream_;
  ByteStream* stream_ = &socket_stream_;
  std::uint64_t token_ = 0;
  State state_ = State::kClosed;
  std::int64_t deadline_ms_ = 0;
  /// The minimum send rate (--send-min-rate) is checked per window of
  /// --send-timeout (see TooSlow): when the window started, and how many
  /// bytes of the response the client had taken then.
  std::int64_t rate_window_start_ms_ = 0;
  std::uint64_t rate_window_taken_ = 0;
  bool waiting_for_block_ = false;
  bool want_write_ = false;
  bool resume_queued_ = false;  ///< its token is in ctx.resume
  /// The socket may hold unread input: false once a read came back short or
  /// with EAGAIN, true again with the next POLL_IN signal (every arrival
  /// raises one), so a drained socket is not read just to hear EAGAIN.
  bool maybe_readable_ = true;
  /// A short read proves the socket drained only once signals cover every
  /// arrival: what came before the socket was armed (a request and its FIN
  /// in one burst) raises none. False until the first EAGAIN.
  bool signals_cover_input_ = false;
  /// Inside ReadRequests(): a response that completes at once returns to
  /// its loop instead of reading the next request itself (recursion).
  bool reading_requests_ = false;
  bool close_after_response_ = false;
  char client_[64] = {};

  // The request head(s) received; pipelined requests wait here.
  std::unique_ptr<char[]> input_;
  std::size_t input_capacity_ = 0;
  std::size_t input_length_ = 0;
  std::size_t request_length_ = 0;  ///< bytes of input_ the request used
  Request request_;
  std::string open_path_;

  // The response: from file_ through the read-ahead window, or from a
  // cached copy of the whole file.
  UniqueFd file_;
  std::shared_ptr<const CachedBytes> cached_body_;
  bool fill_cache_ = false;  ///< the first read holds the whole file: keep it
  /// Reads of file_ wait until a helper loaded its block map, so that
  /// io_submit() cannot wait for the disk to map them (see LoadBlockMap).
  enum class BlockMap { kInMemory, kToLoad, kLoading };
  BlockMap block_map_ = BlockMap::kInMemory;
  /// Where file_'s extents end: each read stays inside one, so that it is
  /// one block-layer request (see ReadsInFlightShare).
  ExtentMap extents_;
  FileStatus file_status_;
  /// When file_status_ was read: a cache entry filled from this response
  /// counts its validity from then, not from when the read completed.
  std::int64_t status_ms_ = 0;
  ResponseLayout layout_;
  std::uint64_t head_length_ = 0;    ///< bytes of the response head
  std::uint64_t response_sent_ = 0;  ///< bytes of this response sent
  std::size_t piece_index_ = 0;      ///< the piece being sent
  std::uint64_t piece_done_ = 0;     ///< bytes of it sent
  std::size_t file_piece_ = 0;       ///< the file piece the window reads for
  std::uint64_t read_offset_ = 0;    ///< next aligned offset to read
  std::unique_ptr<Slot[]> window_;   ///< a ring of --read-ahead slots
  std::size_t window_capacity_ = 0;
  std::size_t window_head_ = 0;
  std::size_t window_count_ = 0;
  char boundary_[24] = {};
};

}  // namespace ferry
