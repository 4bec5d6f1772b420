#include "connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <optional>

#include "address_list.h"
#include "http_boundary.h"
#include "https_redirect.h"
#include "log.h"
#include "proxy_protocol.h"
#include "url_encoding.h"

namespace ferry {
namespace {

constexpr std::int64_t kLingerMillis = 2000;

void CountStatus(int status, WorkerCounters& counters) {
  if (status < 300) {
    Bump(counters.responses_2xx);
  } else if (status < 400) {
    Bump(counters.responses_3xx);
  } else if (status < 500) {
    Bump(counters.responses_4xx);
  } else {
    Bump(counters.responses_5xx);
  }
}

}  // namespace

void Connection::Start(UniqueFd socket, std::uint64_t token,
                       const sockaddr_storage& peer, bool proxy_header,
                       bool tls, ServingContext& ctx) {
  socket_ = std::move(socket);
  socket_fd_ = socket_.get();
  socket_stream_.Attach(socket_fd_);
  stream_ = &socket_stream_;
  tls_uncounted_ = false;
  sender_.layout().server = ctx.config.server_header;
  token_ = token;
  SetClient(peer);
  forwarded_ = false;
  awaiting_proxy_header_ = proxy_header;
  to_https_ = !tls && ctx.config.ssl_redirect;
  input_.Reset(ctx.limits.max_header_bytes, &ctx.input_blocks);
  window_.Resize(ctx.config.read_ahead);
  maybe_readable_ = true;
  signals_cover_input_ = false;
  reading_requests_ = false;
  request_length_ = 0;
  want_write_ = false;
  resume_queued_ = false;
  paced_ = false;
  close_after_response_ = false;
  state_ = State::kReadingRequest;
  // A client that has sent nothing yet gets the header timeout, not the
  // keep-alive one: silent sockets must not hold slots for long.
  deadline_ms_ = ctx.now_ms + ctx.config.header_timeout.count();
  if (tls) {
    if (ctx.tls == nullptr || tls_stream_.Attach(socket_fd_, ctx.tls) < 0) {
      Close(ctx);
      return;
    }
    stream_ = &tls_stream_;
    tls_uncounted_ = true;
  }
  OnReadable(ctx);
}

void Connection::OnSocketEvent(std::uint32_t band, ServingContext& ctx) {
  if (band & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) maybe_readable_ = true;
  switch (state_) {
    case State::kReadingRequest:
      if (band & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)) {
        OnReadable(ctx);
      } else if ((band & POLLOUT) && stream_->WaitsForOtherDirection()) {
        maybe_readable_ = true;  // a handshake message had to wait for room
        OnReadable(ctx);
      }
      break;
    case State::kStreaming:
      // Room to send; or (TLS) the record a send waited to read came.
      if ((band & (POLLOUT | POLLERR | POLLHUP)) ||
          ((band & POLLIN) && want_write_ &&
           stream_->WaitsForOtherDirection())) {
        OnWritable(ctx);
      }
      break;
    case State::kLingering:
      OnLingerReadable(ctx);
      break;
    case State::kResolving:
    case State::kClosed:
      break;
  }
}

// ---- kReadingRequest -------------------------------------------------------

void Connection::OnReadable(ServingContext& ctx) {
  // A response that completes at once (FinishResponse) comes back to this
  // loop for the next pipelined request instead of calling in again: one
  // client's 100,000 pipelined requests once overflowed the stack.
  reading_requests_ = true;
  ReadRequests(ctx);
  reading_requests_ = false;
}

namespace {

void CopyText(std::string_view text, char (&out)[64]) {
  const std::size_t length = std::min(text.size(), sizeof out - 1);
  std::memcpy(out, text.data(), length);
  out[length] = '\0';
}

}  // namespace

void Connection::SetClient(const sockaddr_storage& client) {
  address_ = client;
  CopyText(AddressText(client), client_);
}

// --real-ip-from: a trusted connection's request may name its client (a
// balancer may send many clients' requests on one connection, so each
// request starts again from the connection's address). A unix socket's
// peer is never trusted, not even by "any": it could be anyone on the host.
void Connection::FindRequestClient(const ServingContext& ctx) {
  forwarded_ = false;
  if (ctx.real_ip_from == nullptr || address_.ss_family == AF_UNIX ||
      !ctx.real_ip_from->Contains(address_)) {
    return;
  }
  const std::optional<sockaddr_storage> client =
      ctx.real_ip_header == RealIpHeader::kXRealIp
          ? ParseForwardedAddress(request_.x_real_ip)
          : ForwardedClient(request_.x_forwarded_for, *ctx.real_ip_from);
  if (!client) return;
  forwarded_ = true;
  CopyText(AddressText(*client), forwarded_client_);
}

