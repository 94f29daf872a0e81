#include "mkmaster/source/http_stream.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "mkmaster/source/image_reader.h"

namespace source {

bool is_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

struct HttpStream::Impl {
  std::string url;
  HttpOptions opt;
  CURL* curl = nullptr;
  std::thread worker;

  std::mutex m;
  std::condition_variable cv;  // any change: data, space, done, stop
  std::vector<uint8_t> ring;
  size_t head = 0;   // index of the next byte for the reader
  size_t count = 0;  // bytes in the ring

  // Current transfer (guarded by m).
  bool started = false;  // body began, or the transfer ended
  bool body_seen = false;  // the response was checked (check_response)
  bool done = false;
  bool stop = false;
  std::string error;      // set when done with a failure
  bool retryable = false; // the failure is a dropped/cut/stalled transfer
  uint64_t req_start = 0;
  uint64_t discard = 0;   // leading body bytes to drop (server ignored Range)
  // Response headers of the current transfer (producer thread only).
  std::optional<uint64_t> hdr_range_start, hdr_range_total;
  std::string hdr_etag;

  // Reader side.
  uint64_t pos = 0;
  std::optional<uint64_t> total;
  std::string etag;
  int retries_left = 0;
  int requests = 0;
  char errbuf[CURL_ERROR_SIZE] = {};

  static size_t header_cb(char* p, size_t size, size_t n, void* self_v) {
    auto* self = static_cast<Impl*>(self_v);
    std::string line(p, size * n);
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (redirects): reset
      self->hdr_range_start.reset();
      self->hdr_range_total.reset();
      self->hdr_etag.clear();
      return size * n;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) return size * n;
    std::string name = base::to_lower(base::trim(line.substr(0, colon)));
    std::string value = base::trim(line.substr(colon + 1));
    if (name == "content-range") {
      // "bytes START-END/TOTAL" (TOTAL may be "*")
      unsigned long long a = 0, b = 0, t = 0;
      if (std::sscanf(value.c_str(), "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
        self->hdr_range_start = a;
        self->hdr_range_total = t;
      } else if (std::sscanf(value.c_str(), "bytes %llu-%llu/*", &a, &b) == 2) {
        self->hdr_range_start = a;
      }
    } else if (name == "etag") {
      self->hdr_etag = value;
    }
    return size * n;
  }

  // First body bytes of a transfer: decide whether the response is usable.
  // Returns an error message, or "" when fine. Called with m held.
  std::string check_response() {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t length = -1;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    std::optional<uint64_t> this_total;
    if (status == 200) {
      discard = req_start;  // the server sent the whole body again
      if (length >= 0) this_total = static_cast<uint64_t>(length);
    } else if (status == 206) {
      if (!hdr_range_start || *hdr_range_start != req_start)
        return "HTTP 206 with Content-Range not starting at the requested offset " + std::to_string(req_start);
      this_total = hdr_range_total;
    } else {
      return "HTTP status " + std::to_string(status) + " (expected 200 or 206)";
    }
    if (requests == 1) {
      total = this_total;
      etag = hdr_etag;
    } else {
      if (total && this_total && *total != *this_total)
        return "the resource changed on the server (size " + std::to_string(*total) + " became " +
               std::to_string(*this_total) + ")";
      if (!etag.empty() && !hdr_etag.empty() && etag != hdr_etag)
        return "the resource changed on the server (ETag " + etag + " became " + hdr_etag + ")";
    }
    return "";
  }

  static size_t write_cb(char* p, size_t size, size_t n, void* self_v) {
    auto* self = static_cast<Impl*>(self_v);
    size_t len = size * n;
    std::unique_lock lk(self->m);
    if (!self->body_seen) {
      std::string err = self->check_response();
      self->body_seen = self->started = true;
      if (!err.empty()) {
        self->error = err;
        self->cv.notify_all();
        return 0;  // abort the transfer; perform() returns CURLE_WRITE_ERROR
      }
      self->cv.notify_all();
    }
    const char* src = p;
    size_t left = len;
    if (self->discard) {
      size_t d = static_cast<size_t>(std::min<uint64_t>(self->discard, left));
      self->discard -= d;
      src += d;
      left -= d;
    }
    const size_t cap = self->ring.size();
    while (left) {
      self->cv.wait(lk, [&] { return self->stop || self->count < cap; });
      if (self->stop) return 0;
      size_t tail = (self->head + self->count) % cap;
      size_t chunk = std::min({left, cap - self->count, cap - tail});
      std::memcpy(self->ring.data() + tail, src, chunk);
      self->count += chunk;
      src += chunk;
      left -= chunk;
      self->cv.notify_all();
    }
    return len;
  }

  void run() {
    CURLcode rc = curl_easy_perform(curl);
    std::lock_guard lk(m);
    if (!stop && error.empty() && rc == CURLE_OK && !body_seen) {
      error = check_response();  // an empty body: still check the status
      body_seen = true;
    }
    if (!stop && error.empty() && rc != CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
      if (rc == CURLE_HTTP_RETURNED_ERROR) {
        error = "HTTP status " + std::to_string(status) + " (expected 200 or 206)";
      } else {
        error = std::string(curl_easy_strerror(rc));
        if (errbuf[0]) error += std::string(" (") + errbuf + ")";
        if (rc == CURLE_PARTIAL_FILE) error = "the server cut the body short: " + error;
        // Only a transfer that got going is resumed; refusing the very first
        // connection is a configuration error, reported at once.
        retryable = requests > 1 || body_seen;
      }
    }
    started = true;
    done = true;
    cv.notify_all();
  }

