#include "mkmaster/push/index_source.h"

#include <curl/curl.h>
#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/read_file.h"
#include "mkmaster/source/http_stream.h"
#include "mkmaster/source/range_fetcher.h"

namespace push {

namespace {

constexpr uint64_t kMaxIndexBytes = 1ull << 30;  // an index of a 256 TiB image; a runaway server stops here

// The index's bytes; nullopt when an implicit URL answers 404.
std::optional<std::vector<uint8_t>> get_url(const std::string& url, bool missing_ok) {
  std::vector<uint8_t> body;
  CURL* c = curl_easy_init();
  if (!c) throw source::SourceError("curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* out) -> size_t {
    auto* b = static_cast<std::vector<uint8_t>*>(out);
    if (b->size() + s * n > kMaxIndexBytes) return 0;
    b->insert(b->end(), p, p + s * n);
    return s * n;
  });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    throw source::SourceError(fmt::format("image index {}: {}", url, errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  if (status == 404 && missing_ok) return std::nullopt;
  if (status != 200) throw source::SourceError(fmt::format("image index {}: HTTP {}", url, status));
  return body;
}

}  // namespace

IndexPlan plan_index(const std::string& image_url, const std::string& index_option) {
  IndexPlan plan;
  if (index_option == "none") {
    plan.note = "index: not used (--index none): the whole image is read";
    return plan;
  }
  plan.where = index_option.empty() ? source::index_url_for(image_url) : index_option;
  std::vector<uint8_t> bytes;
  if (source::is_url(plan.where)) {
    auto got = get_url(plan.where, index_option.empty());
    if (!got) {
      plan.note = fmt::format("index: none at {} (404): the whole image is read (write one with `mkmaster index`)",
                              plan.where);
      plan.where.clear();
      return plan;
    }
    bytes = std::move(*got);
  } else {
    auto s = base::read_file(plan.where);
    if (!s) throw source::SourceError(fmt::format("image index {}: {}", plan.where, std::strerror(errno)));
    bytes.assign(s->begin(), s->end());
  }
  auto ix = std::make_shared<source::ImageIndex>(source::decode_index(bytes, plan.where));
  plan.index_bytes = bytes.size();
  // The probe: two ranges in one request — the first and the last data
  // block (or the image's first and last byte) — checked against the index.
  std::vector<source::ByteSpan> probe;
  std::vector<uint64_t> probed_blocks;
  for (uint64_t b = 0; b < ix->blocks() && probed_blocks.empty(); ++b)
    if (ix->has_data(b)) probed_blocks.push_back(b);
  for (uint64_t b = ix->blocks(); b-- > 0 && probed_blocks.size() < 2;)
    if (ix->has_data(b) && b != probed_blocks.front()) probed_blocks.push_back(b);
  for (uint64_t b : probed_blocks) probe.push_back({b * ix->block, b * ix->block + ix->block_length(b)});
  if (probe.size() < 2) {
    if (ix->image_size < 2) throw source::SourceError(fmt::format("{}: an image of {} bytes", plan.where, ix->image_size));
    probe = {{0, 1}, {ix->image_size - 1, ix->image_size}};
    probed_blocks.clear();
  }
  std::sort(probe.begin(), probe.end(), [](auto& x, auto& y) { return x.begin < y.begin; });
  std::sort(probed_blocks.begin(), probed_blocks.end());
  source::RangeFetcher f(image_url);
  std::vector<std::vector<uint8_t>> got;
  try {
    got = f.fetch(probe);
  } catch (const source::NoRangeSupport& e) {
    plan.probe_bytes = f.body_bytes();
    plan.note = fmt::format("index {}: not usable, {}: the whole image is read instead", plan.where, e.what());
    return plan;
  }
  plan.probe_bytes = f.body_bytes();
  if (!f.total_size() || *f.total_size() != ix->image_size)
    throw source::SourceError(fmt::format(
        "{}: the index is for an image of {} bytes, but {} is {}: an index of another image", plan.where,
        ix->image_size, image_url, f.total_size() ? fmt::format("{} bytes", *f.total_size()) : std::string("of unknown size")));
  for (size_t i = 0; i < probed_blocks.size(); ++i) {
    const uint64_t b = probed_blocks[i];
    if (mkproto::strong_hash(got[i].data(), got[i].size()) != ix->hashes[ix->hash_at[static_cast<size_t>(b)]])
      throw source::SourceError(fmt::format(
          "{}: stale index: bytes [{}, {}) of {} do not match it (an index of another image or another version of it; "
          "rebuild it with `mkmaster index`); nothing was sent to the node",
          plan.where, probe[i].begin, probe[i].end, image_url));
  }
  plan.index = std::move(ix);
  return plan;
}

}  // namespace push