void Connection::ReadRequests(ServingContext& ctx) {
  int answered = 0;
  for (;;) {
    if (awaiting_proxy_header_ && input_.size() > 0) {
      if (!TakeProxyHeader(ctx)) return;
      if (!awaiting_proxy_header_) continue;
    } else if (input_.size() > 0) {
      ParseResult parsed = ParseRequest(input_.bytes(), ctx.limits, &request_);
      forwarded_ = false;  // a refused request is the connection's client's
      if (parsed.kind == ParseResult::Kind::kDone) {
        request_length_ = parsed.consumed;
        FindRequestClient(ctx);
        HandleRequest(ctx);
        // Streaming, resolving, lingering or closed: an event resumes it.
        if (state_ != State::kReadingRequest) return;
        if (++answered == kRequestsPerTurn) {
          QueueResume(ctx);  // the others go first
          return;
        }
        continue;
      }
      if (parsed.kind == ParseResult::Kind::kError) {
        Bump(ctx.counters.requests);
        request_.method = Method::kGet;
        // A method we do not serve is HTTPS's to refuse: redirected with it
        // kept, its body unread (so the connection closes).
        if (parsed.status == 405 && RedirectsToHttps()) {
          RespondHttpsRedirect(308, /*close=*/true, ctx);
          return;
        }
        ComposeFields(Fields::kNone, ctx);
        RespondStatus(parsed.status, /*close=*/true, ctx);
        return;
      }
      if (input_.full()) {
        if (input_.at_limit()) {
          ComposeFields(Fields::kNone, ctx);
          RespondStatus(431, /*close=*/true, ctx);
          return;
        }
        input_.Grow();
      }
    }
    if (!maybe_readable_) return;  // the next POLL_IN signal resumes
    input_.Prepare();
    std::size_t room = input_.room();
    ssize_t n = stream_->Receive(input_.space(), room);
    if (n > 0) {
      if (tls_uncounted_) CountHandshake(ctx);
      if (input_.size() == 0) {
        deadline_ms_ = ctx.now_ms + ctx.config.header_timeout.count();
      }
      input_.Added(static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < room && signals_cover_input_) {
        maybe_readable_ = false;
      }
      continue;
    }
    if (n == -EINTR) continue;
    if (n == -EAGAIN) {
      maybe_readable_ = false;
      signals_cover_input_ = true;
      if (input_.size() == 0) input_.Release();  // idle: it holds no memory
      return;  // the next POLL_IN signal resumes
    }
    Close(ctx);  // the client closed, or the socket failed
    return;
  }
}

// The PROXY protocol header at the front of the input: its client
// replaces the proxy's address, and the requests follow. Returns false when
// the connection closed: not a header (nginx: "broken header"), or one
// longer than --max-header-bytes. No HTTP answer: the peer may not speak it.
bool Connection::TakeProxyHeader(ServingContext& ctx) {
  const ProxyHeader header = ParseProxyHeader(input_.bytes());
  switch (header.status) {
    case ProxyStatus::kDone:
      if (header.has_address) SetClient(header.source);
      input_.Consume(header.length);
      awaiting_proxy_header_ = false;
      return true;
    case ProxyStatus::kIncomplete:
      if (!input_.full()) return true;
      if (!input_.at_limit()) {
        input_.Grow();
        return true;
      }
      break;
    case ProxyStatus::kInvalid:
      break;
  }
  Bump(ctx.counters.aborted);
  Close(ctx);
  return false;
}

void Connection::HandleRequest(ServingContext& ctx) {
  Bump(ctx.counters.requests);
  if (!ctx.config.health_path.empty() && request_.method != Method::kOptions &&
      RulePath() == ctx.config.health_path) {
    // A load balancer's check: from memory, so a slow disk fails no check.
    ComposeFields(Fields::kNone, ctx);
    const bool draining =
        ctx.counters.draining.load(std::memory_order_relaxed) != 0;
    const bool keep = request_.keep_alive && !ctx.stopping && !draining;
    BuildHealthResponse(draining, request_.method == Method::kHead, ctx.now_sec,
                        keep, &sender_.layout());
    close_after_response_ = !keep;
    StartResponse(ctx);
    return;
  }
  if (RedirectsToHttps()) {
    const bool get =
        request_.method == Method::kGet || request_.method == Method::kHead;
    RespondHttpsRedirect(get ? 301 : 308, /*close=*/false, ctx);
    return;
  }
  if (request_.method == Method::kOptions) {
    RespondOptions(ctx);
    return;
  }
  Follow(lookup_.Start(request_, ctx.site), ctx);
}