  void start(uint64_t offset) {
    finish();
    {
      std::lock_guard lk(m);
      head = count = 0;
      started = done = stop = retryable = body_seen = false;
      error.clear();
      req_start = offset;
      discard = 0;
      errbuf[0] = 0;
    }
    ++requests;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, opt.connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, opt.stall_timeout_s);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Impl::header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Impl::write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
    std::string range = std::to_string(offset) + "-";
    curl_easy_setopt(curl, CURLOPT_RANGE, offset ? range.c_str() : nullptr);  // copied by curl
    worker = std::thread([this] { run(); });
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return started; });
  }

  void finish() {
    if (!worker.joinable()) return;
    {
      std::lock_guard lk(m);
      stop = true;
      cv.notify_all();
    }
    worker.join();
  }

  [[noreturn]] void fail(const std::string& what) {
    throw SourceError(url + ": " + what + (pos ? " (at offset " + std::to_string(pos) + ")" : ""));
  }

  // Waits until `want` bytes are buffered or the transfer ended; resumes a
  // dropped transfer. Returns the bytes available (0: end of body).
  size_t wait_for(size_t want) {
    for (;;) {
      std::unique_lock lk(m);
      cv.wait(lk, [&] { return count >= want || done; });
      if (count >= want || (count > 0 && error.empty())) return count;
      if (count > 0) return count;  // drain what arrived before the failure
      if (error.empty()) {
        if (total && pos != *total)
          fail("the body ended after " + std::to_string(pos) + " of " + std::to_string(*total) + " bytes");
        return 0;
      }
      if (!retryable || retries_left <= 0) {
        std::string e = error;
        if (retryable) e += "; gave up after " + std::to_string(opt.retries) + " resumes";
        fail(e);
      }
      int attempt = opt.retries - retries_left;
      --retries_left;
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      start(pos);  // Range: from what the reader already has
    }
  }
};

HttpStream::HttpStream(std::string url, HttpOptions options) : impl_(std::make_unique<Impl>()) {
  global_init();
  impl_->url = std::move(url);
  impl_->opt = options;
  impl_->ring.resize(std::max<size_t>(options.buffer_bytes, 64 * 1024));
  impl_->retries_left = options.retries;
  impl_->curl = curl_easy_init();
  if (!impl_->curl) throw SourceError(impl_->url + ": curl_easy_init failed");
  impl_->start(0);
  std::lock_guard lk(impl_->m);
  if (impl_->done && !impl_->error.empty() && !impl_->retryable) {
    std::string e = impl_->error;
    impl_->worker.join();
    curl_easy_cleanup(impl_->curl);
    throw SourceError(impl_->url + ": " + e);
  }
}

HttpStream::~HttpStream() {
  impl_->finish();
  curl_easy_cleanup(impl_->curl);
}

size_t HttpStream::read(uint8_t* buf, size_t n) {
  auto& s = *impl_;
  if (n == 0) return 0;
  size_t avail = s.wait_for(1);
  if (avail == 0) return 0;
  std::lock_guard lk(s.m);
  const size_t cap = s.ring.size();
  size_t got = 0;
  while (got < n && s.count > 0) {
    size_t chunk = std::min({n - got, s.count, cap - s.head});
    std::memcpy(buf + got, s.ring.data() + s.head, chunk);
    s.head = (s.head + chunk) % cap;
    s.count -= chunk;
    got += chunk;
  }
  s.pos += got;
  s.cv.notify_all();
  return got;
}

size_t HttpStream::peek(uint8_t* buf, size_t n) {
  auto& s = *impl_;
  size_t avail = s.wait_for(std::min(n, s.ring.size()));
  std::lock_guard lk(s.m);
  size_t got = std::min(n, avail);
  for (size_t i = 0; i < got; ++i) buf[i] = s.ring[(s.head + i) % s.ring.size()];
  return got;
}

std::optional<uint64_t> HttpStream::size() const { return impl_->total; }

void HttpStream::seek(uint64_t offset) {
  auto& s = *impl_;
  if (offset == s.pos) return;
  {  // Already downloaded: drop it from the ring.
    std::lock_guard lk(s.m);
    if (offset > s.pos && offset - s.pos <= s.count) {
      size_t drop = static_cast<size_t>(offset - s.pos);
      s.head = (s.head + drop) % s.ring.size();
      s.count -= drop;
      s.pos = offset;
      s.cv.notify_all();
      return;
    }
  }
  if (offset > s.pos && offset - s.pos <= (2u << 20)) {
    // Close ahead: cheaper to read on than to open a new request. The bytes
    // are dropped from the ring as they arrive, not copied out.
    while (s.pos < offset) {
      if (s.wait_for(1) == 0) s.fail("cannot seek to " + std::to_string(offset) + ": the body ended");
      std::lock_guard lk(s.m);
      size_t drop = static_cast<size_t>(std::min<uint64_t>(s.count, offset - s.pos));
      s.head = (s.head + drop) % s.ring.size();
      s.count -= drop;
      s.pos += drop;
      s.cv.notify_all();
    }
    return;
  }
  if (s.total && offset > *s.total)
    s.fail("cannot seek to " + std::to_string(offset) + ": beyond the body's " + std::to_string(*s.total) + " bytes");
  s.pos = offset;
  if (s.total && offset == *s.total) {  // at the end: nothing left to fetch
    s.finish();
    std::lock_guard lk(s.m);
    s.head = s.count = 0;
    s.done = s.started = true;
    s.error.clear();
    return;
  }
  s.start(offset);
  std::lock_guard lk(s.m);
  if (s.done && !s.error.empty() && !s.retryable) s.fail(s.error);
}

uint64_t HttpStream::position() const { return impl_->pos; }
std::string HttpStream::describe() const { return impl_->url; }
int HttpStream::requests() const { return impl_->requests; }

}  // namespace source
