#pragma once
// One client connection's state machine (DESIGN.md, "A request's life"):
//
//   kReadingRequest -> kResolving -> kStreaming -> kReadingRequest (keep-alive)
//                                              \-> kLingering -> kClosed
//
// Each state has its handlers; every blocking-capable step has one
// asynchronous entry point and one completion handler: the open
// (HandleRequest / OnOpenDone) and the file reads (FillWindow / OnReadDone).
// The connection drives two parts that know nothing of each other: the
// read window (the file side: blocks, reads in flight, block map) and the
// response sender (the socket side: head, pieces, turn budget), which
// takes the window's bytes as a BodySource.

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "access_log.h"
#include "body_source.h"
#include "byte_stream.h"
#include "config.h"
#include "counters.h"
#include "document_root.h"
#include "extent_map.h"
#include "file_cache.h"
#include "file_lookup.h"
#include "forwarded_for.h"
#include "header_rules.h"
#include "helper_pool.h"
#include "hot_files.h"
#include "http_request.h"
#include "http_response.h"
#include "input_buffer.h"
#include "mime_types.h"
#include "pacer.h"
#include "read_window.h"
#include "response_sender.h"
#include "send_limit.h"
#include "send_rate.h"
#include "tls_stream.h"
#include "unique_fd.h"

namespace ferry {

/// What a connection uses of its worker, built once by the worker by
/// name; `now_*` are refreshed every loop iteration.
struct ServingContext {
  const Config& config;
  const DocumentRoot& root;
  const MimeTypes& mime;
  const SiteRules& site;       ///< what may be served, index names, error pages
  const HeaderRules& headers;  ///< --header and --cors fields by path
  FileCache* cache;            ///< nullptr when --file-cache is 0
  HotFiles* hot = nullptr;     ///< nullptr when --hot-cache is 0
  HelperPool& helpers;         ///< opens that need the disk
  WorkerCounters& counters;
  ReadServices& io;  ///< what every connection's read window shares
  /// Tokens of connections that used up their turn's budget with more to
  /// do: the worker resumes them after the events already pending.
  std::vector<std::uint64_t>& resume;
  /// The blocks connections receive requests into, shared.
  InputBlocks& input_blocks;
  /// Connections held to --limit-rate until their allowance grew again.
  Pacer& pacer;
  /// --real-ip-from: the proxies that may name a request's client in
  /// `real_ip_header`; nullptr when off.
  const AddressList* real_ip_from = nullptr;
  RealIpHeader real_ip_header = RealIpHeader::kXForwardedFor;
  /// The TLS context of the --ssl listeners; nullptr when none.
  SSL_CTX* tls = nullptr;
  RequestLimits limits;
  bool access_log = false;  ///< write an access record per response
  AccessLogFormat access_log_format = AccessLogFormat::kCombined;
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
    kClosed,          ///< socket closed: the worker forgets it
  };

  /// Takes the accepted, signal-armed socket from `peer` (AF_INET,
  /// AF_INET6 or AF_UNIX: the access log's client) and tries to read at
  /// once (signals report changes only, so data already there raises
  /// none). `proxy_header`: the client is a proxy whose first bytes are a
  /// PROXY protocol header, naming the client to log instead; without a
  /// valid one the connection closes. `tls`: the client came to an --ssl
  /// listener; the handshake (with ctx.tls) comes first, in the header
  /// timeout, and every byte after goes through it. Not `tls` with
  /// --ssl-redirect: requests are redirected to ctx.config.https_port.
  void Start(UniqueFd socket, std::uint64_t token, const sockaddr_storage& peer,
             bool proxy_header, bool tls, ServingContext& ctx);

  /// The socket's signal said `band` (POLLIN, POLLOUT, POLLERR, POLLHUP...),
  /// or a rescan found it so. A hint: acting on a stale one is harmless.
  void OnSocketEvent(std::uint32_t band, ServingContext& ctx);

  /// The read into `block` finished with `result` bytes or -errno.
  void OnReadDone(std::uint32_t block, long result, ServingContext& ctx);