// --ssl-redirect on a plain listener: every request but an ACME challenge
// (and OPTIONS *, which names no URL; the health path is answered before).
bool Connection::RedirectsToHttps() {
  return to_https_ && !request_.asterisk_form && !IsAcmeChallenge(RulePath());
}

void Connection::RespondHttpsRedirect(int status, bool close,
                                      ServingContext& ctx) {
  ComposeFields(Fields::kNone, ctx);
  const bool keep = !close && request_.keep_alive && !ctx.stopping;
  if (BuildHttpsRedirect(status, request_, ctx.config.https_port, ctx.now_sec,
                         keep, &open_path_, &sender_.layout()) != 0) {
    RespondStatus(400, /*close=*/true, ctx);  // no Host to redirect to
    return;
  }
  close_after_response_ = !keep;
  if (close) request_length_ = input_.size();
  StartResponse(ctx);
}

// OPTIONS is answered from the rules alone: 204 with Allow (and, for a
// CORS preflight, its Access-Control-* fields), the disk never asked.
void Connection::RespondOptions(ServingContext& ctx) {
  std::string& fields = sender_.layout().fields;
  fields.clear();
  ctx.headers.AppendOptions(RulePath(), request_, &fields);
  RespondStatus(204, false, ctx);
}

void Connection::ComposeFields(Fields which, ServingContext& ctx) {
  std::string& fields = sender_.layout().fields;
  fields.clear();
  if (which == Fields::kNone || ctx.headers.empty()) return;
  const std::string& path = RulePath();
  if (which == Fields::kAll) {
    ctx.headers.AppendHeaders(path, stream_ == &tls_stream_, &fields);
  }
  ctx.headers.AppendCors(path, request_.origin, &fields);
}

// "/" + the request's path, a directory's with its '/': what the rules
// match (as FileLookup matches --hide).
const std::string& Connection::RulePath() {
  rule_path_.assign(1, '/');
  rule_path_ += request_.path;
  if (request_.directory_form && !request_.path.empty()) rule_path_ += '/';
  return rule_path_;
}

// Takes the lookup's next step: opens the path it names, or answers.
void Connection::Follow(FileLookup::Step step, ServingContext& ctx) {
  switch (step) {
    case FileLookup::Step::kOpen:
      OpenNext(ctx);
      return;
    case FileLookup::Step::kRespond:
      ComposeFields(Fields::kCors, ctx);
      RespondStatus(lookup_.status(), false, ctx);
      return;
    case FileLookup::Step::kRedirect: {
      ComposeFields(Fields::kCors, ctx);
      bool keep = request_.keep_alive && !ctx.stopping;
      BuildDirectoryRedirect(request_, ctx.now_sec, keep, &open_path_,
                             &sender_.layout());
      close_after_response_ = !keep;
      StartResponse(ctx);
      return;
    }
    case FileLookup::Step::kList:
      StartListing(ctx);
      return;
    case FileLookup::Step::kServe:
      return;  // only OnOpened() serves, with the file it opened
  }
}

// --autoindex: a helper reads the directory (getdents and a statx per
// entry may wait for the disk) and renders the page; kResolving until
// OnListingDone.
void Connection::StartListing(ServingContext& ctx) {
  state_ = State::kResolving;
  deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
  open_path_ = request_.path;
  HelperJob job;
  job.kind = HelperJob::Kind::kList;
  job.token = token_;
  job.opened = lookup_.TakeServed();
  job.fd = std::move(job.opened.fd);
  job.path = request_.path;
  job.rules = &ctx.site;
  job.query = ListingQuery::Parse(request_.query, request_.accept);
  ctx.helpers.Submit(std::move(job));
}

