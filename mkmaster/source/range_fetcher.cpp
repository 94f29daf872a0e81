#include "mkmaster/source/range_fetcher.h"

#include <curl/curl.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "mkmaster/source/image_index.h"

namespace source {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "bytes a-b/total" → a, b+1, total (total 0 when "*").
bool parse_content_range(const std::string& v, uint64_t& a, uint64_t& end, uint64_t& total) {
  unsigned long long x = 0, y = 0;
  char tot[32] = {0};
  if (std::sscanf(v.c_str(), " bytes %llu-%llu/%31s", &x, &y, tot) != 3 || y < x) return false;
  a = x;
  end = y + 1;
  total = tot[0] == '*' ? 0 : std::strtoull(tot, nullptr, 10);
  return true;
}

struct Part {
  uint64_t begin;
  std::string_view bytes;
};

}  // namespace

struct RangeFetcher::Transfer {
  long status = 0;
  std::string content_type, content_range;
  std::string body;
  bool refused = false;  // 200 to a range request: aborted at the first body bytes
  static size_t header_cb(char* p, size_t s, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    std::string line(p, s * n);
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect, or 100): forget the old headers
      t->content_type.clear();
      t->content_range.clear();
      t->status = std::strtol(line.c_str() + line.find(' ') + 1, nullptr, 10);
      return s * n;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) return s * n;
    std::string key = lower(line.substr(0, colon));
    std::string val = line.substr(colon + 1);
    while (!val.empty() && (val.back() == '\r' || val.back() == '\n')) val.pop_back();
    if (key == "content-type") t->content_type = val;
    if (key == "content-range") t->content_range = val;
    return s * n;
  }
  static size_t write_cb(char* p, size_t s, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    if (t->status == 200) {
      t->refused = true;
      return 0;  // abort: the whole image is coming
    }
    t->body.append(p, s * n);
    return s * n;
  }
};

RangeFetcher::RangeFetcher(std::string url, long connect_timeout_s, long stall_timeout_s)
    : url_(std::move(url)), connect_timeout_s_(connect_timeout_s), stall_timeout_s_(stall_timeout_s) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (!curl_) throw SourceError("curl_easy_init failed");
}

RangeFetcher::~RangeFetcher() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::vector<std::vector<uint8_t>> RangeFetcher::fetch(const std::vector<ByteSpan>& ranges) {
  if (ranges.empty()) return {};
  std::string spec;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].end <= ranges[i].begin || (i > 0 && ranges[i].begin < ranges[i - 1].end))
      throw std::logic_error("RangeFetcher: ranges must be sorted, disjoint and non-empty");
    spec += fmt::format("{}{}-{}", i ? "," : "", ranges[i].begin, ranges[i].end - 1);
  }
  CURL* c = static_cast<CURL*>(curl_);
  Transfer t;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout_s_);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_timeout_s_);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Transfer::header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Transfer::write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_RANGE, spec.c_str());  // copied by curl
  ++requests_;
  const CURLcode rc = curl_easy_perform(c);
  body_bytes_ += t.body.size();
  long connects = 0;
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  connections_ += static_cast<int>(connects);
  if (t.refused || (rc == CURLE_OK && t.status == 200))
    throw NoRangeSupport(fmt::format("{}: the server answered a range request with the whole image (HTTP 200)", url_));
  if (rc != CURLE_OK)
    throw SourceError(fmt::format("{}: range request failed: {}", url_, errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  if (t.status != 206)
    throw SourceError(fmt::format("{}: HTTP {} to a range request for [{}, {})", url_, t.status, ranges.front().begin,
                                  ranges.back().end));
  std::vector<Part> parts;
  auto note_total = [&](uint64_t total) {
    if (total == 0) return;
    if (total_ && *total_ != total)
      throw SourceError(fmt::format("{}: the image's size changed during the push ({} then {} bytes)", url_, *total_, total));
    total_ = total;
  };
  const std::string ct = lower(t.content_type);
  if (ct.find("multipart/byteranges") != std::string::npos) {
    auto b = ct.find("boundary=");
    if (b == std::string::npos) throw SourceError(fmt::format("{}: multipart response without a boundary", url_));
    std::string boundary = t.content_type.substr(b + 9);
    if (auto semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
    if (boundary.size() >= 2 && boundary.front() == '"') boundary = boundary.substr(1, boundary.size() - 2);
    const std::string delim = "--" + boundary;
    std::string_view body(t.body);
    size_t at = body.find(delim);
    while (at != std::string_view::npos) {
      at += delim.size();
      if (body.substr(at, 2) == "--") break;  // the closing delimiter
      size_t head_end = body.find("\r\n\r\n", at);
      if (head_end == std::string_view::npos) throw SourceError(fmt::format("{}: a multipart part without its headers' end", url_));
      std::string_view head = body.substr(at, head_end - at);
      uint64_t a = 0, e = 0, total = 0;
      bool found = false;
      size_t line = 0;
      while (line < head.size()) {
        size_t nl = head.find("\r\n", line);
        std::string h(head.substr(line, nl == std::string_view::npos ? std::string_view::npos : nl - line));
        if (lower(h).rfind("content-range:", 0) == 0) found = parse_content_range(h.substr(14), a, e, total);
        if (nl == std::string_view::npos) break;
        line = nl + 2;
      }
      if (!found) throw SourceError(fmt::format("{}: a multipart part without a valid Content-Range", url_));
      note_total(total);
      const size_t data = head_end + 4;
      if (body.size() - data < e - a) throw SourceError(fmt::format("{}: part [{}, {}) is cut short", url_, a, e));
      parts.push_back({a, body.substr(data, static_cast<size_t>(e - a))});
      at = body.find(delim, data + static_cast<size_t>(e - a));
    }
  } else {
    uint64_t a = 0, e = 0, total = 0;
    if (!parse_content_range(t.content_range, a, e, total))
      throw SourceError(fmt::format("{}: 206 without a valid Content-Range ({:?})", url_, t.content_range));
    note_total(total);
    if (t.body.size() != e - a)
      throw SourceError(fmt::format("{}: part [{}, {}) brought {} bytes", url_, a, e, t.body.size()));
    parts.push_back({a, t.body});
  }
  std::vector<std::vector<uint8_t>> out;
  out.reserve(ranges.size());
  for (const ByteSpan& r : ranges) {
    auto p = std::find_if(parts.begin(), parts.end(),
                          [&](const Part& x) { return x.begin <= r.begin && x.begin + x.bytes.size() >= r.end; });
    if (p == parts.end())
      throw SourceError(fmt::format("{}: the server's answer lacks bytes [{}, {}) (past the end of the image?)", url_,
                                    r.begin, r.end));
    auto first = reinterpret_cast<const uint8_t*>(p->bytes.data()) + (r.begin - p->begin);
    out.emplace_back(first, first + (r.end - r.begin));
  }
  return out;
}

std::string index_url_for(const std::string& image_url) {
  size_t q = image_url.find_first_of("?#");
  if (q == std::string::npos) return image_url + kIndexExtension;
  return image_url.substr(0, q) + kIndexExtension + image_url.substr(q);
}

}  // namespace source