  /// A helper finished opening the requested file.
  void OnOpenDone(OpenedFile opened, ServingContext& ctx);
  /// A helper finished reading and rendering a directory listing
  /// (--autoindex): when `result` is 0, `page` holds its bytes and
  /// `listing` says what they are.
  void OnListingDone(int result, const Listing& listing,
                     std::shared_ptr<const CachedBytes> page,
                     ServingContext& ctx);

  /// A helper finished loading the file's block map (see LoadBlockMap()
  /// in document_root.h) and mapped its `extents`.
  void OnBlockMapLoaded(ExtentMap extents, ServingContext& ctx);

  /// A block (or AIO capacity) became free after this connection waited.
  void OnBlockAvailable(ServingContext& ctx);
  /// Sends the next turn's worth, after yielding the last (see kTurnBytes).
  void ResumeTurn(ServingContext& ctx);
  /// Its --limit-rate allowance has grown since it was held back: sends on.
  void OnPaceDue(ServingContext& ctx);

  /// The worker's timer ticked: closes the connection past its deadline.
  void OnTick(ServingContext& ctx);

  /// Graceful shutdown: an idle connection closes now, a busy one after
  /// its response.
  void OnShutdown(ServingContext& ctx);

  /// True when the client's socket buffer is full (the kernel holds a
  /// buffer's worth of this response already) or --limit-rate holds it
  /// back: either way our blocks can wait.
  bool Stalled() const {
    return state_ == State::kStreaming && (want_write_ || paced_);
  }

  /// Gives this stalled connection's read blocks back to the pool, so that
  /// clients that read are not starved by clients that do not; the bytes
  /// are read again when the client drains its socket. Does nothing while
  /// a read is in flight. Returns the number of blocks released.
  std::size_t ReclaimBlocks(ServingContext& ctx);

  State state() const { return state_; }
  /// The socket's descriptor number; after Close() (which closes the
  /// socket), the number it had, for the worker to forget.
  int socket_fd() const { return socket_fd_; }

 private:
  /// Bytes one connection may send per turn before it lets the others
  /// (and new requests) go first: 64 KiB of body and its head. Without a
  /// bound, eight streams with 2 MiB ready each made one loop iteration
  /// ~5 ms long, which a small file's request arriving meanwhile waited
  /// out. Workload 4 (8 cold streams beside 16 small-file clients), small
  /// file p99: ~2 ms with 256 KiB, ~1 ms with 64 KiB; one stream's CPU per
  /// GB within the noise (+0-7%).
  static constexpr std::uint64_t kTurnBytes = std::uint64_t{68} * 1024;
  /// The same for a hot file's pinned pages, which sendfile() hands to the
  /// socket by reference: per byte they cost a fraction of a copy, and per
  /// call what a small turn would pay many times over.
  static constexpr std::uint64_t kPinnedTurnBytes = std::uint64_t{512} * 1024;
  /// Pipelined requests answered in one turn before the connection lets
  /// the others go first (it resumes after the events already pending).
  static constexpr int kRequestsPerTurn = 16;