void Connection::OnListingDone(int result, const Listing& listing,
                               std::shared_ptr<const CachedBytes> page,
                               ServingContext& ctx) {
  if (state_ != State::kResolving) return;
  if (result != 0 || !listing.found) {
    if (result != 0) {
      Log(LogLevel::kError, "listing %s: %s", PathForLog().c_str(),
          std::strerror(-result));
    }
    ComposeFields(Fields::kCors, ctx);
    RespondStatus(result != 0 ? StatusForOpenError(result) : 404, false, ctx);
    return;
  }
  file_status_ = FileStatus();
  file_status_.type = FileStatus::Type::kRegular;
  file_status_.size = page->size();
  cached_body_.Reset(std::move(page));
  file_status_.mtime_sec = listing.mtime_sec;
  file_status_.mtime_nsec = listing.mtime_nsec;
  file_status_.inode = listing.hash;  // the ETag tells pages apart by it
  listing_ = true;
  RespondWithFile(
      listing.json ? "application/json" : "text/html; charset=utf-8", {}, ctx);
}

// Opens the lookup's path: from the cache, at once when the kernel has the
// lookup cached, else by a helper (kResolving until OnOpenDone).
void Connection::OpenNext(ServingContext& ctx) {
  open_path_ = lookup_.path();
  // The cache keeps a file's 200 head: an error page is read each time.
  if (ctx.cache != nullptr && !lookup_.error_page() && ServeFromCache(ctx)) {
    return;
  }
  OpenedFile opened = ctx.root.Open(open_path_, /*cached_only=*/true);
  if (opened.error == -EAGAIN) {
    // The lookup needs the disk: a helper does it without RESOLVE_CACHED.
    state_ = State::kResolving;
    deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
    HelperJob job;
    job.kind = HelperJob::Kind::kOpen;
    job.token = token_;
    job.path = open_path_;
    ctx.helpers.Submit(std::move(job));
    return;
  }
  OnOpened(std::move(opened), ctx);
}

// A cache entry for open_path_ answers the open: the lookup decides with
// its status (a variant may be stale), and a hit it serves is sent from
// the cache.
bool Connection::ServeFromCache(ServingContext& ctx) {
  CachedFile* entry = ctx.cache->Find(open_path_);
  if (entry == nullptr) return false;
  const bool fresh = ctx.cache->Fresh(*entry, ctx.now_ms);
  if (lookup_.tries_variants()) {
    // An original whose variants are tried next is opened, the lookup
    // keeping its descriptor in case none fits (ServeOpened finds it in
    // the cache then), unless the cache knows that none fits.
    const std::uint8_t tried = lookup_.codings_tried();
    if (!fresh || (entry->no_variants & tried) != tried) return false;
  }
  if (!fresh) {
    // Trusted long enough: is it still the same file?
    OpenedFile opened = ctx.root.Open(open_path_, /*cached_only=*/true);
    if (opened.error != 0 || !SameFileVersion(opened.status, entry->status)) {
      ctx.cache->Erase(open_path_);
      if (opened.error == -EAGAIN) return false;  // the lookup goes to a helper
      OnOpened(std::move(opened), ctx);
      return true;
    }
    entry->checked_ms = ctx.now_ms;
    entry->no_variants = 0;  // none was looked for in this check
  }
  OpenedFile hit;  // no descriptor: served from `entry`
  hit.status = entry->status;
  OnOpened(std::move(hit), ctx, entry);
  return true;
}

void Connection::ServeCached(CachedFile& entry, ServingContext& ctx) {
  Bump(ctx.counters.cache_hits);
  cached_body_.Reset(entry.bytes);
  file_status_ = entry.status;
  status_ms_ = entry.checked_ms;
  // The kept head is the one for the way the file was served when cached:
  // by its own name, or as a variant (Content-Encoding, the original's
  // type). Served the other way, the head is made afresh.
  if (entry.head.content_encoding == CodingName(lookup_.coding())) {
    RespondWithFile(entry.head.content_type, entry.head.whole_fields, ctx);
  } else {
    RespondWithFile(ctx.mime.Lookup(lookup_.type_path()), {}, ctx);
  }
}

// ---- kResolving ------------------------------------------------------------

void Connection::OnOpenDone(OpenedFile opened, ServingContext& ctx) {
  if (state_ != State::kResolving) return;
  Bump(ctx.counters.helper_opens);
  OnOpened(std::move(opened), ctx);
}

void Connection::OnOpened(OpenedFile opened, ServingContext& ctx,
                          CachedFile* hit) {
  FileLookup::Step step = lookup_.OnOpened(
      std::move(opened), hit != nullptr ? hit->no_variants : 0);
  if (step != FileLookup::Step::kServe) {
    Follow(step, ctx);
    return;
  }
  ServeOpened(lookup_.TakeServed(), hit, ctx);
}