  // kReadingRequest
  void OnReadable(ServingContext& ctx);
  void ReadRequests(ServingContext& ctx);
  bool TakeProxyHeader(ServingContext& ctx);
  void SetClient(const sockaddr_storage& client);
  void FindRequestClient(const ServingContext& ctx);
  void HandleRequest(ServingContext& ctx);
  bool RedirectsToHttps();
  void RespondHttpsRedirect(int status, bool close, ServingContext& ctx);
  void RespondOptions(ServingContext& ctx);
  void Follow(FileLookup::Step step, ServingContext& ctx);
  void OpenNext(ServingContext& ctx);
  bool ServeFromCache(ServingContext& ctx);
  void ServeCached(CachedFile& entry, ServingContext& ctx);
  void StartListing(ServingContext& ctx);
  // kResolving
  void OnOpened(OpenedFile opened, ServingContext& ctx,
                CachedFile* hit = nullptr);
  void ServeOpened(OpenedFile served, CachedFile* hit, ServingContext& ctx);
  void RespondWithFile(std::string_view content_type,
                       std::string_view whole_fields, ServingContext& ctx);
  // kStreaming
  void StartResponse(ServingContext& ctx);
  void RespondStatus(int status, bool close, ServingContext& ctx);
  /// Which of the operator's fields the response about to be built gets.
  enum class Fields {
    kNone,  ///< a request that could not be parsed
    kCors,  ///< any other answer than a file's: only the CORS fields
    kAll,   ///< a file's 200, 206 or 304: --header fields and CORS
  };
  void ComposeFields(Fields which, ServingContext& ctx);
  const std::string& RulePath();
  bool ServeFromHot(ServingContext& ctx);
  void CountHot(ServingContext& ctx);
  void MoveToPin(ServingContext& ctx);
  void FillWindow(ServingContext& ctx);
  void KeepInCache(ServingContext& ctx);
  void OnWritable(ServingContext& ctx);
  void FinishResponse(ServingContext& ctx);
  // kLingering, kClosed
  void StartLingering(ServingContext& ctx);
  void OnLingerReadable(ServingContext& ctx);
  void LogAccess(ServingContext& ctx) const;
  std::string PathForLog() const;
  void Abort(const char* why, ServingContext& ctx);
  void Close(ServingContext& ctx);
  void CloseWithReset(ServingContext& ctx);
  void EndResponse();
  void CountHandshake(ServingContext& ctx);
  void QueueResume(ServingContext& ctx);
  void Pace(ServingContext& ctx);
  BodySource& Body() {
    if (cached_body_.holds_bytes()) return cached_body_;
    if (pinned_body_.holds_file()) return pinned_body_;
    return window_;
  }

  UniqueFd socket_;
  int socket_fd_ = -1;
  /// Every receive and send goes through stream_: the plain socket
  /// (socket_stream_ on socket_), or TLS over it (tls_stream_).
  SocketStream socket_stream_;
  TlsStream tls_stream_;
  ByteStream* stream_ = &socket_stream_;
  /// A TLS connection whose handshake is not counted yet (see
  /// WorkerCounters::tls_handshakes).
  bool tls_uncounted_ = false;
  std::uint64_t token_ = 0;
  State state_ = State::kClosed;
  std::int64_t deadline_ms_ = 0;
  SendRate send_rate_{0, 0};  ///< --send-min-rate, per response
  SendLimit send_limit_;      ///< --limit-rate, per response
  bool want_write_ = false;
  bool resume_queued_ = false;  ///< its token is in ctx.resume
  bool paced_ = false;          ///< its token is in ctx.pacer
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
  bool awaiting_proxy_header_ = false;  ///< see Start()
  /// --ssl-redirect, and the client came to a plain listener: its requests
  /// are answered with a redirect to HTTPS (see RedirectsToHttps()).
  bool to_https_ = false;
  bool close_after_response_ = false;
  /// The connection's client: the peer, or the client its PROXY header
  /// named; client_ is its text.
  sockaddr_storage address_{};
  char client_[64] = {};
  /// This request's client, when a --real-ip-from proxy named one: the
  /// access log shows it instead of client_.
  bool forwarded_ = false;
  char forwarded_client_[64] = {};

  InputBuffer input_;
  std::size_t request_length_ = 0;  ///< bytes of input_ the request used
  Request request_;
  FileLookup lookup_;      ///< what answers request_
  std::string open_path_;  ///< the lookup's path being opened or served
  std::string rule_path_;  ///< "/" + request_.path, as the rules match it

  // The response: the file's bytes through the read window, or a cached
  // copy of the whole file; the sender sends them after the head.
  ReadWindow window_;
  CachedBody cached_body_;
  PinnedBody pinned_body_;  ///< a hot file's pinned pages (--hot-cache)
  /// The response is a GET of a large file the hot table counts.
  bool hot_candidate_ = false;
  ResponseSender sender_;
  FileStatus file_status_;
  /// When file_status_ was read: a cache entry filled from this response
  /// counts its validity from then, not from when the read completed.
  std::int64_t status_ms_ = 0;
  bool fill_cache_ = false;  ///< the first read holds the whole file: keep it
  bool listing_ = false;     ///< the response is a directory listing
  char boundary_[24] = {};
};

}  // namespace ferry