// Serves the lookup's choice: `served` (its descriptor, or none when it is
// the cache entry `hit`).
void Connection::ServeOpened(OpenedFile served, CachedFile* hit,
                             ServingContext& ctx) {
  open_path_ = lookup_.path();
  if (!served.fd) {
    ServeCached(*hit, ctx);
    return;
  }
  if (ctx.cache != nullptr && !lookup_.error_page()) {
    // An original opened for its variants may be cached all the same.
    CachedFile* entry = ctx.cache->Find(open_path_);
    if (entry != nullptr && SameFileVersion(entry->status, served.status)) {
      // What the lookup found of its variants holds as long as the file.
      const std::uint8_t known =
          ctx.cache->Fresh(*entry, ctx.now_ms) ? entry->no_variants : 0;
      entry->no_variants = known | lookup_.variants_unusable();
      entry->checked_ms = ctx.now_ms;
      ServeCached(*entry, ctx);
      return;
    }
  }
  file_status_ = served.status;
  status_ms_ = ctx.now_ms;
  if (ServeFromHot(ctx)) return;  // `served` closes: the pin has its own fd
  window_.Open(
      std::move(served.fd), token_, file_status_.direct_align,
      file_status_.direct_align != 0 && file_status_.size > kInodeMappedMax,
      ctx.io);
  if (lookup_.error_page()) {
    fill_cache_ = false;
    bool keep = request_.keep_alive && !ctx.stopping;
    ComposeFields(Fields::kCors, ctx);
    BuildErrorPageResponse(lookup_.status(), request_.method == Method::kHead,
                           InfoOf(file_status_), ctx.mime.Lookup(open_path_),
                           ctx.now_sec, keep, &sender_.layout());
    close_after_response_ = !keep;
    StartResponse(ctx);
    return;
  }
  fill_cache_ = ctx.cache != nullptr &&
                ctx.cache->Cacheable(file_status_.size) &&
                file_status_.size <= ctx.io.pool.block_size();
  if (fill_cache_) Bump(ctx.counters.cache_misses);
  RespondWithFile(ctx.mime.Lookup(lookup_.type_path()), {}, ctx);
}

// A GET of a large file, on a stream that sends files: the hot table
// counts what it sends (CountHot), and a file this worker pins is sent
// from its pages.
bool Connection::ServeFromHot(ServingContext& ctx) {
  hot_candidate_ = ctx.hot != nullptr && !lookup_.error_page() &&
                   request_.method == Method::kGet &&
                   file_status_.size > ctx.io.pool.block_size() &&
                   stream_->SendsFiles();
  if (!hot_candidate_) return false;
  std::shared_ptr<const PinnedFile> pinned = ctx.hot->Find(file_status_);
  if (!pinned) return false;
  Bump(ctx.counters.hot_hits);
  pinned_body_.Reset(std::move(pinned));
  RespondWithFile(ctx.mime.Lookup(lookup_.type_path()), {}, ctx);
  return true;
}

// The file became hot while this response read it from the disk (a
// popular release's first downloads): the rest goes from the pin, the same
// version of the file, and the window's blocks go back to the pool.
void Connection::MoveToPin(ServingContext& ctx) {
  std::shared_ptr<const PinnedFile> pinned = ctx.hot->Find(file_status_);
  if (!pinned) return;
  Bump(ctx.counters.hot_hits);
  pinned_body_.Reset(std::move(pinned));
  window_.Close();
  sender_.SwitchBody(pinned_body_);
}

// A response that ServeFromHot looked at ends, whole or cut short.
void Connection::CountHot(ServingContext& ctx) {
  if (!hot_candidate_) return;
  hot_candidate_ = false;
  ctx.hot->Count(open_path_, file_status_, sender_.body_sent(), ctx.now_ms);
}

void Connection::RespondWithFile(std::string_view content_type,
                                 std::string_view whole_fields,
                                 ServingContext& ctx) {
  FileInfo info = InfoOf(file_status_);
  int max_ranges = static_cast<int>(ctx.config.max_ranges);
  const std::string_view encoding = CodingName(lookup_.coding());
  // A multipart body has no place for Content-Encoding that clients agree
  // on: a variant is sent in one range at most (a list of more is answered
  // with the whole variant, as RFC 9110 allows).
  if (!encoding.empty()) max_ranges = 1;
  // Only a multipart response (a Range list) needs a boundary.
  boundary_[0] = '\0';
  if (request_.range.find(',') != std::string_view::npos) {
    MakeBoundary(boundary_);
  }
  bool keep = request_.keep_alive && !ctx.stopping;
  auto build = [&](Fields which) {
    ComposeFields(which, ctx);
    if (!ctx.site.precompressed.empty()) {
      // Whichever file answers, the response depends on Accept-Encoding.
      sender_.layout().fields.append("Vary: Accept-Encoding\r\n");
    }
    if (listing_) {
      // HTML or JSON, by the Accept field (or the query).
      sender_.layout().fields.append("Vary: Accept\r\n");
    }
    BuildFileResponse(request_, info, content_type, ctx.now_sec, max_ranges,
                      boundary_, keep, &sender_.layout(), whole_fields,
                      encoding);
  };
  build(Fields::kAll);
  const int status = sender_.layout().status;
  if (status != 200 && status != 206 && status != 304 && !ctx.headers.empty()) {
    // A 412 or 416 is no representation of the file: a Cache-Control of a
    // year must not make a cache keep it. Rare: built again.
    build(Fields::kCors);
  }
  close_after_response_ = !keep;
  StartResponse(ctx);
}

// ---- kStreaming ------------------------------------------------------------

void Connection::RespondStatus(int status, bool close, ServingContext& ctx) {
  bool keep = !close && request_.keep_alive && !ctx.stopping;
  BuildStatusResponse(status, request_.method == Method::kHead, ctx.now_sec,
                      keep, {}, 0, &sender_.layout());
  close_after_response_ = !keep;
  if (close) request_length_ = input_.size();
  StartResponse(ctx);
}

void Connection::StartResponse(ServingContext& ctx) {
  state_ = State::kStreaming;
  deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
  send_limit_ = SendLimit(ctx.config.limit_rate, ctx.config.limit_rate_after);
  send_limit_.Start(ctx.now_ms);
  // A client we hold to --limit-rate is never too slow for taking only
  // that: the minimum it must take is at most half of it.
  std::uint64_t min_rate = ctx.config.send_min_rate;
  if (send_limit_.limited()) {
    min_rate = std::min(min_rate, ctx.config.limit_rate / 2);
  }
  send_rate_ = SendRate(min_rate, ctx.config.send_timeout.count());
  send_rate_.Start(ctx.now_ms);
  sender_.Start(Body());  // the window starts reading the first file piece
  OnWritable(ctx);
}

void Connection::FillWindow(ServingContext& ctx) {
  // A client that stopped reading gets no read-ahead while others wait.
  if (want_write_ && !ctx.io.waiting.empty()) return;
  window_.Fill();
}

void Connection::OnBlockMapLoaded(ExtentMap extents, ServingContext&) {
  if (state_ == State::kStreaming) window_.OnBlockMapLoaded(std::move(extents));
}

void Connection::OnBlockAvailable(ServingContext& ctx) {
  if (state_ == State::kStreaming) {
    window_.OnBlockAvailable();
  } else {
    FillWindow(ctx);  // nothing to read: just leaves the queue
  }
}

std::size_t Connection::ReclaimBlocks(ServingContext&) {
  return state_ == State::kStreaming ? window_.Reclaim() : 0;
}

void Connection::OnReadDone(std::uint32_t block, long result,
                            ServingContext& ctx) {
  ReadWindow::ReadDone done = window_.OnReadDone(block, result);
  switch (done.outcome) {
    case ReadWindow::ReadOutcome::kPending:
    case ReadWindow::ReadOutcome::kUnknown:
      return;
    case ReadWindow::ReadOutcome::kFailed:
      Log(LogLevel::kError, "read %s at %" PRIu64 ": %s", PathForLog().c_str(),
          done.offset, std::strerror(static_cast<int>(-result)));
      Abort("read error", ctx);
      return;
    case ReadWindow::ReadOutcome::kShrank:
      Log(LogLevel::kWarning, "%s shrank while being sent; response aborted",
          PathForLog().c_str());
      Abort("file shrank", ctx);
      return;
    case ReadWindow::ReadOutcome::kReady:
      break;
  }
  if (fill_cache_) KeepInCache(ctx);
  if (!want_write_) {
    OnWritable(ctx);
  } else if (!ctx.io.waiting.empty()) {
    window_.Reclaim();  // the client is not reading; others wait for blocks
  }
}

// A small file read whole goes into the cache, valid from when its status
// was read.
void Connection::KeepInCache(ServingContext& ctx) {
  const char* bytes = window_.WholeFile(file_status_.size);
  if (bytes == nullptr) return;
  std::string_view type = ctx.mime.Lookup(lookup_.type_path());
  std::string_view encoding = CodingName(lookup_.coding());
  ctx.cache->Insert(
      open_path_, file_status_, bytes, file_status_.size, status_ms_,
      {std::string(type), WholeFileFields(InfoOf(file_status_), type, encoding),
       std::string(encoding)});
  fill_cache_ = false;
}

void Connection::ResumeTurn(ServingContext& ctx) {
  resume_queued_ = false;
  if (state_ == State::kReadingRequest) {
    OnReadable(ctx);  // more pipelined requests
  } else if (!want_write_) {
    OnWritable(ctx);
  }
}

void Connection::OnPaceDue(ServingContext& ctx) {
  paced_ = false;
  if (!want_write_) OnWritable(ctx);
}

void Connection::OnWritable(ServingContext& ctx) {
  if (state_ != State::kStreaming) return;
  want_write_ = false;
  std::uint64_t allowance = send_limit_.Allowance(ctx.now_ms, sender_.sent());
  if (allowance == 0) {
    Pace(ctx);
    return;
  }
  if (hot_candidate_ && window_.is_open()) MoveToPin(ctx);
  if (window_.blocks_held() == 0) FillWindow(ctx);  // they may be reclaimed
  std::uint64_t before = sender_.sent();
  ResponseSender::Turn turn = sender_.SendTurn(
      *stream_,
      std::min(pinned_body_.holds_file() ? kPinnedTurnBytes : kTurnBytes,
               allowance));
  if (turn.bytes > 0) {
    Bump(ctx.counters.bytes_sent, turn.bytes);
    if (send_limit_.limited()) {
      Bump(ctx.counters.rate_limited_bytes,
           send_limit_.LimitedBytes(before, sender_.sent()));
    }
    deadline_ms_ = ctx.now_ms + ctx.config.send_timeout.count();
  }
  switch (turn.status) {
    case ResponseSender::Status::kDone:
      FinishResponse(ctx);
      return;
    case ResponseSender::Status::kWaiting:
      return;  // OnReadDone resumes
    case ResponseSender::Status::kYielded:
      if (send_limit_.Allowance(ctx.now_ms, sender_.sent()) == 0) {
        Pace(ctx);  // the rate's budget, not the turn's, is spent
        return;
      }
      Bump(ctx.counters.turns_yielded);
      QueueResume(ctx);
      return;
    case ResponseSender::Status::kBlocked:
      want_write_ = true;  // the next POLL_OUT signal resumes
      // The kernel holds a socket buffer's worth for this client already;
      // others are waiting for blocks: let them have ours meanwhile.
      if (!ctx.io.waiting.empty()) window_.Reclaim();
      return;
    case ResponseSender::Status::kFailed:
      Close(ctx);  // the client went away
      return;
    case ResponseSender::Status::kShrank:
      Abort("the file was truncated while it was sent", ctx);
      return;
  }
}

void Connection::FinishResponse(ServingContext& ctx) {
  CountStatus(sender_.layout().status, ctx.counters);
  LogAccess(ctx);
  CountHot(ctx);
  EndResponse();
  if (close_after_response_ || ctx.stopping) {
    StartLingering(ctx);
    return;
  }
  // Keep-alive: what followed the request (pipelined requests) moves to
  // the front of the buffer.
  input_.Consume(request_length_);
  request_length_ = 0;
  state_ = State::kReadingRequest;
  deadline_ms_ =
      ctx.now_ms + (input_.size() > 0 ? ctx.config.header_timeout.count()
                                      : ctx.config.idle_timeout.count());
  // Called from ReadRequests (a response that completed at once), its loop
  // reads on; otherwise the next pipelined request starts here.
  if (!reading_requests_) OnReadable(ctx);
}

// ---- kLingering and the end ------------------------------------------------

void Connection::StartLingering(ServingContext& ctx) {
  // Closing with unread input would make the kernel send a reset that can
  // destroy the response before the client reads it: shut the write side,
  // then drain what the client still sends, for a short while.
  state_ = State::kLingering;
  deadline_ms_ = ctx.now_ms + kLingerMillis;
  stream_->ShutdownWrite();
  OnLingerReadable(ctx);
}

void Connection::OnLingerReadable(ServingContext& ctx) {
  char sink[4096];
  for (;;) {
    ssize_t n = stream_->Receive(sink, sizeof sink);
    if (n > 0 || n == -EINTR) continue;
    if (n == -EAGAIN) return;
    Close(ctx);
    return;
  }
}

void Connection::Abort(const char* why, ServingContext& ctx) {
  Log(LogLevel::kInfo, "aborting a response for %s: %s", PathForLog().c_str(),
      why);
  Bump(ctx.counters.aborted);
  Close(ctx);
}

// The path as a URL, percent-encoded: a decoded "%0a" in a log line would
// forge the next line.
std::string Connection::PathForLog() const {
  std::string path(1, '/');
  AppendPercentEncodedPath(open_path_, &path);
  return path;
}

void Connection::LogAccess(ServingContext& ctx) const {
  if (!ctx.access_log) return;
  AccessRecord record;
  record.client = forwarded_ ? forwarded_client_ : client_;
  record.time = ctx.now_sec;
  record.request_line = request_.request_line;
  record.status = sender_.layout().status;
  record.body_bytes = sender_.body_sent();
  record.referer = request_.referer;
  record.user_agent = request_.user_agent;
  char line[1024];
  std::size_t length =
      FormatAccessRecord(record, ctx.access_log_format, line, sizeof line);
  LogRing::AccessLog(line, length);  // a full ring drops and counts it
}

void Connection::Close(ServingContext& ctx) {
  if (state_ == State::kStreaming) LogAccess(ctx);  // cut short
  CountHot(ctx);
  EndResponse();
  input_.Release();
  tls_stream_.Release();  // no alert: the socket closes now
  socket_.Reset();
  state_ = State::kClosed;
}

// The response's file (its reads still in flight are the kernel's until
// they complete) and what the response made grow.
void Connection::EndResponse() {
  window_.Close();
  cached_body_.Reset();
  pinned_body_.Reset();
  fill_cache_ = false;
  listing_ = false;
  lookup_.Release();
  sender_.layout().fields.clear();
  sender_.ReleaseScratch();
}

// The first request bytes came through a completed handshake.
void Connection::CountHandshake(ServingContext& ctx) {
  tls_uncounted_ = false;
  Bump(ctx.counters.tls_handshakes);
  if (tls_stream_.Resumed()) Bump(ctx.counters.tls_resumed);
  if (tls_stream_.KernelSeals()) Bump(ctx.counters.tls_kernel);
}

void Connection::QueueResume(ServingContext& ctx) {
  if (resume_queued_) return;
  resume_queued_ = true;
  ctx.resume.push_back(token_);
}

// Held back by --limit-rate until the allowance is a quantum again: the
// worker's loop waits no longer than that, and hands the token back.
void Connection::Pace(ServingContext& ctx) {
  if (paced_) return;  // already due no later than now
  paced_ = true;
  std::int64_t due_ms = send_limit_.NextSendMs(sender_.sent());
  ctx.pacer.Add(due_ms, token_);
  Bump(ctx.counters.rate_limit_waits);
  // Waiting for our pace is no silence of the client's.
  deadline_ms_ =
      std::max(deadline_ms_, due_ms + ctx.config.send_timeout.count());
  // Others waiting for blocks may have ours meanwhile.
  if (!ctx.io.waiting.empty()) window_.Reclaim();
}

void Connection::OnTick(ServingContext& ctx) {
  if (state_ == State::kStreaming &&
      send_rate_.TooSlow(ctx.now_ms, sender_.sent(),
                         stream_->Unacknowledged())) {
    Bump(ctx.counters.timeouts);
    Log(LogLevel::kInfo,
        "closing %s: it took less than --send-min-rate for %" PRId64 " ms",
        client_, ctx.now_ms - send_rate_.window_start_ms());
    CloseWithReset(ctx);
    return;
  }
  if (state_ == State::kClosed || ctx.now_ms < deadline_ms_) return;
  if (state_ != State::kLingering) Bump(ctx.counters.timeouts);
  if (state_ == State::kStreaming) {
    CloseWithReset(ctx);
  } else {
    Close(ctx);
  }
}

// A client that does not read has a socket buffer full of our response; a
// plain close would leave the kernel delivering it at the client's pace,
// holding that memory after the slot is free. A reset drops it (nginx's
// reset_timedout_connection).
void Connection::CloseWithReset(ServingContext& ctx) {
  stream_->ResetOnClose();
  Close(ctx);
}

void Connection::OnShutdown(ServingContext& ctx) {
  if (state_ == State::kReadingRequest && input_.size() == 0) {
    Close(ctx);
    return;
  }
  close_after_response_ = true;
}

}  // namespace ferry
